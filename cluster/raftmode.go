package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"veil/cluster/registry"
	"veil/election"
)

// Raft mode: hashicorp/raft picks the coordinator (its leader, at its term)
// and orders the registry's writes (its log, with the registry as the FSM).
// Everything else, the API, dispatch, the failure simulation, is the same
// code as in Bully mode; only the registryLog behind the routes differs.
//
// Membership follows gossip, as Consul's autopilot does: a new cluster is
// bootstrapped once, by the first BootstrapExpect Raft-mode members gossip
// shows; after that the leader adds every member gossip holds alive as a
// voter, removes members that left, and removes members failed for longer
// than RaftDeadGrace only while the live voters stay a majority.

// fsm is the registry as Raft's state machine.
type fsm struct {
	mu    sync.RWMutex
	state *registry.State
}

// Apply implements raft.FSM. It returns the registry.Outcome; an entry
// that does not decode is refused with ErrMalformed, as in Bully mode.
func (f *fsm) Apply(l *raft.Log) any {
	cmd, err := registry.Decode(l.Data)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		out := f.state.Apply(l.Index, nil)
		out.Err = err
		return out
	}
	return f.state.Apply(l.Index, cmd)
}

// Snapshot implements raft.FSM. It freezes the state, in time independent
// of its size, and Persist encodes the frozen copy while Apply goes on:
// hashicorp/raft calls Snapshot on the FSM's goroutine and Persist on
// another.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock() // Freeze changes the state's generation
	defer f.mu.Unlock()
	return fsmSnapshot{f.state.Freeze()}, nil
}

// Restore implements raft.FSM.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	s := registry.NewState()
	if err := s.Restore(b); err != nil {
		return err
	}
	f.mu.Lock()
	f.state = s
	f.mu.Unlock()
	return nil
}

func (f *fsm) read(fn func(*registry.State)) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fn(f.state)
}

type fsmSnapshot struct{ state *registry.State }

func (s fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := s.state.WriteSnapshot(sink); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (fsmSnapshot) Release() {}

// raftLog is the registryLog of Raft mode.
type raftLog struct {
	n    *Node
	raft *election.Raft
	fsm  *fsm
	log  hclog.Logger

	mu    sync.Mutex
	term  uint64 // the term this node leads at; 0 when it does not
	ready bool   // the leader's barrier for term has passed
	stop  context.CancelFunc
	wg    sync.WaitGroup
}

func (n *Node) startRaft() error {
	host, port, err := net.SplitHostPort(n.cfg.RaftAddr)
	if err != nil {
		return fmt.Errorf("raft address %q: %w", n.cfg.RaftAddr, err)
	}
	advertise := ""
	if unspecified(host) {
		// Others dial the host gossip advertises, on the Raft port.
		h, _, _ := net.SplitHostPort(n.gossipAddr)
		advertise = net.JoinHostPort(h, port)
	}
	f := &fsm{state: registry.NewState()}
	rc := election.RaftConfig{
		Name: n.cfg.Name, Bind: n.cfg.RaftAddr, Advertise: advertise,
		Dir: filepath.Join(n.cfg.DataDir, "raft"), FSM: f, Timing: n.cfg.Profile.Raft,
		SnapshotThreshold: n.cfg.SnapshotThreshold, TrailingLogs: n.cfg.TrailingLogs,
		Resolve: n.raftAddrOf, Closed: n.raftCut,
		Logger: n.log.Named("election"),
	}
	if n.cfg.TLS != nil {
		// Raft's port takes nodes only: a node certificate of the
		// cluster's authority, both ways.
		rc.ServerTLS, rc.ClientTLS = n.cfg.TLS.PeerServerConfig(), n.cfg.TLS.PeerClientConfig()
	}
	r, err := election.NewRaft(rc)
	if err != nil {
		return err
	}
	n.raft = r
	n.elector = r
	n.repl = &raftLog{n: n, raft: r, fsm: f, log: n.log.Named("replication")}
	n.goRun(func() { _ = r.Run(n.ctx) })
	n.goRun(n.bootstrapLoop)
	n.kickMeta() // gossip where our Raft transport is
	return nil
}

// raftAddrOf is the Raft address gossip holds for the named member.
func (n *Node) raftAddrOf(name string) string {
	if name == n.cfg.Name && n.raft != nil {
		return n.raft.Addr()
	}
	if m, ok := n.mship.member(name); ok {
		return m.Meta.Raft
	}
	return ""
}

// raftCut reports whether Raft traffic to addr ("" for any) is cut: the
// node is silent, or the member at addr is blocked at the gossip gate.
func (n *Node) raftCut(addr string) bool {
	if n.gate.Silenced() {
		return true
	}
	if addr == "" || !n.gate.blocking() {
		return false // the common case, checked on every read and write
	}
	for _, m := range n.mship.members() {
		if m.Meta.Raft == addr {
			return n.gate.closedTo(m.Gossip)
		}
	}
	return false
}

// raftMembers are the members gossip holds alive that run Raft mode and
// have said where their Raft transport is, this node included, by name.
func (n *Node) raftMembers() []election.Server {
	var out []election.Server
	for _, m := range n.mship.members() {
		addr := m.Meta.Raft
		if m.Name == n.cfg.Name {
			addr = n.raft.Addr()
		}
		if m.Status == StatusAlive && m.Meta.Mode == ModeRaft && addr != "" && m.Meta.State != StateLeaving {
			out = append(out, election.Server{ID: m.Name, Address: addr, Voter: true})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// bootstrapLoop bootstraps a new cluster once BootstrapExpect Raft-mode
// members are in sight. A node with Raft state on disk never bootstraps
// again, and neither does one that an existing cluster added meanwhile.
func (n *Node) bootstrapLoop() {
	if n.cfg.BootstrapExpect == 0 {
		return
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		has, err := n.raft.HasState()
		if err != nil {
			n.log.Error("cannot read the Raft state; not bootstrapping", "error", err)
			return
		}
		if has {
			return
		}
		if servers := n.raftMembers(); len(servers) >= n.cfg.BootstrapExpect {
			ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
			err := n.raft.Bootstrap(ctx, servers)
			cancel()
			switch {
			case err == nil:
				n.log.Info("bootstrapped the Raft cluster", "servers", len(servers))
				return
			case errors.Is(err, raft.ErrCantBootstrap):
				return
			default:
				n.log.Warn("bootstrap failed; retrying", "error", err)
			}
		}
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *raftLog) onLeadership(l election.Leadership) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if l.Self && r.term == l.Epoch.Term {
		return
	}
	if r.stop != nil {
		r.stop()
		r.stop = nil
	}
	r.term, r.ready = 0, false
	if !l.Self {
		return
	}
	r.term = l.Epoch.Term
	ctx, cancel := context.WithCancel(r.n.ctx)
	r.stop = cancel
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.lead(ctx, l.Epoch.Term)
	}()
}

// lead is the leader's work for one term: a barrier so that the FSM holds
// everything committed before the term, then membership and key expiry.
func (r *raftLog) lead(ctx context.Context, term uint64) {
	for {
		bctx, cancel := context.WithTimeout(ctx, r.n.cfg.RequestTimeout)
		err := r.raft.Barrier(bctx)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil || errors.Is(err, election.ErrNotLeader) || errors.Is(err, election.ErrShutdown) {
			return
		}
		r.log.Warn("leader: barrier failed; retrying", "term", term, "error", err)
	}
	r.mu.Lock()
	if r.term == term {
		r.ready = true
	}
	r.mu.Unlock()
	r.log.Info("leader: registry applied up to the commit index; serving", "term", term, "applied", r.raft.Status().AppliedIndex)
	r.n.setState(StateActive)
	exp := keyExpiry{commitIndex: r.commitIndex}
	for {
		r.reconcile(ctx)
		exp.step(ctx, r.n, r.n.commit)
		select {
		case <-ctx.Done():
			return
		case <-r.n.mship.changed:
		case <-time.After(time.Second):
		}
	}
}

// reconcile makes one change, if one is due, to bring the Raft
// configuration in line with gossip (see planRaftChange).
func (r *raftLog) reconcile(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	servers, index, err := r.raft.Servers(ctx)
	if err != nil {
		return
	}
	ch := planRaftChange(r.n.cfg.Name, servers, r.n.raftMembers(), r.n.mship.members(), time.Now(), r.n.cfg.RaftDeadGrace)
	switch {
	case ch.add != nil:
		if err := r.raft.AddVoter(ctx, ch.add.ID, ch.add.Address, index); err != nil {
			r.log.Warn("cannot add a member to the Raft configuration", "member", ch.add.ID, "error", err)
			return
		}
		r.log.Info("added a member to the Raft configuration", "member", ch.add.ID, "raft", ch.add.Address)
	case ch.remove != "":
		if err := r.raft.RemoveServer(ctx, ch.remove, index); err != nil {
			r.log.Warn("cannot remove a member from the Raft configuration", "member", ch.remove, "error", err)
			return
		}
		r.log.Info("removed a member from the Raft configuration", "member", ch.remove, "why", ch.why)
	}
}

// raftChange is one change of the Raft configuration.
type raftChange struct {
	add    *election.Server
	remove string
	why    string
}

// planRaftChange decides the next change of the Raft configuration, one at
// a time, from gossip's view:
//   - a member alive in Raft mode that is not a voter is added (one listed
//     as a non-voter is made a voter at the address it is listed at);
//   - a voter back on another Raft address is left as it is: the transport
//     dials a server at the address gossip gives for its ID, and the one in
//     the configuration is only its fallback. (Rewriting it with AddVoter
//     would make the leader rewrite its record of the peer while the
//     peer's replication goroutine reads it unlocked, a data race in
//     hashicorp/raft v1.8.0, hashicorp/raft#681.)
//   - a member that left is removed;
//   - a member failed for longer than grace (and not failing on purpose)
//     is removed, but only while the voters gossip holds alive remain a
//     majority of the configuration without it;
//   - a server gossip has not heard of is left alone: after a restart the
//     leader may know the configuration before gossip knows the members.
//
// The leader (self) is never removed.
func planRaftChange(self string, servers, alive []election.Server, members []Member, now time.Time, grace time.Duration) raftChange {
	inConfig := map[string]election.Server{}
	for _, s := range servers {
		inConfig[s.ID] = s
	}
	for _, m := range alive {
		if s, ok := inConfig[m.ID]; !ok || !s.Voter {
			m := m
			if ok {
				m.Address = s.Address // made a voter where it is listed
			}
			return raftChange{add: &m, why: "alive in gossip"}
		}
	}
	byName := map[string]Member{}
	for _, m := range members {
		byName[m.Name] = m
	}
	live := 0
	for _, s := range servers {
		if m, ok := byName[s.ID]; s.ID == self || (ok && m.Status == StatusAlive) {
			live++
		}
	}
	for _, s := range servers {
		m, ok := byName[s.ID]
		if s.ID == self || !ok {
			continue
		}
		if m.Status == StatusLeft {
			return raftChange{remove: s.ID, why: "left"}
		}
		dead := m.Status == StatusFailed && !m.Failing && now.Sub(m.Since) > grace
		if dead && live >= (len(servers)-1)/2+1 {
			return raftChange{remove: s.ID, why: fmt.Sprintf("failed for over %s", grace)}
		}
	}
	return raftChange{}
}

func (r *raftLog) isReady() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ready
}

func (r *raftLog) leading() bool { return r.isReady() }

func (r *raftLog) answered(string) bool { return true }

func (r *raftLog) submit(ctx context.Context, cmd registry.Command) (registry.Outcome, error) {
	b, err := registry.Encode(cmd)
	if err != nil {
		return registry.Outcome{}, badRequest("%v", err)
	}
	r.mu.Lock()
	term, ready := r.term, r.ready
	r.mu.Unlock()
	if !ready {
		if term == 0 {
			return registry.Outcome{}, ErrNotCoordinator
		}
		return registry.Outcome{}, fmt.Errorf("%w: the leader is still applying the log", ErrUnavailable)
	}
	resp, err := r.raft.Apply(ctx, b)
	switch {
	case err == nil:
	case errors.Is(err, election.ErrNotLeader):
		return registry.Outcome{}, ErrNotCoordinator
	case errors.Is(err, election.ErrLeadershipLost), errors.Is(err, election.ErrRaftTimeout):
		return registry.Outcome{}, fmt.Errorf("%w (%v)", ErrUnknownOutcome, err)
	case errors.Is(err, election.ErrShutdown):
		return registry.Outcome{}, fmt.Errorf("%w: the node is stopping", ErrUnavailable)
	default:
		return registry.Outcome{}, fmt.Errorf("%w (%v)", ErrUnknownOutcome, err)
	}
	out, ok := resp.(registry.Outcome)
	if !ok {
		return registry.Outcome{}, fmt.Errorf("raft: the state machine answered %T", resp)
	}
	return out, nil
}

// read is linearizable: a quorum confirms that this node still leads
// before the FSM is read.
func (r *raftLog) read(ctx context.Context, f func(*registry.State)) error {
	if !r.isReady() {
		return ErrNotCoordinator
	}
	if err := r.raft.VerifyLeader(ctx); err != nil {
		if errors.Is(err, election.ErrRaftTimeout) {
			return fmt.Errorf("%w: no quorum confirmed the leader", ErrUnavailable)
		}
		return ErrNotCoordinator
	}
	r.fsm.read(f)
	return nil
}

func (r *raftLog) readLocal(f func(*registry.State)) { r.fsm.read(f) }

// drainFor does nothing: hashicorp/raft's leadership transfer stops new
// writes and catches the successor up itself.
func (r *raftLog) drainFor(context.Context, string, time.Duration) error { return nil }

func (r *raftLog) undrain() {}

func (r *raftLog) commitIndex() uint64 { return r.raft.Status().CommitIndex }

// caughtUp: heard from the leader since t, with everything it committed
// applied here.
func (r *raftLog) caughtUp(since time.Time) bool {
	s := r.raft.Status()
	return s.LastContact.After(since) && s.AppliedIndex >= s.CommitIndex
}

func (r *raftLog) close() {
	r.onLeadership(election.Leadership{}) // ends the term's work, if any
	r.wg.Wait()
}

// raftMeta is what a Raft-mode node gossips of its Raft state.
func (n *Node) raftMeta(m *Meta) {
	if n.raft == nil {
		return
	}
	s := n.raft.Status()
	m.Raft = n.raft.Addr()
	switch s.State {
	case "Leader":
		m.RaftState = RaftLeader
	case "Candidate":
		m.RaftState = RaftCandidate
	case "Follower":
		m.RaftState = RaftFollower
	}
	m.Voter, m.Commit = s.Voter, s.CommitIndex
	if !s.LastContact.IsZero() {
		m.ContactAge = uint32(min(time.Since(s.LastContact).Milliseconds(), 1<<32-1))
	}
}

// raftMetaMoved reports whether the Raft part of this node's metadata is
// worth gossiping again: its state or vote changed, or (when slow is set,
// about once a second) its commit index moved. last is what was gossiped.
func (n *Node) raftMetaMoved(last *Meta, slow bool) bool {
	if n.raft == nil {
		return false
	}
	var m Meta
	n.raftMeta(&m)
	moved := m.RaftState != last.RaftState || m.Voter != last.Voter || (slow && m.Commit != last.Commit)
	if moved {
		*last = m
	}
	return moved
}

// raftStatus is this node's Raft state, or nil in Bully mode.
func (n *Node) raftStatus() *election.RaftStatus {
	if n.raft == nil {
		return nil
	}
	s := n.raft.Status()
	return &s
}
