package registry

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// snapshotFiles returns the snapshot files in dir.
func snapshotFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "snapshot-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCompactKeepsTrailingEntriesAndRestartReplaysOnlyTheTail(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	cmds := script(t, 40)
	if _, err := s.Propose(epochA, cmds[:30]...); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(30); err != nil {
		t.Fatal(err)
	}
	idx, err := s.Compact(10)
	if err != nil || idx != 30 {
		t.Fatalf("Compact = %d, %v; want 30", idx, err)
	}
	// The trailing ten entries stay for followers; the ones before go.
	if es, err := s.Entries(21, 30); err != nil || len(es) != 10 {
		t.Fatalf("Entries(21, 30) = %d entries, %v", len(es), err)
	}
	if _, err := s.Entries(20, 30); !errors.Is(err, ErrCompacted) {
		t.Fatalf("Entries(20, 30) = %v, want ErrCompacted", err)
	}
	if e, err := s.EpochAt(25); err != nil || e != epochA {
		t.Fatalf("EpochAt(25) = %v, %v", e, err)
	}
	if _, err := s.EpochAt(19); !errors.Is(err, ErrCompacted) {
		t.Fatalf("EpochAt(19) = %v, want ErrCompacted", err)
	}
	// An append after a trailing entry still matches.
	if m, err := s.AppendEntries(epochB, 25, epochA, nil); err != nil || m != 30 {
		t.Fatalf("a heartbeat after entry 25 = %d, %v", m, err)
	}
	if _, err := s.Propose(epochB, cmds[30:]...); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(35); err != nil {
		t.Fatal(err)
	}
	if idx, err := s.Compact(3); err != nil || idx != 35 {
		t.Fatalf("the second Compact = %d, %v", idx, err)
	}
	if files := snapshotFiles(t, dir); len(files) != 1 || filepath.Base(files[0]) != snapshotName(35) {
		t.Fatalf("snapshot files %v, want only %s", files, snapshotName(35))
	}
	var want []byte
	s.Read(func(st *State) { want = st.Snapshot() })
	st := s.Status()
	s.Close()

	r := openStore(t, dir)
	var got []byte
	r.Read(func(st *State) { got = st.Snapshot() })
	if !bytes.Equal(got, want) {
		t.Fatal("the store reopened to another state")
	}
	if rs := r.Status(); rs != st {
		t.Fatalf("reopened at %+v, was %+v", rs, st)
	}
	if es, err := r.Entries(33, 40); err != nil || len(es) != 8 {
		t.Fatalf("Entries(33, 40) after reopening = %d, %v", len(es), err)
	}
	if _, err := r.Entries(32, 40); !errors.Is(err, ErrCompacted) {
		t.Fatalf("Entries(32, 40) after reopening = %v, want ErrCompacted", err)
	}
}

// TestCompactWhileWriting compacts again and again while proposals and
// commits go on, and checks that every snapshot written restores to
// exactly the state at its index, as a replay of the log gives it.
func TestCompactWhileWriting(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	const n = 400
	cmds := script(t, n)
	// states[i] is the state after entry i, replayed apart.
	replay := NewState()
	states := map[uint64][]byte{}
	for i, c := range cmds {
		cmd, _ := Decode(c)
		replay.Apply(uint64(i+1), cmd)
		states[uint64(i+1)] = replay.Snapshot()
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < n; i += 4 {
			if _, err := s.Propose(epochA, cmds[i:i+4]...); err != nil {
				errs <- err
				return
			}
			if _, err := s.Commit(uint64(i + 4)); err != nil {
				errs <- err
				return
			}
		}
	}()
	var taken []uint64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for s.CommitIndex() < n {
			idx, err := s.Compact(8)
			if err != nil {
				errs <- err
				return
			}
			if len(taken) == 0 || idx != taken[len(taken)-1] {
				taken = append(taken, idx)
				info, f, err := s.OpenSnapshot()
				if err != nil {
					if idx == 0 {
						continue
					}
					errs <- err
					return
				}
				b, err := io.ReadAll(f)
				f.Close()
				if err != nil {
					errs <- err
					return
				}
				if info.Index >= idx && !bytes.Equal(b, states[info.Index]) {
					errs <- fmt.Errorf("the snapshot at %d differs from the state replayed to %d", info.Index, info.Index)
					return
				}
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(taken) < 2 {
		t.Fatalf("compactions at %v: too few ran during the writes to test anything", taken)
	}
	s.Close()
	r := openStore(t, dir)
	var got []byte
	r.Read(func(st *State) { got = st.Snapshot() })
	if !bytes.Equal(got, states[n]) {
		t.Fatal("the store reopened to another state than the replay's")
	}
}

// editLog changes the value of log entry index in a closed store.
func editLog(t *testing.T, dir string, index uint64, edit func([]byte) []byte) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		log := tx.Bucket(bucketLog)
		v := log.Get(indexKey(index))
		if v == nil {
			return fmt.Errorf("no entry %d", index)
		}
		return log.Put(indexKey(index), edit(bytes.Clone(v)))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestADamagedEntryIsNeverApplied flips one bit in each byte of a
// committed entry in turn: the store refuses to open and names the entry,
// where format 1 applied it as a refused command and lost what it did.
func TestADamagedEntryIsNeverApplied(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	cmds := script(t, 6)
	s.Propose(epochA, cmds...)
	s.Commit(6)
	s.Close()
	var good []byte
	editLog(t, dir, 3, func(v []byte) []byte { good = bytes.Clone(v); return v })
	for i := range good {
		editLog(t, dir, 3, func(v []byte) []byte { v[i] ^= 0x04; return v })
		_, err := Open(dir)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "entry 3") || !strings.Contains(err.Error(), "data directory aside") {
			t.Fatalf("byte %d of entry 3 flipped: Open = %v", i, err)
		}
		editLog(t, dir, 3, func([]byte) []byte { return bytes.Clone(good) })
	}
	editLog(t, dir, 3, func(v []byte) []byte { return v[:len(v)-1] })
	if _, err := Open(dir); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("entry 3 cut short: Open = %v", err)
	}
}

// TestADamagedFileFailsToOpenClearly cuts registry.db short, as a disk
// that lost its end would: Open fails with ErrCorrupt, never a panic.
func TestADamagedFileFailsToOpenClearly(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	cmds := script(t, 200)
	for i := 0; i < len(cmds); i += 10 {
		s.Propose(epochA, cmds[i:i+10]...)
		s.Commit(uint64(i + 10))
	}
	s.Close()
	whole, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 100, 4096, 8 << 10, 16 << 10, 24 << 10, 32 << 10, len(whole) / 2} {
		if n >= len(whole) {
			continue
		}
		d := t.TempDir()
		if err := os.WriteFile(filepath.Join(d, FileName), whole[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(d)
		if err == nil {
			s.Close()
			if n == 0 {
				continue // an empty file is a new store
			}
			t.Fatalf("cut to %d of %d bytes: Open succeeded", n, len(whole))
		}
		if strings.Contains(err.Error(), "goroutine") {
			t.Fatalf("cut to %d bytes: %v", n, err)
		}
	}
}

// entryRanges returns where in a closed store's file the values of its log
// entries lie.
func entryRanges(t *testing.T, path string, whole []byte) [][2]int {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out [][2]int
	err = db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLog).ForEach(func(_, v []byte) error {
			i := bytes.Index(whole, v)
			if i < 0 {
				return fmt.Errorf("an entry's value is not in the file")
			}
			out = append(out, [2]int{i, i + len(v)})
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRandomDamageLosesNothingSilently flips random bytes in the log
// entries of a closed store's file, seeded, and checks that Open either
// fails or gives back every committed entry's effect up to its commit
// index: never a store that opens with less. Damage to bbolt's own page
// structure is left out: bbolt keeps no checksum of its pages and follows
// their references as they are, so that a page whose type or references
// are damaged can make it loop (bbolt issues 701 and 1257; its own
// Tx.Check too); docs/operations.md says what to do.
func TestRandomDamageLosesNothingSilently(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	cmds := script(t, 120)
	for i := 0; i < len(cmds); i += 6 {
		s.Propose(epochA, cmds[i:i+6]...)
		s.Commit(uint64(i + 6))
	}
	s.Close()
	replay := NewState()
	want := map[uint64][]byte{0: replay.Snapshot()}
	for i, c := range cmds {
		cmd, _ := Decode(c)
		replay.Apply(uint64(i+1), cmd)
		want[uint64(i+1)] = replay.Snapshot()
	}
	path := filepath.Join(dir, FileName)
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	leaves := entryRanges(t, path, whole)
	opened, failed := 0, 0
	for seed := range uint64(300) {
		if v := os.Getenv("VEIL_DAMAGE_SEED"); v != "" && v != fmt.Sprint(seed) {
			continue
		}
		if os.Getenv("VEIL_DAMAGE_TRACE") != "" {
			fmt.Fprintln(os.Stderr, "seed", seed)
		}
		r := rand.New(rand.NewPCG(seed, 3))
		b := bytes.Clone(whole)
		for range 16 {
			p := leaves[r.IntN(len(leaves))]
			b[p[0]+r.IntN(p[1]-p[0])] ^= byte(1 + r.IntN(255))
		}
		d := t.TempDir()
		if err := os.WriteFile(filepath.Join(d, FileName), b, 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := Open(d)
		if err != nil {
			failed++
			continue
		}
		var got []byte
		st.Read(func(x *State) { got = x.Snapshot() })
		commit := st.CommitIndex()
		st.Close()
		// The commit index itself may be what was damaged (a node
		// relearns committed entries from the coordinator), but every
		// entry up to it must have applied as it did.
		if !bytes.Equal(got, want[commit]) {
			t.Fatalf("seed %d: the damaged store opened at commit %d with another state than the entries up to it give (replay with VEIL_DAMAGE_SEED=%d)", seed, commit, seed)
		}
		opened++
	}
	t.Logf("%d damaged copies opened whole, %d refused to open", opened, failed)
}
