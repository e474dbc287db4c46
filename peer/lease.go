package peer

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
	"filippo.io/age/agessh"

	"veil/cluster/api"
	"veil/cluster/vouch"
)

// Offline views. A lease is views of one image the cloud moved to this
// device. The peer keeps each lease in a file of its own that only this
// device can open (sealed with a key derived from the device key), holding
// the cloud's lease, the original (still encrypted to the device key, as the
// cloud sent it) and the count of views left. Every offline view re-seals
// the file with one view less: the count lives in the viewer's openable
// copy of the image. Beside the files, an append-only log records each
// view before the image is shown; the views left are the file's count or
// the lease's views less the log's lines for it, whichever is lower, so a
// lease file copied back from before a view brings no view back. Back
// online, the peer reports what each lease spent, signed with the device
// key, and deletes it.
//
// What a user who controls the machine can do: read the device key and so
// open the originals of the leases it holds (views are the cloud's promise
// to the owner, and the viewer has seen the image once it views it
// anyway); roll back both the lease file and the log together to view
// again, at most the leased views again per rollback, which the owner sees
// as the bound of an offline viewer (the lease's views and expiry). What it
// cannot do: make a lease for more views or another image (the cloud signs
// them), open a lease of another device, or keep spending after the lease
// expired, without also moving the machine's clock.

const (
	leaseDir     = "leases"
	leaseLog     = "spent.log"
	leaseVersion = 1 // of the lease file
)

// ErrNoLease: no lease of the image with views left.
var ErrNoLease = errors.New("peer: no offline lease of the image")

// leaseFile is what a lease file holds, sealed.
type leaseFile struct {
	Format    int       `json:"format"`
	Lease     string    `json:"lease"` // the cloud's statement
	ID        string    `json:"id"`
	Image     string    `json:"image"`
	Views     int       `json:"views"`
	Expires   time.Time `json:"expires"`
	Sealed    []byte    `json:"sealed"` // the original, age-encrypted to the device key
	Remaining int       `json:"remaining"`
	Seq       int       `json:"seq"` // views spent, in the order they were
	Revoked   bool      `json:"revoked,omitempty"`
}

// leases is the peer's lease files and log. Its lock is held across a
// whole view, so two views never spend the same count.
type leases struct {
	dir string
	aed cipher.AEAD
	id  Identity
	mu  sync.Mutex
}

func openLeases(dataDir string, id Identity) (*leases, error) {
	dir := filepath.Join(dataDir, leaseDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	key, err := hkdf.Key(sha256.New, id.Key.Seed(), nil, "veil/peer/lease-file/v1", 32)
	if err != nil {
		return nil, err
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aed, err := cipher.NewGCM(blk)
	if err != nil {
		return nil, err
	}
	return &leases{dir: dir, aed: aed, id: id}, nil
}

func (l *leases) path(id string) string { return filepath.Join(l.dir, id+".lease") }

func aad(id string) []byte { return []byte("veil/peer/lease/v1\x00" + id) }

// write seals f into its file, atomically.
func (l *leases) write(f leaseFile) error {
	f.Format = leaseVersion
	pt, err := json.Marshal(f)
	if err != nil {
		return err
	}
	nonce := make([]byte, l.aed.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	out := append([]byte{leaseVersion}, nonce...)
	out = l.aed.Seal(out, nonce, pt, aad(f.ID))
	return writeFileAtomic(l.path(f.ID), out, 0o600)
}

// read opens the lease file of id; a file of another device, or altered,
// does not open.
func (l *leases) read(id string) (leaseFile, error) {
	b, err := os.ReadFile(l.path(id))
	if err != nil {
		return leaseFile{}, err
	}
	return decodeLeaseFile(l.aed, id, b)
}

func decodeLeaseFile(aed cipher.AEAD, id string, b []byte) (leaseFile, error) {
	ns := aed.NonceSize()
	if len(b) < 1+ns || b[0] < 1 || b[0] > leaseVersion {
		return leaseFile{}, fmt.Errorf("peer: lease %s: not a lease file of a version this build reads", id)
	}
	pt, err := aed.Open(nil, b[1:1+ns], b[1+ns:], aad(id))
	if err != nil {
		return leaseFile{}, fmt.Errorf("peer: lease %s: does not open with this device's key (copied from another device, or altered)", id)
	}
	var f leaseFile
	if err := json.Unmarshal(pt, &f); err != nil {
		return leaseFile{}, fmt.Errorf("peer: lease %s: %w", id, err)
	}
	if f.ID != id || f.Views < 1 || f.Remaining < 0 || f.Remaining > f.Views {
		return leaseFile{}, fmt.Errorf("peer: lease %s: inconsistent record", id)
	}
	return f, nil
}

// list returns every lease file that opens.
func (l *leases) list() []leaseFile {
	names, _ := filepath.Glob(filepath.Join(l.dir, "*.lease"))
	var out []leaseFile
	for _, n := range names {
		if f, err := l.read(strings.TrimSuffix(filepath.Base(n), ".lease")); err == nil {
			out = append(out, f)
		}
	}
	return out
}

// doneMark ends a lease's lines in the log once it is reported: a lease
// file put back after that opens, but has no views.
const doneMark = "reported"

// spentByLog counts the views the log records for each lease; a reported
// lease counts as wholly spent (-1).
func (l *leases) spentByLog() map[string]int {
	out := map[string]int{}
	f, err := os.Open(filepath.Join(l.dir, leaseLog))
	if err != nil {
		return out
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		id, seq, ok := strings.Cut(line, " ")
		if !ok || checkID(id) != nil || seen[line] || out[id] < 0 {
			continue
		}
		seen[line] = true
		if seq == doneMark {
			out[id] = -1
			continue
		}
		if _, err := strconv.Atoi(seq); err == nil {
			out[id]++
		}
	}
	return out
}

// logSpend appends one view to the log and syncs it, before the image is
// shown.
func (l *leases) logSpend(id string, seq int) error { return l.logLine(id, strconv.Itoa(seq)) }

func (l *leases) logLine(id, what string) error {
	f, err := os.OpenFile(filepath.Join(l.dir, leaseLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(f, "%s %s\n", id, what); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// left is the views a lease has left: the file's count or what the log
// leaves, whichever is lower; none once reported.
func left(f leaseFile, logged int) int {
	if logged < 0 {
		return 0
	}
	return max(min(f.Remaining, f.Views-logged), 0)
}

// LeaseState is a lease as the peer reports it.
type LeaseState struct {
	ID      string    `json:"id"`
	Image   string    `json:"image"`
	Views   int       `json:"views"`
	Left    int       `json:"left"`
	Expires time.Time `json:"expires"`
	Revoked bool      `json:"revoked,omitempty"`
}

// states lists the leases with their views left.
func (l *leases) states() []LeaseState {
	l.mu.Lock()
	defer l.mu.Unlock()
	logged := l.spentByLog()
	var out []LeaseState
	for _, f := range l.list() {
		out = append(out, LeaseState{ID: f.ID, Image: f.Image, Views: f.Views, Left: left(f, logged[f.ID]), Expires: f.Expires, Revoked: f.Revoked})
	}
	return out
}

// spend spends one view of a lease of image, if one has views left, is
// not revoked and has not expired, and returns the original. had says
// whether any lease of the image exists at all (spent or not).
func (l *leases) spend(image string, now time.Time) (secret []byte, viewsLeft int, had bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	logged := l.spentByLog()
	for _, f := range l.list() {
		if f.Image != image {
			continue
		}
		had = true
		n := left(f, logged[f.ID])
		if n == 0 || f.Revoked || !now.Before(f.Expires) {
			continue
		}
		// The log first: a crash after it and before the image is shown
		// loses that view, and never counts one twice.
		if err := l.logSpend(f.ID, f.Seq+1); err != nil {
			return nil, 0, true, err
		}
		f.Seq++
		f.Remaining = n - 1
		if err := l.write(f); err != nil {
			return nil, 0, true, err
		}
		secret, err := l.open(f.Sealed)
		if err != nil {
			return nil, 0, true, err
		}
		return secret, f.Remaining, true, nil
	}
	return nil, 0, had, fmt.Errorf("%w: %s", ErrNoLease, image)
}

// open decrypts an original the cloud sealed to this device.
func (l *leases) open(sealed []byte) ([]byte, error) {
	idn, err := agessh.NewEd25519Identity(l.id.Key)
	if err != nil {
		return nil, err
	}
	r, err := age.Decrypt(bytes.NewReader(sealed), idn)
	if err != nil {
		return nil, fmt.Errorf("peer: the leased original does not open with this device's key: %w", err)
	}
	return io.ReadAll(io.LimitReader(r, MaxImageBytes))
}

// keep checks a lease the cloud gave and stores it.
func (l *leases) keep(cloud ed25519.PublicKey, device string, reply api.LeaseReply) (LeaseState, error) {
	ls, err := vouch.VerifyLease(cloud, reply.Lease, time.Now())
	if err != nil {
		return LeaseState{}, fmt.Errorf("peer: the lease the cloud sent: %w", err)
	}
	if ls.Device != device || ls.ID != reply.ID {
		return LeaseState{}, fmt.Errorf("peer: the lease the cloud sent is for device %s, lease %s", ls.Device, ls.ID)
	}
	sealed, err := base64.StdEncoding.DecodeString(reply.Sealed)
	if err != nil {
		return LeaseState{}, fmt.Errorf("peer: the lease's sealed original: %w", err)
	}
	if _, err := l.open(sealed); err != nil {
		return LeaseState{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := os.Stat(l.path(ls.ID)); err == nil {
		// A retry of a take the cloud answered twice: the lease is kept
		// already, with what was spent of it.
		f, err := l.read(ls.ID)
		if err != nil {
			return LeaseState{}, err
		}
		return LeaseState{ID: f.ID, Image: f.Image, Views: f.Views, Left: left(f, l.spentByLog()[f.ID]), Expires: f.Expires}, nil
	}
	f := leaseFile{Lease: reply.Lease, ID: ls.ID, Image: ls.Image, Views: ls.Views, Expires: ls.Expires, Sealed: sealed, Remaining: ls.Views}
	if err := l.write(f); err != nil {
		return LeaseState{}, err
	}
	return LeaseState{ID: f.ID, Image: f.Image, Views: f.Views, Left: f.Views, Expires: f.Expires}, nil
}

// revoke marks a lease revoked: it is spent no more, and reported.
func (l *leases) revoke(id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := l.read(id)
	if err != nil {
		return err
	}
	if f.Revoked {
		return nil
	}
	f.Revoked = true
	return l.write(f)
}

// drop deletes a reported lease. Its lines in the log stay, closed by a
// mark, so that the file put back brings nothing back.
func (l *leases) drop(id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.logLine(id, doneMark); err != nil {
		return err
	}
	if err := os.Remove(l.path(id)); err != nil && !errIsNotExist(err) {
		return err
	}
	return nil
}

// loggedOf is the views the log records for a lease, its file aside; a
// reported lease counts none.
func (l *leases) loggedOf(id string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return max(l.spentByLog()[id], 0)
}

// spentOf is what a lease spent, for its report.
func (l *leases) spentOf(f leaseFile) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return f.Views - left(f, l.spentByLog()[f.ID])
}

func encodeSig(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
