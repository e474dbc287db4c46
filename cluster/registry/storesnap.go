package registry

// Snapshots of the store: taking one, compacting the log into one, and
// installing one sent by the coordinator.

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Snapshot returns the state at the commit index.
func (s *Store) Snapshot() (Snapshot, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	snap := Snapshot{Index: s.commit, Data: s.state.Snapshot()}
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		snap.Epoch, err = s.epochAt(tx.Bucket(bucketLog), s.commit)
		return err
	})
	return snap, err
}

// Compact stores the state at the commit index as the snapshot and deletes
// the log entries it covers, in one transaction. Entries after the commit
// index stay. A follower that needs a deleted entry gets the snapshot.
func (s *Store) Compact() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.commit == s.snapIndex {
		return nil
	}
	data := s.state.Snapshot()
	var epoch Epoch
	err := s.update(func(tx *bolt.Tx) error {
		log := tx.Bucket(bucketLog)
		var err error
		if epoch, err = s.epochAt(log, s.commit); err != nil {
			return err
		}
		if err := putSnapshot(tx, s.commit, epoch, data); err != nil {
			return err
		}
		return deleteThrough(log, s.commit)
	})
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	s.mu.Lock()
	s.snapIndex, s.snapEpoch = s.commit, epoch
	s.mu.Unlock()
	return nil
}

// InstallSnapshot replaces this store's state with snap, sent by the
// coordinator of epoch leader, as Raft's InstallSnapshot does. It refuses a
// leader below the promised epoch (ErrStaleEpoch) and promises one above
// it. A snapshot that is malformed, or of an epoch above leader, fails
// with ErrMalformed; one at or below the commit index is no change. Else,
// in one transaction: if the log holds snap's last entry (same index and
// epoch) the entries after it stay, and otherwise the whole log goes; the
// snapshot is stored, and the commit index becomes snap.Index.
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
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if leader.Less(s.promised) {
		return fmt.Errorf("%w: %v, promised %v", ErrStaleEpoch, leader, s.promised)
	}
	install := snap.Index > s.commit
	lastIndex, lastEpoch := snap.Index, snap.Epoch
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
		if snap.Index <= s.lastIndex {
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
		if err := putSnapshot(tx, snap.Index, snap.Epoch, snap.Data); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyCommit, appendU64(nil, snap.Index))
	})
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.promised.Less(leader) {
		s.promised = leader
	}
	if install {
		s.state = st
		s.commit, s.snapIndex, s.snapEpoch = snap.Index, snap.Index, snap.Epoch
		s.lastIndex, s.lastEpoch = lastIndex, lastEpoch
		s.durableCommit = snap.Index
	}
	return nil
}

// epochAt reads the epoch of entry index, which must be between snapIndex
// and the log's end.

func putSnapshot(tx *bolt.Tx, index uint64, e Epoch, data []byte) error {
	meta := tx.Bucket(bucketMeta)
	if err := meta.Put(keySnapIndex, appendU64(nil, index)); err != nil {
		return err
	}
	if err := meta.Put(keySnapEpoch, appendEpoch(nil, e)); err != nil {
		return err
	}
	return meta.Put(keySnapshot, data)
}
