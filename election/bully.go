package election

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"veil/bully"
)

// Transport carries election messages between nodes. Delivery is best
// effort: the Bully machine copes with loss, delay and duplication.
type Transport interface {
	// Send delivers payload to the member named to.
	Send(to string, payload []byte) error
}

// BullyConfig configures a Bully runner.
type BullyConfig struct {
	// Machine holds the state machine's parameters, counted in ticks.
	Machine bully.Config
	// Tick is how long one tick of the machine lasts.
	Tick      time.Duration
	Transport Transport
	Logger    hclog.Logger
	// Now is the clock used to stamp leadership changes; time.Now if nil.
	Now func() time.Time
}

// Bully drives a bully.Node with real time. One goroutine, Run, owns the
// machine; everything else talks to it through channels.
type Bully struct {
	cfg BullyConfig
	log hclog.Logger

	inbox   chan bully.Message
	members chan []string
	rejoin  chan struct{}
	suspend chan struct{}
	raise   chan Epoch
	heard   chan heard
	lost    chan string
	handoff chan handoffRequest
	wanted  chan string
	load    atomic.Uint64 // math.Float64bits of the local load
	// fanout, when set, is every member a broadcast goes to besides the
	// live ones: gossip's verdict is second-hand, and a member it calls
	// failed may be alive and reachable from here (a bridge partition).
	fanout atomic.Pointer[[]string]

	mu      sync.Mutex
	lead    Leadership
	stats   Stats
	dropped uint64
	changes *feed

	// announced is the epoch of the last COORDINATOR this node broadcast
	// (the run loop's only): a broadcast at the same epoch again is a
	// heartbeat, and is counted as HEARTBEAT.
	announced bully.Epoch
}

// heard is traffic other than election messages from a node at an epoch.
type heard struct {
	from  string
	epoch Epoch
}

// handoffRequest asks the machine to hand its role to `to`; done gets
// the machine's answer.
type handoffRequest struct {
	to   string
	done chan error
}

// inboxSize bounds the messages waiting for the machine; past it, new ones
// are dropped, which the algorithm treats as loss.
const inboxSize = 1024

// NewBully returns a runner; start it with Run.
func NewBully(cfg BullyConfig) (*Bully, error) {
	if err := cfg.Machine.Validate(); err != nil {
		return nil, err
	}
	if cfg.Tick <= 0 {
		return nil, fmt.Errorf("election: tick %s must be > 0", cfg.Tick)
	}
	if cfg.Transport == nil {
		return nil, errors.New("election: no transport")
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Bully{
		cfg:     cfg,
		log:     cfg.Logger,
		inbox:   make(chan bully.Message, inboxSize),
		members: make(chan []string, 1),
		rejoin:  make(chan struct{}, 1),
		suspend: make(chan struct{}, 1),
		raise:   make(chan Epoch, 16),
		heard:   make(chan heard, 64),
		lost:    make(chan string, 8),
		handoff: make(chan handoffRequest),
		wanted:  make(chan string, 1),
		changes: newFeed(),
		stats:   Stats{MessagesSent: map[string]uint64{}},
	}, nil
}

// Deliver hands the runner a message that arrived from the member named
// from. Malformed messages, and messages whose sender is not the member
// that sent them, are dropped and counted.
func (b *Bully) Deliver(from string, payload []byte) {
	var m bully.Message
	if err := m.UnmarshalBinary(payload); err != nil || m.From != from {
		b.mu.Lock()
		b.dropped++
		b.mu.Unlock()
		b.log.Debug("dropped election message", "from", from, "error", err)
		return
	}
	select {
	case b.inbox <- m:
	default:
		b.mu.Lock()
		b.dropped++
		b.mu.Unlock()
	}
}

// Heard tells the runner that traffic other than an election message
// (a replication append, forwarded work, a commit's reply) came from the
// node named from at epoch e. From the coordinator, it counts as its
// heartbeat. It never blocks: when the machine is behind, the report is
// dropped, and the next one will do.
func (b *Bully) Heard(from string, e Epoch) {
	select {
	case b.heard <- heard{from, e}:
	default:
	}
}

// Lost tells the runner that a connection to the node named id was reset
// or refused by its machine: if it is the coordinator, campaign now. It
// never blocks.
func (b *Bully) Lost(id string) {
	select {
	case b.lost <- id:
	default:
	}
}

// SetMembers tells the runner which members gossip holds alive.
func (b *Bully) SetMembers(alive []string) {
	cp := append([]string(nil), alive...)
	for {
		select {
		case b.members <- cp:
			return
		default:
		}
		// Replace a list the machine has not taken yet: only the newest counts.
		select {
		case <-b.members:
		default:
		}
	}
}

// SetFanout names the members a broadcast goes to besides the live ones
// given to SetMembers: every member that has not left. Sending to a dead
// one costs a datagram; not sending to a live one gossip gave up on costs
// it the coordinator's heartbeats and the candidates' ELECTIONs.
func (b *Bully) SetFanout(ids []string) {
	cp := append([]string(nil), ids...)
	b.fanout.Store(&cp)
}

// SetLoad implements Elector.
func (b *Bully) SetLoad(load float64) { b.load.Store(math.Float64bits(load)) }

// Rejoin implements Elector.
func (b *Bully) Rejoin() {
	select {
	case b.rejoin <- struct{}{}:
	default:
	}
}

// Raise implements Elector.
func (b *Bully) Raise(e Epoch) {
	select {
	case b.raise <- e:
	default:
		// Full: the machine is behind on raises; the next one will do.
	}
}

// Suspend implements Elector.
func (b *Bully) Suspend() {
	select {
	case b.suspend <- struct{}{}:
	default:
	}
}

// ErrNoHandoff reports a hand-off that cannot be made: this node does not
// coordinate, or the successor is no live member.
var ErrNoHandoff = bully.ErrNoHandoff

// HandOff implements Elector: the machine sends HANDOFF to `to` and waits
// for its announcement. The Bully runner picks no successor itself: to
// must name one.
func (b *Bully) HandOff(ctx context.Context, to string) error {
	if to == "" {
		return fmt.Errorf("%w: name the successor", ErrNoHandoff)
	}
	req := handoffRequest{to: to, done: make(chan error, 1)}
	select {
	case b.handoff <- req:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Successors implements Elector.
func (b *Bully) Successors() <-chan string { return b.wanted }

// Leadership implements Elector.
func (b *Bully) Leadership() Leadership {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lead
}

// Changes implements Elector.
func (b *Bully) Changes() <-chan Leadership { return b.changes.ch }

// Stats implements Elector.
func (b *Bully) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.stats
	s.MessagesSent = make(map[string]uint64, len(b.stats.MessagesSent))
	for k, v := range b.stats.MessagesSent {
		s.MessagesSent[k] = v
	}
	s.Dropped = b.dropped
	return s
}

// Run implements Elector: it ticks the machine, feeds it what arrives and
// carries out what it asks until ctx ends. It may be called once.
func (b *Bully) Run(ctx context.Context) error {
	node, err := bully.NewNode(b.cfg.Machine)
	if err != nil {
		return err
	}
	defer b.changes.close()
	ticker := time.NewTicker(b.cfg.Tick)
	defer ticker.Stop()
	var alive []string
	prev := node.Status().State
	// While suspended the machine is frozen: no ticks, no messages, no
	// membership. Otherwise a silenced node would time out its coordinator,
	// win an election nobody hears at a higher epoch, and come back
	// outranking the real coordinator's epoch.
	suspended := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			if suspended {
				continue
			}
			node.SetLoad(math.Float64frombits(b.load.Load()))
			node.Tick()
		case m := <-b.inbox:
			if suspended {
				continue
			}
			if err := node.Step(m); err != nil && !errors.Is(err, bully.ErrStaleEpoch) {
				b.log.Debug("election message refused", "message", m.String(), "error", err)
			}
		case id := <-b.lost:
			if !suspended {
				node.Lost(id)
			}
		case h := <-b.heard:
			if !suspended {
				node.Heard(h.from, h.epoch)
			}
		case alive = <-b.members:
			if !suspended {
				node.SetMembers(alive)
			}
		case e := <-b.raise:
			node.Restore(e)
		case req := <-b.handoff:
			err := fmt.Errorf("%w: this node is silent", ErrNoHandoff)
			if !suspended {
				err = node.Transfer(req.to)
			}
			if err == nil {
				b.mu.Lock()
				b.stats.Handoffs++
				b.mu.Unlock()
				b.log.Info("handing the coordinator's role over", "to", req.to)
			}
			req.done <- err
		case <-b.suspend:
			suspended = true
			b.log.Info("election suspended while the node is silent")
		case <-b.rejoin:
			suspended = false
			node.Rejoin()
			node.SetMembers(alive)
		}
		if s := node.Status(); s.State != prev {
			if s.State == bully.StateCandidate {
				b.mu.Lock()
				b.stats.Elections++
				b.mu.Unlock()
				b.log.Info("campaigning", "epoch", s.Epoch.String(), "load", s.Snapshot, "coordinator_load", s.CoordinatorLoad, "was", prev.String())
			}
			prev = s.State
		}
		if node.HasReady() {
			b.apply(node.Ready(), alive)
		}
	}
}

func (b *Bully) apply(rd bully.Ready, alive []string) {
	// Publish first: a node that hears our COORDINATOR may ask us about
	// it at once (a follower's watch), and must find us knowing it.
	for _, n := range rd.Notices {
		b.publish(n)
	}
	if rd.Transfer != "" {
		// Only the newest wish counts.
		select {
		case <-b.wanted:
		default:
		}
		b.wanted <- rd.Transfer
	}
	self := b.cfg.Machine.ID
	for _, m := range rd.Messages {
		payload, err := m.MarshalBinary()
		if err != nil {
			b.log.Error("cannot encode election message", "message", m.String(), "error", err)
			continue
		}
		sent := uint64(0)
		if m.To != "" {
			if b.cfg.Transport.Send(m.To, payload) == nil {
				sent++
			}
		} else {
			for _, to := range b.broadcastList(alive) {
				if to != self && b.cfg.Transport.Send(to, payload) == nil {
					sent++
				}
			}
		}
		b.mu.Lock()
		b.stats.MessagesSent[b.kind(m)] += sent
		b.mu.Unlock()
	}
}

// broadcastList is alive and the fanout, each member once.
func (b *Bully) broadcastList(alive []string) []string {
	f := b.fanout.Load()
	if f == nil {
		return alive
	}
	seen := make(map[string]bool, len(alive)+len(*f))
	out := make([]string, 0, len(alive)+len(*f))
	for _, list := range [][]string{alive, *f} {
		for _, id := range list {
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	return out
}

func (b *Bully) publish(n bully.Notice) {
	l := Leadership{Coordinator: n.Coordinator, Epoch: n.Epoch, Self: n.Self, Since: b.cfg.Now()}
	b.mu.Lock()
	if l.Coordinator != "" && l.Coordinator != b.lead.Coordinator {
		b.stats.CoordinatorChanges++
	}
	b.lead = l
	b.mu.Unlock()
	if n.SteppedDown {
		b.log.Info("stepped down as coordinator", "epoch", n.Epoch.String())
	}
	if l.Coordinator != "" {
		b.log.Info("coordinator", "coordinator", l.Coordinator, "epoch", l.Epoch.String(), "self", l.Self)
	} else {
		b.log.Info("no coordinator known", "epoch", l.Epoch.String())
	}
	b.changes.publish(l)
}

// kind is the type m is counted under. COORDINATOR both announces a win and,
// repeated at the same epoch, is the coordinator's heartbeat; the repeats
// count as HEARTBEAT, so that the messages an election costs can be told
// from the ones that keep watch. A COORDINATOR to one node (an answer to a
// stale message) stays COORDINATOR.
func (b *Bully) kind(m bully.Message) string {
	if m.Type != bully.Coordinator || m.To != "" {
		return m.Type.String()
	}
	if m.Epoch == b.announced {
		return "HEARTBEAT"
	}
	b.announced = m.Epoch
	return m.Type.String()
}
