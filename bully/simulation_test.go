package bully

// The randomized simulation: each scenario is one seed. A seed picks the
// cluster size, the Config, the loads and a fault schedule; the cluster runs
// under faults, then the faults stop and the invariants of the package
// documentation are checked:
//
//  1. Agreement: within Config.AgreementBound ticks of the faults stopping,
//     every up node names the same coordinator at the same epoch.
//  2. Validity: that coordinator is up, and no up node's load is below its
//     own by more than LoadGap (any election held in the quiet stretch picks
//     the best (load, name) exactly).
//  3. Epochs never go down at any node; two different coordinators never
//     hold the same epoch (checked after every step, faults or not).
//  4. No flapping: once agreed, with loads moving by less than the gap, the
//     coordinator and epoch do not change.

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	flagScenarios = flag.Int("bully.scenarios", 0, "number of random scenarios (default 10000, or $VEIL_BULLY_SCENARIOS)")
	flagSeed      = flag.Int64("bully.seed", -1, "replay only this scenario seed, with its full trace")
	flagFirstSeed = flag.Int64("bully.firstseed", 1, "seed of the first scenario")
)

const defaultScenarios = 10000

func scenarioCount() int {
	if *flagScenarios > 0 {
		return *flagScenarios
	}
	if v, err := strconv.Atoi(os.Getenv("VEIL_BULLY_SCENARIOS")); err == nil && v > 0 {
		return v
	}
	if testing.Short() {
		return defaultScenarios / 10
	}
	return defaultScenarios
}

// sizes are the cluster sizes a scenario may have, with weights that give
// small clusters most of the runs: they are cheap and they are where
// interleavings are most varied. Every size from 3 to 9 is covered, then
// 12, 17, 24, 33, 48 and 65.
var sizes = []struct{ n, weight int }{
	{3, 22}, {4, 16}, {5, 14}, {6, 9}, {7, 9}, {8, 5}, {9, 9},
	{12, 5}, {17, 5}, {24, 2}, {33, 2}, {48, 1}, {65, 1},
}

// scenario is everything a seed decides before the run starts.
type scenario struct {
	seed      int64
	n         int
	cfg       Config
	delay     int
	loss, dup float64
	reorder   bool
	slow      int // extra delay while faults last: messages outlive timeouts
	members   bool
	faulty    int // ticks of faults
	rate      float64
}

func (s scenario) String() string {
	return fmt.Sprintf("seed=%d n=%d delay=%d slow=%d loss=%.2f dup=%.2f reorder=%v membership=%v fault-ticks=%d fault-rate=%.3f config={H=%d E=%d C=%d R=%d gap=%v} bound=%d",
		s.seed, s.n, s.delay, s.slow, s.loss, s.dup, s.reorder, s.members, s.faulty, s.rate,
		s.cfg.HeartbeatInterval, s.cfg.ElectionTimeout, s.cfg.CoordinatorTimeout, s.cfg.ReelectInterval, s.cfg.LoadGap,
		s.cfg.AgreementBound(s.delay))
}

func pick[T any](rng *rand.Rand, xs ...T) T { return xs[rng.IntN(len(xs))] }

func newScenario(seed int64) (scenario, *rand.Rand) {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed_b011))
	s := scenario{seed: seed}
	total := 0
	for _, sz := range sizes {
		total += sz.weight
	}
	r := rng.IntN(total)
	for _, sz := range sizes {
		if r < sz.weight {
			s.n = sz.n
			break
		}
		r -= sz.weight
	}
	s.delay = pick(rng, 1, 1, 1, 2, 3)
	h := 1 + rng.IntN(3)
	e := 2*s.delay + 1 + rng.IntN(3)
	c := max(2*h+1, e+2*s.delay+1) + rng.IntN(6)
	reelect := 0
	if rng.IntN(4) > 0 {
		reelect = c + rng.IntN(30)
	}
	s.cfg = Config{
		HeartbeatInterval:  h,
		ElectionTimeout:    e,
		CoordinatorTimeout: c,
		ReelectInterval:    reelect,
		LoadGap:            pick(rng, 0, 0.5, 1, 2, 5),
	}
	s.loss = pick(rng, 0, 0.01, 0.05, 0.2)
	s.dup = pick(rng, 0, 0, 0.05)
	s.reorder = rng.IntN(2) == 0
	s.slow = pick(rng, 0, 0, e, 2*e)
	s.members = rng.IntN(3) > 0
	s.faulty = 20 + rng.IntN(150)
	s.rate = pick(rng, 0.01, 0.03, 0.08)
	return s, rng
}

// result is what one scenario measured.
type result struct {
	agreeAt int // ticks from the faults stopping to lasting agreement
	bound   int
}

func randomLoad(rng *rand.Rand) float64 {
	// Few distinct values, so that ties (and the name rule) are common.
	return float64(rng.IntN(8)) / 2
}

// runScenario runs one seed. With trace set it records every event.
func runScenario(seed int64, trace bool) (scenario, result, *network, error) {
	s, rng := newScenario(seed)
	loads := make([]float64, s.n)
	for i := range loads {
		loads[i] = randomLoad(rng)
	}
	var tr *strings.Builder
	if trace {
		tr = &strings.Builder{}
	}
	nw := newNetwork(rng, s.cfg, nodeIDs(s.n), loads, s.delay, s.members, tr)
	nw.loss, nw.dup, nw.reorder, nw.slow = s.loss, s.dup, s.reorder, s.slow

	// Faults.
	for range s.faulty {
		if rng.Float64() < s.rate {
			injectFault(nw, rng)
		}
		nw.step()
		if nw.violation != nil {
			return s, result{}, nw, nw.violation
		}
	}

	// Faults stop: the network heals, loss and duplication end, and some
	// of the down nodes come back (the rest stay down).
	nw.logf("--- faults stop")
	nw.loss, nw.dup = 0, 0
	for i := range nw.node {
		if !nw.up[i] && rng.IntN(2) == 0 {
			nw.revive(i)
		}
	}
	nw.heal()
	// Messages slowed by the faults may still land late: the quiet stretch
	// begins when the last of them has.
	late := nw.slow
	nw.slow = 0
	for range late {
		nw.step()
		if nw.violation != nil {
			return s, result{}, nw, nw.violation
		}
	}
	quiet := nw.now
	bound := s.cfg.AgreementBound(s.delay)
	settle := bound
	if s.cfg.ReelectInterval > 0 {
		settle = 2*(s.cfg.CoordinatorTimeout+s.cfg.ElectionTimeout+3*s.delay) + s.cfg.HeartbeatInterval + s.delay
	}
	// An election that ends in the quiet stretch, once stale rounds have
	// flushed out, compares fresh snapshots of fixed loads: it must pick
	// the best node exactly.
	nw.onWin = func(i int) {
		if nw.now >= quiet+settle {
			if b := nw.best(); b != i {
				nw.fail("%s won at %v in the quiet stretch, but %s (load %v) outranks it (load %v)",
					nw.ids[i], nw.node[i].epoch, nw.ids[b], nw.loads[b], nw.loads[i])
			}
		}
	}
	res := result{agreeAt: -1, bound: bound}
	for nw.now < quiet+bound {
		nw.step()
		if nw.violation != nil {
			return s, res, nw, nw.violation
		}
		if _, _, ok := nw.agreement(); ok {
			if res.agreeAt < 0 {
				res.agreeAt = nw.now - quiet
			}
		} else {
			res.agreeAt = -1
		}
	}
	coord, epoch, ok := nw.agreement()
	if !ok {
		return s, res, nw, fmt.Errorf("no agreement %d ticks (the bound) after faults stopped:\n%s", bound, nw.views())
	}
	c := nw.idx[coord]
	for i := range nw.node {
		if nw.up[i] && nw.loads[c]-nw.loads[i] > s.cfg.LoadGap && s.cfg.ReelectInterval > 0 {
			return s, res, nw, fmt.Errorf("coordinator %s (load %v) is worse than %s (load %v) by more than the gap %v:\n%s",
				coord, nw.loads[c], nw.ids[i], nw.loads[i], s.cfg.LoadGap, nw.views())
		}
	}

	// Loads move, but never open a gap above the threshold below the
	// coordinator's: nothing may change.
	nw.onWin = nil
	hi := nw.loads[c] + float64(rng.IntN(3))
	nw.setLoad(c, hi)
	floor := max(hi, nw.loads[c]) - s.cfg.LoadGap
	for i := range nw.node {
		if nw.up[i] && i != c {
			nw.setLoad(i, max(floor, nw.loads[i]+float64(rng.IntN(5)-2)))
		}
	}
	// Long enough for a heartbeat timeout and a re-election to fire if
	// either wrongly could.
	stable := 2*s.cfg.CoordinatorTimeout + s.cfg.ReelectInterval + s.cfg.HeartbeatInterval + s.delay
	for range stable {
		nw.step()
		if nw.violation != nil {
			return s, res, nw, nw.violation
		}
		if c2, e2, ok := nw.agreement(); !ok || c2 != coord || e2 != epoch {
			return s, res, nw, fmt.Errorf("flap: agreed on %s at %v, now (%s, %v, agreed=%v) with loads under the gap:\n%s",
				coord, epoch, c2, e2, ok, nw.views())
		}
	}
	return s, res, nw, nil
}

// injectFault applies one random fault.
func injectFault(nw *network, rng *rand.Rand) {
	n := len(nw.node)
	i := rng.IntN(n)
	switch k := rng.IntN(100); {
	case k < 14: // crash (state lost on restart)
		if nw.up[i] && upCount(nw) > 1 {
			nw.crash(i)
		}
	case k < 26: // pause (state kept, Rejoin on return)
		if nw.up[i] && upCount(nw) > 1 {
			nw.pause(i)
		}
	case k < 42: // a down node comes back
		for j := range n {
			if !nw.up[(i+j)%n] {
				nw.revive((i + j) % n)
				break
			}
		}
	case k < 50: // a random partition into two or three sides
		sides := make([]int, n)
		parts := 2 + rng.IntN(2)
		for j := range sides {
			sides[j] = rng.IntN(parts)
		}
		nw.partition(sides)
	case k < 54: // isolate one node
		sides := make([]int, n)
		sides[i] = 1
		nw.partition(sides)
	case k < 62:
		nw.heal()
	case k < 68: // cut one direction of one link
		j := rng.IntN(n)
		if j != i {
			nw.cut[[2]int{i, j}] = true
			nw.logf("cut %s->%s", nw.ids[i], nw.ids[j])
		}
	case k < 86:
		nw.setLoad(i, randomLoad(rng))
	case k < 90: // gossip is wrong for a while: one node gets a random view
		if nw.members && nw.up[i] {
			var view []string
			for j := range n {
				if rng.IntN(2) == 0 {
					view = append(view, nw.ids[j])
				}
			}
			nw.logf("%s told members %v", nw.ids[i], view)
			nw.node[i].SetMembers(view)
			nw.drain()
		}
	default:
		if nw.up[i] {
			nw.logf("campaign %s", nw.ids[i])
			nw.node[i].Campaign()
		}
	}
}

func upCount(nw *network) int {
	c := 0
	for _, u := range nw.up {
		if u {
			c++
		}
	}
	return c
}

// TestSimulation runs the random scenarios. A failure names the seed and
// prints the end of the event trace; -bully.seed replays that one seed with
// the whole trace.
func TestSimulation(t *testing.T) {
	if *flagSeed >= 0 {
		s, res, nw, err := runScenario(*flagSeed, true)
		t.Logf("%v\nagreement after %d ticks (bound %d)\n%s", s, res.agreeAt, res.bound, nw.trace.String())
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	count := scenarioCount()
	start := time.Now()

	// Scenarios are independent: run them on every core, each from its own
	// seed, and gather the outcomes in seed order.
	type outcome struct {
		n   int
		res result
		err error
	}
	outcomes := make([]outcome, count)
	var wg sync.WaitGroup
	var nextSeed atomic.Int64
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				k := int(nextSeed.Add(1) - 1)
				if k >= count {
					return
				}
				s, res, _, err := runScenario(*flagFirstSeed+int64(k), false)
				outcomes[k] = outcome{s.n, res, err}
			}
		})
	}
	wg.Wait()

	bySize := map[int]int{}
	worst := map[int]float64{} // largest agreement time / bound, by size
	failures := 0
	for k, o := range outcomes {
		seed := *flagFirstSeed + int64(k)
		bySize[o.n]++
		if o.res.bound > 0 {
			worst[o.n] = max(worst[o.n], float64(o.res.agreeAt)/float64(o.res.bound))
		}
		if o.err != nil {
			failures++
			s, _, nw, err2 := runScenario(seed, true)
			t.Errorf("scenario failed: %v\n%v\nreplay: go test ./bully -run '^TestSimulation$' -bully.seed=%d -v\nlast events:\n%s",
				o.err, s, seed, tail(nw.trace.String(), 150))
			if err2 == nil || err2.Error() != o.err.Error() {
				t.Errorf("seed %d did not replay the same failure: %v", seed, err2)
			}
			if failures >= 3 {
				t.Fatalf("stopping after %d failed scenarios", failures)
			}
		}
	}
	var sb strings.Builder
	for _, sz := range sizes {
		fmt.Fprintf(&sb, " n=%d:%d(worst %.0f%% of bound)", sz.n, bySize[sz.n], 100*worst[sz.n])
	}
	t.Logf("%d scenarios in %v;%s", count, time.Since(start).Round(time.Millisecond), sb.String())
}

func tail(s string, lines int) string {
	parts := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(parts) > lines {
		parts = append([]string{fmt.Sprintf("... (%d earlier lines)", len(parts)-lines)}, parts[len(parts)-lines:]...)
	}
	return strings.Join(parts, "\n")
}
