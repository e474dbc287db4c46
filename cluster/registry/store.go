package registry

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The store's layout: one bbolt file, FileName, in the data directory, with
// two buckets.
//
//	meta  format    1 byte, storeFormat
//	      promised  epoch: 8-byte term, 1-byte length, node
//	      commit    8 bytes
//	      snapIndex 8 bytes   (absent until the first snapshot)
//	      snapEpoch epoch
//	      snapshot  State.Snapshot() at snapIndex
//	log   8-byte big-endian index → epoch, then the encoded command
//
// The log holds the entries after snapIndex, contiguous, up to LastIndex.
// Integers are big-endian. The state is not stored apart from the snapshot:
// Open restores the snapshot and replays the log up to the commit index.
const (
	FileName    = "registry.db"
	storeFormat = 1
)

var (
	bucketMeta   = []byte("meta")
	bucketLog    = []byte("log")
	keyFormat    = []byte("format")
	keyPromised  = []byte("promised")
	keyCommit    = []byte("commit")
	keySnapIndex = []byte("snapIndex")
	keySnapEpoch = []byte("snapEpoch")
	keySnapshot  = []byte("snapshot")
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
	db *bolt.DB

	// wmu serialises the changes, and the readers of the file (Entries,
	// EpochAt, Snapshot), which must not see the file ahead of the mirrors.
	// A change holds it across its transaction, and takes mu only to update
	// the mirrors and the State once the transaction has committed.
	wmu sync.Mutex
	// mu guards the mirrors and the State.
	mu sync.RWMutex

	// Mirrors of what is on disk, updated only after a transaction commits.
	promised  Epoch
	commit    uint64
	snapIndex uint64
	snapEpoch Epoch
	lastIndex uint64
	lastEpoch Epoch
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
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("registry: opening %s: %w", FileName, err)
	}
	s := &Store{db: db, state: NewState()}
	if err := s.load(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
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
		if _, err := tx.CreateBucketIfNotExists(bucketLog); err != nil {
			return err
		}
		switch f := meta.Get(keyFormat); {
		case f == nil:
			return meta.Put(keyFormat, []byte{storeFormat})
		case len(f) != 1 || f[0] != storeFormat:
			return corrupt("store format %v, want %d", f, storeFormat)
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
		if data := meta.Get(keySnapshot); data != nil {
			if err := s.state.Restore(data); err != nil {
				return corrupt("snapshot: %v", err)
			}
		}
		if s.state.LastApplied() != s.snapIndex {
			return corrupt("snapshot holds index %d, meta says %d", s.state.LastApplied(), s.snapIndex)
		}
		s.lastIndex, s.lastEpoch = s.snapIndex, s.snapEpoch
		c := log.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			e, err := decodeEntry(k, v)
			if err != nil {
				return corrupt("log: %v", err)
			}
			if e.Index != s.lastIndex+1 {
				return corrupt("log entry %d follows %d", e.Index, s.lastIndex)
			}
			if e.Epoch.Less(s.lastEpoch) {
				return corrupt("log entry %d has epoch %v after %v", e.Index, e.Epoch, s.lastEpoch)
			}
			if e.Index <= s.commit {
				s.apply(e)
			}
			s.lastIndex, s.lastEpoch = e.Index, e.Epoch
		}
		switch {
		case s.commit < s.snapIndex || s.commit > s.lastIndex:
			return corrupt("commit index %d outside %d to %d", s.commit, s.snapIndex, s.lastIndex)
		case s.promised.Less(s.lastEpoch):
			return corrupt("promised epoch %v below the log's %v", s.promised, s.lastEpoch)
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
	SnapshotIndex uint64 // the last index folded into the snapshot; the log starts after it
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
	v := log.Get(indexKey(index))
	if v == nil {
		return Epoch{}, corrupt("no log entry %d", index)
	}
	r := &reader{b: v}
	e := r.epoch()
	if r.err != nil {
		return Epoch{}, corrupt("log entry %d: %v", index, r.err)
	}
	return e, nil
}

// entries reads entries from to to, which must be in the log.
func (s *Store) entries(log *bolt.Bucket, from, to uint64) ([]Entry, error) {
	if from > to {
		return nil, nil
	}
	out := make([]Entry, 0, to-from+1)
	c := log.Cursor()
	for k, v := c.Seek(indexKey(from)); k != nil && len(out) < cap(out); k, v = c.Next() {
		e, err := decodeEntry(k, v)
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

func encodeEntryValue(e Entry) []byte {
	return append(appendEpoch(nil, e.Epoch), e.Command...)
}

// decodeEntry decodes a log key and value; it copies the command out of
// bbolt's memory.
func decodeEntry(k, v []byte) (Entry, error) {
	if len(k) != 8 {
		return Entry{}, fmt.Errorf("%w: log key of %d bytes", ErrMalformed, len(k))
	}
	r := &reader{b: v}
	e := Entry{Index: (&reader{b: k}).u64(), Epoch: r.epoch()}
	if r.err != nil {
		return Entry{}, r.err
	}
	if e.Epoch.Term == 0 {
		return Entry{}, fmt.Errorf("%w: entry %d has epoch 0", ErrMalformed, e.Index)
	}
	e.Command = bytes.Clone(v[r.off:])
	return e, nil
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
