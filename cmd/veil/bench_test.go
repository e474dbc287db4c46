package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBenchRefusesConflictingOrImpossibleRuns(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"two kinds of run", []string{"--steady", "--failover-trials", "3"}, "choose one"},
		{"demo and failover", []string{"--demo", "--failover-trials", "3"}, "choose one"},
		{"no nodes", []string{"--spawn", "0"}, "--spawn"},
		{"a size list with a hole", []string{"--spawn", "3,,5"}, "--spawn"},
		{"an unknown mode", []string{"--mode", "paxos"}, "--mode"},
		{"a bad fault schedule", []string{"--faults", "kill@soon"}, "--faults"},
		{"an open loop without a duration", []string{"--rate", "100"}, "--duration"},
		{"a rate and a request count", []string{"--rate", "100", "--duration", "1s", "--requests", "5"}, "closed loop"},
		{"a share of views over one", []string{"--views", "1.5"}, "--views"},
		{"faults on a cluster the bench did not start", []string{"--api", "127.0.0.1:1", "--faults", "kill@1s+1s"}, "--api"},
		{"a cover too small for the secret", []string{"--secret-size", "64x64", "--cover-size", "80x80"}, "--cover-size"},
		{"a failover of one node", []string{"--spawn", "1", "--failover-trials", "1"}, "at least 2 nodes"},
		{"no clients", []string{"--clients", "0"}, "--clients 0"},
		{"two bounds on the load", []string{"--requests", "5", "--duration", "1s"}, "give one"},
		{"unknown profile", []string{"--profile", "wan"}, "--profile"},
		{"unknown route", []string{"--route", "nearest"}, "--route"},
		{"a stray argument", []string{"now"}, "unexpected argument"},
		{"a run flag with --redraw", []string{"--redraw", "report.json", "--clients", "3"}, "--redraw runs nothing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if got := run(append([]string{"bench"}, tc.args...), &out, &errb); got != exitUsage {
				t.Fatalf("exit %d, want %d (stderr %q)", got, exitUsage, errb.String())
			}
			if !strings.Contains(errb.String(), tc.want) {
				t.Fatalf("stderr %q does not say %q", errb.String(), tc.want)
			}
		})
	}
}

func TestBenchSteadyDefaultsToFiveMinutesOfLoad(t *testing.T) {
	o, err := parseBench([]string{"--steady", "--bin", "veil"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.mode != "steady" || o.load.Duration != 5*time.Minute || o.load.Requests != 0 {
		t.Fatalf("--steady: mode %s, duration %s, requests %d; want steady, 5m, 0", o.mode, o.load.Duration, o.load.Requests)
	}
}

func TestBenchDurationReplacesTheRequestCount(t *testing.T) {
	o, err := parseBench([]string{"--duration", "2s", "--bin", "veil"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if l := o.study.Load; o.mode != "study" || l.Duration != 2*time.Second || l.Requests != 0 {
		t.Fatalf("--duration 2s: mode %s, duration %s, requests %d; want study, 2s, 0", o.mode, l.Duration, l.Requests)
	}
}

func TestBenchBothModesRunBullyThenRaft(t *testing.T) {
	o, err := parseBench([]string{"--mode", "both", "--spawn", "3,5", "--bin", "veil"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(o.study.Modes, ","); got != "bully,raft" {
		t.Fatalf("--mode both runs %s, want bully,raft", got)
	}
	if len(o.study.Sizes) != 2 || o.study.Sizes[0] != 3 || o.study.Sizes[1] != 5 {
		t.Fatalf("--spawn 3,5 gives sizes %v", o.study.Sizes)
	}
}

func TestBenchFailoverTrialsAloneRunNoLoad(t *testing.T) {
	o, err := parseBench([]string{"--failover-trials", "5", "--bin", "veil"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.study.Trials != 5 || o.study.Load.Pace.Total() != 0 || o.study.Load.Duration != 0 {
		t.Fatalf("--failover-trials 5: %d trials, load of %d operations; want 5 trials and no load",
			o.study.Trials, o.study.Load.Pace.Total())
	}
}

func TestBenchRunsAWorkloadOnSpawnedNodesAndWritesTheReport(t *testing.T) {
	// The test binary cannot be a node: build the command.
	bin := filepath.Join(t.TempDir(), "veil")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building veil: %v\n%s", err, out)
	}
	dir, out := t.TempDir(), t.TempDir()
	var stdout, errb bytes.Buffer
	code := run([]string{"bench", "--bin", bin, "--dir", dir, "--spawn", "2", "--clients", "2", "--requests", "3",
		"--reference", "0", "--out", out}, &stdout, &errb)
	if code != exitOK {
		logs, _ := filepath.Glob(filepath.Join(dir, "*", "*.log"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			t.Logf("---- %s\n%s", l, b)
		}
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), errb.String())
	}
	for _, want := range []string{"closed loop, 2 clients x 3 requests", "6 (100.00%)", "balance", "report: "} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("the summary does not say %q:\n%s", want, stdout.String())
		}
	}
	for _, name := range []string{"report.json", "report.md", "report.html"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Errorf("--out: %v", err)
		}
	}

	// Drawn again from its report.json, the report is the same.
	again := t.TempDir()
	stdout.Reset()
	if code := run([]string{"bench", "--redraw", filepath.Join(out, "report.json"), "--out", again}, &stdout, &errb); code != exitOK {
		t.Fatalf("--redraw: exit %d\n%s", code, errb.String())
	}
	for _, name := range []string{"report.json", "report.md", "report.html"} {
		want, _ := os.ReadFile(filepath.Join(out, name))
		got, err := os.ReadFile(filepath.Join(again, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s drawn again differs (%v)", name, err)
		}
	}
	if !strings.Contains(stdout.String(), "6 (100.00%)") {
		t.Errorf("--redraw does not print the summary:\n%s", stdout.String())
	}
	// Anything but a report is refused, and nothing is written.
	notReport := filepath.Join(t.TempDir(), "results.json")
	if err := os.WriteFile(notReport, []byte(`{"seed": 1, "results": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	errb.Reset()
	if code := run([]string{"bench", "--redraw", notReport}, &stdout, &errb); code == exitOK || !strings.Contains(errb.String(), "unknown field") {
		t.Fatalf("--redraw of a fault table: exit %d, stderr %q", code, errb.String())
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(notReport), "report.md")); !os.IsNotExist(err) {
		t.Fatalf("--redraw of a fault table wrote report.md (%v)", err)
	}
}
