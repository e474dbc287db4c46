package cgroup

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"testing"
	"time"

	"veil/bench/proc"
)

func TestABudgetIsSetAndThrottlesABusyProcess(t *testing.T) {
	root, err := Find()
	if errors.Is(err, ErrUnsupported) {
		t.Skipf("no CPU budgets here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	g, err := root.New(fmt.Sprintf("veil-test-%d/busy", os.Getpid()), 0.2)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Remove()
	if q, err := g.Quota(); err != nil || math.Abs(q-0.2) > 1e-9 {
		t.Fatalf("quota %v, %v; want 0.2", q, err)
	}
	cmd := exec.Command("sh", "-c", "while :; do :; done")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	if err := g.Add(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	before, _ := proc.CPUSeconds(cmd.Process.Pid)
	time.Sleep(1500 * time.Millisecond)
	used, err := proc.CPUSeconds(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	used -= before
	// A busy loop outside the budget takes a whole core; inside it, about
	// a fifth. Half a core leaves room for ticks and scheduling.
	if share := used / time.Since(start).Seconds(); share > 0.5 {
		t.Fatalf("a busy loop in a 0.2-CPU group used %.2f CPUs", share)
	}
}

func TestNewRefusesABudgetOfNothing(t *testing.T) {
	r := Root{dir: t.TempDir()}
	for _, cpus := range []float64{0, -1} {
		if _, err := r.New("x", cpus); err == nil {
			t.Fatalf("a budget of %v CPUs was accepted", cpus)
		}
	}
}
