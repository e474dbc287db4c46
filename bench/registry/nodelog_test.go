package registry

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A node's log as it reads in each mode, cut to the lines that matter and
// some that do not.
const (
	bullyLog = `==== 2026-12-08T00:03:46Z: veil node --name node-1
2026-12-08T00:03:46.100Z [INFO]  veil: starting: build="veil (devel), revision unknown, go1.26.8"
2026-12-08T00:03:46.350Z [INFO]  veil: node started: node=node-1 mode=bully gossip=127.0.0.1:17946 api=127.0.0.1:18080 profile=fast
veil node node-1 (bully mode): gossip 127.0.0.1:17946, API http://127.0.0.1:18080, profile fast
2026-12-08T00:03:49.279Z [INFO]  veil.replication: registry compacted: node=node-1 snapshot_index=8433 took=39ms
2026-12-08T00:04:11.411Z [INFO]  veil.replication: registry compacted: node=node-1 snapshot_index=16625 took=1.117s
`
	raftLog = `2026-12-08T00:10:00.000Z [INFO]  veil: starting: build="veil (devel)"
2026-12-08T00:10:00.010Z [INFO]  veil.election.raft: starting restore from snapshot: node=node-2 id=2-16384-1 last-index=16384 last-term=2 size-in-bytes=1492462
2026-12-08T00:10:00.260Z [INFO]  veil.election.raft: restored from snapshot: node=node-2 id=2-16384-1 last-index=16384 last-term=2 size-in-bytes=1492462
2026-12-08T00:10:00.300Z [INFO]  veil: node started: node=node-2 mode=raft
2026-12-08T00:12:00.000Z [INFO]  veil.election.raft: starting snapshot up to: node=node-2 index=24576
2026-12-08T00:12:00.400Z [INFO]  veil.election.raft: compacting logs: node=node-2 from=1 to=14336
2026-12-08T00:12:00.450Z [INFO]  veil.election.raft: snapshot complete up to: node=node-2 index=24576
2026-12-08T00:14:00.000Z [INFO]  veil.election.raft: starting snapshot up to: node=node-2 index=32768
`
)

func at(s string) time.Time {
	t, err := time.Parse(logTime, s)
	if err != nil {
		panic(err)
	}
	return t
}

func parseAll(t *testing.T, text string) []logLine {
	t.Helper()
	path := filepath.Join(t.TempDir(), "node.log")
	if err := os.WriteFile(path, []byte(text+"2026-12-08T00:20:00.000Z [INFO]  veil: a line not yet ended"), 0o644); err != nil {
		t.Fatal(err)
	}
	lines, next, err := readLog(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if next != int64(len(text)) {
		t.Fatalf("readLog stopped at %d; want %d, the end of the last whole line", next, len(text))
	}
	return lines
}

func TestALogLineGivesItsTimeMessageAndFields(t *testing.T) {
	l, ok := parseLine(`2026-12-08T00:03:46.100+0200 [INFO]  veil: starting: build="veil (devel), revision unknown" node=node-1`)
	if !ok {
		t.Fatal("not read")
	}
	if !l.At.Equal(at("2026-12-08T00:03:46.100+0200")) || l.Logger != "veil" || l.Msg != "starting" {
		t.Fatalf("read %+v", l)
	}
	if l.Fields["build"] != "veil (devel), revision unknown" || l.Fields["node"] != "node-1" {
		t.Fatalf("fields %q", l.Fields)
	}
	for _, s := range []string{"veil node node-1 (bully mode): gossip 127.0.0.1:17946", "==== 2026-12-08T00:03:46Z: veil node", ""} {
		if _, ok := parseLine(s); ok {
			t.Errorf("%q read as a log line", s)
		}
	}
}

func TestSnapshotsAreFoundInEitherModesLog(t *testing.T) {
	done, open := snapshotWindows("node-1", parseAll(t, bullyLog))
	want := []window{
		{"node-1", at("2026-12-08T00:03:49.240Z"), at("2026-12-08T00:03:49.279Z"), 8433},
		{"node-1", at("2026-12-08T00:04:10.294Z"), at("2026-12-08T00:04:11.411Z"), 16625},
	}
	if open != nil || len(done) != len(want) {
		t.Fatalf("bully: %+v, open %+v; want %+v", done, open, want)
	}
	for i := range want {
		if done[i].Index != want[i].Index || !done[i].Start.Equal(want[i].Start) || !done[i].End.Equal(want[i].End) {
			t.Errorf("bully: window %d is %+v; want %+v", i, done[i], want[i])
		}
	}

	done, open = snapshotWindows("node-2", parseAll(t, raftLog))
	if len(done) != 1 || done[0].Index != 24576 || done[0].End.Sub(done[0].Start) != 450*time.Millisecond {
		t.Fatalf("raft: %+v; want one snapshot of 450ms at 24576", done)
	}
	if open == nil || open.Index != 32768 {
		t.Fatalf("raft: the snapshot begun and not complete is %+v; want the one at 32768", open)
	}
}

func TestARestoreIsTimedFromTheLogOfTheRestart(t *testing.T) {
	if d, ok := restoreTime("bully", parseAll(t, bullyLog)); !ok || d != 250*time.Millisecond {
		t.Fatalf("bully: %s, %v; want 250ms, from starting to node started", d, ok)
	}
	if d, ok := restoreTime("raft", parseAll(t, raftLog)); !ok || d != 250*time.Millisecond {
		t.Fatalf("raft: %s, %v; want 250ms, hashicorp/raft's restore", d, ok)
	}
	noSnapshot := strings.Split(raftLog, "\n")
	if _, ok := restoreTime("raft", parseAll(t, noSnapshot[0]+"\n"+noSnapshot[3]+"\n")); ok {
		t.Fatal("raft: a start with no snapshot restored gave a restore time")
	}
}

func TestAWriteIsDuringASnapshotWhenItsSpanMeetsOne(t *testing.T) {
	t0 := at("2026-12-08T00:00:00.000Z")
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	windows := []window{{Node: "node-1", Start: ms(100), End: ms(200)}, {Node: "node-3", Start: ms(500), End: ms(510)}}
	writes := []write{
		{Start: ms(0), End: ms(5)},     // idle
		{Start: ms(95), End: ms(105)},  // began before, ended during
		{Start: ms(150), End: ms(151)}, // inside
		{Start: ms(199), End: ms(260)}, // began during
		{Start: ms(200), End: ms(202)}, // just after
		{Start: ms(400), End: ms(600)}, // spans another node's
		{Start: ms(700), End: ms(701), Err: os.ErrDeadlineExceeded},
	}
	idle, during, failed, first := classify(writes, windows)
	if len(idle) != 2 || len(during) != 4 || failed != 1 || first == nil {
		t.Fatalf("idle %v, during %v, %d failed; want 2 idle, 4 during, 1 failed", idle, during, failed)
	}
}

func TestSizesAreReadWithTheirSuffixes(t *testing.T) {
	got, err := ParseCounts("2000, 10k,100_000,1M")
	if err != nil {
		t.Fatal(err)
	}
	want := []int{2000, 10_000, 100_000, 1_000_000}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ParseCounts = %v; want %v", got, want)
		}
	}
	for _, bad := range []string{"", "0", "-5", "1G", "ten", "1,,2", "200M"} {
		if _, err := ParseCounts(bad); err == nil {
			t.Errorf("ParseCounts(%q) took it", bad)
		}
	}
}
