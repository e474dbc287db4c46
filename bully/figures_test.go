package bully

// The figures in the README: messages per election and ticks until
// agreement, in a fault-free network with one-tick delays and the default
// Config. Run
//
//	go test ./bully -run '^TestFigures$' -v
//
// to print the table.

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// electionCost is what one election cost: messages delivered to live nodes
// (a broadcast to k live nodes counts k) from the trigger until every live
// node names the new coordinator, and the ticks that took.
type electionCost struct {
	msgs, ticks int
	winner      string
}

// measure builds an n-node cluster in which node i has load i (so n00 is the
// best and coordinates), lets it agree, crashes the coordinator, applies
// trigger, and measures until every live node agrees again.
func measure(t testing.TB, n int, members bool, trigger func(nw *network)) electionCost {
	t.Helper()
	loads := make([]float64, n)
	for i := range loads {
		loads[i] = float64(i)
	}
	cfg := DefaultConfig("x")
	nw := newNetwork(rand.New(rand.NewPCG(1, 2)), cfg, nodeIDs(n), loads, 1, members, nil)
	for range cfg.AgreementBound(1) {
		if _, _, ok := nw.agreement(); ok {
			break
		}
		nw.step()
	}
	if c, _, ok := nw.agreement(); !ok || c != "n00" {
		t.Fatalf("n=%d: no start-up agreement on n00:\n%s", n, nw.views())
	}
	nw.run(cfg.HeartbeatInterval) // a heartbeat is out: the crash falls between two
	nw.sent = 0                   // with membership on, the crash itself starts the elections
	start := nw.now
	nw.crash(0)
	trigger(nw)
	for range cfg.AgreementBound(1) {
		nw.step()
		if _, _, ok := nw.agreement(); ok {
			break
		}
	}
	c, _, ok := nw.agreement()
	if !ok {
		t.Fatalf("n=%d: no agreement after the crash:\n%s", n, nw.views())
	}
	if nw.violation != nil {
		t.Fatal(nw.violation)
	}
	return electionCost{msgs: nw.sent, ticks: nw.now - start, winner: c}
}

func TestFigures(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("| N | best case: msgs / ticks | worst case: msgs / ticks | crash, heartbeat timeout: msgs / ticks | crash, membership: msgs / ticks | textbook best (n-1) | textbook worst (n²-1) |\n")
	sb.WriteString("|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, n := range []int{3, 5, 9, 17, 33, 65} {
		live := n - 1 // n00, the coordinator, crashed; n01 is the best survivor
		best := measure(t, n, false, func(nw *network) { nw.node[1].Campaign(); nw.drain() })
		worst := measure(t, n, false, func(nw *network) { nw.node[n-1].Campaign(); nw.drain() })
		timeout := measure(t, n, false, func(*network) {})
		member := measure(t, n, true, func(*network) {})
		for _, c := range []electionCost{best, worst, timeout, member} {
			if c.winner != "n01" {
				t.Errorf("n=%d: %s won, want n01, the best survivor", n, c.winner)
			}
		}
		// The textbook's best case, the best node asks everyone, hears no
		// answer and announces, holds once the others have lost the
		// coordinator too: the membership column. A node that notices
		// first, alone, is refused by the followers that still hear the
		// coordinator (stickiness) and tries again until they too have
		// lost it; the best and worst columns count that.
		if want := 2 * (live - 1); member.msgs < want {
			t.Errorf("n=%d crash seen by membership: %d messages, want at least 2(n-1) = %d", n, member.msgs, want)
		}
		fmt.Fprintf(&sb, "| %d | %d / %d | %d / %d | %d / %d | %d / %d | %d | %d |\n", n,
			best.msgs, best.ticks, worst.msgs, worst.ticks, timeout.msgs, timeout.ticks, member.msgs, member.ticks,
			live-1, live*live-1)
	}
	t.Logf("Messages per election and ticks until agreement (default Config: H=2 E=4 C=10; one-tick delays; n = N-1 live nodes after the coordinator crashed)\n\n%s", sb.String())
}

// TestPartitionWithoutMajority shows what the Bully algorithm does under a
// partition: with no majority rule, each side elects a coordinator at its
// own epoch; when the partition heals, the higher epoch survives.
func TestPartitionWithoutMajority(t *testing.T) {
	cfg := DefaultConfig("x")
	cfg.ReelectInterval = 0
	nw := newNetwork(rand.New(rand.NewPCG(3, 4)), cfg, nodeIDs(5), []float64{0, 1, 2, 3, 4}, 1, true, nil)
	nw.run(cfg.AgreementBound(1))
	if c, _, ok := nw.agreement(); !ok || c != "n00" {
		t.Fatalf("no agreement on n00 before the partition:\n%s", nw.views())
	}
	nw.partition([]int{0, 0, 0, 1, 1}) // n00 n01 n02 | n03 n04
	nw.run(cfg.AgreementBound(1))
	var coords []string
	epochs := map[Epoch]bool{}
	for i, n := range nw.node {
		if n.state == StateCoordinator {
			coords = append(coords, fmt.Sprintf("%s at %v (side %d)", nw.ids[i], n.epoch, nw.side[i]))
			epochs[n.epoch] = true
		}
	}
	t.Logf("coordinators during the partition: %v", coords)
	if len(coords) != 2 || len(epochs) != 2 {
		t.Fatalf("want two coordinators at two epochs, one per side; got %v", coords)
	}
	nw.heal()
	nw.run(2 * cfg.HeartbeatInterval)
	c, e, ok := nw.agreement()
	if !ok {
		t.Fatalf("no agreement after the heal:\n%s", nw.views())
	}
	t.Logf("after the heal: %s at %v", c, e)
	if !epochs[e] {
		t.Fatalf("survivor epoch %v was neither side's", e)
	}
	for old := range epochs {
		if e.Less(old) {
			t.Fatalf("the lower epoch %v survived over %v", e, old)
		}
	}
}

// BenchmarkElection reports what TestFigures prints as benchmark metrics:
// messages per election and ticks until agreement after the coordinator of
// an N-node cluster crashes and its followers' heartbeats time out.
func BenchmarkElection(b *testing.B) {
	for _, n := range []int{3, 5, 9, 17, 33, 65} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			var c electionCost
			for b.Loop() {
				c = measure(b, n, false, func(*network) {})
			}
			b.ReportMetric(float64(c.msgs), "msgs/election")
			b.ReportMetric(float64(c.ticks), "ticks/election")
		})
	}
}
