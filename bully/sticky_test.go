package bully

// Stickiness, simulated: a node that cannot hear the coordinator, while the
// others can, must not get it replaced. Each seed builds a cluster, lets it
// agree, then cuts the link from the coordinator to one follower (one way,
// as a lossy or overloaded path does, or both ways, as a bridge node sees
// it) and runs for many coordinator timeouts. The follower cut off may be
// better than the coordinator by less than the gap, so that only
// stickiness, not rank, stands between it and the role.

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestACoordinatorHeardByTheOthersIsNeverReplaced(t *testing.T) {
	scenarios := 2000
	if testing.Short() {
		scenarios = 200
	}
	for seed := range int64(scenarios) {
		if err := stickyScenario(seed, nil); err != nil {
			var trace strings.Builder
			_ = stickyScenario(seed, &trace)
			t.Fatalf("seed %d: %v\nlast events:\n%s", seed, err, tail(trace.String(), 80))
		}
	}
}

func stickyScenario(seed int64, trace *strings.Builder) error {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x571c4))
	n := 3 + rng.IntN(7)
	cfg := DefaultConfig("x")
	cfg.ReelectInterval = []int{0, 100}[rng.IntN(2)]
	delay := 1 + rng.IntN(cfg.ElectionTimeout/2) // a round trip fits in ElectionTimeout
	members := rng.IntN(2) == 0
	loads := make([]float64, n)
	for i := range loads {
		loads[i] = 1 + float64(rng.IntN(8))/2
	}
	nw := newNetwork(rng, cfg, nodeIDs(n), loads, delay, members, trace)
	for range cfg.AgreementBound(delay) {
		nw.step()
	}
	coord, epoch, ok := nw.agreement()
	if !ok {
		return fmt.Errorf("no agreement before the cut:\n%s", nw.views())
	}
	c := nw.idx[coord]
	x := (c + 1 + rng.IntN(n-1)) % n
	// x outranks the coordinator, but by less than the gap.
	nw.setLoad(x, nw.loads[c]-cfg.LoadGap/2)
	nw.cut[[2]int{c, x}] = true
	both := rng.IntN(2) == 0
	if both {
		nw.cut[[2]int{x, c}] = true
	}
	nw.logf("cut %s -> %s (both ways: %v)", coord, nw.ids[x], both)
	nw.onWin = func(i int) {
		nw.fail("%s won at %v while %s was alive and heard by all but %s", nw.ids[i], nw.node[i].epoch, coord, nw.ids[x])
	}
	for range 20 * cfg.CoordinatorTimeout {
		nw.step()
		if nw.violation != nil {
			return nw.violation
		}
	}
	for i, node := range nw.node {
		if i == x {
			continue
		}
		if st := node.Status(); st.Coordinator != coord || st.Epoch != epoch {
			return fmt.Errorf("%s names %q at %v, want %s at %v:\n%s", nw.ids[i], st.Coordinator, st.Epoch, coord, epoch, nw.views())
		}
	}
	return nil
}
