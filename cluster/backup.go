package cluster

// Backups of the registry (veil snapshot save|restore). GET
// /v1/admin/snapshot streams a consistent snapshot of the registry at a
// committed index from the coordinator, in a file of its own format that
// carries the index and a SHA-256; POST /v1/admin/restore installs one
// into a new cluster. Both take the admin token at any node, which passes
// them on to the coordinator as a stream.
//
// A save freezes the coordinator's state (State.Freeze, copy-on-write, in
// time independent of its size) and writes the frozen copy to the
// connection while writes go on: nothing of the registry is held in memory
// but the piece being written.
//
// A restore is written to a file in the data directory as it arrives,
// checked end to end before anything changes (the file's SHA-256 and
// length, the registry's own CRC-32C, then every rule
// registry.State.Restore checks), and refused on a cluster that holds
// users or images unless forced. The coordinator stops taking writes,
// waits for those in flight, and installs it:
//
//   - Bully mode: as a snapshot of its log (Store.InstallSnapshot), at the
//     registry's own index when the cluster's commit index is below it, so
//     that the registry is the backup's byte for byte. Otherwise (a forced
//     restore into a cluster further along) the snapshot is rebased: its
//     index becomes the commit index plus one, the only bytes that change
//     (with its CRC), since the log's indexes cannot go back. Every
//     follower is then behind the coordinator's compaction point and gets
//     the snapshot by the usual transfer (snapshot.go); the restore is
//     answered once a majority holds it.
//   - Raft mode: hashicorp/raft's user restore, which writes the snapshot
//     past its log's end and leaves a hole there, so that every follower is
//     sent it, and returns once a quorum holds an entry after it. The
//     registry keeps its own index, below Raft's: its bytes are the
//     backup's.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"veil/cluster/registry"
	"veil/election"
)

// The backup file, version 1. Integers are big-endian.
//
//	magic     8 bytes "VEILBKUP"
//	version   1 byte, 1
//	index     8 bytes: the commit index the registry was saved at
//	saved     8 bytes: when, in Unix nanoseconds
//	registry  the registry's snapshot (registry.State.Snapshot, version 4),
//	          whose lastApplied is index and which ends in a CRC-32C of its
//	          own bytes
//	length    8 bytes: the registry's length
//	sha256    32 bytes: SHA-256 of every byte before it
//
// The registry's CRC is checked by every node that restores it, as a
// snapshot sent between nodes is; the SHA-256 covers the whole file, and
// is what `veil snapshot save` prints.
const (
	backupMagic      = "VEILBKUP"
	backupVersion    = 1
	backupHeaderLen  = len(backupMagic) + 1 + 8 + 8
	backupTrailerLen = 8 + sha256.Size
	// minRegistryLen is the snapshot of an empty registry: magic and
	// version, lastApplied, five counts, the CRC.
	minRegistryLen = 8 + 8 + 5*4 + 4
	// registryVersion is the snapshot version a backup holds, the one
	// with a CRC.
	registryVersion = 4
)

// Routes of the backups.
const (
	RouteSnapshot = "/v1/admin/snapshot"
	RouteRestore  = "/v1/admin/restore"
)

// BackupTimeout bounds a save or a restore end to end, in place of the
// request timeout: a registry of a million images is about 140 MB each
// way, and a restore checks it twice and installs it on a majority.
const BackupTimeout = 10 * time.Minute

// MaxBackupBytes bounds the body of a restore, which is read to a file in
// the data directory rather than held whole in memory as it arrives (the
// request body limits, MaxBodyBytes, are for images). Ten million images
// are about 1.4 GB.
const MaxBackupBytes = 2 << 30

// Errors of backups.
var (
	// ErrBadBackup: a backup is damaged, cut short or not a backup at all.
	// Nothing was changed.
	ErrBadBackup = errors.New("not a sound backup")
	// ErrNotEmpty: the cluster already holds users or images, and the
	// restore was not forced. Nothing was changed.
	ErrNotEmpty = errors.New("the cluster already holds a registry")
)

// Headers of a save's reply.
const (
	hdrBackupIndex  = "Veil-Backup-Index"
	hdrBackupUsers  = "Veil-Backup-Users"
	hdrBackupImages = "Veil-Backup-Images"
)

// BackupInfo describes a backup file.
type BackupInfo struct {
	Index        uint64    // the commit index the registry was saved at
	Saved        time.Time // when the coordinator froze it
	Size         int64     // the file's bytes
	RegistrySize int64     // the registry snapshot's bytes within the file
	RegistryCRC  uint32    // the registry snapshot's own CRC-32C
	SHA256       [sha256.Size]byte
}

// Checksum is the file's SHA-256 in hex, as `sha256sum` prints it of the
// file's first Size-32 bytes.
func (b BackupInfo) Checksum() string { return hex.EncodeToString(b.SHA256[:]) }

func badBackup(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrBadBackup, fmt.Sprintf(format, a...))
}

// writeBackup writes the backup of frozen, saved at saved, to w as it
// reads the state.
func writeBackup(w io.Writer, frozen *registry.State, saved time.Time) (BackupInfo, error) {
	info := BackupInfo{Index: frozen.LastApplied(), Saved: saved}
	bw := &backupWriter{w: w, h: sha256.New()}
	hdr := append([]byte(backupMagic), backupVersion)
	hdr = binary.BigEndian.AppendUint64(hdr, info.Index)
	hdr = binary.BigEndian.AppendUint64(hdr, uint64(saved.UnixNano()))
	if _, err := bw.Write(hdr); err != nil {
		return info, err
	}
	n, err := frozen.WriteSnapshot(bw)
	if err != nil {
		return info, err
	}
	info.RegistrySize, info.RegistryCRC = n, binary.BigEndian.Uint32(bw.tail[:])
	if _, err := bw.Write(binary.BigEndian.AppendUint64(nil, uint64(n))); err != nil {
		return info, err
	}
	copy(info.SHA256[:], bw.h.Sum(nil))
	if _, err := w.Write(info.SHA256[:]); err != nil {
		return info, err
	}
	info.Size = bw.n + sha256.Size
	return info, nil
}

// backupWriter passes bytes on, hashing and counting them, and keeps the
// last four.
type backupWriter struct {
	w    io.Writer
	h    hash.Hash
	n    int64
	tail [4]byte
}

func (b *backupWriter) Write(p []byte) (int, error) {
	n, err := b.w.Write(p)
	b.h.Write(p[:n])
	b.n += int64(n)
	if n >= len(b.tail) {
		copy(b.tail[:], p[n-len(b.tail):n])
	} else {
		copy(b.tail[:], b.tail[n:])
		copy(b.tail[len(b.tail)-n:], p[:n])
	}
	return n, err
}

// CheckBackup reads the backup file of size bytes in r through and checks
// its form, its SHA-256 and the registry's CRC-32C, and that the registry
// is a snapshot of the index the file names. A failure wraps ErrBadBackup
// and says what is wrong. Whether the registry keeps every rule of the
// registry is Restore's to say (a node checks that too before installing
// it).
func CheckBackup(r io.ReaderAt, size int64) (BackupInfo, error) {
	info := BackupInfo{Size: size}
	if size < int64(backupHeaderLen+minRegistryLen+backupTrailerLen) {
		return info, badBackup("%d bytes, too short to be a backup (cut short?)", size)
	}
	hdr := make([]byte, backupHeaderLen)
	if err := readAt(r, hdr, 0); err != nil {
		return info, err
	}
	if string(hdr[:len(backupMagic)]) != backupMagic {
		return info, badBackup("it does not start with %q: not a Veil backup", backupMagic)
	}
	if v := hdr[len(backupMagic)]; v != backupVersion {
		return info, badBackup("backup version %d; this build reads version %d", v, backupVersion)
	}
	info.Index = binary.BigEndian.Uint64(hdr[len(backupMagic)+1:])
	info.Saved = time.Unix(0, int64(binary.BigEndian.Uint64(hdr[len(backupMagic)+9:]))).UTC()
	tr := make([]byte, backupTrailerLen)
	if err := readAt(r, tr, size-backupTrailerLen); err != nil {
		return info, err
	}
	info.RegistrySize = size - int64(backupHeaderLen+backupTrailerLen)
	if got := binary.BigEndian.Uint64(tr); got != uint64(info.RegistrySize) {
		return info, badBackup("the file is %d bytes and says it holds a registry of %d, not %d: cut short, or bytes added", size, got, info.RegistrySize)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(r, 0, size-sha256.Size)); err != nil {
		return info, fmt.Errorf("reading the backup: %w", err)
	}
	copy(info.SHA256[:], h.Sum(nil))
	if want := tr[8:]; !bytes.Equal(info.SHA256[:], want) {
		return info, badBackup("its SHA-256 is %x, its bytes sum to %x: damaged", want, info.SHA256)
	}
	reg := make([]byte, 16)
	if err := readAt(r, reg, int64(backupHeaderLen)); err != nil {
		return info, err
	}
	switch {
	case string(reg[:7]) != "VEILREG":
		return info, badBackup("the registry within it does not start as a registry snapshot")
	case reg[7] != registryVersion:
		return info, badBackup("the registry within it is of snapshot version %d, not %d", reg[7], registryVersion)
	case binary.BigEndian.Uint64(reg[8:]) != info.Index:
		return info, badBackup("the registry within it is at index %d, the file says %d", binary.BigEndian.Uint64(reg[8:]), info.Index)
	}
	c := crc32.New(castagnoliTable)
	if _, err := io.Copy(c, io.NewSectionReader(r, int64(backupHeaderLen), info.RegistrySize-4)); err != nil {
		return info, fmt.Errorf("reading the backup: %w", err)
	}
	sum := make([]byte, 4)
	if err := readAt(r, sum, int64(backupHeaderLen)+info.RegistrySize-4); err != nil {
		return info, err
	}
	info.RegistryCRC = binary.BigEndian.Uint32(sum)
	if got := c.Sum32(); got != info.RegistryCRC {
		return info, badBackup("the registry's CRC-32C is %08x, its bytes sum to %08x: damaged", info.RegistryCRC, got)
	}
	return info, nil
}

var castagnoliTable = crc32.MakeTable(crc32.Castagnoli)

func readAt(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if errors.Is(err, io.EOF) || err == nil {
		return badBackup("cut short at byte %d", off+int64(n))
	}
	return fmt.Errorf("reading the backup: %w", err)
}

// rebase makes a registry snapshot (registry.State.Snapshot, version 4)
// one of index: its lastApplied, after the 8 bytes of magic and version,
// and its CRC-32C, in its last 4 bytes. Nothing else changes.
func rebase(data []byte, index uint64) {
	binary.BigEndian.PutUint64(data[8:16], index)
	binary.BigEndian.PutUint32(data[len(data)-4:], crc32.Checksum(data[:len(data)-4], castagnoliTable))
}

// RestoreReply is what a restore did.
type RestoreReply struct {
	Node        string `json:"node"`         // the coordinator that installed it
	Index       uint64 `json:"index"`        // the registry's index now
	BackupIndex uint64 `json:"backup_index"` // the index the backup was saved at
	// Rebased: the cluster's commit index was at or past the backup's, and
	// the registry was installed at the next index (Bully mode).
	Rebased bool `json:"rebased,omitempty"`
	// RaftIndex is Raft's index of the restored snapshot (Raft mode).
	RaftIndex uint64 `json:"raft_index,omitempty"`
	Users     int    `json:"users"`
	Images    int    `json:"images"`
	// ReplacedUsers and ReplacedImages are what the cluster held before
	// (a forced restore).
	ReplacedUsers  int `json:"replaced_users"`
	ReplacedImages int `json:"replaced_images"`
	// Holding names the nodes that held the restored registry when the
	// reply was written, a majority at least (Bully mode; in Raft mode a
	// quorum does, and Holding is empty). The others catch up by snapshot.
	Holding []string `json:"holding,omitempty"`
	Voters  int      `json:"voters"`
	SHA256  string   `json:"sha256"`
	TookMS  float64  `json:"took_ms"`
}

// notEmptyError is ErrNotEmpty with what the cluster holds.
type notEmptyError struct{ users, images int }

func (e *notEmptyError) Error() string {
	return fmt.Sprintf("%v: %d users and %d images; restore into a new cluster, or force the restore to replace them", ErrNotEmpty, e.users, e.images)
}

func (e *notEmptyError) Unwrap() error { return ErrNotEmpty }

func checkEmpty(s *registry.State) error {
	if users, images, _ := s.Counts(); users+images > 0 {
		return &notEmptyError{users, images}
	}
	return nil
}

// backupRefusal writes the refusals of the backup routes that the
// package's error table does not hold (409 not_empty with what the
// cluster holds, 400 bad_backup), and returns any other error as it is.
func backupRefusal(w http.ResponseWriter, err error) error {
	var ne *notEmptyError
	switch {
	case errors.As(err, &ne):
		writeJSON(w, http.StatusConflict, map[string]any{
			"error": apiError{Code: "not_empty", Message: err.Error()},
			"users": ne.users, "images": ne.images,
		})
		return nil
	case errors.Is(err, ErrBadBackup):
		writeJSON(w, http.StatusBadRequest, map[string]apiError{"error": {Code: "bad_backup", Message: err.Error()}})
		return nil
	}
	return err
}

// backupCtxKey carries a request's own context past wrap's deadline.
type backupCtxKey struct{}

// longRoute is wrap for the backup routes, which move a whole registry
// and may take longer than RequestTimeout: their handlers keep wrap's
// headers, errors and metrics, and take BackupTimeout for their deadline
// (backupContext).
func (n *Node) longRoute(route string, h func(http.ResponseWriter, *http.Request) error) http.Handler {
	inner := n.wrap(route, h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), backupCtxKey{}, r.Context())))
	})
}

// backupContext is the request's context with BackupTimeout for its
// deadline; the server's read and write deadlines move with it.
func backupContext(w http.ResponseWriter, r *http.Request) (context.Context, context.CancelFunc) {
	parent, ok := r.Context().Value(backupCtxKey{}).(context.Context)
	if !ok {
		parent = r.Context()
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(BackupTimeout))
	_ = rc.SetWriteDeadline(time.Now().Add(BackupTimeout + 5*time.Second))
	return context.WithTimeout(parent, BackupTimeout)
}

// handleAdminSnapshot is GET /v1/admin/snapshot with the admin token: the
// coordinator's registry, frozen at its commit index, as a backup file.
func (n *Node) handleAdminSnapshot(w http.ResponseWriter, r *http.Request) error {
	if err := n.adminOnly(r); err != nil {
		return err
	}
	ctx, cancel := backupContext(w, r)
	defer cancel()
	if err := n.servingSoon(ctx); err != nil {
		return err
	}
	if forwarded, err := n.backupAtCoordinator(ctx, w, r, nil); forwarded || err != nil {
		return err
	}
	start := time.Now()
	frozen, err := n.freezeRegistry(ctx)
	if err != nil {
		return err
	}
	users, images, _ := frozen.Counts()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set(hdrBackupIndex, strconv.FormatUint(frozen.LastApplied(), 10))
	h.Set(hdrBackupUsers, strconv.Itoa(users))
	h.Set(hdrBackupImages, strconv.Itoa(images))
	w.WriteHeader(http.StatusOK)
	info, err := writeBackup(w, frozen, time.Now())
	if err != nil {
		n.log.Warn("a backup was cut off while it was sent", "index", info.Index, "error", err)
		return err
	}
	n.log.Info("registry saved for a backup", "index", info.Index, "users", users, "images", images,
		"bytes", info.Size, "sha256", info.Checksum(), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// freezeRegistry returns the coordinator's registry frozen at its commit
// index.
func (n *Node) freezeRegistry(ctx context.Context) (*registry.State, error) {
	// Only a coordinator that has synced (Bully) or that a quorum still
	// follows (Raft) reads; the state read is committed either way.
	if err := n.repl.read(ctx, func(*registry.State) {}); err != nil {
		return nil, err
	}
	switch l := n.repl.(type) {
	case *replicator:
		return l.store.Freeze(), nil
	case *raftLog:
		return l.fsm.freeze(), nil
	}
	return nil, fmt.Errorf("no registry to save in this mode")
}

// freeze returns the FSM's state frozen as it is.
func (f *fsm) freeze() *registry.State {
	f.mu.Lock() // Freeze changes the state's generation
	defer f.mu.Unlock()
	return f.state.Freeze()
}

// backupAtCoordinator passes a backup route on to the coordinator when
// this node is not it, streaming body (nil for a save) there and the reply
// back, and reports whether it did. One hop only, and no retry: a restore
// that reached a coordinator may have been carried out.
func (n *Node) backupAtCoordinator(ctx context.Context, w http.ResponseWriter, r *http.Request, body io.Reader) (bool, error) {
	lead := n.elector.Leadership()
	switch {
	case !lead.Known():
		return false, ErrNoCoordinator
	case lead.Self:
		return false, nil
	case r.Header.Get(hdrForwardedBy) != "":
		return false, fmt.Errorf("%w (forwarded by %s); the coordinator is %s", ErrNotCoordinator, r.Header.Get(hdrForwardedBy), lead.Coordinator)
	}
	m, ok := n.mship.member(lead.Coordinator)
	if !ok || m.Meta.API == "" {
		return false, fmt.Errorf("%w: the coordinator %s has no known API address yet", ErrNoCoordinator, lead.Coordinator)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, n.apiURL(m.Meta.API)+r.URL.RequestURI(), body)
	if err != nil {
		return false, err
	}
	for _, k := range []string{"Authorization", "Content-Type"} {
		if v := r.Header.Get(k); v != "" {
			req.Header.Set(k, v)
		}
	}
	req.Header.Set(hdrForwardedBy, n.cfg.Name)
	client := n.client
	if body != nil {
		// The body goes on only once the coordinator asks for it (100
		// Continue, which it sends when it starts to read): a refusal
		// costs no upload, and the client's own 100 Continue comes from
		// here only then.
		req.ContentLength = r.ContentLength
		req.Header.Set("Expect", "100-continue")
		tr := &http.Transport{
			DialContext:           (&net.Dialer{Timeout: time.Second}).DialContext,
			TLSClientConfig:       n.peerTLS,
			TLSHandshakeTimeout:   time.Second,
			ExpectContinueTimeout: 10 * time.Second,
			DisableKeepAlives:     true,
		}
		defer tr.CloseIdleConnections()
		client = &http.Client{Transport: tr}
	}
	resp, err := client.Do(req)
	if err != nil {
		if body != nil {
			return true, fmt.Errorf("%w: the coordinator %s did not answer the restore: %v; see its GET /v1/status for the registry's index", ErrUnknownOutcome, lead.Coordinator, err)
		}
		return true, fmt.Errorf("%w: the coordinator %s did not answer: %v", ErrUnavailable, lead.Coordinator, err)
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		switch k {
		case "Content-Type", "Content-Length", "Retry-After", hdrBackupIndex, hdrBackupUsers, hdrBackupImages,
			hdrCoordinator, hdrCoordinatorAPI, hdrEpoch:
			w.Header()[k] = vs
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, err = io.Copy(w, resp.Body)
	return true, err
}

// restoring holds the nodes with a restore under way, one at a time each.
var restoring sync.Map // *Node → struct{}

// handleAdminRestore is POST /v1/admin/restore[?force=true] with the
// admin token and a backup file for body: the registry replaced with the
// backup's on every node.
func (n *Node) handleAdminRestore(w http.ResponseWriter, r *http.Request) error {
	if err := n.adminOnly(r); err != nil {
		return err
	}
	force := false
	if v := r.URL.Query().Get("force"); v != "" {
		var err error
		if force, err = strconv.ParseBool(v); err != nil {
			return badRequest("force=%q: want true or false", v)
		}
	}
	if r.ContentLength > MaxBackupBytes {
		return fmt.Errorf("%w: %s bytes, over the limit of %s bytes for a backup", ErrBodyTooLarge, commas(r.ContentLength), commas(MaxBackupBytes))
	}
	ctx, cancel := backupContext(w, r)
	defer cancel()
	if err := n.servingSoon(ctx); err != nil {
		return err
	}
	body := http.MaxBytesReader(w, r.Body, MaxBackupBytes)
	if forwarded, err := n.backupAtCoordinator(ctx, w, r, body); forwarded || err != nil {
		return err
	}
	if _, busy := restoring.LoadOrStore(n, struct{}{}); busy {
		return fmt.Errorf("%w: a restore is already under way on %s", ErrBusy, n.cfg.Name)
	}
	defer restoring.Delete(n)
	res, err := n.restore(ctx, body, force)
	if err != nil {
		return backupRefusal(w, err)
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// restoreName is the file a backup being restored is gathered in.
const restoreName = "restore-incoming.part"

// restore reads a backup from body and installs it, as the coordinator.
func (n *Node) restore(ctx context.Context, body io.Reader, force bool) (RestoreReply, error) {
	start := time.Now()
	res := RestoreReply{Node: n.cfg.Name}
	// Refused before a byte of the body is read: the client, waiting for
	// 100 Continue, sends none.
	if !force {
		var err error
		n.repl.readLocal(func(s *registry.State) { err = checkEmpty(s) })
		if err != nil {
			return res, err
		}
	}
	path := filepath.Join(n.cfg.DataDir, restoreName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return res, err
	}
	defer os.Remove(path)
	defer f.Close()
	size, err := io.Copy(f, body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return res, fmt.Errorf("%w: over the limit of %s bytes for a backup", ErrBodyTooLarge, commas(MaxBackupBytes))
		}
		return res, badRequest("reading the backup: %v", err)
	}
	info, err := CheckBackup(f, size)
	if err != nil {
		return res, err
	}
	data := make([]byte, info.RegistrySize)
	if _, err := f.ReadAt(data, int64(backupHeaderLen)); err != nil {
		return res, fmt.Errorf("reading the backup back: %w", err)
	}
	n.log.Info("restoring a backup", "index", info.Index, "bytes", info.Size, "sha256", info.Checksum(), "force", force,
		"received_in", time.Since(start).Round(time.Millisecond))
	res.BackupIndex, res.SHA256 = info.Index, info.Checksum()

	// The role stays where it is meanwhile, as for a hand-off: none
	// starts, and the writes the coordinator refuses are held by the
	// nodes and sent again.
	if !n.handingOff.CompareAndSwap(false, true) {
		return res, fmt.Errorf("%w: a hand-off is under way; restore once it is done", ErrUnavailable)
	}
	defer n.handingOff.Store(false)
	switch l := n.repl.(type) {
	case *replicator:
		err = l.restore(ctx, &res, data, force)
	case *raftLog:
		err = l.restore(ctx, &res, data, force)
	default:
		err = fmt.Errorf("no registry to restore in this mode")
	}
	if err != nil {
		return res, err
	}
	res.TookMS = msSince(start)
	n.log.Info("restored a backup", "index", res.Index, "backup_index", res.BackupIndex, "rebased", res.Rebased,
		"users", res.Users, "images", res.Images, "replaced_users", res.ReplacedUsers, "replaced_images", res.ReplacedImages,
		"took", time.Since(start).Round(time.Millisecond))
	return res, nil
}

// restoreDrain is what the writes refused during a restore are told the
// coordinator drains for (replicator.draining).
const restoreDrain = "no one: a backup is being restored"

// restore installs data, a registry snapshot whose CRC is checked, as the
// coordinator in Bully mode, and waits for a majority to hold it.
// Store.InstallSnapshot checks every rule of State.Restore before it
// changes anything: the registry is decoded once, while writes are held
// (10 to 20 s for a million images on two busy cores).
func (r *replicator) restore(ctx context.Context, res *RestoreReply, data []byte, force bool) error {
	e, release, err := r.holdWrites(ctx)
	if err != nil {
		return err
	}
	defer release()
	var before error
	r.store.Read(func(s *registry.State) {
		res.ReplacedUsers, res.ReplacedImages, _ = s.Counts()
		before = checkEmpty(s)
	})
	if before != nil && !force {
		return before
	}
	res.Index = res.BackupIndex
	if commit := r.store.CommitIndex(); commit >= res.Index {
		res.Index, res.Rebased = commit+1, true
		rebase(data, res.Index)
	}
	err = r.store.InstallSnapshot(e, registry.Snapshot{Index: res.Index, Epoch: e, Data: data})
	switch {
	case errors.Is(err, registry.ErrStaleEpoch):
		return fmt.Errorf("%w: a newer coordinator is being elected (%v); nothing was restored", ErrNotCoordinator, err)
	case errors.Is(err, registry.ErrMalformed):
		return fmt.Errorf("%w: %w", ErrBadBackup, err)
	case err != nil:
		return err
	}
	r.store.Read(func(s *registry.State) { res.Users, res.Images, _ = s.Counts() })
	r.log.Info("coordinator: installed a backup of the registry; the followers get it as a snapshot", "index", res.Index, "epoch", e.String())
	r.poke()
	res.Holding, res.Voters, err = r.waitHeld(ctx, e, res.Index)
	return err
}

// holdWrites stops this coordinator taking writes (they are answered
// unavailable, which every node holds and sends again) and waits until
// those it took are committed. release takes writes again.
func (r *replicator) holdWrites(ctx context.Context) (registry.Epoch, func(), error) {
	r.mu.Lock()
	e, ready, draining := r.epoch, r.ready, r.draining
	if ready && draining == "" {
		r.draining = restoreDrain
	}
	r.mu.Unlock()
	switch {
	case !ready:
		return e, nil, fmt.Errorf("%w, or has not synced yet", ErrNotCoordinator)
	case draining != "":
		return e, nil, fmt.Errorf("%w: the coordinator is handing its role to %s", ErrUnavailable, draining)
	}
	release := func() {
		r.mu.Lock()
		if r.epoch == e && r.draining == restoreDrain {
			r.draining = ""
		}
		r.mu.Unlock()
	}
	for {
		r.poke()
		r.advanceCommit(e)
		r.mu.Lock()
		same := r.epoch == e
		done := same && len(r.queue) == 0 && !r.proposing && len(r.waiters) == 0 &&
			r.store.CommitIndex() == r.store.LastIndex()
		r.mu.Unlock()
		switch {
		case !same:
			release()
			return e, nil, fmt.Errorf("%w: the reign at %v ended; nothing was restored", ErrNotCoordinator, e)
		case done:
			return e, release, nil
		}
		select {
		case <-ctx.Done():
			release()
			return e, nil, fmt.Errorf("%w: the writes in flight did not commit (%v); nothing was restored", ErrUnavailable, ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// waitHeld waits until every voter holds the log up to index, or a
// majority does and a lease has passed since, and returns those that do.
// With no majority by the end of ctx, or when the reign ends, the outcome
// is unknown: the coordinator holds the restored registry, and a new
// coordinator may not.
func (r *replicator) waitHeld(ctx context.Context, e registry.Epoch, index uint64) ([]string, int, error) {
	var majorityAt time.Time
	for {
		voters, majority := r.voters()
		holding := []string{r.n.cfg.Name}
		r.mu.Lock()
		same := r.epoch == e
		for _, v := range voters {
			if v != r.n.cfg.Name && r.match[v] >= index {
				holding = append(holding, v)
			}
		}
		r.mu.Unlock()
		if !same {
			return holding, len(voters), fmt.Errorf("%w: the reign at %v ended before a majority held the restored registry", ErrUnknownOutcome, e)
		}
		if len(holding) >= majority && majorityAt.IsZero() {
			majorityAt = time.Now()
		}
		if len(holding) == len(voters) || (!majorityAt.IsZero() && time.Since(majorityAt) > r.lease()) {
			return holding, len(voters), nil
		}
		select {
		case <-ctx.Done():
			if !majorityAt.IsZero() {
				return holding, len(voters), nil
			}
			return holding, len(voters), fmt.Errorf("%w: only %d of %d nodes held the restored registry by the deadline", ErrUnknownOutcome, len(holding), len(voters))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// restore installs data, a registry snapshot whose CRC is checked, as the
// leader in Raft mode: hashicorp/raft's user restore, which returns once a
// quorum holds it. An FSM that cannot restore what Raft has written panics
// the node, so every rule of State.Restore is checked first, before writes
// are held.
func (r *raftLog) restore(ctx context.Context, res *RestoreReply, data []byte, force bool) error {
	if err := registry.NewState().Restore(data); err != nil {
		return fmt.Errorf("%w: the registry within it: %w", ErrBadBackup, err)
	}
	r.mu.Lock()
	term, ready := r.term, r.ready
	r.ready = false // no new writes: submit answers unavailable
	r.mu.Unlock()
	if !ready {
		return fmt.Errorf("%w, or is still applying its log", ErrNotCoordinator)
	}
	defer func() {
		r.mu.Lock()
		if r.term == term { // the same term: lead's barrier has passed
			r.ready = true
		}
		r.mu.Unlock()
	}()
	// Every write taken before is applied, and counted below.
	if err := r.raft.Barrier(ctx); err != nil {
		return raftRestoreErr(err, false)
	}
	var before error
	r.fsm.read(func(s *registry.State) {
		res.ReplacedUsers, res.ReplacedImages, _ = s.Counts()
		before = checkEmpty(s)
	})
	if before != nil && !force {
		return before
	}
	if err := r.raft.Restore(ctx, res.BackupIndex, int64(len(data)), bytes.NewReader(data)); err != nil {
		return raftRestoreErr(err, true)
	}
	res.Index = res.BackupIndex
	res.RaftIndex = r.raft.Status().LastIndex
	r.fsm.read(func(s *registry.State) { res.Users, res.Images, _ = s.Counts() })
	if servers, _, err := r.raft.Servers(ctx); err == nil {
		res.Voters = len(servers)
	}
	return nil
}

// raftRestoreErr says a Raft failure during a restore in the cluster's
// words; restoring tells whether the restore itself had started.
func raftRestoreErr(err error, restoring bool) error {
	switch {
	case errors.Is(err, election.ErrNotLeader):
		return fmt.Errorf("%w: %v", ErrNotCoordinator, err)
	case errors.Is(err, election.ErrShutdown):
		return fmt.Errorf("%w: the node is stopping", ErrUnavailable)
	case restoring && (errors.Is(err, election.ErrLeadershipLost) || errors.Is(err, election.ErrRaftTimeout)):
		return fmt.Errorf("%w: %v; see GET /v1/status for the registry's index", ErrUnknownOutcome, err)
	}
	// A refusal before anything was written (a change of the Raft
	// configuration outstanding, say): try again.
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}
