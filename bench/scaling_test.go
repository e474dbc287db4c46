package bench

import (
	"bytes"
	"strings"
	"testing"
)

func TestTheCoordinatorsCPUPerOpLeavesOutItsIdleUseAndNeedsOneCoordinatorThroughout(t *testing.T) {
	before := map[string]float64{"node-1": 10, "node-2": 20}
	after := map[string]float64{"node-1": 12, "node-2": 25}
	idle := map[string]float64{"node-1": 0.1, "node-2": 0.1}
	run := Run{Succeeded: 100, ElapsedS: 10, Coordinator: "node-1", JobsPerNode: map[string]float64{"node-1": 0, "node-2": 100}}
	fillCPU(&run, before, after, idle, []CoordinatorChange{{Coordinator: "node-1"}})
	// 2 s of CPU over 10 s, 1 s of which idle: 1 s for 100 operations.
	if run.CoordinatorCPUPerOpMS != 10 || run.CPUPerNode["node-2"] != 5 || run.FairnessWorkers != 1 {
		t.Fatalf("run %+v", run)
	}
	moved := Run{Succeeded: 100, ElapsedS: 10, Coordinator: "node-1"}
	fillCPU(&moved, before, after, idle, []CoordinatorChange{{Coordinator: "node-1"}, {Coordinator: "node-2"}})
	if moved.Coordinator != "" || moved.CoordinatorCPUPerOpMS != 0 {
		t.Fatalf("a run whose coordinator moved has a coordinator figure: %+v", moved)
	}
}

func TestAScalingReportShowsTheEfficiencyAgainstTheOneNodeRunAndDrawsTheIdealLine(t *testing.T) {
	run := func(mode string, nodes int, rps float64) Run {
		return Run{Mode: mode, Nodes: nodes, Requests: 10, Succeeded: 10, ThroughputRPS: rps, Timeline: []Second{{T: 0, Acked: 10}},
			JobsPerNode: map[string]float64{"node-1": 5, "node-2": 5}, Fairness: 1}
	}
	r := sampleReport()
	r.Runs = []Run{run("bully", 1, 100), run("bully", 3, 240), run("raft", 3, 200)}
	var out bytes.Buffer
	r.WriteText(&out)
	line := ""
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, "scaling efficiency") {
			line = l
		}
	}
	// bully: 240 / (3 x 100); raft has no one-node run to compare with.
	if f := strings.Fields(line); len(f) != 5 || f[2] != "1.00" || f[3] != "0.80" || f[4] != "-" {
		t.Fatalf("efficiency row %q", line)
	}
	s := scaling(r.Runs)
	if len(s) != 1 || s[0].mode != "bully" || len(s[0].ideal) != 2 || s[0].ideal[1].Y != 300 || s[0].xy[1].Y != 240 {
		t.Fatalf("series %+v, want bully's only (raft ran at one size), ideal 300 at 3 nodes", s)
	}
	figs, err := r.Figures()
	if err != nil {
		t.Fatal(err)
	}
	drawn := false
	for _, f := range figs {
		drawn = drawn || f.Name == "scaling.png" && len(f.PNG) > 0
	}
	if !drawn {
		t.Fatal("no scaling.png among the figures")
	}
}
