package registry

// Snapshots of the store: taking one, compacting the log into one, and
// installing one sent by the coordinator. The snapshot lives in a file of
// its own beside registry.db, written whole and renamed into place before
// the metadata names it.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// Snapshot returns the state at the commit index, encoded.
func (s *Store) Snapshot() (Snapshot, error) {
	s.wmu.Lock()
	s.mu.Lock()
	frozen, index := s.state.Freeze(), s.commit
	s.mu.Unlock()
	var epoch Epoch
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		epoch, err = s.epochAt(tx.Bucket(bucketLog), index)
		return err
	})
	s.wmu.Unlock()
	if err != nil {
		return Snapshot{}, err
	}
	return Snapshot{Index: index, Epoch: epoch, Data: frozen.Snapshot()}, nil
}

// Freeze returns the state at the commit index as a frozen copy
// (State.Freeze), in time independent of its size, for a backup to write
// (State.WriteSnapshot) while changes go on. Its LastApplied is the index.
func (s *Store) Freeze() *State {
	s.mu.Lock() // Freeze changes the state's generation: no reader either
	defer s.mu.Unlock()
	return s.state.Freeze()
}

// SnapshotInfo names the snapshot a store holds.
type SnapshotInfo struct {
	Index uint64 // the last index the state includes; 0 when there is none
	Epoch Epoch  // the epoch of the entry at Index
	Size  int64  // the snapshot's bytes
}

// OpenSnapshot opens the snapshot the store holds, to send to a follower
// the log can no longer catch up: its reader stays valid after a later
// compaction replaces it. It fails with ErrOutOfRange when there is none.
func (s *Store) OpenSnapshot() (SnapshotInfo, *os.File, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.snapFile == "" {
		return SnapshotInfo{}, nil, fmt.Errorf("%w: no snapshot file", ErrOutOfRange)
	}
	f, err := os.Open(filepath.Join(s.dir, s.snapFile))
	if err != nil {
		return SnapshotInfo{}, nil, fmt.Errorf("registry: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return SnapshotInfo{}, nil, fmt.Errorf("registry: %w", err)
	}
	return SnapshotInfo{Index: s.snapIndex, Epoch: s.snapEpoch, Size: st.Size()}, f, nil
}

// Compact writes the state at the commit index as the snapshot and
// deletes the log entries before it but the last trailing ones, which stay
// for followers a little behind. The state is frozen in a moment and
// written while changes go on: only the two short steps at either end
// hold the store's locks. It returns the index of the snapshot it wrote,
// or the store's own when there was nothing new to fold.
func (s *Store) Compact(trailing uint64) (uint64, error) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	s.wmu.Lock()
	index, snapIndex := s.commit, s.snapIndex
	if index == snapIndex {
		s.wmu.Unlock()
		return snapIndex, nil
	}
	var epoch Epoch
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		epoch, err = s.epochAt(tx.Bucket(bucketLog), index)
		return err
	})
	s.mu.Lock()
	frozen := s.state.Freeze()
	s.mu.Unlock()
	s.wmu.Unlock()
	if err != nil {
		return 0, err
	}

	name := snapshotName(index)
	if err := writeFileSync(s.dir, name, frozen.WriteSnapshot); err != nil {
		return 0, fmt.Errorf("registry: writing the snapshot at %d: %w", index, err)
	}

	s.wmu.Lock()
	if s.snapIndex >= index {
		// An installed snapshot overtook this one.
		s.wmu.Unlock()
		os.Remove(filepath.Join(s.dir, name))
		return s.snapIndex, nil
	}
	old := s.snapFile
	err = s.update(func(tx *bolt.Tx) error { return putSnapshotMeta(tx, index, epoch, name) })
	if err != nil {
		s.wmu.Unlock()
		os.Remove(filepath.Join(s.dir, name))
		return 0, fmt.Errorf("registry: %w", err)
	}
	s.mu.Lock()
	s.snapIndex, s.snapEpoch, s.snapFile = index, epoch, name
	s.mu.Unlock()
	s.wmu.Unlock()
	if old != "" && old != name {
		os.Remove(filepath.Join(s.dir, old))
	}
	if index > trailing {
		if err := s.trimLog(index - trailing); err != nil {
			return index, err
		}
	}
	return index, nil
}

// trimBatch is how many log entries one transaction of trimLog deletes.
const trimBatch = 1024

// trimLog deletes the log's entries up to through, from its start, some at
// a time, each batch one transaction with the store's write lock held, so
// that appends go on between them. The entries it deletes are in the
// snapshot: a crash part of the way leaves a log that starts later, which
// Open takes.
func (s *Store) trimLog(through uint64) error {
	for {
		s.wmu.Lock()
		first := s.firstIndex
		to := min(through, first+trimBatch-1)
		if first > through || to > s.snapIndex {
			s.wmu.Unlock()
			return nil
		}
		err := s.update(func(tx *bolt.Tx) error { return deleteThrough(tx.Bucket(bucketLog), to) })
		if err == nil {
			s.mu.Lock()
			s.firstIndex = max(s.firstIndex, to+1)
			s.mu.Unlock()
		}
		s.wmu.Unlock()
		if err != nil {
			return fmt.Errorf("registry: deleting the log through %d: %w", to, err)
		}
	}
}

// writeFileSync writes a file in dir through write, durably: to a
// temporary name, synced, renamed into place, and the directory synced.
func writeFileSync(dir, name string, write func(io.Writer) (int64, error)) error {
	tmp := filepath.Join(dir, name+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = write(f)
	err = errors.Join(err, f.Sync(), f.Close())
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// InstallSnapshot replaces this store's state with snap, sent by the
// coordinator of epoch leader, as Raft's InstallSnapshot does. It refuses a
// leader below the promised epoch (ErrStaleEpoch) and promises one above
// it. A snapshot that is malformed, or of an epoch above leader, fails
// with ErrMalformed; one at or below the commit index is no change. Else:
// the snapshot is written to its file, and in one transaction, if the log
// holds snap's last entry (same index and epoch) the entries after it stay
// and otherwise the whole log goes, the snapshot is named, and the commit
// index becomes snap.Index.
func (s *Store) InstallSnapshot(leader Epoch, snap Snapshot) error {
	if leader.Term == 0 || !validEpoch(leader) || !validEpoch(snap.Epoch) || snap.Epoch.Term == 0 || leader.Less(snap.Epoch) {
		return fmt.Errorf("%w: leader %v, snapshot of %v", ErrMalformed, leader, snap.Epoch)
	}
	st := NewState()
	if err := st.Restore(snap.Data); err != nil {
		return err
	}
	if st.LastApplied() != snap.Index {
		return fmt.Errorf("%w: snapshot says index %d, its state %d", ErrMalformed, snap.Index, st.LastApplied())
	}
	s.cmu.Lock()
	defer s.cmu.Unlock()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if leader.Less(s.promised) {
		return fmt.Errorf("%w: %v, promised %v", ErrStaleEpoch, leader, s.promised)
	}
	install := snap.Index > s.commit
	name := snapshotName(snap.Index)
	if install {
		write := func(w io.Writer) (int64, error) {
			n, err := w.Write(snap.Data)
			return int64(n), err
		}
		if err := writeFileSync(s.dir, name, write); err != nil {
			return fmt.Errorf("registry: writing the snapshot at %d: %w", snap.Index, err)
		}
	}
	lastIndex, lastEpoch := snap.Index, snap.Epoch
	firstIndex := snap.Index + 1
	err := s.update(func(tx *bolt.Tx) error {
		if s.promised.Less(leader) {
			if err := putPromised(tx, leader); err != nil {
				return err
			}
		}
		if !install {
			return nil
		}
		log := tx.Bucket(bucketLog)
		keep := false
		if snap.Index <= s.lastIndex && snap.Index >= s.firstIndex {
			got, err := s.epochAt(log, snap.Index)
			if err != nil {
				return err
			}
			keep = got == snap.Epoch
		}
		if keep {
			lastIndex, lastEpoch = s.lastIndex, s.lastEpoch
			if err := deleteThrough(log, snap.Index); err != nil {
				return err
			}
		} else if err := deleteFrom(log, 0); err != nil {
			return err
		}
		if err := putSnapshotMeta(tx, snap.Index, snap.Epoch, name); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyCommit, appendU64(nil, snap.Index))
	})
	if err != nil {
		if install {
			os.Remove(filepath.Join(s.dir, name))
		}
		return fmt.Errorf("registry: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.promised.Less(leader) {
		s.promised = leader
	}
	if install {
		old := s.snapFile
		s.state = st
		s.commit, s.snapIndex, s.snapEpoch, s.snapFile = snap.Index, snap.Index, snap.Epoch, name
		s.lastIndex, s.lastEpoch, s.firstIndex = lastIndex, lastEpoch, firstIndex
		s.durableCommit = snap.Index
		if old != "" && old != name {
			os.Remove(filepath.Join(s.dir, old))
		}
	}
	return nil
}

// putSnapshotMeta names the snapshot file of index, and drops a format 1
// store's snapshot kept in the metadata.
func putSnapshotMeta(tx *bolt.Tx, index uint64, e Epoch, name string) error {
	meta := tx.Bucket(bucketMeta)
	if err := meta.Put(keySnapIndex, appendU64(nil, index)); err != nil {
		return err
	}
	if err := meta.Put(keySnapEpoch, appendEpoch(nil, e)); err != nil {
		return err
	}
	if err := meta.Put(keySnapFile, []byte(name)); err != nil {
		return err
	}
	return meta.Delete(keySnapshot)
}
