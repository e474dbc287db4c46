package registry

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"
)

var (
	epochA = Epoch{Term: 1, Node: "n1"}
	epochB = Epoch{Term: 2, Node: "n2"}
	epochC = Epoch{Term: 3, Node: "n1"}
)

func openStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func enc(t testing.TB, c Command) []byte {
	t.Helper()
	b, err := Encode(c)
	if err != nil {
		t.Fatalf("Encode(%#v): %v", c, err)
	}
	return b
}

// script returns n encoded commands: two users, an image, and views.
func script(t testing.TB, n int) [][]byte {
	t.Helper()
	cmds := []Command{
		RegisterUser{Name: "ann", PasswordHash: testHash},
		RegisterUser{Name: "bob", PasswordHash: testHash},
		PutImage{ID: id(1), Owner: "ann", Viewers: map[string]int{"bob": 1000}, Created: t0},
	}
	for i := 0; len(cmds) < n; i++ {
		cmds = append(cmds, View{ID: id(1), Viewer: "bob", IdemKey: fmt.Sprintf("v%d", i)})
	}
	out := make([][]byte, n)
	for i := range n {
		out[i] = enc(t, cmds[i])
	}
	return out
}

// entries returns entries first..first+len(epochs)-1 of the script, each
// of the epoch given.
func entries(t testing.TB, first uint64, epochs ...Epoch) []Entry {
	cmds := script(t, int(first)+len(epochs))
	var out []Entry
	for i, e := range epochs {
		idx := first + uint64(i)
		out = append(out, Entry{Index: idx, Epoch: e, Command: cmds[idx-1]})
	}
	return out
}

// logOf returns the epochs of every entry in s's log after the snapshot.
func logOf(t *testing.T, s *Store) []Epoch {
	t.Helper()
	es, err := s.Entries(s.snapIndex+1, s.LastIndex())
	if err != nil {
		t.Fatalf("Entries: %v", err)
	}
	var out []Epoch
	for _, e := range es {
		out = append(out, e.Epoch)
	}
	return out
}

func stateOf(s *Store) []byte {
	var b []byte
	s.Read(func(st *State) { b = st.Snapshot() })
	return b
}

func TestStoreReopenKeepsEverything(t *testing.T) {
	for _, compact := range []bool{false, true} {
		t.Run(fmt.Sprintf("compacted=%v", compact), func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.SetPromised(epochA); err != nil {
				t.Fatal(err)
			}
			cmds := script(t, 8)
			if _, err := s.Propose(epochA, cmds[:5]...); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Commit(4); err != nil {
				t.Fatal(err)
			}
			if compact {
				if _, err := s.Compact(0); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.Propose(epochB, cmds[5:]...); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Commit(6); err != nil {
				t.Fatal(err)
			}
			wantLog, _ := s.Entries(s.snapIndex+1, s.LastIndex())
			wantState, wantSnap := stateOf(s), s.snapIndex
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			r := openStore(t, dir)
			if r.Promised() != epochB || r.CommitIndex() != 6 || r.LastIndex() != 8 || r.LastEpoch() != epochB || r.snapIndex != wantSnap {
				t.Fatalf("reopened: promised %v, commit %d, last %d of %v, snapshot at %d",
					r.Promised(), r.CommitIndex(), r.LastIndex(), r.LastEpoch(), r.snapIndex)
			}
			gotLog, err := r.Entries(r.snapIndex+1, r.LastIndex())
			if err != nil || !slices.EqualFunc(gotLog, wantLog, sameEntry) {
				t.Fatalf("reopened log = %v, %v; want %v", gotLog, err, wantLog)
			}
			if !bytes.Equal(stateOf(r), wantState) {
				t.Fatal("reopened state differs")
			}
			// And the rest of the log applies as it would have.
			applied, err := r.Commit(8)
			if err != nil || len(applied) != 2 || applied[0].Index != 7 || applied[1].Outcome.Err != nil {
				t.Fatalf("Commit after reopen = %+v, %v", applied, err)
			}
			want := NewState()
			for i, c := range cmds {
				cmd, _ := Decode(c)
				want.Apply(uint64(i+1), cmd)
			}
			if !bytes.Equal(stateOf(r), want.Snapshot()) {
				t.Fatal("state after reopen and commit differs from applying the log")
			}
		})
	}
}

func sameEntry(a, b Entry) bool {
	return a.Index == b.Index && a.Epoch == b.Epoch && bytes.Equal(a.Command, b.Command)
}

func TestPromisedEpochRefusesOlderEpochs(t *testing.T) {
	promised := Epoch{Term: 5, Node: "n2"}
	tests := []struct {
		name string
		call func(s *Store) error
		want error
	}{
		{"a lower term is refused", func(s *Store) error { return s.SetPromised(Epoch{Term: 4, Node: "n9"}) }, ErrStaleEpoch},
		{"the same term from a lower node is refused", func(s *Store) error { return s.SetPromised(Epoch{Term: 5, Node: "n1"}) }, ErrStaleEpoch},
		{"the same epoch again is no change", func(s *Store) error { return s.SetPromised(promised) }, nil},
		{"the same term from a higher node is promised", func(s *Store) error { return s.SetPromised(Epoch{Term: 5, Node: "n3"}) }, nil},
		{"a higher term is promised", func(s *Store) error { return s.SetPromised(Epoch{Term: 6}) }, nil},
		{"a proposal from an older epoch is refused", func(s *Store) error {
			_, err := s.Propose(Epoch{Term: 5, Node: "n1"}, script(t, 1)...)
			return err
		}, ErrStaleEpoch},
		{"entries from an older epoch are refused", func(s *Store) error {
			_, err := s.AppendEntries(Epoch{Term: 4, Node: "n2"}, 0, Epoch{}, entries(t, 1, Epoch{Term: 4, Node: "n2"}))
			return err
		}, ErrStaleEpoch},
		{"a snapshot from an older epoch is refused", func(s *Store) error {
			st := NewState()
			st.Apply(1, RegisterUser{Name: "ann", PasswordHash: testHash})
			return s.InstallSnapshot(Epoch{Term: 3}, Snapshot{Index: 1, Epoch: Epoch{Term: 3}, Data: st.Snapshot()})
		}, ErrStaleEpoch},
		{"a malformed epoch is refused", func(s *Store) error { return s.SetPromised(Epoch{Node: "n9"}) }, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir)
			if err := s.SetPromised(promised); err != nil {
				t.Fatal(err)
			}
			err := tt.call(s)
			if !errorIs(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if tt.want != nil && (s.Promised() != promised || s.LastIndex() != 0 || s.CommitIndex() != 0) {
				t.Fatalf("refused call changed the store: promised %v, last %d, commit %d", s.Promised(), s.LastIndex(), s.CommitIndex())
			}
			want := s.Promised()
			s.Close()
			if r := openStore(t, dir); r.Promised() != want {
				t.Fatalf("reopened promised %v, want %v", r.Promised(), want)
			}
		})
	}
}

func TestAppendEntries(t *testing.T) {
	A, B, C := epochA, epochB, epochC
	tests := []struct {
		name      string
		log       []Epoch // the follower's log before, from index 1
		commit    uint64
		leader    Epoch
		prev      uint64 // the coordinator's previous entry
		prevEpoch Epoch
		entries   []Entry
		want      error
		matched   uint64
		after     []Epoch // the follower's log after
	}{
		{name: "entries after a matching previous entry are appended",
			log: []Epoch{A, A}, leader: B, prev: 2, prevEpoch: A, entries: entries(t, 3, B, B),
			matched: 4, after: []Epoch{A, A, B, B}},
		{name: "entries at the start of the log are appended",
			leader: A, prev: 0, entries: entries(t, 1, A, A),
			matched: 2, after: []Epoch{A, A}},
		{name: "an empty append is a heartbeat that checks the previous entry",
			log: []Epoch{A, A}, leader: A, prev: 2, prevEpoch: A,
			matched: 2, after: []Epoch{A, A}},
		{name: "a previous entry beyond the log is a mismatch",
			log: []Epoch{A}, leader: B, prev: 3, prevEpoch: B, entries: entries(t, 4, B),
			want: ErrLogMismatch, after: []Epoch{A}},
		{name: "a previous entry of another epoch is a mismatch",
			log: []Epoch{A, A}, leader: C, prev: 2, prevEpoch: C, entries: entries(t, 3, C),
			want: ErrLogMismatch, after: []Epoch{A, A}},
		{name: "a conflicting suffix is deleted and replaced",
			log: []Epoch{A, A, A, A, A}, commit: 2, leader: B, prev: 3, prevEpoch: A, entries: entries(t, 4, B),
			matched: 4, after: []Epoch{A, A, A, B}},
		{name: "the conflict is found after matching entries",
			log: []Epoch{A, A, B, B}, commit: 1, leader: C, prev: 1, prevEpoch: A, entries: entries(t, 2, A, C, C, C),
			matched: 5, after: []Epoch{A, A, C, C, C}},
		{name: "a late duplicate append keeps the entries after it",
			log: []Epoch{A, A, A, A, A}, leader: A, prev: 1, prevEpoch: A, entries: entries(t, 2, A, A),
			matched: 3, after: []Epoch{A, A, A, A, A}},
		{name: "a committed entry is never replaced",
			log: []Epoch{A, A, A}, commit: 3, leader: B, prev: 1, prevEpoch: A, entries: entries(t, 2, B, B),
			want: ErrCommittedConflict, after: []Epoch{A, A, A}},
		{name: "entries not contiguous after the previous one are malformed",
			log: []Epoch{A}, leader: A, prev: 1, prevEpoch: A, entries: entries(t, 3, A),
			want: ErrMalformed, after: []Epoch{A}},
		{name: "an entry of an epoch above the leader's is malformed",
			log: []Epoch{A}, leader: B, prev: 1, prevEpoch: A, entries: entries(t, 2, C),
			want: ErrMalformed, after: []Epoch{A}},
		{name: "entries with decreasing epochs are malformed",
			leader: C, prev: 0, entries: entries(t, 1, B, A),
			want: ErrMalformed},
		{name: "an entry that does not decode is malformed",
			log: []Epoch{A}, leader: A, prev: 1, prevEpoch: A, entries: []Entry{{Index: 2, Epoch: A, Command: []byte{Version, 99}}},
			want: ErrMalformed, after: []Epoch{A}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir)
			if len(tt.log) > 0 {
				if _, err := s.AppendEntries(tt.log[len(tt.log)-1], 0, Epoch{}, entries(t, 1, tt.log...)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.Commit(tt.commit); err != nil {
				t.Fatal(err)
			}
			before := stateOf(s)
			matched, err := s.AppendEntries(tt.leader, tt.prev, tt.prevEpoch, tt.entries)
			if !errorIs(err, tt.want) || (err == nil && matched != tt.matched) {
				t.Fatalf("AppendEntries = %d, %v; want %d, %v", matched, err, tt.matched, tt.want)
			}
			if got := logOf(t, s); !slices.Equal(got, tt.after) {
				t.Fatalf("log after = %v, want %v", got, tt.after)
			}
			if !bytes.Equal(stateOf(s), before) || s.CommitIndex() != tt.commit {
				t.Fatal("AppendEntries changed the applied state or the commit index")
			}
			s.Close()
			r := openStore(t, dir)
			if got := logOf(t, r); !slices.Equal(got, tt.after) {
				t.Fatalf("log after reopening = %v, want %v", got, tt.after)
			}
		})
	}
}

func TestAppendEntriesPromisesTheLeaderEvenOnMismatch(t *testing.T) {
	s := openStore(t, t.TempDir())
	if _, err := s.AppendEntries(epochB, 5, epochB, nil); !errors.Is(err, ErrLogMismatch) {
		t.Fatalf("AppendEntries = %v", err)
	}
	if s.Promised() != epochB {
		t.Fatalf("Promised = %v, want %v", s.Promised(), epochB)
	}
	if _, err := s.Propose(epochA, script(t, 1)...); !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("a proposal of the deposed epoch = %v", err)
	}
}

func TestCommit(t *testing.T) {
	s := openStore(t, t.TempDir())
	if _, err := s.Propose(epochA, script(t, 5)...); err != nil {
		t.Fatal(err)
	}
	t.Run("an index beyond the log is refused", func(t *testing.T) {
		if _, err := s.Commit(6); !errors.Is(err, ErrOutOfRange) {
			t.Fatalf("Commit = %v", err)
		}
	})
	t.Run("committed entries are applied in order and their outcomes returned", func(t *testing.T) {
		got, err := s.Commit(4)
		if err != nil || len(got) != 4 {
			t.Fatalf("Commit = %v, %v", got, err)
		}
		for i, a := range got {
			if a.Index != uint64(i+1) || a.Epoch != epochA || a.Outcome.Err != nil || a.Outcome.Index != a.Index {
				t.Fatalf("applied %d = %+v", i, a)
			}
		}
		if v, ok := got[3].Command.(View); !ok || v.Viewer != "bob" || got[3].Outcome.ViewsLeft != 999 {
			t.Fatalf("applied 4 = %+v", got[3])
		}
	})
	t.Run("an index already committed is no change", func(t *testing.T) {
		if got, err := s.Commit(2); err != nil || got != nil || s.CommitIndex() != 4 {
			t.Fatalf("Commit = %v, %v; commit %d", got, err, s.CommitIndex())
		}
	})
}

func TestProposeRefusesWhatDoesNotDecode(t *testing.T) {
	s := openStore(t, t.TempDir())
	cmds := append(script(t, 2), []byte("garbage"))
	if _, err := s.Propose(epochA, cmds...); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Propose = %v", err)
	}
	if s.LastIndex() != 0 || !s.Promised().IsZero() {
		t.Fatalf("a refused proposal changed the store: last %d, promised %v", s.LastIndex(), s.Promised())
	}
}

func TestCompactAndInstallSnapshot(t *testing.T) {
	leader := openStore(t, t.TempDir())
	cmds := script(t, 9)
	leader.Propose(epochA, cmds[:6]...)
	leader.Commit(6)
	if _, err := leader.Compact(0); err != nil {
		t.Fatal(err)
	}
	leader.Propose(epochB, cmds[6:]...)

	t.Run("compacted entries are gone from the leader", func(t *testing.T) {
		if _, err := leader.Entries(1, 6); !errors.Is(err, ErrCompacted) {
			t.Fatalf("Entries = %v", err)
		}
		if _, err := leader.EpochAt(5); !errors.Is(err, ErrCompacted) {
			t.Fatalf("EpochAt = %v", err)
		}
		if e, err := leader.EpochAt(6); err != nil || e != epochA {
			t.Fatalf("EpochAt(6) = %v, %v", e, err)
		}
		if _, err := leader.Entries(7, 10); !errors.Is(err, ErrOutOfRange) {
			t.Fatalf("Entries beyond the log = %v", err)
		}
	})

	dir := t.TempDir()
	f := openStore(t, dir)
	snap, err := leader.Snapshot()
	if err != nil || snap.Index != 6 || snap.Epoch != epochA {
		t.Fatalf("Snapshot = %d of %v, %v", snap.Index, snap.Epoch, err)
	}
	if err := f.InstallSnapshot(epochB, snap); err != nil {
		t.Fatalf("InstallSnapshot: %v", err)
	}
	if f.CommitIndex() != 6 || f.LastIndex() != 6 || f.LastEpoch() != epochA || f.Promised() != epochB {
		t.Fatalf("after install: commit %d, last %d of %v, promised %v", f.CommitIndex(), f.LastIndex(), f.LastEpoch(), f.Promised())
	}
	rest, _ := leader.Entries(7, 9)
	if m, err := f.AppendEntries(epochB, 6, epochA, rest); err != nil || m != 9 {
		t.Fatalf("AppendEntries after the snapshot = %d, %v", m, err)
	}
	leader.Commit(9)
	f.Commit(9)
	if !bytes.Equal(stateOf(f), stateOf(leader)) {
		t.Fatal("follower and leader differ")
	}
	f.Close()
	r := openStore(t, dir)
	if !bytes.Equal(stateOf(r), stateOf(leader)) || r.LastIndex() != 9 || r.CommitIndex() != 9 {
		t.Fatal("reopened follower differs from the leader")
	}
}

func TestInstallSnapshot(t *testing.T) {
	src := openStore(t, t.TempDir())
	src.Propose(epochA, script(t, 5)...)
	src.Commit(5)
	snap, _ := src.Snapshot()
	tests := []struct {
		name   string
		log    []Epoch
		commit uint64
		snap   Snapshot
		want   error
		last   uint64
	}{
		{"a log holding the snapshot's last entry keeps what follows", []Epoch{epochA, epochA, epochA, epochA, epochA, epochA, epochA}, 2, snap, nil, 7},
		{"a log that conflicts with it is discarded", []Epoch{epochA, epochA, epochA, epochA, epochB, epochB, epochB}, 2, snap, nil, 5},
		{"a shorter log is discarded", []Epoch{epochA}, 0, snap, nil, 5},
		{"a snapshot at or below the commit index is no change", []Epoch{epochA, epochA, epochA, epochA, epochA, epochA}, 6, snap, nil, 6},
		{"a snapshot whose data do not decode is refused", []Epoch{epochA}, 0, Snapshot{Index: 5, Epoch: epochA, Data: []byte("x")}, ErrMalformed, 1},
		{"a snapshot whose index is not its state's is refused", []Epoch{epochA}, 0, Snapshot{Index: 4, Epoch: epochA, Data: snap.Data}, ErrMalformed, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, t.TempDir())
			if _, err := s.AppendEntries(tt.log[len(tt.log)-1], 0, Epoch{}, entries(t, 1, tt.log...)); err != nil {
				t.Fatal(err)
			}
			s.Commit(tt.commit)
			err := s.InstallSnapshot(epochB, tt.snap)
			if !errorIs(err, tt.want) || s.LastIndex() != tt.last {
				t.Fatalf("InstallSnapshot = %v, last %d; want %v, last %d", err, s.LastIndex(), tt.want, tt.last)
			}
			if err == nil && s.CommitIndex() < tt.snap.Index {
				t.Fatalf("commit index %d below the snapshot's %d", s.CommitIndex(), tt.snap.Index)
			}
		})
	}
}

// TestReplicaConverges drives a coordinator and two followers by hand, the
// way the replication layer will: propose, append to each follower, commit
// at a majority, and pass the commit index on. Every node ends with the same
// state, and a deposed coordinator's entries are replaced.
func TestReplicaConverges(t *testing.T) {
	n := []*Store{openStore(t, t.TempDir()), openStore(t, t.TempDir()), openStore(t, t.TempDir())}
	cmds := script(t, 8)
	replicate := func(leader *Store, e Epoch, to *Store) {
		t.Helper()
		next := min(to.LastIndex(), leader.LastIndex()) + 1
		for {
			prevEpoch, err := leader.EpochAt(next - 1)
			if err != nil {
				t.Fatal(err)
			}
			es, err := leader.Entries(next, leader.LastIndex())
			if err != nil {
				t.Fatal(err)
			}
			m, err := to.AppendEntries(e, next-1, prevEpoch, es)
			if errors.Is(err, ErrLogMismatch) {
				next--
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := to.Commit(min(leader.CommitIndex(), m)); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	// n[0] leads epoch A: 5 entries reach n[1], 2 more only its own disk.
	n[0].Propose(epochA, cmds[:5]...)
	replicate(n[0], epochA, n[1])
	n[0].Commit(5)
	n[0].Propose(epochA, cmds[5:7]...)
	// n[2] wins epoch B with n[1]'s log, and appends its own entry.
	n[2].SetPromised(epochB)
	replicate(n[1], epochB, n[2]) // n[2] catches up from n[1] before it serves
	n[2].Propose(epochB, cmds[7])
	replicate(n[2], epochB, n[1])
	n[2].Commit(n[2].LastIndex())
	replicate(n[2], epochB, n[1])
	replicate(n[2], epochB, n[0])
	for i, s := range n {
		if s.CommitIndex() != 6 || !bytes.Equal(stateOf(s), stateOf(n[2])) || !slices.Equal(logOf(t, s), logOf(t, n[2])) {
			t.Fatalf("node %d: commit %d, log %v; want the coordinator's %v", i, s.CommitIndex(), logOf(t, s), logOf(t, n[2]))
		}
	}
	if _, err := n[0].Propose(epochA, cmds[0]); !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("the deposed coordinator proposed: %v", err)
	}
}

// TestStoreGrantsExactlyTheQuota has 50 goroutines each propose a view and
// commit it, as 50 concurrent requests on one coordinator would, while
// others read. The store serialises them into its log; exactly the quota is
// granted. A goroutine learns its own outcome from the idempotency table,
// since the Commit that applies its entry may be another goroutine's.
func TestStoreGrantsExactlyTheQuota(t *testing.T) {
	const attempts, quota = 50, 17
	s := openStore(t, t.TempDir())
	setup := []Command{
		RegisterUser{Name: "ann", PasswordHash: testHash},
		PutImage{ID: id(1), Owner: "ann", Viewers: map[string]int{"bob": quota}, Created: t0},
	}
	for _, c := range setup {
		s.Propose(epochA, enc(t, c))
	}
	s.Commit(2)

	done := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				s.Read(func(st *State) { st.SharedWith("bob") })
				if last := s.LastIndex(); last > 0 {
					if _, err := s.Entries(last, last); err != nil && !errors.Is(err, ErrOutOfRange) {
						t.Error(err)
					}
				}
			}
		})
	}
	var granted atomic.Int64
	var wg sync.WaitGroup
	for i := range attempts {
		wg.Go(func() {
			key := fmt.Sprintf("view-%d", i)
			es, err := s.Propose(epochA, enc(t, View{ID: id(1), Viewer: "bob", IdemKey: key}))
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := s.Commit(es[0].Index); err != nil {
				t.Error(err)
				return
			}
			var ok bool
			s.Read(func(st *State) { _, ok = st.Lookup("bob", key) })
			if ok {
				granted.Add(1)
			}
		})
	}
	wg.Wait()
	close(done)
	readers.Wait()
	img := func() (img Image) { s.Read(func(st *State) { img, _ = st.Image(id(1)) }); return }()
	if granted.Load() != quota || img.Viewers["bob"] != 0 || s.CommitIndex() != 2+attempts {
		t.Fatalf("%d views granted, %d left, commit %d; want %d, 0, %d", granted.Load(), img.Viewers["bob"], s.CommitIndex(), quota, 2+attempts)
	}
}

func TestStatusCompareLogs(t *testing.T) {
	tests := []struct {
		name string
		a, b Status
		want int
	}{
		{"a later last epoch is ahead, however short", Status{LastEpoch: epochB, LastIndex: 3}, Status{LastEpoch: epochA, LastIndex: 9}, 1},
		{"the same term from a higher node is ahead", Status{LastEpoch: Epoch{Term: 2, Node: "b"}, LastIndex: 1}, Status{LastEpoch: Epoch{Term: 2, Node: "a"}, LastIndex: 5}, 1},
		{"with equal epochs the longer log is ahead", Status{LastEpoch: epochA, LastIndex: 4}, Status{LastEpoch: epochA, LastIndex: 3}, 1},
		{"equal epochs and lengths are level", Status{LastEpoch: epochA, LastIndex: 4, Commit: 1}, Status{LastEpoch: epochA, LastIndex: 4, Commit: 4}, 0},
		{"an empty log is behind any other", Status{}, Status{LastEpoch: epochA, LastIndex: 1}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.CompareLogs(tt.b); got != tt.want {
				t.Fatalf("CompareLogs = %d, want %d", got, tt.want)
			}
			if got := tt.b.CompareLogs(tt.a); got != -tt.want {
				t.Fatalf("reversed CompareLogs = %d, want %d", got, -tt.want)
			}
		})
	}
	t.Run("Status reports the store", func(t *testing.T) {
		s := openStore(t, t.TempDir())
		s.Propose(epochB, script(t, 3)...)
		s.Commit(2)
		want := Status{Promised: epochB, LastIndex: 3, LastEpoch: epochB, Commit: 2, FirstIndex: 1}
		if got := s.Status(); got != want {
			t.Fatalf("Status = %+v, want %+v", got, want)
		}
	})
}

func TestOpenRefusesACorruptStore(t *testing.T) {
	tests := []struct {
		name   string
		damage func(tx *bolt.Tx) error
	}{
		{"another format", func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyFormat, []byte{9}) }},
		{"a commit index beyond the log", func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyCommit, appendU64(nil, 9)) }},
		{"a gap in the log", func(tx *bolt.Tx) error { return tx.Bucket(bucketLog).Delete(indexKey(2)) }},
		{"a promise below the log's epoch", func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyPromised, appendEpoch(nil, Epoch{})) }},
		{"an entry that does not parse", func(tx *bolt.Tx) error { return tx.Bucket(bucketLog).Put(indexKey(3), []byte{1}) }},
		{"a snapshot that does not restore", func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySnapshot, []byte("x")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			s.Propose(epochA, script(t, 3)...)
			s.Commit(2)
			s.Close()
			db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(tt.damage); err != nil {
				t.Fatal(err)
			}
			db.Close()
			if s, err := Open(dir); !errors.Is(err, ErrCorrupt) {
				if s != nil {
					s.Close()
				}
				t.Fatalf("Open = %v, want ErrCorrupt", err)
			}
		})
	}
}

// onDisk returns the store's file as it is on disk now.
func onDisk(t *testing.T, s *Store) []byte {
	t.Helper()
	s.wmu.Lock() // no transaction under way
	defer s.wmu.Unlock()
	b, err := os.ReadFile(s.db.Path())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// crashCopy copies the store's file as it is on disk now, as if the
// process died here, and opens the copy.
func crashCopy(t *testing.T, s *Store) *Store {
	t.Helper()
	b := onDisk(t, s)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return openStore(t, dir)
}

func TestCommitIndexReachesDiskWithTheNextChangeOrClose(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	cmds := script(t, 6)
	if _, err := s.Propose(epochA, cmds[:4]...); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(3); err != nil {
		t.Fatal(err)
	}
	// A crash now: every entry is on disk, the commit index is not. The
	// node restarts behind, with nothing lost, and learns the rest again.
	c := crashCopy(t, s)
	if c.CommitIndex() != 0 || c.LastIndex() != 4 || applied(c) != 0 {
		t.Fatalf("after a crash: commit %d, last %d, applied %d; want 0, 4, 0", c.CommitIndex(), c.LastIndex(), applied(c))
	}
	if _, err := c.Commit(3); err != nil || !bytes.Equal(stateOf(c), stateOf(s)) {
		t.Fatalf("committing again after a crash: %v, or another state", err)
	}
	// The next change takes the commit index along.
	if _, err := s.Propose(epochA, cmds[4]); err != nil {
		t.Fatal(err)
	}
	if c := crashCopy(t, s); c.CommitIndex() != 3 || !bytes.Equal(stateOf(c), stateOf(s)) {
		t.Fatalf("after the next change: commit %d on disk, want 3, and the same state", c.CommitIndex())
	}
	// So does Close.
	if _, err := s.Commit(5); err != nil {
		t.Fatal(err)
	}
	want := stateOf(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r := openStore(t, dir)
	if r.CommitIndex() != 5 || !bytes.Equal(stateOf(r), want) {
		t.Fatalf("after Close: commit %d, want 5, and the same state", r.CommitIndex())
	}
}

func applied(s *Store) uint64 {
	var n uint64
	s.Read(func(st *State) { n = st.LastApplied() })
	return n
}

func TestAHeartbeatAppendWritesNothing(t *testing.T) {
	s := openStore(t, t.TempDir())
	if _, err := s.AppendEntries(epochA, 0, Epoch{}, entries(t, 1, epochA, epochA, epochA)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(2); err != nil {
		t.Fatal(err)
	}
	before := onDisk(t, s)
	if m, err := s.AppendEntries(epochA, 3, epochA, nil); err != nil || m != 3 {
		t.Fatalf("heartbeat: matched %d, %v; want 3", m, err)
	}
	if _, err := s.AppendEntries(epochA, 5, epochA, nil); !errors.Is(err, ErrLogMismatch) {
		t.Fatalf("heartbeat after an entry this log lacks: %v, want ErrLogMismatch", err)
	}
	if !bytes.Equal(onDisk(t, s), before) {
		t.Fatal("a heartbeat from the coordinator already promised wrote to the store")
	}
	// A heartbeat from a newer coordinator is a promise: that is written.
	if m, err := s.AppendEntries(epochB, 3, epochA, nil); err != nil || m != 3 || s.Promised() != epochB {
		t.Fatalf("heartbeat of a newer epoch: matched %d, %v, promised %v", m, err, s.Promised())
	}
	after := onDisk(t, s)
	if bytes.Equal(after, before) {
		t.Fatal("the promise of a newer epoch was not written")
	}
	if _, err := s.AppendEntries(epochB, 3, epochB, nil); !errors.Is(err, ErrLogMismatch) {
		t.Fatalf("heartbeat after an entry of another epoch: %v, want ErrLogMismatch", err)
	}
	if !bytes.Equal(onDisk(t, s), after) {
		t.Fatal("a refused heartbeat wrote to the store")
	}
}
