package peer

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// The store keeps a peer's images in its data directory:
//
//	images/ID.png    the veiled PNG
//	images/ID.json   what the peer knows of it (Entry); written last, so
//	                 an image without one was never finished
//	originals/ID     the original, for the user's own images
//	partial/ID.part  a fetch in progress, resumed from its length
//
// Every file is written to a temporary name and renamed; on open, an
// image whose bytes do not hash to its recorded digest is dropped, so a
// half-written or damaged file is never taken for an image.

// metaVersion is the version of the ID.json record; decodeMeta reads every
// version up to it.
const metaVersion = 1

// Entry is one image in the store.
type Entry struct {
	ID     string    `json:"id"`
	Owner  string    `json:"owner"`
	Digest string    `json:"digest"` // SHA-256 of the veiled PNG, hex
	Size   int64     `json:"size"`   // of the veiled PNG
	Own    bool      `json:"own"`    // put by this peer's user; the original is kept too
	From   string    `json:"from"`   // the user it was fetched from; "" for an own image
	Stored time.Time `json:"stored"`
}

type metaFile struct {
	Format int `json:"format"`
	Entry
}

// ErrNotHeld is returned for an image the store does not hold.
var ErrNotHeld = errors.New("peer: image not held here")

// imageIDPattern is the form of the cloud's image ids. Nothing else is
// ever used as a file name.
var imageIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

func checkID(id string) error {
	if !imageIDPattern.MatchString(id) {
		return fmt.Errorf("peer: %.40q is not an image id (32 lowercase hex digits)", id)
	}
	return nil
}

// decodeMeta reads an image's record.
func decodeMeta(b []byte) (Entry, error) {
	var m metaFile
	if err := json.Unmarshal(b, &m); err != nil {
		return Entry{}, fmt.Errorf("peer: image record: %w", err)
	}
	switch {
	case m.Format < 1 || m.Format > metaVersion:
		return Entry{}, fmt.Errorf("peer: image record format %d: this build reads 1 to %d", m.Format, metaVersion)
	case checkID(m.ID) != nil:
		return Entry{}, fmt.Errorf("peer: image record: bad id %.40q", m.ID)
	case len(m.Digest) != 64 || strings.Trim(m.Digest, "0123456789abcdef") != "":
		return Entry{}, fmt.Errorf("peer: image record %s: bad digest", m.ID)
	case m.Size <= 0:
		return Entry{}, fmt.Errorf("peer: image record %s: size %d", m.ID, m.Size)
	}
	return m.Entry, nil
}

// Store is a peer's images on disk. It is safe for concurrent use.
type Store struct {
	dir string

	mu      sync.Mutex
	entries map[string]Entry
}

// OpenStore opens (or creates) the store under dir, checks every image
// against its digest and drops what is damaged or unfinished.
func OpenStore(dir string) (*Store, error) {
	s := &Store{dir: dir, entries: map[string]Entry{}}
	for _, sub := range []string{"images", "originals", "partial"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("peer: store: %w", err)
		}
	}
	metas, err := filepath.Glob(filepath.Join(dir, "images", "*.json"))
	if err != nil {
		return nil, err
	}
	for _, mp := range metas {
		b, err := os.ReadFile(mp)
		if err != nil {
			return nil, fmt.Errorf("peer: store: %w", err)
		}
		e, err := decodeMeta(b)
		if err != nil || e.ID+".json" != filepath.Base(mp) || s.check(e) != nil {
			s.drop(strings.TrimSuffix(filepath.Base(mp), ".json"))
			continue
		}
		s.entries[e.ID] = e
	}
	// Leftovers: a PNG or original whose record was never written, and
	// temporary files of an interrupted write.
	for _, sub := range []string{"images", "originals"} {
		names, _ := filepath.Glob(filepath.Join(dir, sub, "*"))
		for _, p := range names {
			id := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(p), ".png"), ".json")
			if _, ok := s.entries[id]; !ok {
				os.Remove(p)
			}
		}
	}
	return s, nil
}

// check verifies an image's bytes against its record.
func (s *Store) check(e Entry) error {
	f, err := os.Open(s.veiledPath(e.ID))
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	if n != e.Size || hex.EncodeToString(h.Sum(nil)) != e.Digest {
		return fmt.Errorf("peer: image %s: bytes do not match the record", e.ID)
	}
	if e.Own {
		if _, err := os.Stat(s.originalPath(e.ID)); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) drop(id string) {
	os.Remove(filepath.Join(s.dir, "images", id+".json"))
	os.Remove(filepath.Join(s.dir, "images", id+".png"))
	os.Remove(filepath.Join(s.dir, "originals", id))
}

func (s *Store) veiledPath(id string) string   { return filepath.Join(s.dir, "images", id+".png") }
func (s *Store) originalPath(id string) string { return filepath.Join(s.dir, "originals", id) }
func (s *Store) partialPath(id string) string  { return filepath.Join(s.dir, "partial", id+".part") }

// PutOwn keeps one of the user's own images: the veiled copy and the
// original.
func (s *Store) PutOwn(id, owner string, veiled, original []byte) (Entry, error) {
	if err := checkID(id); err != nil {
		return Entry{}, err
	}
	sum := sha256.Sum256(veiled)
	e := Entry{ID: id, Owner: owner, Digest: hex.EncodeToString(sum[:]), Size: int64(len(veiled)), Own: true, Stored: time.Now().UTC()}
	if err := writeFileAtomic(s.veiledPath(id), veiled, 0o600); err != nil {
		return Entry{}, err
	}
	if err := writeFileAtomic(s.originalPath(id), original, 0o600); err != nil {
		return Entry{}, err
	}
	return e, s.record(e)
}

// record writes an image's record, the last step of keeping it.
func (s *Store) record(e Entry) error {
	b, err := json.MarshalIndent(metaFile{Format: metaVersion, Entry: e}, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(s.dir, "images", e.ID+".json"), b, 0o600); err != nil {
		return err
	}
	s.mu.Lock()
	s.entries[e.ID] = e
	s.mu.Unlock()
	return nil
}

// Get returns what the store knows of an image.
func (s *Store) Get(id string) (Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[id]
	return e, ok
}

// List returns every image held, oldest first.
func (s *Store) List() []Entry {
	s.mu.Lock()
	out := make([]Entry, 0, len(s.entries))
	for _, e := range s.entries {
		out = append(out, e)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Stored.Equal(out[j].Stored) {
			return out[i].Stored.Before(out[j].Stored)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Holds returns the ids of every image held, sorted.
func (s *Store) Holds() []string {
	s.mu.Lock()
	out := make([]string, 0, len(s.entries))
	for id := range s.entries {
		out = append(out, id)
	}
	s.mu.Unlock()
	sort.Strings(out)
	return out
}

// Veiled returns an image's veiled PNG.
func (s *Store) Veiled(id string) ([]byte, error) {
	if _, ok := s.Get(id); !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotHeld, id)
	}
	return os.ReadFile(s.veiledPath(id))
}

// Original returns the original of one of the user's own images.
func (s *Store) Original(id string) ([]byte, error) {
	if e, ok := s.Get(id); !ok || !e.Own {
		return nil, fmt.Errorf("%w: no original of %s", ErrNotHeld, id)
	}
	return os.ReadFile(s.originalPath(id))
}

// openVeiled opens an image's veiled PNG for serving.
func (s *Store) openVeiled(id string) (*os.File, Entry, error) {
	e, ok := s.Get(id)
	if !ok {
		return nil, Entry{}, fmt.Errorf("%w: %s", ErrNotHeld, id)
	}
	f, err := os.Open(s.veiledPath(id))
	return f, e, err
}

// Remove forgets an image and deletes its files.
func (s *Store) Remove(id string) {
	s.mu.Lock()
	delete(s.entries, id)
	s.mu.Unlock()
	s.drop(id)
	os.Remove(s.partialPath(id))
}

// partial opens the partial file of a fetch of id for appending, and says
// how many bytes it already holds.
func (s *Store) partial(id string) (*os.File, int64, error) {
	if err := checkID(id); err != nil {
		return nil, 0, err
	}
	f, err := os.OpenFile(s.partialPath(id), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// ErrDigestMismatch is returned when fetched bytes do not hash to the
// digest the cloud recorded for the image.
var ErrDigestMismatch = errors.New("peer: the bytes fetched do not match the image's digest")

// finishPartial checks a completed fetch against the digest the cloud
// recorded and moves it into the store. A mismatch deletes the partial
// file: its bytes cannot be trusted from any offset.
func (s *Store) finishPartial(id, owner, from, digest string) (Entry, error) {
	p := s.partialPath(id)
	f, err := os.Open(p)
	if err != nil {
		return Entry{}, err
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	f.Close()
	if err != nil {
		return Entry{}, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != digest {
		os.Remove(p)
		return Entry{}, fmt.Errorf("%w: %s hashes to %.12s…, the cloud recorded %.12s…", ErrDigestMismatch, id, got, digest)
	}
	if err := syncFile(p); err != nil {
		return Entry{}, err
	}
	if err := os.Rename(p, s.veiledPath(id)); err != nil {
		return Entry{}, err
	}
	if err := syncDir(filepath.Dir(s.veiledPath(id))); err != nil {
		return Entry{}, err
	}
	e := Entry{ID: id, Owner: owner, Digest: digest, Size: n, From: from, Stored: time.Now().UTC()}
	return e, s.record(e)
}

func syncFile(p string) error {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// errIsNotExist reports a missing file, for callers that treat it as empty.
func errIsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
