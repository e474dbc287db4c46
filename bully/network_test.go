package bully

// An in-memory network for the tests, in the manner of etcd raft's
// raft_test.go: every node is a *Node driven by one loop, messages wait in
// buckets by delivery tick, and faults (loss, delay, duplication, reordering,
// cuts, partitions, crashes, pauses) are decided by a seeded RNG, so that a
// run replays exactly from its seed. Tracing only observes: it draws nothing
// from the RNG, so a failing seed replays the same with the trace on.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// maxSlow bounds network.slow, so that the delivery ring can hold every
// delay.
const maxSlow = 20

type envelope struct {
	from, to int
	m        Message
}

// network is the simulated cluster.
type network struct {
	rng  *rand.Rand
	cfg  Config // template; ID is set per node
	ids  []string
	idx  map[string]int
	node []*Node

	up     []bool // ticking and receiving
	paused []bool // down, and will come back with Rejoin rather than a restart
	side   []int  // partition side; messages cross only within a side
	cut    map[[2]int]bool
	loads  []float64

	loss, dup float64
	delay     int // largest delivery delay in ticks (d)
	slow      int // extra delay, up to this many ticks, while faults last
	reorder   bool
	members   bool // feed membership views through SetMembers
	// Gossip reports a change membersLag ticks after it happens: later
	// than two heartbeats, as memberlist's probe and suspicion are in
	// every profile. membersDue is when the pending report lands, 0 if none.
	membersLag int
	membersDue int
	forgeries  bool // forged messages are injected: replies may go to nodes that do not exist

	now     int
	buckets [][]envelope

	// Observations.
	lastEpoch []Epoch
	holder    map[Epoch]string // every epoch ever held by a coordinator, and by whom
	sent      int              // copies routed to nodes that were up
	onWin     func(i int)      // called when node i becomes coordinator
	violation error
	trace     *strings.Builder
}

// newNetwork starts one node per id with the given loads. Messages take 1 to
// delay ticks. With members set, every up node is told the membership view
// gossip would converge to after each change; a non-nil trace records every
// event from the start.
func newNetwork(rng *rand.Rand, cfg Config, ids []string, loads []float64, delay int, members bool, trace *strings.Builder) *network {
	nw := &network{
		trace:     trace,
		members:   members,
		rng:       rng,
		cfg:       cfg,
		ids:       ids,
		idx:       make(map[string]int, len(ids)),
		node:      make([]*Node, len(ids)),
		up:        make([]bool, len(ids)),
		paused:    make([]bool, len(ids)),
		side:      make([]int, len(ids)),
		cut:       map[[2]int]bool{},
		loads:     slices.Clone(loads),
		delay:     max(delay, 1),
		lastEpoch: make([]Epoch, len(ids)),
		holder:    map[Epoch]string{},
		// membersLag is set after the first views: gossip converged
		// before the simulation starts.
	}
	nw.buckets = make([][]envelope, nw.delay+maxSlow+2)
	for i, id := range ids {
		nw.idx[id] = i
	}
	for i := range ids {
		nw.start(i)
	}
	nw.membersLag = 2*cfg.HeartbeatInterval + 1
	return nw
}

func (nw *network) logf(format string, args ...any) {
	if nw.trace != nil {
		fmt.Fprintf(nw.trace, "t=%d ", nw.now)
		fmt.Fprintf(nw.trace, format, args...)
		nw.trace.WriteByte('\n')
	}
}

func (nw *network) fail(format string, args ...any) {
	if nw.violation == nil {
		nw.violation = fmt.Errorf("t=%d: "+format, append([]any{nw.now}, args...)...)
		nw.logf("VIOLATION %v", nw.violation)
	}
}

// start boots node i from nothing, as a restarted process does.
func (nw *network) start(i int) {
	cfg := nw.cfg
	cfg.ID = nw.ids[i]
	n, err := NewNode(cfg)
	if err != nil {
		panic(err)
	}
	n.SetLoad(nw.loads[i])
	nw.node[i] = n
	nw.up[i] = true
	nw.paused[i] = false
	nw.lastEpoch[i] = Epoch{} // a new incarnation starts from the zero epoch
	nw.logf("start %s load=%v", nw.ids[i], nw.loads[i])
	nw.updateMembers()
}

func (nw *network) crash(i int) {
	nw.up[i] = false
	nw.logf("crash %s", nw.ids[i])
	nw.updateMembers()
}

func (nw *network) pause(i int) {
	nw.up[i] = false
	nw.paused[i] = true
	nw.logf("pause %s", nw.ids[i])
	nw.updateMembers()
}

// revive brings a down node back: Rejoin for a paused one, a fresh start for
// a crashed one.
func (nw *network) revive(i int) {
	if nw.up[i] {
		return
	}
	if nw.paused[i] {
		nw.paused[i] = false
		nw.up[i] = true
		nw.node[i].SetLoad(nw.loads[i])
		nw.node[i].Rejoin()
		nw.logf("resume %s (rejoin)", nw.ids[i])
		nw.updateMembers()
		return
	}
	nw.start(i)
}

func (nw *network) setLoad(i int, load float64) {
	nw.loads[i] = load
	nw.node[i].SetLoad(load)
	nw.logf("load %s=%v", nw.ids[i], load)
}

// partition puts each node on the side sides[i]; heal joins them again.
func (nw *network) partition(sides []int) {
	copy(nw.side, sides)
	nw.logf("partition %v", nw.sideString())
	nw.updateMembers()
}

func (nw *network) heal() {
	clear(nw.side)
	clear(nw.cut)
	nw.logf("heal")
	nw.updateMembers()
}

func (nw *network) sideString() string {
	groups := map[int][]string{}
	var keys []int
	for i, s := range nw.side {
		if _, ok := groups[s]; !ok {
			keys = append(keys, s)
		}
		groups[s] = append(groups[s], nw.ids[i])
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, strings.Join(groups[k], ","))
	}
	return strings.Join(parts, " | ")
}

// updateMembers gives every up node the view gossip would converge to: the
// up nodes on its side.
// updateMembers has gossip report the current views membersLag ticks from
// now (at once before the simulation starts). A report lands with the
// views as they are then, so changes within the lag land together.
func (nw *network) updateMembers() {
	if !nw.members {
		return
	}
	if nw.membersLag == 0 {
		nw.reportMembers()
	} else if nw.membersDue == 0 {
		nw.membersDue = nw.now + nw.membersLag
	}
}

func (nw *network) reportMembers() {
	if nw.membersLag > 0 {
		nw.logf("gossip reports the membership")
	}
	for i := range nw.node {
		if !nw.up[i] {
			continue
		}
		var view []string
		for j := range nw.node {
			if nw.up[j] && nw.side[j] == nw.side[i] {
				view = append(view, nw.ids[j])
			}
		}
		nw.node[i].SetMembers(view)
	}
	nw.drain()
}

// step advances the simulation by one tick: deliver what is due, tick every
// up node, route what they produced, check the invariants.
func (nw *network) step() {
	nw.now++
	if nw.membersDue != 0 && nw.now >= nw.membersDue {
		nw.membersDue = 0
		nw.reportMembers()
	}
	b := nw.now % len(nw.buckets)
	due := nw.buckets[b]
	if nw.reorder && len(due) > 1 {
		nw.rng.Shuffle(len(due), func(i, j int) { due[i], due[j] = due[j], due[i] })
	}
	for _, e := range due {
		nw.deliver(e)
	}
	// Delays are at least one tick and shorter than the ring, so nothing
	// delivered above was queued into this bucket: reuse its array.
	clear(due)
	nw.buckets[b] = due[:0]
	for i, n := range nw.node {
		if nw.up[i] {
			n.Tick()
		}
	}
	nw.drain()
}

func (nw *network) run(ticks int) {
	for range ticks {
		nw.step()
	}
}

func (nw *network) deliver(e envelope) {
	tracing := nw.trace != nil // checked first: formatting arguments allocates
	if !nw.up[e.to] {
		if tracing {
			nw.logf("lost %v (%s is down)", e.m, nw.ids[e.to])
		}
		return
	}
	if tracing {
		nw.logf("deliver %v to %s", e.m, nw.ids[e.to])
	}
	err := nw.node[e.to].Step(e.m)
	if err != nil && !errors.Is(err, ErrStaleEpoch) {
		nw.fail("%s refused %v: %v", nw.ids[e.to], e.m, err)
	}
}

// drain routes every node's output and checks the invariants.
func (nw *network) drain() {
	for i, n := range nw.node {
		if !nw.up[i] {
			continue
		}
		if n.HasReady() {
			rd := n.Ready()
			for _, nt := range rd.Notices {
				nw.logf("%s notice coordinator=%q epoch=%v self=%v steppeddown=%v", nw.ids[i], nt.Coordinator, nt.Epoch, nt.Self, nt.SteppedDown)
				if nt.Self && nw.onWin != nil {
					nw.onWin(i)
				}
			}
			if k := len(rd.Notices); k > 0 {
				last := rd.Notices[k-1]
				if last.Coordinator != n.coordinator || last.Epoch != n.epoch || last.Self != (n.state == StateCoordinator) {
					nw.fail("%s: last notice %+v disagrees with its state %+v", nw.ids[i], last, n.Status())
				}
			}
			for _, m := range rd.Messages {
				nw.route(i, m)
			}
			if rd.Transfer != "" {
				// The host's preparation (writes drained, the successor
				// caught up) takes no time here.
				nw.logf("%s hands off to %s", nw.ids[i], rd.Transfer)
				// Its HANDOFF and notice go out at the next drain.
				if err := n.Transfer(rd.Transfer); err != nil {
					nw.fail("%s: Transfer(%s) asked for by the machine: %v", nw.ids[i], rd.Transfer, err)
				}
			}
		}
		nw.checkNode(i)
	}
}

// checkNode checks what must hold at every node after every step.
func (nw *network) checkNode(i int) {
	n := nw.node[i]
	id := nw.ids[i]
	if n.epoch.Less(nw.lastEpoch[i]) {
		nw.fail("%s: epoch went down from %v to %v", id, nw.lastEpoch[i], n.epoch)
	}
	nw.lastEpoch[i] = n.epoch
	if n.coordinator != "" && n.coordinator != n.epoch.Node {
		nw.fail("%s: follows %s but its epoch %v names %s", id, n.coordinator, n.epoch, n.epoch.Node)
	}
	if n.state == StateCoordinator {
		if n.coordinator != id || n.epoch.Node != id {
			nw.fail("%s: coordinator with coordinator=%q epoch=%v", id, n.coordinator, n.epoch)
		}
		if h, ok := nw.holder[n.epoch]; ok && h != id {
			nw.fail("%s and %s both coordinated at epoch %v", h, id, n.epoch)
		}
		nw.holder[n.epoch] = id
	}
}

func (nw *network) route(from int, m Message) {
	if m.To == "" {
		for to := range nw.node {
			if to != from {
				nw.send(from, to, m)
			}
		}
		return
	}
	to, ok := nw.idx[m.To]
	if !ok {
		if !nw.forgeries {
			nw.fail("%s sent to unknown node %q", nw.ids[from], m.To)
		}
		return
	}
	nw.send(from, to, m)
}

func (nw *network) send(from, to int, m Message) {
	if nw.up[to] {
		nw.sent++
	}
	if nw.side[from] != nw.side[to] || (len(nw.cut) > 0 && nw.cut[[2]int{from, to}]) {
		if nw.trace != nil {
			nw.logf("drop %v to %s (cut)", m, nw.ids[to])
		}
		return
	}
	if nw.loss > 0 && nw.rng.Float64() < nw.loss {
		if nw.trace != nil {
			nw.logf("drop %v to %s (loss)", m, nw.ids[to])
		}
		return
	}
	nw.enqueue(envelope{from, to, m})
	if nw.dup > 0 && nw.rng.Float64() < nw.dup {
		nw.enqueue(envelope{from, to, m})
	}
}

func (nw *network) enqueue(e envelope) {
	d := 1
	if nw.delay > 1 {
		d += nw.rng.IntN(nw.delay)
	}
	if nw.slow > 0 {
		d += nw.rng.IntN(nw.slow + 1)
	}
	b := (nw.now + d) % len(nw.buckets)
	nw.buckets[b] = append(nw.buckets[b], e)
}

// agreement reports the coordinator and epoch every up node names, if they
// all name the same one and it is up and coordinating at that epoch.
func (nw *network) agreement() (coord string, epoch Epoch, ok bool) {
	first := true
	for i, n := range nw.node {
		if !nw.up[i] {
			continue
		}
		if n.coordinator == "" {
			return "", Epoch{}, false
		}
		if first {
			coord, epoch, first = n.coordinator, n.epoch, false
		} else if n.coordinator != coord || n.epoch != epoch {
			return "", Epoch{}, false
		}
	}
	if first {
		return "", Epoch{}, false
	}
	c := nw.idx[coord]
	if !nw.up[c] || nw.node[c].state != StateCoordinator || nw.node[c].epoch != epoch {
		return "", Epoch{}, false
	}
	return coord, epoch, true
}

// best returns the up node with the lowest (load, name).
func (nw *network) best() int {
	b := -1
	for i := range nw.node {
		if nw.up[i] && (b < 0 || better(nw.loads[i], nw.ids[i], nw.loads[b], nw.ids[b])) {
			b = i
		}
	}
	return b
}

// views describes every up node's view, for failure messages.
func (nw *network) views() string {
	var sb strings.Builder
	for i, n := range nw.node {
		st := "down"
		if nw.up[i] {
			st = "up"
		}
		fmt.Fprintf(&sb, "  %s %s side=%d load=%v state=%v coordinator=%q epoch=%v\n",
			nw.ids[i], st, nw.side[i], nw.loads[i], n.state, n.coordinator, n.epoch)
	}
	return sb.String()
}

// nodeIDs returns n names that sort in index order.
func nodeIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("n%02d", i)
	}
	return ids
}
