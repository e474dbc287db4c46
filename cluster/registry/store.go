package registry

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The store's layout: one bbolt file, FileName, in the data directory, with
// two buckets, and the snapshot in a file of its own beside it.
//
//	meta  format    1 byte, storeFormat (1: no entry checksums, the
//	                snapshot in the snapshot key; 2: as below)
//	      promised  epoch: 8-byte term, 1-byte length, node
//	      commit    8 bytes
//	      snapIndex 8 bytes   (absent until the first snapshot)
//	      snapEpoch epoch
//	      snapFile  the snapshot's file name in the directory (format 2)
//	      snapshot  State.Snapshot() at snapIndex (format 1 only)
//	      sumsFrom  8 bytes: every entry from this index on is checksummed
//	log   8-byte big-endian index → entry
//
// An entry is entryTag, the epoch, the encoded command, and a CRC-32C of
// the index key and everything before the sum; entries written by format 1
// have no tag and no sum, and start with the epoch's term, whose high byte
// is 0. The snapshot file is State.Snapshot(), which ends with its own
// CRC-32C. The log holds the entries from some index at or before
// snapIndex+1 (the trailing entries kept for followers a little behind) up
// to LastIndex, contiguous. Integers are big-endian. The state is not
// stored apart from the snapshot: Open restores the snapshot and replays
// the entries after snapIndex up to the commit index.
const (
	FileName    = "registry.db"
	storeFormat = 2
	entryTag    = 0xC5
)

// snapshotName is the name of the snapshot file of index.
func snapshotName(index uint64) string { return fmt.Sprintf("snapshot-%020d.veilreg", index) }

var (
	bucketMeta   = []byte("meta")
	bucketLog    = []byte("log")
	keyFormat    = []byte("format")
	keyPromised  = []byte("promised")
	keyCommit    = []byte("commit")
	keySnapIndex = []byte("snapIndex")
	keySnapEpoch = []byte("snapEpoch")
	keySnapshot  = []byte("snapshot")
	keySnapFile  = []byte("snapFile")
	keySumsFrom  = []byte("sumsFrom")
)

// Entry is one change in the log: a command, at an index, from the
// coordinator of an epoch.
type Entry struct {
	Index   uint64
	Epoch   Epoch
	Command []byte // Encode's output
}

// Applied is a committed entry and what applying it did. Command is nil if
// the entry did not decode, and then Outcome.Err wraps ErrMalformed.
type Applied struct {
	Index   uint64
	Epoch   Epoch
	Command Command
	Outcome Outcome
}

// Snapshot is the state at a committed index, for a node too far behind to
// catch up from the log.
type Snapshot struct {
	Index uint64 // the last index the state includes
	Epoch Epoch  // the epoch of the entry at Index
	Data  []byte // State.Snapshot()
}

// Store is a node's durable copy of the registry: the log of entries, the
// highest epoch it has promised, the commit index, and the State that the
// committed entries build. It is the Bully mode's replica; the replication
// layer drives it, and the rules here are Raft's, with epochs for terms:
//
//   - A coordinator promises its own epoch (SetPromised) when elected, and
//     appends with Propose. A follower takes entries with AppendEntries,
//     which promises the sender's epoch. Both refuse an epoch older than the
//     one promised, with ErrStaleEpoch.
//   - AppendEntries accepts entries only after the one the coordinator says
//     precedes them, and replaces an uncommitted suffix that conflicts (the
//     same index from another epoch).
//   - Commit advances the commit index and applies the newly committed
//     entries to the State, in order, returning their outcomes.
//   - Compact folds the committed entries into a snapshot; Snapshot and
//     InstallSnapshot bring up a node the log can no longer catch up.
//
// What is on disk when: every method that changes the log or the promise
// (SetPromised, Propose, AppendEntries, Compact, InstallSnapshot) runs one
// bbolt read-write transaction and returns only after it has committed.
// bbolt commits by writing the changed pages and fdatasync-ing the file,
// then writing the meta page and fdatasync-ing again; so when the method
// returns nil, its change survives a crash or power loss, and a crash
// before that leaves the previous state (a transaction is all or nothing).
// An AppendEntries with no entry from the epoch already promised (the
// coordinator's heartbeat) only reads. Commit writes nothing of its own:
// the commit index rides along with the next of those transactions, and
// Close writes it. The State is memory only and is rebuilt by Open.
//
// A Store is safe for concurrent use. Changes are serialised; Read and the
// accessors of indexes and epochs do not wait for a change's fsync, only
// for the moment it takes to make it visible.
type Store struct {
	db  *bolt.DB
	dir string

	// cmu serialises compactions, which write the snapshot file with no
	// other lock held.
	cmu sync.Mutex

	// wmu serialises the changes, and the readers of the file (Entries,
	// EpochAt, Snapshot), which must not see the file ahead of the mirrors.
	// A change holds it across its transaction, and takes mu only to update
	// the mirrors and the State once the transaction has committed.
	wmu sync.Mutex
	// mu guards the mirrors and the State.
	mu sync.RWMutex

	// Mirrors of what is on disk, updated only after a transaction commits.
	promised   Epoch
	commit     uint64
	snapIndex  uint64
	snapEpoch  Epoch
	snapFile   string // "" until the first snapshot (or in a format 1 store)
	firstIndex uint64 // the first entry in the log; lastIndex+1 when it is empty
	sumsFrom   uint64 // entries from here on carry a checksum
	lastIndex  uint64
	lastEpoch  Epoch
	// durableCommit is the commit index on disk; commit may be ahead of it
	// until the next change writes it (see Commit).
	durableCommit uint64

	state *State // the committed entries applied; LastApplied() == commit
}

// Open opens the store in dir, creating the directory and an empty store if
// there is none. It restores the snapshot, checks the log's invariants
// (entries contiguous after the snapshot, epochs never decreasing and never
// above the promised one, the commit index within the log) and replays the
// committed entries. A store that breaks an invariant fails with an error
// wrapping ErrCorrupt. Open waits at most a second for another process
// holding the file.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	path := filepath.Join(dir, FileName)
	db, err := openBolt(path)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, dir: dir, state: NewState()}
	if err := s.safeLoad(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// openBolt opens the bbolt file, turning its panics on a damaged file
// into an error: bbolt v1.3 panics on some damaged pages rather than
// failing.
func openBolt(path string) (db *bolt.DB, err error) {
	// A file cut short leaves bbolt reading past its end: a fault (SIGBUS),
	// made a panic here so that it is an error too.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			db, err = nil, fmt.Errorf("%w: %s cannot be opened (%v): %s", ErrCorrupt, path, p, repairHint)
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("registry: opening %s: %w", path, err)
	}
	return db, nil
}

// repairHint is what an operator does about a damaged store.
const repairHint = "the node stays out of the cluster; to rebuild it from the others, stop it, move its data directory aside, and start it again: it rejoins empty and catches up from the coordinator's snapshot"

// safeLoad is load, with bbolt's panics on damaged pages turned into an
// error.
func (s *Store) safeLoad() (err error) {
	// A damaged page can point bbolt past the file's mapping: a fault,
	// which is made a panic here so that it is an error too.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %s is damaged (%v): %s", ErrCorrupt, filepath.Join(s.dir, FileName), p, repairHint)
		}
	}()
	if err := s.load(); err != nil {
		if errors.Is(err, ErrCorrupt) {
			return fmt.Errorf("%w: %s", err, repairHint)
		}
		return err
	}
	return nil
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

func (s *Store) load() error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		log, err := tx.CreateBucketIfNotExists(bucketLog)
		if err != nil {
			return err
		}
		switch f := meta.Get(keyFormat); {
		case f == nil:
			if err := meta.Put(keySumsFrom, appendU64(nil, 1)); err != nil {
				return err
			}
			return meta.Put(keyFormat, []byte{storeFormat})
		case len(f) == 1 && f[0] == 1:
			// A format 1 store: its entries so far have no checksum; every
			// entry after them will.
			next := uint64(1)
			if k, _ := log.Cursor().Last(); k != nil {
				next = (&reader{b: k}).u64() + 1
			} else if v := meta.Get(keySnapIndex); len(v) == 8 {
				next = (&reader{b: v}).u64() + 1
			}
			if err := meta.Put(keySumsFrom, appendU64(nil, next)); err != nil {
				return err
			}
			return meta.Put(keyFormat, []byte{storeFormat})
		case len(f) != 1 || f[0] != storeFormat:
			return corrupt("%s: store format %v, this node reads 1 and %d", FileName, f, storeFormat)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.db.View(func(tx *bolt.Tx) error {
		meta, log := tx.Bucket(bucketMeta), tx.Bucket(bucketLog)
		var err error
		if s.promised, err = getEpoch(meta, keyPromised); err != nil {
			return err
		}
		if s.commit, err = getU64(meta, keyCommit); err != nil {
			return err
		}
		s.durableCommit = s.commit
		if s.snapIndex, err = getU64(meta, keySnapIndex); err != nil {
			return err
		}
		if s.snapEpoch, err = getEpoch(meta, keySnapEpoch); err != nil {
			return err
		}
		if s.sumsFrom, err = getU64(meta, keySumsFrom); err != nil {
			return err
		}
		if name := meta.Get(keySnapFile); name != nil {
			s.snapFile = string(name)
			data, err := os.ReadFile(filepath.Join(s.dir, s.snapFile))
			if err != nil {
				return corrupt("the snapshot at index %d: %v", s.snapIndex, err)
			}
			if err := s.state.Restore(data); err != nil {
				return corrupt("the snapshot %s: %v", s.snapFile, err)
			}
		} else if data := meta.Get(keySnapshot); data != nil {
			if err := s.state.Restore(data); err != nil {
				return corrupt("the snapshot in %s: %v", FileName, err)
			}
		}
		if s.state.LastApplied() != s.snapIndex {
			return corrupt("the snapshot holds index %d, %s says %d", s.state.LastApplied(), FileName, s.snapIndex)
		}
		s.lastIndex, s.lastEpoch = s.snapIndex, s.snapEpoch
		s.firstIndex = s.snapIndex + 1
		c := log.Cursor()
		var prev uint64
		for k, v := c.First(); k != nil; k, v = c.Next() {
			e, err := s.decodeEntry(k, v)
			if err != nil {
				return corrupt("%s: %v", FileName, err)
			}
			switch {
			case prev == 0 && e.Index > s.snapIndex+1:
				return corrupt("%s: the log starts at entry %d, after the snapshot's %d", FileName, e.Index, s.snapIndex)
			case prev == 0:
				s.firstIndex = e.Index
			case e.Index != prev+1:
				return corrupt("%s: log entry %d follows %d", FileName, e.Index, prev)
			}
			prev = e.Index
			if e.Index <= s.snapIndex {
				// A trailing entry, kept for followers a little behind:
				// the snapshot holds it.
				if e.Index == s.snapIndex && e.Epoch != s.snapEpoch {
					return corrupt("%s: entry %d has epoch %v, the snapshot %v", FileName, e.Index, e.Epoch, s.snapEpoch)
				}
				continue
			}
			if e.Epoch.Less(s.lastEpoch) {
				return corrupt("%s: log entry %d has epoch %v after %v", FileName, e.Index, e.Epoch, s.lastEpoch)
			}
			if e.Index <= s.commit {
				if a := s.apply(e); a.Command == nil {
					return corrupt("%s: committed entry %d does not decode: %v", FileName, e.Index, a.Outcome.Err)
				}
			}
			s.lastIndex, s.lastEpoch = e.Index, e.Epoch
		}
		switch {
		case s.commit < s.snapIndex || s.commit > s.lastIndex:
			return corrupt("%s: commit index %d outside %d to %d", FileName, s.commit, s.snapIndex, s.lastIndex)
		case s.promised.Less(s.lastEpoch):
			return corrupt("%s: promised epoch %v below the log's %v", FileName, s.promised, s.lastEpoch)
		}
		return nil
	})
}

// Close writes the commit index if it is ahead of the one on disk, and
// closes the store. Every entry acknowledged is already on disk.
func (s *Store) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var err error
	if s.commit > s.durableCommit {
		err = s.update(func(*bolt.Tx) error { return nil })
	}
	return errors.Join(err, s.db.Close())
}

// update runs change in one read-write transaction, with the commit index
// if Commit has moved it since it was last written, and returns once the
// transaction is on disk. Every change goes through it, with wmu held.
func (s *Store) update(change func(*bolt.Tx) error) error {
	commit := s.commit
	err := s.db.Update(func(tx *bolt.Tx) error {
		if commit > s.durableCommit {
			if err := tx.Bucket(bucketMeta).Put(keyCommit, appendU64(nil, commit)); err != nil {
				return err
			}
		}
		return change(tx)
	})
	if err == nil {
		s.durableCommit = max(s.durableCommit, commit)
	}
	return err
}

// Read runs f with the State while no change is applied. f must not keep
// the State or anything it returns by pointer, nor call the Store.
func (s *Store) Read(f func(*State)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	f(s.state)
}

// Status is where a store stands, read at one moment.
type Status struct {
	Promised      Epoch  // the highest epoch promised
	LastIndex     uint64 // the last entry in the log
	LastEpoch     Epoch  // the epoch of that entry
	Commit        uint64 // the commit index; the State has applied up to it
	SnapshotIndex uint64 // the last index folded into the snapshot
	FirstIndex    uint64 // the first entry the log keeps (LastIndex+1 when it keeps none)
}

// CompareLogs orders two logs by how up to date they are, as Raft's vote
// does: the later LastEpoch is more up to date, and with equal epochs the
// longer log. It returns -1, 0 or +1 as s's log is behind, level with or
// ahead of o's. A new coordinator, or a node back from a failure, asks a
// majority for their Status and catches up from the one most up to date:
// that log holds every committed entry.
func (s Status) CompareLogs(o Status) int {
	if c := s.LastEpoch.Compare(o.LastEpoch); c != 0 {
		return c
	}
	switch {
	case s.LastIndex < o.LastIndex:
		return -1
	case s.LastIndex > o.LastIndex:
		return 1
	}
	return 0
}

// Status returns the store's indexes and epochs, all read at one moment.
func (s *Store) Status() Status {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return Status{
		Promised:      s.promised,
		LastIndex:     s.lastIndex,
		LastEpoch:     s.lastEpoch,
		Commit:        s.commit,
		SnapshotIndex: s.snapIndex,
		FirstIndex:    s.firstIndex,
	}
}

// Promised returns the highest epoch this store has promised.
func (s *Store) Promised() Epoch {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.promised
}

// CommitIndex returns the index of the last committed entry.
func (s *Store) CommitIndex() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.commit
}

// LastIndex returns the index of the last entry in the log (or of the
// snapshot, when the log after it is empty).
func (s *Store) LastIndex() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lastIndex
}

// LastEpoch returns the epoch of the entry at LastIndex.
func (s *Store) LastEpoch() Epoch {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lastEpoch
}

// SetPromised records that this node will accept nothing from an epoch
// below e. It refuses an e below the one promised with ErrStaleEpoch; the
// same e again is no change. A node calls it when it sees a newer epoch,
// and a new coordinator calls it with its own epoch before it proposes.
func (s *Store) SetPromised(e Epoch) error {
	if !validEpoch(e) {
		return fmt.Errorf("%w: epoch %v", ErrMalformed, e)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	switch c := e.Compare(s.promised); {
	case c < 0:
		return fmt.Errorf("%w: %v, promised %v", ErrStaleEpoch, e, s.promised)
	case c == 0:
		return nil
	}
	if err := s.update(func(tx *bolt.Tx) error { return putPromised(tx, e) }); err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	s.mu.Lock()
	s.promised = e
	s.mu.Unlock()
	return nil
}

func (s *Store) epochAt(log *bolt.Bucket, index uint64) (Epoch, error) {
	if index == s.snapIndex {
		return s.snapEpoch, nil
	}
	k := indexKey(index)
	v := log.Get(k)
	if v == nil {
		return Epoch{}, corrupt("%s: no log entry %d", FileName, index)
	}
	e, err := s.decodeEntry(k, v)
	if err != nil {
		return Epoch{}, corrupt("%s: %v", FileName, err)
	}
	return e.Epoch, nil
}

// entries reads entries from to to, which must be in the log.
func (s *Store) entries(log *bolt.Bucket, from, to uint64) ([]Entry, error) {
	if from > to {
		return nil, nil
	}
	out := make([]Entry, 0, to-from+1)
	c := log.Cursor()
	for k, v := c.Seek(indexKey(from)); k != nil && len(out) < cap(out); k, v = c.Next() {
		e, err := s.decodeEntry(k, v)
		if err != nil {
			return nil, corrupt("log: %v", err)
		}
		if e.Index != from+uint64(len(out)) {
			return nil, corrupt("log entry %d where %d belongs", e.Index, from+uint64(len(out)))
		}
		out = append(out, e)
	}
	if len(out) != cap(out) {
		return nil, corrupt("log ends before entry %d", to)
	}
	return out, nil
}

func indexKey(i uint64) []byte { return appendU64(nil, i) }

// encodeEntryValue encodes e as its log value: the tag, the epoch, the
// command, and the CRC-32C of the key and all that.
func encodeEntryValue(e Entry) []byte {
	b := make([]byte, 0, 1+9+len(e.Epoch.Node)+len(e.Command)+4)
	b = append(b, entryTag)
	b = appendEpoch(b, e.Epoch)
	b = append(b, e.Command...)
	sum := crc32.Update(crc32.Checksum(indexKey(e.Index), castagnoli), castagnoli, b)
	return binary.BigEndian.AppendUint32(b, sum)
}

// decodeEntry decodes a log key and value, checking the value's checksum
// (required from sumsFrom on); it copies the command out of bbolt's
// memory. A damaged entry fails with an error that names its index.
func (s *Store) decodeEntry(k, v []byte) (Entry, error) {
	if len(k) != 8 {
		return Entry{}, fmt.Errorf("%w: log key of %d bytes", ErrMalformed, len(k))
	}
	index := (&reader{b: k}).u64()
	if len(v) > 1+9+MaxEpochNode+MaxCommandSize+4 {
		// Checked before the bytes are touched: a damaged page can give a
		// length that reaches past the file's mapping.
		return Entry{}, fmt.Errorf("%w: log entry %d claims %d bytes: damaged", ErrMalformed, index, len(v))
	}
	switch {
	case len(v) > 0 && v[0] == entryTag:
		if len(v) < 1+9+4 {
			return Entry{}, fmt.Errorf("%w: log entry %d of %d bytes, cut short", ErrMalformed, index, len(v))
		}
		body, sum := v[:len(v)-4], binary.BigEndian.Uint32(v[len(v)-4:])
		if got := crc32.Update(crc32.Checksum(k, castagnoli), castagnoli, body); got != sum {
			return Entry{}, fmt.Errorf("%w: log entry %d fails its checksum (%08x, its bytes sum to %08x): damaged", ErrMalformed, index, sum, got)
		}
		v = body[1:]
	case index >= s.sumsFrom:
		return Entry{}, fmt.Errorf("%w: log entry %d has no checksum tag (its first byte is %#02x): damaged", ErrMalformed, index, firstByte(v))
	}
	r := &reader{b: v}
	e := Entry{Index: index, Epoch: r.epoch()}
	if r.err != nil {
		return Entry{}, r.err
	}
	if e.Epoch.Term == 0 {
		return Entry{}, fmt.Errorf("%w: entry %d has epoch 0", ErrMalformed, e.Index)
	}
	e.Command = bytes.Clone(v[r.off:])
	return e, nil
}

func firstByte(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// deleteFrom deletes the entries at index from and after.
func deleteFrom(log *bolt.Bucket, from uint64) error {
	c := log.Cursor()
	for k, _ := c.Seek(indexKey(from)); k != nil; k, _ = c.Seek(indexKey(from)) {
		if err := log.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// deleteThrough deletes the entries at index through and before.
func deleteThrough(log *bolt.Bucket, through uint64) error {
	c := log.Cursor()
	for k, _ := c.First(); k != nil && (&reader{b: k}).u64() <= through; k, _ = c.First() {
		if err := log.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func putPromised(tx *bolt.Tx, e Epoch) error {
	return tx.Bucket(bucketMeta).Put(keyPromised, appendEpoch(nil, e))
}

func getU64(b *bolt.Bucket, key []byte) (uint64, error) {
	v := b.Get(key)
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, corrupt("%s is %d bytes, want 8", key, len(v))
	}
	return (&reader{b: v}).u64(), nil
}

func getEpoch(b *bolt.Bucket, key []byte) (Epoch, error) {
	v := b.Get(key)
	if v == nil {
		return Epoch{}, nil
	}
	r := &reader{b: v}
	e := r.epoch()
	r.done()
	if r.err != nil {
		return Epoch{}, corrupt("%s: %v", key, r.err)
	}
	return e, nil
}
