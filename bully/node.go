package bully

import "fmt"

// termLimit bounds the terms a node accepts and takes. No cluster elects
// 2^62 times; the limit keeps a hostile or corrupt epoch from wrapping a
// term to zero, which would make an epoch go down.
const termLimit = 1 << 62

// Node is one participant in the election. It is not safe for concurrent
// use: the host calls it from one goroutine.
type Node struct {
	cfg Config

	state       State
	epoch       Epoch  // the newest epoch accepted; never goes down
	coordinator string // "" when none is known
	coordLoad   float64

	load     float64
	snapshot float64 // the load compared in the election under way
	inRound  bool    // snapshot is taken

	// members is the last membership; nil until the host gives one.
	members map[string]bool

	// A candidate's early decision: the members that yielded to it this
	// round, and the coordinator it need not hear from (proved gone).
	// gone lasts until a coordinator is adopted or won: a retry of the
	// same election need not hear from it either. refused marks a wait
	// that a REFUSE began.
	// campaigners are the nodes whose ELECTION reached us at campaignedAt,
	// our epoch: they have lost its coordinator, so a REFUSE from one of
	// them at that epoch is stale, in this round or a later one (it was
	// sent before its ELECTION, and may arrive after it).
	yields       map[string]bool
	campaigners  map[string]bool
	campaignedAt Epoch
	gone         string
	refused      bool

	// A coordinator's hand-off: the offers gathered this window (sender to
	// load), the ticks since the first, and the successor chosen for the
	// host (Ready.Transfer). A node that handed its role over waits for
	// the successor's announcement, naming it in handingTo.
	offers    map[string]float64
	offerAge  int
	transfer  string
	handingTo string

	elapsed    int // ticks in the current wait; its meaning depends on state
	sinceElect int // ticks since this node adopted its coordinator or last re-elected
	heartbeat  int // coordinator: ticks since the last heartbeat

	msgs    []Message
	notices []Notice

	// What the host was last told, so that a notice is sent only on change.
	toldCoordinator string
	toldEpoch       Epoch
	toldSelf        bool
}

func (n *Node) tick() {
	switch n.state {
	case StateCoordinator:
		n.heartbeat++
		if n.heartbeat >= n.cfg.HeartbeatInterval {
			n.announce("")
		}
		if len(n.offers) > 0 {
			n.offerAge++
			if n.offerAge >= n.cfg.ElectionTimeout {
				n.chooseSuccessor()
			}
		}
	case StateFollower:
		n.elapsed++
		if n.elapsed >= n.cfg.CoordinatorTimeout {
			// No coordinator heard for a whole timeout, whether we had
			// one (it died, or we cannot hear it) or were listening.
			n.campaign()
			return
		}
		if n.coordinator != "" && n.cfg.ReelectInterval > 0 {
			n.sinceElect++
			if n.sinceElect >= n.cfg.ReelectInterval && n.coordLoad-n.load > n.cfg.LoadGap &&
				(n.cfg.ReelectBelow == 0 || n.load < n.cfg.ReelectBelow) {
				// A load-driven move is a hand-off, not an election:
				// ask the coordinator, which is alive, to hand over.
				n.sinceElect = 0
				n.send(Message{Type: Offer, From: n.cfg.ID, To: n.coordinator, Epoch: n.epoch, Load: n.load})
			}
		}
	case StateCandidate:
		n.elapsed++
		if n.elapsed >= n.cfg.ElectionTimeout {
			n.win()
		}
	case StateWaiting:
		n.elapsed++
		if n.handingTo != "" && n.elapsed%n.cfg.HeartbeatInterval == 0 && n.elapsed < n.cfg.CoordinatorTimeout {
			// The successor has not announced: say it again, in case
			// the HANDOFF was lost. One that already won answers it as
			// stale with its COORDINATOR.
			n.sendHandoff()
		}
		if n.elapsed >= n.cfg.CoordinatorTimeout {
			// The better candidate never announced: it died or we lost
			// its message. Take over.
			n.campaign()
		}
	}
}

func (n *Node) step(m Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if m.Epoch.Term >= termLimit {
		return fmt.Errorf("%w: term %d beyond the limit", ErrMalformed, m.Epoch.Term)
	}
	if m.From == n.cfg.ID {
		return fmt.Errorf("%w: %v from this node (%s) to itself", ErrMisaddressed, m.Type, m.From)
	}
	if m.To != "" && m.To != n.cfg.ID {
		return fmt.Errorf("%w: %v for %s delivered to %s", ErrMisaddressed, m.Type, m.To, n.cfg.ID)
	}
	cmp := m.Epoch.Compare(n.epoch)
	if cmp < 0 {
		if m.Type != Answer && n.state == StateCoordinator {
			// The sender lags: tell it who coordinates rather than let it
			// campaign or announce in vain until our next heartbeat.
			n.announce(m.From)
		}
		return fmt.Errorf("%w: %v from %s at %v, this node is at %v", ErrStaleEpoch, m.Type, m.From, m.Epoch, n.epoch)
	}
	switch m.Type {
	case Coordinator:
		if cmp == 0 {
			switch {
			case n.state == StateFollower && n.coordinator == m.From:
				// A heartbeat: the coordinator is alive at our epoch.
				n.elapsed = 0
				n.coordLoad = m.Load
				return nil
			case n.state == StateCandidate && m.To == "":
				// We campaign against this very epoch: a broadcast
				// heartbeat of it, sent before our ELECTION reached its
				// coordinator, must not end the election. A COORDINATOR
				// addressed to us is the coordinator's answer to it:
				// alive, and staying. A node that waits on a better
				// candidate follows the live coordinator meanwhile: if
				// that candidate wins, its higher epoch takes over.
				return nil
			}
		}
		n.adopt(m)
	case Election:
		if m.Epoch == n.epoch {
			n.noteCampaigner(m.From)
		}
		if cmp > 0 {
			n.raise(m.Epoch)
		} else if n.state == StateCoordinator {
			if !n.reelects(m, n.load) {
				// Someone at our epoch lost our heartbeats. We are alive:
				// tell it so, rather than let it replace us.
				n.announce(m.From)
				return nil
			}
			// A load-driven re-election: take part like anyone.
			n.stepDown()
		} else if n.sticky(m) {
			// We hear a live coordinator and the sender does not beat it
			// by the gap: we do not help replace it, and we say so, so
			// that the sender cannot win by our silence.
			n.send(Message{Type: Refuse, From: n.cfg.ID, To: m.From, Epoch: n.epoch, Load: n.load})
			return nil
		}
		n.join(m)
	case Answer:
		if cmp > 0 {
			n.raise(m.Epoch)
		}
		if n.state == StateCandidate && better(m.Load, m.From, n.snapshot, n.cfg.ID) {
			n.state = StateWaiting
			n.elapsed = 0
		}
	case Yield:
		if cmp > 0 {
			n.raise(m.Epoch)
		}
		if n.state == StateCandidate && cmp == 0 && !better(m.Load, m.From, n.snapshot, n.cfg.ID) {
			n.yields[m.From] = true
			if n.allYielded() {
				n.win()
			}
		}
	case Refuse:
		if cmp > 0 {
			n.raise(m.Epoch)
		}
		if n.state == StateCandidate && !(n.campaignedAt == m.Epoch && n.campaigners[m.From]) {
			// Someone still hears the coordinator we lost. Stand down and
			// try again an election timeout from now: meanwhile we follow
			// its heartbeats if they reach us, and if it is really gone
			// the others notice within their own timeout.
			n.state = StateWaiting
			n.elapsed = max(0, n.cfg.CoordinatorTimeout-n.cfg.ElectionTimeout)
			n.refused = true
		}
	case Offer:
		if cmp > 0 {
			n.raise(m.Epoch)
			return nil
		}
		switch {
		case m.To == "":
			// Our coordinator calls for offers: answer if we beat it by
			// the gap. This counts as our try for the interval.
			if n.state == StateFollower && n.coordinator == m.From && n.reelects(Message{Load: n.load}, m.Load) {
				n.sinceElect = 0
				n.send(Message{Type: Offer, From: n.cfg.ID, To: m.From, Epoch: n.epoch, Load: n.load})
			}
		case n.state == StateCoordinator && n.reelects(m, n.load):
			if n.offers == nil {
				// The first offer opens the window, and every follower
				// is asked, so that the best of them gets the role and
				// not merely the first whose interval ran out.
				n.offers, n.offerAge = map[string]float64{}, 0
				n.send(Message{Type: Offer, From: n.cfg.ID, Epoch: n.epoch, Load: n.load})
			}
			n.offers[m.From] = m.Load
		}
	case Handoff:
		// The coordinator of m.Epoch, at or above ours, hands us its role
		// (at our epoch we cannot coordinate ourselves: m.Epoch names From).
		n.epoch = m.Epoch
		n.win()
	}
	return nil
}

// chooseSuccessor ends the window of offers: the best of those that still
// beat this coordinator's load by the gap becomes Ready.Transfer.
func (n *Node) chooseSuccessor() {
	best, bestLoad := "", 0.0
	for id, load := range n.offers {
		if !n.reelects(Message{Load: load}, n.load) || (n.members != nil && !n.members[id]) {
			continue
		}
		if best == "" || better(load, id, bestLoad, best) {
			best, bestLoad = id, load
		}
	}
	n.offers, n.offerAge = nil, 0
	n.transfer = best
}

// transferTo hands the role to id: HANDOFF, then wait for its COORDINATOR
// as a node that was answered waits for the winner. If it never comes, the
// wait times out and this node campaigns like any other.
func (n *Node) transferTo(id string) error {
	switch {
	case n.state != StateCoordinator:
		return fmt.Errorf("%w: %s is %v, not the coordinator", ErrNoHandoff, n.cfg.ID, n.state)
	case id == n.cfg.ID:
		return fmt.Errorf("%w: %s already coordinates", ErrNoHandoff, id)
	case !validID(id):
		return fmt.Errorf("%w: bad successor name %q", ErrNoHandoff, id)
	case n.members != nil && !n.members[id]:
		return fmt.Errorf("%w: %s is not a live member", ErrNoHandoff, id)
	}
	n.state = StateWaiting
	n.coordinator = ""
	n.elapsed = 0
	n.handingTo = id
	n.offers, n.transfer = nil, ""
	n.notify()
	n.sendHandoff()
	return nil
}

func (n *Node) sendHandoff() {
	n.send(Message{Type: Handoff, From: n.cfg.ID, To: n.handingTo, Epoch: n.epoch, Load: n.load})
}

// reelects reports whether m, an ELECTION at our epoch, is a load-driven
// re-election: periodic re-election is on, the sender's snapshot beats
// coordLoad, the coordinator's load, by more than the gap, and the sender
// is not saturated (ReelectBelow). Only then may a live coordinator be
// replaced.
func (n *Node) reelects(m Message, coordLoad float64) bool {
	return n.cfg.ReelectInterval > 0 && coordLoad-m.Load > n.cfg.LoadGap &&
		(n.cfg.ReelectBelow == 0 || m.Load < n.cfg.ReelectBelow)
}

// sticky reports whether this node keeps its coordinator against m, an
// ELECTION at our epoch: it follows a coordinator it heard within
// CoordinatorTimeout ticks (a follower that names one always has), m does
// not come from that coordinator, and m is no load-driven re-election.
// This is Raft's leader stickiness: a node that cannot hear the
// coordinator cannot talk the others into replacing it.
func (n *Node) sticky(m Message) bool {
	return n.state == StateFollower && n.coordinator != "" && m.From != n.coordinator &&
		m.Epoch == n.epoch && !n.reelects(m, n.coordLoad)
}

// heard takes any traffic from the coordinator this node follows, at its
// epoch, as proof of life, as good as a heartbeat (Raft's AppendEntries
// reset the election timer the same way): heartbeats lost or late under
// load then cost no election while the coordinator's other traffic flows.
func (n *Node) heard(from string, e Epoch) {
	if n.state == StateFollower && n.coordinator != "" && n.coordinator == from && e == n.epoch {
		n.elapsed = 0
	}
}

func (n *Node) lost(id string) {
	if n.state == StateFollower && n.coordinator != "" && n.coordinator == id {
		n.gone = id
		n.campaign()
	}
}

// noteCampaigner records that id's ELECTION reached us at our epoch.
func (n *Node) noteCampaigner(id string) {
	if n.campaigners == nil || n.campaignedAt != n.epoch {
		n.campaigners, n.campaignedAt = map[string]bool{}, n.epoch
	}
	n.campaigners[id] = true
}

// allYielded reports whether every live member but this node (and the
// coordinator proved gone) has yielded this round. Without a membership
// there is no list to complete, and the candidate waits out its timeout.
func (n *Node) allYielded() bool {
	if n.members == nil {
		return false
	}
	for id := range n.members {
		if id != n.cfg.ID && id != n.gone && !n.yields[id] {
			return false
		}
	}
	return true
}

// join takes part in the election that m (an ELECTION) belongs to.
func (n *Node) join(m Message) {
	if better(n.rankLoad(), n.cfg.ID, m.Load, m.From) {
		n.takeSnapshot()
		n.send(Message{Type: Answer, From: n.cfg.ID, To: m.From, Epoch: n.epoch, Load: n.snapshot})
		// A node that was refused campaigns again at once too: the sender
		// has lost the coordinator as well, and may be the one that
		// refused us.
		if (n.state != StateCandidate && n.state != StateWaiting) || (n.state == StateWaiting && n.refused) {
			n.campaign()
		}
		// The sender is below us for this round (its snapshot is frozen)
		// and has lost the coordinator: it cannot answer us nor refuse us,
		// so it counts as yielded. It may have refused our ELECTION a
		// moment before it lost the coordinator, and would not yield to
		// it since.
		if n.state == StateCandidate && m.Epoch == n.epoch {
			n.yields[m.From] = true
			if n.allYielded() {
				n.win()
			}
		}
		return
	}
	// The sender outranks us and is campaigning: defer to it, unless we
	// still follow a coordinator, whose heartbeats keep watch for us.
	if n.state == StateCandidate || (n.state == StateFollower && n.coordinator == "") {
		n.takeSnapshot()
		n.state = StateWaiting
		n.elapsed = 0
	}
	// Say so, so that it need not wait out its election timeout to know.
	n.send(Message{Type: Yield, From: n.cfg.ID, To: m.From, Epoch: n.epoch, Load: n.rankLoad()})
}

// campaign starts (or restarts) an election from this node.
func (n *Node) campaign() {
	if n.state == StateCoordinator {
		n.stepDown()
	}
	n.takeSnapshot()
	n.state = StateCandidate
	n.elapsed = 0
	n.coordinator = ""
	n.yields, n.refused = map[string]bool{}, false
	n.handingTo = ""
	n.notify()
	n.send(Message{Type: Election, From: n.cfg.ID, Epoch: n.epoch, Load: n.snapshot})
}

func (n *Node) campaignNow() {
	if n.state == StateCandidate || n.state == StateWaiting {
		return
	}
	n.campaign()
}

// win makes this node the coordinator at a term above every term it knows.
func (n *Node) win() {
	if n.epoch.Term+1 >= termLimit {
		// Unreachable but by a corrupt peer: refuse to wrap the term.
		n.state = StateWaiting
		n.elapsed = 0
		return
	}
	n.epoch = Epoch{Term: n.epoch.Term + 1, Node: n.cfg.ID}
	n.state = StateCoordinator
	n.coordinator = n.cfg.ID
	n.inRound = false
	n.gone, n.refused, n.handingTo = "", false, ""
	n.notify()
	n.announce("")
}

// announce sends COORDINATOR to everyone (to == "") or to one node. A
// broadcast restarts the heartbeat count; a reply to one node does not, or
// a stream of challengers would starve everyone else of heartbeats.
func (n *Node) announce(to string) {
	if to == "" {
		n.heartbeat = 0
	}
	n.send(Message{Type: Coordinator, From: n.cfg.ID, To: to, Epoch: n.epoch, Load: n.load})
}

// adopt follows the coordinator that sent m at m.Epoch, which is not below
// ours.
func (n *Node) adopt(m Message) {
	if m.Epoch != n.epoch {
		n.sinceElect = 0
	}
	n.epoch = m.Epoch
	n.state = StateFollower
	n.coordinator = m.From
	n.coordLoad = m.Load
	n.inRound = false
	n.elapsed = 0
	n.gone, n.refused, n.handingTo = "", false, ""
	n.offers, n.transfer = nil, ""
	n.notify()
}

// raise moves to a higher epoch learnt from an election message. Whoever we
// followed was superseded; a coordinator steps down at once.
func (n *Node) raise(e Epoch) {
	n.epoch = e
	if n.state == StateCoordinator {
		n.state = StateFollower
		n.offers, n.transfer = nil, ""
	}
	n.handingTo = "" // a hand-off of an older epoch is moot
	if n.state == StateFollower {
		n.elapsed = 0
	}
	n.coordinator = ""
	n.notify()
}

func (n *Node) stepDown() {
	n.offers, n.transfer = nil, ""
	n.state = StateFollower
	n.coordinator = ""
	n.elapsed = 0
	n.notify()
}

func (n *Node) rejoin() {
	n.state = StateFollower
	n.coordinator = ""
	n.offers, n.transfer, n.handingTo = nil, "", ""
	n.inRound = false
	n.elapsed = 0
	n.heartbeat = 0
	n.msgs = nil
	n.notify()
}

func (n *Node) setMembers(alive []string) {
	prev := n.members
	n.members = make(map[string]bool, len(alive))
	for _, id := range alive {
		n.members[id] = true
	}
	c := n.coordinator
	if c == "" || c == n.cfg.ID || n.members[c] {
		return
	}
	// Gossip's verdict is second-hand: in a partial partition (a bridge
	// node that sees both halves, an asymmetric link) the others' suspicion
	// can make it call dead a coordinator this node hears. A follower that
	// heard its coordinator within two heartbeats keeps it, as a Raft
	// follower that hears its leader does; if the coordinator is really
	// gone, Lost or this node's own timeout ends it.
	if n.state == StateFollower && n.elapsed < 2*n.cfg.HeartbeatInterval {
		return
	}
	// Trigger on the coordinator leaving the membership, not on it being
	// absent: a coordinator we hear but gossip does not list would
	// otherwise cost an election on every membership change.
	if prev == nil || prev[c] {
		n.campaign()
	}
}

// rankLoad is the load this node compares with: its snapshot while it takes
// part in an election, its current load otherwise.
func (n *Node) rankLoad() float64 {
	if n.inRound {
		return n.snapshot
	}
	return n.load
}

func (n *Node) takeSnapshot() {
	if !n.inRound {
		n.snapshot = n.load
		n.inRound = true
	}
}

func (n *Node) send(m Message) { n.msgs = append(n.msgs, m) }

// notify queues a Notice if the coordinator or epoch changed since the host
// was last told.
func (n *Node) notify() {
	self := n.state == StateCoordinator
	if n.coordinator == n.toldCoordinator && n.epoch == n.toldEpoch && self == n.toldSelf {
		return
	}
	n.notices = append(n.notices, Notice{
		Coordinator: n.coordinator,
		Epoch:       n.epoch,
		Self:        self,
		SteppedDown: n.toldSelf && !self,
	})
	n.toldCoordinator, n.toldEpoch, n.toldSelf = n.coordinator, n.epoch, self
}

// better reports whether rank (la, a) beats rank (lb, b): the lower load
// wins, and the smaller name breaks a tie.
func better(la float64, a string, lb float64, b string) bool {
	if la != lb {
		return la < lb
	}
	return a < b
}
