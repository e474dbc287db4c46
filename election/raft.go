package election

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"veil/cluster/api"
)

// The Raft elector: hashicorp/raft chooses the coordinator (its leader) and
// orders the writes (its log). The node's registry is the FSM.
//
// Raft futures wait without a deadline of their own: Apply's timeout bounds
// only the enqueueing, and future.Error() blocks until the entry commits or
// leadership is lost, which without a quorum may be never. Every call here
// therefore waits on the future and on a context together.

// Errors of Raft calls, classified so that callers know what to do.
var (
	// ErrNotLeader: this node does not lead; forward to the leader.
	ErrNotLeader = errors.New("election: this node is not the Raft leader")
	// ErrLeadershipLost: this node lost the lead while the call was under
	// way, so the outcome of a write is unknown (it may still commit under
	// the next leader). A retry with the same idempotency key is safe.
	ErrLeadershipLost = errors.New("election: Raft leadership was lost while the call was under way")
	// ErrRaftTimeout: the call did not finish within its deadline (no
	// quorum answered); the outcome of a write is unknown.
	ErrRaftTimeout = errors.New("election: no Raft quorum answered within the deadline")
	// ErrShutdown: the Raft instance is stopping.
	ErrShutdown = errors.New("election: Raft is shutting down")
)

// RaftTiming is Raft's timers, named as in hashicorp/raft's Config.
type RaftTiming struct {
	Heartbeat   time.Duration // a follower with no contact for this long becomes a candidate
	Election    time.Duration // a candidate with no leader for this long starts a new election
	LeaderLease time.Duration // a leader with no quorum contact for this long steps down
	Commit      time.Duration // the longest the leader waits to batch entries
}

// RaftConfig configures a Raft elector.
type RaftConfig struct {
	// Name is the server ID; it must be the node's name.
	Name string
	// Bind is the host:port the Raft transport listens on; Advertise the
	// host:port others dial (an IP address), Bind's when empty.
	Bind, Advertise string
	// Dir holds raft.db (log and stable store, bbolt) and snapshots/.
	Dir string
	// FSM is the replicated state machine.
	FSM    raft.FSM
	Timing RaftTiming
	// SnapshotThreshold and TrailingLogs are raft.Config's; zero keeps
	// its defaults.
	SnapshotThreshold, TrailingLogs uint64
	// Resolve maps a server ID to its current Raft address, as gossip
	// knows it; "" falls back to the address in the configuration. It lets
	// a node that restarted on a new address be reached.
	Resolve func(id string) string
	// Closed reports whether traffic to the Raft address addr is cut on
	// purpose (addr is "" for connections others opened to us). While it
	// holds, dials fail and open connections are dropped at their next read
	// or write.
	Closed func(addr string) bool
	// ServerTLS and ClientTLS, when set, carry the transport over mutual
	// TLS: the listener's configuration (which should require and verify
	// the caller's certificate) and the dialler's. Both, or neither.
	ServerTLS, ClientTLS *tls.Config
	Logger               hclog.Logger
}

// Raft is the Raft elector. The node that leads is the coordinator, its
// term the epoch.
type Raft struct {
	cfg    RaftConfig
	log    hclog.Logger
	raft   *raft.Raft
	store  *raftboltdb.BoltStore
	trans  *raft.NetworkTransport
	stream *gatedStream
	obs    *raft.Observer
	obsCh  chan raft.Observation

	mu      sync.Mutex
	lead    Leadership
	stats   Stats
	changes *feed

	snaps     raft.SnapshotStore
	rpcs      *rpcCounter
	suspended *atomic.Bool
	closeOnce sync.Once
}

// NewRaft opens the stores under cfg.Dir and starts Raft. It does not
// bootstrap: see Bootstrap. Stop it with Shutdown (Run does it when its
// context ends).
func NewRaft(cfg RaftConfig) (*Raft, error) {
	if cfg.Name == "" || cfg.FSM == nil || cfg.Dir == "" {
		return nil, errors.New("election: Raft needs a name, an FSM and a directory")
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Closed == nil {
		cfg.Closed = func(string) bool { return false }
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.Name)
	rc.HeartbeatTimeout = cfg.Timing.Heartbeat
	rc.ElectionTimeout = cfg.Timing.Election
	rc.LeaderLeaseTimeout = cfg.Timing.LeaderLease
	rc.CommitTimeout = cfg.Timing.Commit
	rc.Logger = cfg.Logger.Named("raft")
	rc.NoLegacyTelemetry = true
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.TrailingLogs > 0 {
		rc.TrailingLogs = cfg.TrailingLogs
	}
	// A server removed from the configuration stays up: it still serves
	// the API, and the leader adds it back when gossip sees it again.
	rc.ShutdownOnRemove = false
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("election: Raft timing: %w", err)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("election: Raft directory: %w", err)
	}
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.Dir, "raft.db")})
	if err != nil {
		return nil, fmt.Errorf("election: Raft log store %s: %w", filepath.Join(cfg.Dir, "raft.db"), err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, cfg.Logger.Named("snapshots"))
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("election: Raft snapshot store: %w", err)
	}
	// While suspended the node is silent on the Raft port, whatever the
	// host's gate says.
	suspended := new(atomic.Bool)
	closed := func(addr string) bool { return suspended.Load() || cfg.Closed(addr) }
	stream, err := listenGated(cfg.Bind, cfg.Advertise, closed, streamTLS{server: cfg.ServerTLS, client: cfg.ClientTLS})
	if err != nil {
		store.Close()
		return nil, err
	}
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		ServerAddressProvider: resolver(cfg.Resolve),
		Logger:                cfg.Logger.Named("raft-net"),
		Stream:                stream,
		MaxPool:               3,
		Timeout:               10 * time.Second,
	})
	e := &Raft{
		cfg: cfg, log: cfg.Logger, store: store, trans: trans, stream: stream,
		changes: newFeed(),
		obsCh:   make(chan raft.Observation, 64),
		stats:   Stats{MessagesSent: map[string]uint64{}},
		rpcs:    newRPCCounter(), suspended: suspended, snaps: snaps,
	}
	r, err := raft.NewRaft(rc, cfg.FSM, store, store, snaps, countingTransport(trans, e.rpcs))
	if err != nil {
		trans.Close()
		store.Close()
		return nil, fmt.Errorf("election: starting Raft: %w", err)
	}
	e.raft = r
	e.obs = raft.NewObserver(e.obsCh, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.LeaderObservation, raft.RaftState:
			return true
		}
		return false
	})
	r.RegisterObserver(e.obs)
	return e, nil
}

// Addr is the address the Raft transport advertises.
func (e *Raft) Addr() string { return string(e.trans.LocalAddr()) }

// HasState reports whether this server has Raft state on disk (it was
// bootstrapped or joined before), so that it must not bootstrap again.
func (e *Raft) HasState() (bool, error) {
	return raft.HasExistingState(e.store, e.store, e.snaps)
}

// Server is one member of the Raft configuration.
type Server struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Voter   bool   `json:"voter"`
}

// Bootstrap starts a new cluster whose configuration is servers. Every
// server of a new cluster may call it with the same set; a server that has
// state already gets raft.ErrCantBootstrap and nothing changes.
func (e *Raft) Bootstrap(ctx context.Context, servers []Server) error {
	var c raft.Configuration
	for _, s := range servers {
		c.Servers = append(c.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(s.ID), Address: raft.ServerAddress(s.Address)})
	}
	return e.wait(ctx, e.raft.BootstrapCluster(c)) // raft.ErrCantBootstrap passes unchanged
}

// Servers is the latest configuration this server knows.
func (e *Raft) Servers(ctx context.Context) ([]Server, uint64, error) {
	f := e.raft.GetConfiguration()
	if err := e.wait(ctx, f); err != nil {
		return nil, 0, err
	}
	var out []Server
	for _, s := range f.Configuration().Servers {
		out = append(out, Server{ID: string(s.ID), Address: string(s.Address), Voter: s.Suffrage == raft.Voter})
	}
	return out, f.Index(), nil
}

// AddVoter adds (or updates the address of) a voting server; leader only.
func (e *Raft) AddVoter(ctx context.Context, id, addr string, prevIndex uint64) error {
	return e.wait(ctx, e.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), prevIndex, deadline(ctx)))
}

// RemoveServer removes a server from the configuration; leader only.
func (e *Raft) RemoveServer(ctx context.Context, id string, prevIndex uint64) error {
	return e.wait(ctx, e.raft.RemoveServer(raft.ServerID(id), prevIndex, deadline(ctx)))
}

// TransferLeadership hands the lead to another voter; leader only.
func (e *Raft) TransferLeadership(ctx context.Context) error {
	return e.wait(ctx, e.raft.LeadershipTransfer())
}

// HandOff implements Elector with Raft's leadership transfer, which stops
// new writes, brings the successor up to date and has it campaign at once
// (TimeoutNow). With to == "" Raft picks the most up-to-date voter. It
// returns when the transfer is done or has failed.
func (e *Raft) HandOff(ctx context.Context, to string) error {
	if e.raft.State() != raft.Leader {
		return fmt.Errorf("%w: %s does not lead", ErrNoHandoff, e.cfg.Name)
	}
	if to == "" {
		return e.handOffErr(e.wait(ctx, e.raft.LeadershipTransfer()))
	}
	if to == e.cfg.Name {
		return fmt.Errorf("%w: %s already leads", ErrNoHandoff, to)
	}
	servers, _, err := e.Servers(ctx)
	if err != nil {
		return err
	}
	for _, s := range servers {
		if s.ID == to && s.Voter {
			return e.handOffErr(e.wait(ctx, e.raft.LeadershipTransferToServer(raft.ServerID(s.ID), raft.ServerAddress(s.Address))))
		}
	}
	return fmt.Errorf("%w: %s is not a voter", ErrNoHandoff, to)
}

func (e *Raft) handOffErr(err error) error {
	if errors.Is(err, ErrNotLeader) {
		return fmt.Errorf("%w: %v", ErrNoHandoff, err)
	}
	return err
}

// Successors implements Elector: Raft moves its leader for no load.
func (e *Raft) Successors() <-chan string { return nil }

// Apply proposes cmd and waits until it is applied to the FSM, returning
// what the FSM's Apply returned. Errors are ErrNotLeader, ErrLeadershipLost,
// ErrRaftTimeout or ErrShutdown.
func (e *Raft) Apply(ctx context.Context, cmd []byte) (any, error) {
	f := e.raft.Apply(cmd, deadline(ctx))
	if err := e.wait(ctx, f); err != nil {
		return nil, err
	}
	return f.Response(), nil
}

// Barrier waits until every entry committed before it is applied to this
// leader's FSM.
func (e *Raft) Barrier(ctx context.Context) error {
	return e.wait(ctx, e.raft.Barrier(deadline(ctx)))
}

// Restore replaces the FSM's state, on the leader, with a snapshot of the
// registry, size bytes read from r, whose state includes the log up to
// index: hashicorp/raft's user restore, for a backup. Raft writes it as a
// snapshot at an index past both its log and index, leaving a hole in the
// log so that every follower is sent the snapshot, restores the FSM from
// it (a snapshot the FSM cannot restore panics the node: check it first),
// and returns once a quorum holds an entry after it. r is read until then,
// or until ctx ends (ErrRaftTimeout: the outcome is unknown).
func (e *Raft) Restore(ctx context.Context, index uint64, size int64, r io.Reader) error {
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Index: index, Size: size}
	done := make(chan error, 1)
	go func() { done <- e.raft.Restore(meta, r, deadline(ctx)) }()
	select {
	case err := <-done:
		return classify(err)
	case <-ctx.Done():
		return fmt.Errorf("%w (%v)", ErrRaftTimeout, context.Cause(ctx))
	}
}

// VerifyLeader checks with a quorum that this node still leads, so that a
// read of its FSM after it is linearizable.
func (e *Raft) VerifyLeader(ctx context.Context) error {
	return e.wait(ctx, e.raft.VerifyLeader())
}

// wait waits for f or ctx, whichever ends first, and classifies the error.
// A future abandoned on ctx still resolves inside Raft (on commit, on loss
// of leadership or on shutdown), so the goroutine below always ends.
func (e *Raft) wait(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return classify(err)
	case <-ctx.Done():
		return fmt.Errorf("%w (%v)", ErrRaftTimeout, context.Cause(ctx))
	}
}

func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrNotVoter),
		errors.Is(err, raft.ErrLeadershipTransferInProgress): // refused, not enqueued: the next leader takes it
		return fmt.Errorf("%w: %v", ErrNotLeader, err)
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrAbortedByRestore):
		return fmt.Errorf("%w: %v", ErrLeadershipLost, err)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %v", ErrRaftTimeout, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrShutdown
	}
	return err
}

// deadline turns ctx's deadline into the timeout Raft's calls take for
// enqueueing (0, no limit, when ctx has none: the wait still ends with ctx).
func deadline(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return 0
}

// RaftStatus is what this server says of its Raft state, in the manner of
// `consul operator raft list-peers`.
type RaftStatus = api.RaftStatus

// Status is this server's Raft state now.
func (e *Raft) Status() RaftStatus {
	s := RaftStatus{
		State:        e.raft.State().String(),
		Term:         e.raft.CurrentTerm(),
		CommitIndex:  e.raft.CommitIndex(),
		AppliedIndex: e.raft.AppliedIndex(),
		LastIndex:    e.raft.LastIndex(),
	}
	if e.raft.State() != raft.Leader {
		s.LastContact = e.raft.LastContact()
	}
	f := e.raft.GetConfiguration()
	if f.Error() == nil { // answered from memory, without waiting on a quorum
		for _, srv := range f.Configuration().Servers {
			if srv.ID == raft.ServerID(e.cfg.Name) {
				s.Voter = srv.Suffrage == raft.Voter
			}
		}
	}
	return s
}

// LogBounds returns the first and last index of this server's Raft log
// and the index of its latest snapshot.
func (e *Raft) LogBounds() (first, last, snapshot uint64) {
	first, _ = e.store.FirstIndex()
	last, _ = e.store.LastIndex()
	if metas, err := e.snaps.List(); err == nil && len(metas) > 0 {
		snapshot = metas[0].Index
	}
	return first, last, snapshot
}

// Leadership implements Elector.
func (e *Raft) Leadership() Leadership {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lead
}

// Changes implements Elector.
func (e *Raft) Changes() <-chan Leadership { return e.changes.ch }

// SetLoad implements Elector. Raft chooses its leader by log and term, not
// by load: the load still steers dispatch, not the election.
func (e *Raft) SetLoad(float64) {}

// Raise implements Elector. Raft keeps its own term across restarts.
func (e *Raft) Raise(Epoch) {}

// Suspend implements Elector: the node goes silent on the Raft port too.
func (e *Raft) Suspend() {
	e.suspended.Store(true)
	e.stream.dropAll()
	e.log.Info("raft silenced while the node is silent")
}

// Rejoin implements Elector: the Raft port opens again. Raft's pre-vote
// keeps a returning server from disrupting the leader with the terms it
// counted alone.
func (e *Raft) Rejoin() { e.suspended.Store(false) }

// Stats implements Elector. Messages are the Raft RPCs this server sent.
func (e *Raft) Stats() Stats {
	e.mu.Lock()
	s := e.stats
	e.mu.Unlock()
	s.MessagesSent = e.rpcs.snapshot()
	return s
}

// Run implements Elector: it follows Raft's observations until ctx ends,
// then shuts Raft down.
func (e *Raft) Run(ctx context.Context) error {
	defer e.changes.close()
	defer e.raft.DeregisterObserver(e.obs)
	defer e.Shutdown()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	e.refresh()
	for {
		select {
		case <-ctx.Done():
			return nil
		case o := <-e.obsCh:
			if st, ok := o.Data.(raft.RaftState); ok && st == raft.Candidate {
				e.mu.Lock()
				e.stats.Elections++
				e.mu.Unlock()
			}
		case <-tick.C:
			// Observations carry no term and may be dropped when the
			// channel is full: the ticker catches what they miss.
		}
		e.refresh()
	}
}

// refresh publishes the leader and term Raft holds now, if they changed.
func (e *Raft) refresh() {
	_, id := e.raft.LeaderWithID()
	state := e.raft.State()
	var l Leadership
	if id != "" {
		l = Leadership{Coordinator: string(id), Epoch: Epoch{Term: e.raft.CurrentTerm(), Node: string(id)}, Self: state == raft.Leader && string(id) == e.cfg.Name}
	}
	e.mu.Lock()
	same := l.Coordinator == e.lead.Coordinator && l.Epoch == e.lead.Epoch && l.Self == e.lead.Self
	if same {
		e.mu.Unlock()
		return
	}
	l.Since = time.Now()
	if l.Coordinator != "" && l.Coordinator != e.lead.Coordinator {
		e.stats.CoordinatorChanges++
	}
	e.lead = l
	e.mu.Unlock()
	if l.Known() {
		e.log.Info("coordinator", "coordinator", l.Coordinator, "epoch", l.Epoch.String(), "self", l.Self)
	} else {
		e.log.Info("no coordinator known", "raft_state", state.String())
	}
	e.changes.publish(l)
}

// Shutdown stops Raft and closes its stores; it is safe to call twice.
func (e *Raft) Shutdown() error {
	var err error
	e.closeOnce.Do(func() {
		err = e.raft.Shutdown().Error()
		err = errors.Join(err, e.trans.Close(), e.store.Close())
	})
	return err
}

// resolver adapts a name-to-address function to Raft's provider.
type resolver func(id string) string

func (f resolver) ServerAddr(id raft.ServerID) (raft.ServerAddress, error) {
	if f != nil {
		if a := f(string(id)); a != "" {
			return raft.ServerAddress(a), nil
		}
	}
	return "", fmt.Errorf("no gossip address for %s", id)
}

var _ raft.StreamLayer = (*gatedStream)(nil)
