package bench

import (
	"testing"
	"time"

	"veil/bench/load"
	"veil/bench/report"
)

func TestTheTimelineBucketsOperationsByTheSecondTheyEnded(t *testing.T) {
	ops := []load.Op{
		{Due: 0, End: 100 * time.Millisecond, Outcome: load.OutcomeOK},
		{Due: 500 * time.Millisecond, End: 1200 * time.Millisecond, Outcome: load.OutcomeOK},
		{Due: 900 * time.Millisecond, End: 1900 * time.Millisecond, Outcome: load.OutcomeUnknown},
	}
	tl := timeline(ops)
	if len(tl) != 2 || tl[0].Acked != 1 || tl[1].Acked != 1 || tl[1].Failed != 1 {
		t.Fatalf("timeline %+v", tl)
	}
	if tl[1].P50MS < 699 || tl[1].P50MS > 701 {
		t.Fatalf("second 1: p50 %.1f ms, want 700 (from when it was due)", tl[1].P50MS)
	}
}

func TestAStretchWithoutAcknowledgementWhileClientsWaitIsUnavailability(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	ops := []load.Op{
		{Due: 0, End: ms(10), Outcome: load.OutcomeOK},
		{Due: ms(10), End: ms(20), Outcome: load.OutcomeOK},
		{Due: ms(20), End: ms(900), Outcome: load.OutcomeOK}, // waited through a stall
		{Due: ms(900), End: ms(910), Outcome: load.OutcomeOK},
	}
	u := unavailable(ops, ms(250))
	if len(u) != 1 || u[0].StartS != 0.02 || u[0].EndS != 0.9 {
		t.Fatalf("unavailable %+v, want one window from 0.02 s to 0.9 s", u)
	}
	// An idle stretch, with nobody waiting, is not unavailability.
	idle := []load.Op{{Due: 0, End: ms(10), Outcome: load.OutcomeOK}, {Due: ms(900), End: ms(910), Outcome: load.OutcomeOK}}
	if u := unavailable(idle, ms(250)); len(u) != 0 {
		t.Fatalf("idle stretch counted as unavailable: %+v", u)
	}
}

func TestTheCoordinatorsCPUPerOpLeavesOutItsIdleUseAndNeedsOneCoordinatorThroughout(t *testing.T) {
	before := map[string]float64{"node-1": 10, "node-2": 20}
	after := map[string]float64{"node-1": 12, "node-2": 25}
	idle := map[string]float64{"node-1": 0.1, "node-2": 0.1}
	run := report.Run{Succeeded: 100, ElapsedS: 10, Coordinator: "node-1", JobsPerNode: map[string]float64{"node-1": 0, "node-2": 100}}
	fillCPU(&run, before, after, idle, []report.CoordinatorChange{{Coordinator: "node-1"}})
	// 2 s of CPU over 10 s, 1 s of which idle: 1 s for 100 operations.
	if run.CoordinatorCPUPerOpMS != 10 || run.CPUPerNode["node-2"] != 5 || run.FairnessWorkers != 1 {
		t.Fatalf("run %+v", run)
	}
	moved := report.Run{Succeeded: 100, ElapsedS: 10, Coordinator: "node-1"}
	fillCPU(&moved, before, after, idle, []report.CoordinatorChange{{Coordinator: "node-1"}, {Coordinator: "node-2"}})
	if moved.Coordinator != "" || moved.CoordinatorCPUPerOpMS != 0 {
		t.Fatalf("a run whose coordinator moved has a coordinator figure: %+v", moved)
	}
}

func TestTheSecretPerSecondCountsAcknowledgedOperationsOnly(t *testing.T) {
	ops := []load.Op{
		{Kind: load.OpPut, Outcome: load.OutcomeOK, Bytes: 2_000_000},
		{Kind: load.OpPut, Outcome: load.OutcomeUnknown, Bytes: 2_000_000}, // may not have happened
		{Kind: load.OpView, Outcome: load.OutcomeOK, Bytes: 2_000_000},
		{Kind: load.OpView, Outcome: load.OutcomeOK, WrongSecret: true}, // gave back something else
		{Kind: load.OpView, Outcome: load.OutcomeShed, Bytes: 2_000_000},
	}
	run := report.Run{Errors: map[string]int{}, PerNode: map[string]int{}}
	fillLoad(&run, ops, load.Driven{Hists: []*load.Histogram{load.NewHistogram()}, Elapse: 2 * time.Second}, nil, nil, nil, time.Second)
	if run.Puts.SecretBytes != 2_000_000 || run.Views.SecretBytes != 2_000_000 || run.SecretMBps != 2 {
		t.Fatalf("puts %d bytes, views %d bytes, %g MB/s; want 2 MB each, 4 MB in 2 s", run.Puts.SecretBytes, run.Views.SecretBytes, run.SecretMBps)
	}
}
