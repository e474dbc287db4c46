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
		{"no nodes", []string{"--spawn", "0"}, "--spawn 0"},
		{"a failover of one node", []string{"--spawn", "1", "--failover-trials", "1"}, "at least 2 nodes"},
		{"no clients", []string{"--clients", "0"}, "--clients 0"},
		{"two bounds on the load", []string{"--requests", "5", "--duration", "1s"}, "give one"},
		{"unknown profile", []string{"--profile", "wan"}, "--profile"},
		{"unknown route", []string{"--route", "nearest"}, "--route"},
		{"a stray argument", []string{"now"}, "unexpected argument"},
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
	if o.mode != "load" || o.load.Duration != 2*time.Second || o.load.Requests != 0 {
		t.Fatalf("--duration 2s: mode %s, duration %s, requests %d; want load, 2s, 0", o.mode, o.load.Duration, o.load.Requests)
	}
}

func TestBenchLoadRunsAgainstSpawnedNodesAndReportsEveryHide(t *testing.T) {
	// The test binary cannot be a node: build the command.
	bin := filepath.Join(t.TempDir(), "veil")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building veil: %v\n%s", err, out)
	}
	dir := t.TempDir()
	var out, errb bytes.Buffer
	code := run([]string{"bench", "--bin", bin, "--dir", dir, "--spawn", "2", "--clients", "2", "--requests", "3"}, &out, &errb)
	if code != exitOK {
		logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			t.Logf("---- %s\n%s", l, b)
		}
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"2 clients, 6 hides", "6 acknowledged, 0 failed", "latency: p50", "elections"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report does not say %q:\n%s", want, out.String())
		}
	}
}
