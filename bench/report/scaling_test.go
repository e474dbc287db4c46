package report

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestAScalingReportShowsTheEfficiencyAgainstTheOneNodeRunAndDrawsTheIdealLine(t *testing.T) {
	run := func(mode string, nodes int, rps float64) Run {
		jobs := map[string]float64{}
		for i := range nodes {
			jobs[fmt.Sprintf("node-%d", i+1)] = 5
		}
		return Run{Mode: mode, Nodes: nodes, Requests: 10, Succeeded: 10, ThroughputRPS: rps, Timeline: []Second{{T: 0, Acked: 10}},
			JobsPerNode: jobs, Fairness: 1}
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
	// A coordinator that did no image work: the efficiency over the others too.
	r.Runs[1].JobsPerNode["node-1"] = 0
	out.Reset()
	r.WriteText(&out)
	if !strings.Contains(out.String(), "0.80 (1.20 over the 2 that did image work)") {
		t.Fatalf("no efficiency over the working nodes in:\n%s", out.String())
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
