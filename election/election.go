package election

import (
	"context"
	"sync"
	"time"

	"veil/bully"
)

// Epoch orders coordinators: a later coordinator always has a greater
// epoch. It is the Bully machine's epoch, (term, node) ordered by term then
// node name, so that no two coordinators ever share one, even on two sides
// of a partition. In Raft mode Term is the Raft term and Node the leader.
type Epoch = bully.Epoch

// Leadership is one state of the coordinator role as a node sees it.
type Leadership struct {
	// Coordinator is the coordinator's name, or "" when none is known.
	Coordinator string
	// Epoch is the coordinator's epoch (zero when none is known).
	Epoch Epoch
	// Self is true when this node is the coordinator.
	Self bool
	// Since is when this node learnt of this state.
	Since time.Time
}

// Known reports whether a coordinator is known.
func (l Leadership) Known() bool { return l.Coordinator != "" }

// Elector tells a node who coordinates. Implementations are safe for
// concurrent use.
type Elector interface {
	// Leadership is the current state.
	Leadership() Leadership
	// Changes delivers every new state, newest last. The channel is closed
	// when the elector stops. A slow reader misses intermediate states but
	// always gets the latest.
	Changes() <-chan Leadership
	// SetLoad reports this node's current load (lower is better).
	SetLoad(load float64)
	// Raise tells the elector of an epoch learnt elsewhere (the replicated
	// log's promise, kept across restarts); the elector's epoch never stays
	// below it, and a coordinator below it steps down.
	Raise(e Epoch)
	// Suspend freezes the elector while the node is silent on purpose;
	// Rejoin wakes it.
	Suspend()
	// Rejoin tells the elector that the node is back from a failure: learn
	// the coordinator first, campaign only if there is none.
	Rejoin()
	// HandOff hands the coordinator's role to the member named to, or to
	// the one the elector picks when to is "", and returns once the
	// request is made (the successor announces itself through Changes).
	// Only the coordinator can; it fails with ErrNoHandoff otherwise. In
	// Bully mode the caller first stops taking writes and brings the
	// successor up to date; Raft's leadership transfer does both itself.
	HandOff(ctx context.Context, to string) error
	// Successors delivers the members a load-driven move would hand the
	// role to (Bully's Ready.Transfer); nil when the elector makes no such
	// move itself. The caller prepares and calls HandOff, or lets it pass.
	Successors() <-chan string
	// Stats counts what the elector has done, for metrics.
	Stats() Stats
	// Run drives the elector until ctx ends.
	Run(ctx context.Context) error
}

// Stats are the elector's counters since it started.
type Stats struct {
	Elections          uint64            // elections this node started
	CoordinatorChanges uint64            // changes of the coordinator this node saw
	MessagesSent       map[string]uint64 // by message type
	Dropped            uint64            // messages dropped: malformed, or the inbox was full
	Handoffs           uint64            // hand-offs this node made as coordinator
}

// feed is the channel behind Changes: latest wins, so a slow reader misses
// intermediate states but always gets the newest, and it is closed once.
type feed struct {
	mu     sync.Mutex
	ch     chan Leadership
	closed bool
}

func newFeed() *feed { return &feed{ch: make(chan Leadership, 1)} }

func (f *feed) publish(l Leadership) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	select {
	case <-f.ch: // replace a state the reader has not taken yet
	default:
	}
	f.ch <- l
}

func (f *feed) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed = true
		close(f.ch)
	}
}
