package registry

// The log: what the coordinator appends, what the others take from it, and
// what committing applies.

import (
	"bytes"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Propose appends cmds, each the output of Encode, at the end of the log as
// entries of epoch e, in one transaction, and returns them. It refuses an e
// below the promised epoch (ErrStaleEpoch: this node is no longer the
// coordinator), promises an e above it, and refuses a command that does not
// decode (ErrMalformed) before appending anything. The entries are not
// committed: the coordinator sends them to the others and calls Commit once
// a majority holds them.
func (s *Store) Propose(e Epoch, cmds ...[]byte) ([]Entry, error) {
	if e.Term == 0 || !validEpoch(e) {
		return nil, fmt.Errorf("%w: epoch %v", ErrMalformed, e)
	}
	for i, c := range cmds {
		if _, err := Decode(c); err != nil {
			return nil, fmt.Errorf("command %d of %d: %w", i+1, len(cmds), err)
		}
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if e.Less(s.promised) {
		return nil, fmt.Errorf("%w: %v, promised %v", ErrStaleEpoch, e, s.promised)
	}
	entries := make([]Entry, len(cmds))
	for i, c := range cmds {
		entries[i] = Entry{Index: s.lastIndex + 1 + uint64(i), Epoch: e, Command: bytes.Clone(c)}
	}
	err := s.update(func(tx *bolt.Tx) error {
		if s.promised.Less(e) {
			if err := putPromised(tx, e); err != nil {
				return err
			}
		}
		log := tx.Bucket(bucketLog)
		for _, en := range entries {
			if err := log.Put(indexKey(en.Index), encodeEntryValue(en)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.promised = e
	if len(entries) > 0 {
		s.lastIndex, s.lastEpoch = entries[len(entries)-1].Index, e
	}
	return entries, nil
}

// AppendEntries takes entries from the coordinator of epoch leader, as
// Raft's AppendEntries does. prevIndex and prevEpoch name the entry the
// coordinator's log holds just before entries (0 and the zero Epoch at the
// start of the log). In one transaction it:
//
//   - refuses a leader below the promised epoch (ErrStaleEpoch), and
//     promises a leader above it, even if what follows refuses the entries;
//   - refuses entries that are not contiguous after prevIndex, not of
//     valid epochs no later than leader and never decreasing, or that do
//     not decode (ErrMalformed);
//   - refuses if this log has no entry prevIndex of epoch prevEpoch
//     (ErrLogMismatch: the coordinator retries from an earlier index);
//   - skips entries it holds already (same index and epoch), and at the
//     first that conflicts (same index, another epoch) deletes it and every
//     entry after it, then appends the rest. An entry at or below the
//     commit index is never replaced: that fails with ErrCommittedConflict
//     and changes nothing.
//
// With no entries from the epoch already promised (a heartbeat) there is
// nothing to write: it only checks prevIndex, in a read transaction.
//
// It returns matched, the last index at which this log now agrees with the
// coordinator's (prevIndex plus the number of entries): that, not
// LastIndex, is what the coordinator may count towards a majority, since
// entries after it may be left from an older epoch.
func (s *Store) AppendEntries(leader Epoch, prevIndex uint64, prevEpoch Epoch, entries []Entry) (matched uint64, err error) {
	if leader.Term == 0 || !validEpoch(leader) || !validEpoch(prevEpoch) || leader.Less(prevEpoch) || (prevIndex == 0) != prevEpoch.IsZero() {
		return 0, fmt.Errorf("%w: leader %v, previous entry %d of %v", ErrMalformed, leader, prevIndex, prevEpoch)
	}
	last := prevEpoch
	for i, en := range entries {
		switch {
		case en.Index != prevIndex+1+uint64(i):
			return 0, fmt.Errorf("%w: entry %d at position %d after index %d", ErrMalformed, en.Index, i, prevIndex)
		case en.Epoch.Term == 0 || !validEpoch(en.Epoch) || leader.Less(en.Epoch) || en.Epoch.Less(last):
			return 0, fmt.Errorf("%w: entry %d has epoch %v after %v, leader %v", ErrMalformed, en.Index, en.Epoch, last, leader)
		}
		if _, err := Decode(en.Command); err != nil {
			return 0, fmt.Errorf("entry %d: %w", en.Index, err)
		}
		last = en.Epoch
	}

	s.wmu.Lock()
	defer s.wmu.Unlock()
	if leader.Less(s.promised) {
		return 0, fmt.Errorf("%w: %v, promised %v", ErrStaleEpoch, leader, s.promised)
	}
	lastIndex, lastEpoch := s.lastIndex, s.lastEpoch
	var mismatch error
	if len(entries) == 0 && !s.promised.Less(leader) {
		// A heartbeat from the coordinator we follow: nothing to write,
		// so no write transaction and no fsync, only the check.
		err := s.db.View(func(tx *bolt.Tx) error {
			var err error
			mismatch, err = s.matchPrev(tx.Bucket(bucketLog), prevIndex, prevEpoch)
			return err
		})
		switch {
		case err != nil:
			return 0, fmt.Errorf("registry: %w", err)
		case mismatch != nil:
			return 0, mismatch
		}
		return max(prevIndex, s.snapIndex), nil
	}
	err = s.update(func(tx *bolt.Tx) error {
		if s.promised.Less(leader) {
			if err := putPromised(tx, leader); err != nil {
				return err
			}
		}
		log := tx.Bucket(bucketLog)
		var err error
		if mismatch, err = s.matchPrev(log, prevIndex, prevEpoch); err != nil || mismatch != nil {
			return err
		}
		// Entries at or below snapIndex are committed, and a committed
		// entry is in every later coordinator's log; they match.
		for _, en := range entries {
			if en.Index <= s.snapIndex {
				continue
			}
			if en.Index <= lastIndex {
				got, err := s.epochAt(log, en.Index)
				if err != nil {
					return err
				}
				if got == en.Epoch {
					continue
				}
				if en.Index <= s.commit {
					return fmt.Errorf("%w: entry %d of %v would replace one of %v, committed up to %d",
						ErrCommittedConflict, en.Index, en.Epoch, got, s.commit)
				}
				if err := deleteFrom(log, en.Index); err != nil {
					return err
				}
				lastIndex = en.Index - 1
			}
			if err := log.Put(indexKey(en.Index), encodeEntryValue(en)); err != nil {
				return err
			}
			lastIndex, lastEpoch = en.Index, en.Epoch
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrCommittedConflict) || errors.Is(err, ErrCorrupt) {
			return 0, err
		}
		return 0, fmt.Errorf("registry: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.promised.Less(leader) {
		s.promised = leader
	}
	if mismatch != nil {
		return 0, mismatch
	}
	s.lastIndex, s.lastEpoch = lastIndex, lastEpoch
	return max(prevIndex+uint64(len(entries)), s.snapIndex), nil
}

// matchPrev checks that the log holds entry prevIndex of prevEpoch, as an
// append after it requires: a mismatch is ErrLogMismatch, the coordinator's
// to resolve by stepping back; err is a failure to read. Entries at or
// below snapIndex are committed, and a committed entry is in every later
// coordinator's log: they match.
func (s *Store) matchPrev(log *bolt.Bucket, prevIndex uint64, prevEpoch Epoch) (mismatch, err error) {
	if prevIndex < s.snapIndex {
		return nil, nil
	}
	if prevIndex > s.lastIndex {
		return fmt.Errorf("%w: no entry %d; the log ends at %d", ErrLogMismatch, prevIndex, s.lastIndex), nil
	}
	got, err := s.epochAt(log, prevIndex)
	if err != nil {
		return nil, err
	}
	if got != prevEpoch {
		return fmt.Errorf("%w: entry %d has epoch %v, not %v", ErrLogMismatch, prevIndex, got, prevEpoch), nil
	}
	return nil, nil
}

// Commit records index as committed and applies every entry up to it not
// yet applied, in order, returning what each did. An index at or below the
// commit index is no change; one beyond the log fails with ErrOutOfRange.
// The coordinator calls it when a majority holds the entry (and, as in
// Raft, counts replicas only of entries from its own epoch); a follower,
// with the coordinator's commit index capped at matched.
//
// Commit writes nothing: the commit index goes to disk with the next
// change (which fsyncs anyway) and on Close. What is committed is settled
// by the entries a majority holds, not by any node's commit index, so a
// node that crashes in between restarts with a lower commit index and
// learns the rest again from the coordinator, as a Raft node does (Raft
// keeps the commit index in memory only).
func (s *Store) Commit(index uint64) ([]Applied, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if index <= s.commit {
		return nil, nil
	}
	if index > s.lastIndex {
		return nil, fmt.Errorf("%w: commit %d, the log ends at %d", ErrOutOfRange, index, s.lastIndex)
	}
	var entries []Entry
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		entries, err = s.entries(tx.Bucket(bucketLog), s.commit+1, index)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commit = index
	out := make([]Applied, len(entries))
	for i, e := range entries {
		out[i] = s.apply(e)
	}
	return out, nil
}

// apply applies one committed entry to the state. An entry that does not
// decode (Propose and AppendEntries let none in) is applied as a refused
// command, so that it cannot stop the log.
func (s *Store) apply(e Entry) Applied {
	a := Applied{Index: e.Index, Epoch: e.Epoch}
	cmd, err := Decode(e.Command)
	if err != nil {
		s.state.skip(e.Index)
		a.Outcome = Outcome{Index: e.Index, Err: err}
		return a
	}
	a.Command = cmd
	a.Outcome = s.state.Apply(e.Index, cmd)
	return a
}

// Entries returns the entries from index from to index to, both included,
// for a coordinator to send to a follower. It fails with ErrCompacted if
// from is no longer in the log (send the snapshot instead) and with
// ErrOutOfRange if to is beyond the log.
func (s *Store) Entries(from, to uint64) ([]Entry, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	from = max(from, 1)
	if from < s.firstIndex && s.snapIndex > 0 {
		return nil, fmt.Errorf("%w: entry %d; the log starts at %d, the snapshot covers up to %d", ErrCompacted, from, s.firstIndex, s.snapIndex)
	}
	if to > s.lastIndex {
		return nil, fmt.Errorf("%w: entry %d, the log ends at %d", ErrOutOfRange, to, s.lastIndex)
	}
	var out []Entry
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		out, err = s.entries(tx.Bucket(bucketLog), from, to)
		return err
	})
	return out, err
}

// EpochAt returns the epoch of the entry at index: the zero Epoch for 0, the
// snapshot's for its index, ErrCompacted below it, ErrOutOfRange beyond the
// log. A coordinator uses it for the prevEpoch of an AppendEntries.
func (s *Store) EpochAt(index uint64) (Epoch, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if index < s.snapIndex && index < s.firstIndex {
		return Epoch{}, fmt.Errorf("%w: entry %d; the log starts at %d, the snapshot covers up to %d", ErrCompacted, index, s.firstIndex, s.snapIndex)
	}
	if index > s.lastIndex {
		return Epoch{}, fmt.Errorf("%w: entry %d, the log ends at %d", ErrOutOfRange, index, s.lastIndex)
	}
	var e Epoch
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		e, err = s.epochAt(tx.Bucket(bucketLog), index)
		return err
	})
	return e, err
}
