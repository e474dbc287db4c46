package local

import (
	"encoding/json"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"veil/bench/proc"
)

// membersJSON runs `veil members -format json` against a node's API, as a
// user would, and returns each member as the JSON object it printed.
func membersJSON(t *testing.T, api string) []map[string]any {
	t.Helper()
	out, err := exec.Command(veilBin, "members", "--api", api, "-format", "json").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("veil members --api %s: %v\n%s", api, err, ee.Stderr)
		}
		t.Fatalf("veil members --api %s: %v", api, err)
	}
	var members []map[string]any
	if err := json.Unmarshal(out, &members); err != nil {
		t.Fatalf("veil members -format json printed something else: %v\n%s", err, out)
	}
	return members
}

func member(t *testing.T, members []map[string]any, name string) map[string]any {
	t.Helper()
	for _, m := range members {
		if m["name"] == name {
			return m
		}
	}
	t.Fatalf("no member %s in %v", name, members)
	return nil
}

func TestSpawnedNodesAgreeOnOneCoordinatorAndListEachOtherAlive(t *testing.T) {
	c := spawn(t, SpawnConfig{Nodes: 3})
	a, err := c.WaitSettled(timeout(t, 30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if c.Index(a.Coordinator) < 0 {
		t.Fatalf("agreed on %s, which is not a node of the cluster", a)
	}
	wantKeys := []string{"address", "api", "epoch", "load", "mode", "name", "role", "state", "status"}
	for i := range c.Len() {
		members := membersJSON(t, c.Node(i).API)
		if len(members) != 3 {
			t.Fatalf("%s lists %d members, want 3: %v", c.Node(i).Name, len(members), members)
		}
		for _, m := range members {
			var keys []string
			for k := range m {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, wantKeys) {
				t.Errorf("%s: member has the keys %v, want %v", c.Node(i).Name, keys, wantKeys)
			}
			if m["status"] != "alive" {
				t.Errorf("%s sees %s as %v, want alive", c.Node(i).Name, m["name"], m["status"])
			}
			wantRole := "worker"
			if m["name"] == a.Coordinator {
				wantRole = "coordinator"
			}
			if m["role"] != wantRole {
				t.Errorf("%s sees %s as %v, want %s (agreed: %s)", c.Node(i).Name, m["name"], m["role"], wantRole, a)
			}
		}
	}
}

func TestCloseLeavesNoNodeProcess(t *testing.T) {
	c := spawn(t, SpawnConfig{Nodes: 2})
	var pids []int
	for i := range c.Len() {
		pids = append(pids, c.PID(i))
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		// The processes were reaped: the pid no longer names a process,
		// not even a zombie.
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("pid %d after Close: kill(0) = %v, want ESRCH", pid, err)
		}
	}
}

func TestKilledCoordinatorIsReplacedByASurvivorAtAHigherEpochAndShowsFailed(t *testing.T) {
	c := spawn(t, SpawnConfig{Nodes: 3})
	old, err := c.WaitSettled(timeout(t, 30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	killed := c.Index(old.Coordinator)
	if err := c.Kill(killed); err != nil {
		t.Fatal(err)
	}
	survivors := c.Live()
	if len(survivors) != 2 || slices.Contains(survivors, killed) {
		t.Fatalf("live after killing %d: %v", killed, survivors)
	}
	var now Agreement
	err = proc.Poll(timeout(t, 30*time.Second), agreementPoll, func() bool {
		a, ok := agreed(c.Views(t.Context(), survivors...))
		now = a
		return ok && a.Coordinator != old.Coordinator
	})
	if err != nil {
		t.Fatalf("the survivors did not agree on a new coordinator (last: %s): %v", now, err)
	}
	if !now.After(old) {
		t.Errorf("new %s is not at a later epoch than the killed %s", now, old)
	}
	if err := c.WaitMemberStatus(timeout(t, 30*time.Second), old.Coordinator, "failed", survivors...); err != nil {
		t.Fatal(err)
	}
	for _, i := range survivors {
		m := member(t, membersJSON(t, c.Node(i).API), old.Coordinator)
		if m["status"] != "failed" {
			t.Errorf("veil members on %s shows the killed %s as %v, want failed", c.Node(i).Name, old.Coordinator, m["status"])
		}
	}
}

func TestStoppedWorkerLeavesAndShowsLeft(t *testing.T) {
	c := spawn(t, SpawnConfig{Nodes: 3})
	a, err := c.WaitSettled(timeout(t, 30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	worker := (c.Index(a.Coordinator) + 1) % c.Len()
	name := c.Node(worker).Name
	if err := c.Stop(worker); err != nil {
		t.Fatal(err)
	}
	rest := c.Live()
	if err := c.WaitMemberStatus(timeout(t, 30*time.Second), name, "left", rest...); err != nil {
		t.Fatal(err)
	}
	for _, i := range rest {
		if m := member(t, membersJSON(t, c.Node(i).API), name); m["status"] != "left" {
			t.Errorf("veil members on %s shows the stopped %s as %v, want left", c.Node(i).Name, name, m["status"])
		}
	}
	// A worker leaving is no reason to change the coordinator.
	now, err := c.WaitAgreement(timeout(t, 30*time.Second), rest...)
	if err != nil {
		t.Fatal(err)
	}
	if now.Coordinator != a.Coordinator {
		t.Errorf("coordinator moved from %s to %s when a worker left", a, now)
	}
}

func TestFailoverTrialMeasuresAgreementAndFirstWriteAndRestartsTheKilledNode(t *testing.T) {
	c := spawn(t, SpawnConfig{Nodes: 3})
	rep, err := c.Failover(timeout(t, 2*time.Minute), FailoverConfig{Trials: 1})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	rep.WriteText(&b)
	t.Logf("\n%s", b.String())
	if len(rep.Trials) != 1 {
		t.Fatalf("%d trials, want 1 (stopped: %v)", len(rep.Trials), rep.Stopped)
	}
	tr := rep.Trials[0]
	if !tr.OK() {
		t.Fatalf("trial measured agreement %s and first write %s: %v", tr.Agreed, tr.FirstWrite, tr.Err)
	}
	if tr.New.Coordinator == tr.Killed || !tr.New.After(tr.Old) {
		t.Errorf("after killing %s the survivors agreed on %s", tr.Old, tr.New)
	}
	if tr.WriteBy == tr.Killed || tr.WriteBy == "" {
		t.Errorf("first write acknowledged by %q, the killed coordinator was %s", tr.WriteBy, tr.Killed)
	}
	// What is ordered for sure: the new coordinator said it was not one
	// (NotYet), then took the role, and only then can the survivors agree
	// on it and can it acknowledge a write. Agreement and the first write
	// come in either order (a new coordinator may serve a write before the
	// other survivors hear of it), so the test does not order those two.
	if tr.NotYet >= tr.Agreed || tr.NotYet >= tr.FirstWrite {
		t.Errorf("%s was last seen not coordinating %s after the kill, yet agreement came at %s and its first write at %s",
			tr.New.Coordinator, tr.NotYet, tr.Agreed, tr.FirstWrite)
	}
	t.Logf("%s was not coordinating %s after the kill; agreement %s, first write %s", tr.New.Coordinator, tr.NotYet, tr.Agreed, tr.FirstWrite)
	if rep.Agreed.N != 1 || rep.FirstWrite.N != 1 {
		t.Errorf("summaries over %d and %d trials, want 1", rep.Agreed.N, rep.FirstWrite.N)
	}
	// The killed node was started again, with its name and ports, and the
	// cluster is whole.
	if i := c.Index(tr.Killed); !c.Running(i) {
		t.Fatalf("%s was not restarted", tr.Killed)
	}
	if _, err := c.WaitSettled(timeout(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
}

func TestPausedWorkerIsDeclaredFailedAndRejoinsWhenResumed(t *testing.T) {
	c := spawn(t, SpawnConfig{Nodes: 3})
	a, err := c.WaitSettled(timeout(t, 30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	worker := (c.Index(a.Coordinator) + 1) % c.Len()
	name := c.Node(worker).Name
	if err := c.Pause(worker); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(c.Live(), worker) {
		t.Fatalf("a paused node counts as live: %v", c.Live())
	}
	if err := c.WaitMemberStatus(timeout(t, 30*time.Second), name, "failed", c.Live()...); err != nil {
		t.Fatal(err)
	}
	if err := c.Resume(worker); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitSettled(timeout(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
}
