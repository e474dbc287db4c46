package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"veil/cluster"
)

func TestHandoffMovesTheRoleOrSaysWhyNot(t *testing.T) {
	c := cluster.NewTestCluster(t, 3, nil)
	coord := c.WaitCoordinator(20 * time.Second)
	other := c.NotCoordinator(coord)
	token := cluster.AdminToken(c.Key)
	handoff := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(append([]string{"handoff", "--api", other.APIAddr()}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}

	if code, _, errs := handoff("--admin-token", "wrong", "--to", other.Name()); code != exitFailure || !strings.Contains(errs, "unauthorized") {
		t.Fatalf("a wrong token: exit %d, %q", code, errs)
	}
	if code, _, errs := handoff("--admin-token", token, "--to", "node-99"); code != exitFailure || !strings.Contains(errs, "no_handoff") {
		t.Fatalf("to no member: exit %d, %q", code, errs)
	}
	if code, _, errs := handoff("--to", other.Name()); code != exitUsage {
		t.Fatalf("no token: exit %d, %q", code, errs)
	}
	if l := coord.Leadership(); !l.Self {
		t.Fatalf("a refused hand-off moved the role: %+v", l)
	}

	code, out, errs := handoff("--admin-token", token, "--to", other.Name())
	if code != exitOK || !strings.Contains(out, coord.Name()+" handed the coordinator's role to "+other.Name()) {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	c.WaitFor(10*time.Second, "every node to follow "+other.Name(), func() bool {
		n, ok := cluster.Agreed(c.Nodes)
		return ok && n == other
	})
}
