package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"veil/bench/load"
	"veil/bench/local"
)

// Three real nodes in Bully mode, a small load of puts and views, a SIGKILL
// of the coordinator in the middle, one failover trial, and the report.
func TestStudyOfThreeBullyNodesUnderAKillBalancesItsBooks(t *testing.T) {
	dir := t.TempDir()
	var progress strings.Builder
	rep, err := RunStudy(timeout(t, 2*time.Minute), StudyConfig{
		Bin: veilBin, Modes: []string{"bully"}, Sizes: []int{3},
		Faults: []Fault{{Kind: FaultKill, Target: TargetCoordinator, At: time.Second, For: time.Second}},
		Load:   load.Workload{Pace: load.Pace{Workers: 4, Duration: 3 * time.Second}, Seed: 7},
		Trials: 1, Reference: 200 * time.Millisecond, Dir: dir, KeepLogs: true,
		Progress: &progress, Logf: t.Logf,
	})
	if err != nil {
		logs, _ := filepath.Glob(filepath.Join(dir, "*", "*.log"))
		for _, l := range logs {
			t.Logf("---- %s\n%s", l, local.Tail(l, 32<<10))
		}
		t.Fatalf("study (seed 7): %v\nprogress:\n%s", err, progress.String())
	}
	if len(rep.Runs) != 1 {
		t.Fatalf("%d runs, want 1", len(rep.Runs))
	}
	run := rep.Runs[0]
	if run.Requests == 0 || run.Succeeded+run.Failed != run.Requests {
		t.Fatalf("requests %d = succeeded %d + failed %d?", run.Requests, run.Succeeded, run.Failed)
	}
	if run.Puts.Succeeded == 0 || run.Views.Succeeded == 0 {
		t.Fatalf("puts %+v, views %+v: want both acknowledged", run.Puts, run.Views)
	}
	if run.Books == nil || !run.Books.OK() || run.Books.PutsAcked != run.Puts.Succeeded {
		t.Fatalf("books %+v", run.Books)
	}
	if len(run.Faults) != 1 || run.Faults[0].Err != "" || run.Faults[0].EndS <= run.Faults[0].StartS {
		t.Fatalf("fault windows %+v, want the one kill, undone", run.Faults)
	}
	if len(run.Coordinators) < 2 {
		t.Fatalf("coordinators %+v: the kill of the coordinator should show as a change", run.Coordinators)
	}
	if run.FailoverMS == nil || run.FailoverMS.Measured != 1 || run.FailoverMS.P50 <= 0 {
		t.Fatalf("failover %+v, want one measured trial", run.FailoverMS)
	}
	if rep.Reference == nil || rep.Reference.MixRPS <= 0 || run.ReferenceAfter == nil || run.ReferenceAfter.MixRPS <= 0 {
		t.Fatalf("reference before %+v, after %+v: want both measured", rep.Reference, run.ReferenceAfter)
	}
	if want := load.Round3(run.ThroughputRPS / ((run.Reference.MixRPS + run.ReferenceAfter.MixRPS) / 2)); run.ShareOfReference != want {
		t.Fatalf("share %g, want %g: the throughput over the mean of the two references", run.ShareOfReference, want)
	}

	out := t.TempDir()
	if err := rep.WriteDir(out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Runs []struct {
			Mode       string               `json:"mode"`
			Succeeded  int                  `json:"succeeded"`
			PerNode    map[string]int       `json:"per_node"`
			FailoverMS struct{ Trials int } `json:"failover_ms"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || len(doc.Runs) != 1 {
		t.Fatalf("report.json: %v, %d runs", err, len(doc.Runs))
	}
	r := doc.Runs[0]
	sum := 0
	for _, n := range r.PerNode {
		sum += n
	}
	if r.Mode != "bully" || r.Succeeded != run.Succeeded || sum != run.Succeeded || r.FailoverMS.Trials != 1 {
		t.Fatalf("report.json run %+v does not match the run (%d succeeded, each done by a node)", r, run.Succeeded)
	}
}
