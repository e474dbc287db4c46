package bully

import (
	"math"
	"strconv"
)

// State is what a node is doing in the election.
type State uint8

// The states of a Node.
const (
	// StateFollower follows the coordinator it names, or, naming none,
	// listens for one (after start-up, Rejoin or losing its coordinator).
	StateFollower State = iota
	// StateCandidate has sent ELECTION and waits ElectionTimeout ticks for
	// an ANSWER.
	StateCandidate
	// StateWaiting was answered by (or saw the ELECTION of) a better
	// candidate and waits CoordinatorTimeout ticks for its COORDINATOR.
	StateWaiting
	// StateCoordinator is the coordinator and sends heartbeats.
	StateCoordinator
)

// String returns the lower-case name of s.
func (s State) String() string {
	switch s {
	case StateFollower:
		return "follower"
	case StateCandidate:
		return "candidate"
	case StateWaiting:
		return "waiting"
	case StateCoordinator:
		return "coordinator"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Notice tells the host that the coordinator this node believes in changed.
type Notice struct {
	// Coordinator is the node now believed to coordinate, or "" when none is
	// known (it was lost, or an election is under way).
	Coordinator string
	// Epoch is the node's epoch: the coordinator's when there is one,
	// otherwise the newest this node knows of.
	Epoch Epoch
	// Self reports that this node is the coordinator.
	Self bool
	// SteppedDown reports that this node was the coordinator until now.
	SteppedDown bool
}

// Ready is what a Node wants done since the last call to Ready.
type Ready struct {
	// Messages to send, in order. To == "" means every live member but
	// this node. Delivery may be lossy; the machine copes.
	Messages []Message
	// Notices to publish, oldest first.
	Notices []Notice
	// Transfer, when not empty, names the node this coordinator would hand
	// its role to: the best of the OFFERs it gathered, lighter than it by
	// more than LoadGap. The host brings that node up to date, stops
	// taking writes, and calls Transfer; or it lets the chance pass, and
	// the node offers again ReelectInterval ticks later.
	Transfer string
}

// Status is a snapshot of a node for logs, metrics and tests.
type Status struct {
	ID          string
	State       State
	Coordinator string  // "" when none is known
	Epoch       Epoch   // never goes down
	Load        float64 // the load last given to SetLoad
	// Snapshot is the load this node compares with in the election it is
	// taking part in; meaningful only while InElection.
	Snapshot   float64
	InElection bool
	// CoordinatorLoad is the load in the last heartbeat from the coordinator.
	CoordinatorLoad float64
}

// NewNode returns a node that knows no coordinator and listens for one for
// CoordinatorTimeout ticks before it campaigns. A restarted process starts
// here too. The initial load is zero.
func NewNode(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Node{cfg: cfg}, nil
}

// Tick advances the node's logical clock by one tick. The host calls it at a
// steady rate; heartbeats, timeouts and re-election are counted in ticks.
func (n *Node) Tick() { n.tick() }

// Step feeds a received message to the node. It returns an error wrapping
// ErrMalformed for a message that makes no sense, ErrMisaddressed for one
// meant for another node, and ErrStaleEpoch for one ignored because its
// epoch is below this node's. An error never changes the node's state
// (a stale message may still earn its sender a COORDINATOR reply). Step never
// panics.
func (n *Node) Step(m Message) error { return n.step(m) }

// Heard tells the node that the host received traffic other than an
// election message (a replication append, forwarded work) from the node
// named from, which sent it at epoch e. From the coordinator this node
// follows, at its epoch, it counts as a heartbeat; anything else is
// ignored.
func (n *Node) Heard(from string, e Epoch) { n.heard(from, e) }

// Lost tells the node that the host has proof that the node named id is
// gone: a connection to it was reset or refused by its machine, as happens
// at once when its process dies. If id is the coordinator this node
// follows, the node forgets it and campaigns now instead of waiting out
// CoordinatorTimeout; otherwise nothing happens. A false report costs an
// election that the live coordinator answers (see Stickiness).
func (n *Node) Lost(id string) { n.lost(id) }

// SetMembers tells the node which members are alive as the host's membership
// sees them; this node may be in the list or not. The host calls it on every
// change. If the coordinator was listed and no longer is, the node starts an
// election at once instead of waiting for heartbeats to time out.
func (n *Node) SetMembers(alive []string) { n.setMembers(alive) }

// SetLoad records the local load. It may be called at any time; an election
// under way keeps comparing the snapshot it took. NaN is ignored; infinities
// are clamped to the largest finite values.
func (n *Node) SetLoad(load float64) {
	switch {
	case math.IsNaN(load):
		return
	case math.IsInf(load, 1):
		load = math.MaxFloat64
	case math.IsInf(load, -1):
		load = -math.MaxFloat64
	}
	n.load = load
}

// Rejoin tells the node it is back from a failure during which it neither
// sent nor received. It forgets the coordinator it knew (and steps down if it
// was that coordinator), drops unsent messages, and listens for
// CoordinatorTimeout ticks: it adopts the coordinator it hears and campaigns
// only if it hears none. Its epoch is kept, so it still ignores the stale.
func (n *Node) Rejoin() { n.rejoin() }

// Restore raises the node's epoch to e when e is newer: the newest epoch
// the host learnt elsewhere, such as one its replicated log promised before
// a restart (the machine keeps no state across processes). A coordinator
// below e steps down, and a follower forgets a coordinator below e and
// listens for a newer one, so that epochs never go down across restarts.
// An older or equal e, or one that is not valid, changes nothing.
func (n *Node) Restore(e Epoch) {
	if !e.valid() || e.Term >= termLimit || e.Compare(n.epoch) <= 0 {
		return
	}
	n.raise(e)
}

// Campaign starts an election now unless one is already under way at this
// node. A coordinator that campaigns steps down first.
func (n *Node) Campaign() { n.campaignNow() }

// Transfer hands the coordinator's role to the member named id: it sends
// HANDOFF and waits, as a follower without a coordinator, for id to
// announce itself at the next term (a SteppedDown notice tells the host at
// once). If id never announces, the wait ends after CoordinatorTimeout
// ticks in an election, as when a coordinator dies. The host calls it once
// it has stopped taking writes and id holds everything this node
// committed, so that the move costs no request; for a load-driven move
// (Ready.Transfer) or for an operator's. It returns an error wrapping
// ErrNoHandoff, and changes nothing, when this node does not coordinate
// or id is itself or not a live member.
func (n *Node) Transfer(id string) error { return n.transferTo(id) }

// Ready returns the messages and notices produced since the last call and
// forgets them. The host sends the messages and publishes the notices.
func (n *Node) Ready() Ready {
	rd := Ready{Messages: n.msgs, Notices: n.notices, Transfer: n.transfer}
	n.msgs, n.notices, n.transfer = nil, nil, ""
	return rd
}

// HasReady reports whether Ready would return anything.
func (n *Node) HasReady() bool { return len(n.msgs) > 0 || len(n.notices) > 0 || n.transfer != "" }

// Status returns the node's current view.
func (n *Node) Status() Status {
	return Status{
		ID:              n.cfg.ID,
		State:           n.state,
		Coordinator:     n.coordinator,
		Epoch:           n.epoch,
		Load:            n.load,
		Snapshot:        n.snapshot,
		InElection:      n.inRound,
		CoordinatorLoad: n.coordLoad,
	}
}
