package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/hashicorp/go-hclog"

	"veil/cluster/api"
	"veil/cluster/registry"
	"veil/election"
)

// Replication of the registry in Bully mode.
//
// The Bully election picks a coordinator but gives no majority rule: on two
// sides of a partition two coordinators may each believe they lead. The
// replication layer is what makes that harmless. It follows Raft's log
// rules with Bully epochs for terms (the log itself is registry.Store):
//
//  1. A node that wins at epoch E first promises E to itself, then asks every
//     voter to promise E (prepare). Each voter refuses older epochs from then
//     on and answers with the end of its log. With answers from a majority,
//     the coordinator adopts the most up to date of their logs (highest
//     epoch of the last entry, then longest), since every committed entry is
//     on at least one of them.
//  2. It appends a barrier entry at E and sends its log to every voter
//     (append). Once a majority holds the barrier, everything before it is
//     committed, and the coordinator serves.
//  3. A write is an entry proposed at E, sent to every voter, and committed
//     (and only then acknowledged) once a majority holds it on disk.
//
// The voters are every member of the status table that has not left: alive,
// suspect and failed ones alike, so that a coordinator cut off with a
// minority cannot count itself a majority and acknowledges nothing.

// ErrUnknownOutcome: a write was proposed but this node cannot tell whether
// it was committed (leadership was lost, or the deadline passed). Retrying
// with the same idempotency key is safe: the registry applies it once.
var ErrUnknownOutcome = errors.New("the outcome is unknown; retry with the same Idempotency-Key")

// hdrPeer names the node that sends a replication request, so that a
// partition made by the gate can cut it.
const hdrPeer = "Veil-Peer"

// wireEntry is one log entry on the wire.
type wireEntry struct {
	Index   uint64         `json:"index"`
	Epoch   registry.Epoch `json:"epoch"`
	Command []byte         `json:"command"`
}

type prepareRequest struct {
	Epoch registry.Epoch `json:"epoch"`
}

type prepareReply struct {
	LastIndex uint64         `json:"last_index"`
	LastEpoch registry.Epoch `json:"last_epoch"`
	Commit    uint64         `json:"commit"`
}

type appendRequest struct {
	Epoch     registry.Epoch `json:"epoch"`
	PrevIndex uint64         `json:"prev_index"`
	PrevEpoch registry.Epoch `json:"prev_epoch"`
	Entries   []wireEntry    `json:"entries"`
	Commit    uint64         `json:"commit"`
}

type appendReply struct {
	Matched   uint64 `json:"matched"`
	LastIndex uint64 `json:"last_index"`
}

// replicator is the node's side of replication: coordinator when the
// election says so, follower otherwise.
type replicator struct {
	n     *Node
	store *registry.Store
	log   hclog.Logger

	mu        sync.Mutex
	epoch     registry.Epoch // the epoch this node coordinates at; zero when it does not
	ready     bool           // the coordinator has synced and may serve writes
	draining  string         // a hand-off to this node is being prepared: no new writes
	stop      context.CancelFunc
	match     map[string]uint64    // per peer: last index known to agree with ours
	acked     map[string]time.Time // per peer: when it last accepted an append this reign
	peers     map[string]bool      // peers with a running send loop this epoch
	waiters   map[uint64]chan registry.Applied
	queue     []proposal    // writes waiting for the proposer
	proposing bool          // a writer is appending the queue
	wake      chan struct{} // closed and replaced to wake every send loop
	wg        sync.WaitGroup

	// Follower side.
	leaderCommit uint64 // the coordinator's commit index in its last append
	lastAppend   time.Time

	compacting atomic.Bool // a compaction of the store is running
	incoming   *receiver   // a snapshot being received

	// refusing holds, on the coordinator, the followers that refuse its
	// appends for another reason than the protocol's own (a mismatch to
	// step back from, a newer epoch), and why; guarded by mu.
	refusing map[string]api.Refusal
	// refusedLog is what this follower last logged of an append it
	// refused, and when, so that one reason is logged once a minute.
	refusedLog   string
	refusedLogAt time.Time
}

func newReplicator(n *Node, store *registry.Store) *replicator {
	return &replicator{
		n: n, store: store, log: n.log.Named("replication"),
		match: map[string]uint64{}, peers: map[string]bool{}, acked: map[string]time.Time{},
		waiters: map[uint64]chan registry.Applied{}, wake: make(chan struct{}),
		incoming: newReceiver(n.cfg.DataDir),
		refusing: map[string]api.Refusal{},
	}
}

// onLeadership starts or stops the coordinator's work when the election's
// answer changes.
func (r *replicator) onLeadership(l election.Leadership) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := l.Epoch
	if l.Self && r.epoch == e {
		return // same reign
	}
	r.endReignLocked()
	if !l.Self {
		return
	}
	r.epoch = e
	ctx, cancel := context.WithCancel(r.n.ctx)
	r.stop = cancel
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.reign(ctx, e)
	}()
}

// endReignLocked stops the current reign, if any, and fails the writes
// waiting on it.
func (r *replicator) endReignLocked() {
	if r.stop != nil {
		r.stop()
		r.stop = nil
	}
	r.epoch, r.ready, r.draining = registry.Epoch{}, false, ""
	r.peers = map[string]bool{}
	r.match = map[string]uint64{}
	r.acked = map[string]time.Time{}
	for idx, ch := range r.waiters {
		close(ch)
		delete(r.waiters, idx)
	}
}

// close stops everything and waits for the goroutines.
func (r *replicator) close() {
	r.mu.Lock()
	r.endReignLocked()
	r.mu.Unlock()
	r.wg.Wait()
}

// isReady reports whether this node coordinates and has synced.
func (r *replicator) isReady() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ready
}

// reign is the coordinator's work for one epoch: sync, then keep every
// voter's log in step with ours until the reign ends.
func (r *replicator) reign(ctx context.Context, e registry.Epoch) {
	r.log.Info("coordinator: syncing the registry before serving", "epoch", e.String())
	if err := r.sync(ctx, e); err != nil {
		if ctx.Err() == nil {
			r.log.Warn("coordinator: sync failed", "epoch", e.String(), "error", err)
		}
		return
	}
	barrier, err := registry.Encode(registry.Barrier{})
	if err != nil {
		r.log.Error("cannot encode the barrier", "error", err)
		return
	}
	entries, err := r.store.Propose(e, barrier)
	if err != nil {
		r.log.Warn("coordinator: cannot append the barrier", "error", err)
		return
	}
	r.reconcilePeers(ctx, e)
	r.advanceCommit(e)
	// Serve once the barrier, and so everything before it, is committed.
	for r.store.CommitIndex() < entries[0].Index {
		if !r.waitWake(ctx, r.n.cfg.Profile.Heartbeat) {
			return
		}
		r.reconcilePeers(ctx, e)
		r.advanceCommit(e)
	}
	r.mu.Lock()
	if r.epoch == e {
		r.ready = true
	}
	r.mu.Unlock()
	r.log.Info("coordinator: registry in sync; serving", "epoch", e.String(), "commit", r.store.CommitIndex())
	r.n.setState(StateActive)
	// Keep the set of send loops in step with the membership, and expire
	// old idempotency keys now and then.
	exp := keyExpiry{commitIndex: r.store.CommitIndex}
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		r.reconcilePeers(ctx, e)
		exp.step(ctx, r.n, r.n.commit)
	}
}

// IdempotencyWindow is how long an idempotency key is remembered, at the
// least: a retry within it returns the first outcome. The coordinator
// expires older keys through the log (ExpireKeys), so that every node
// forgets the same keys at the same point.
const IdempotencyWindow = 10 * time.Minute

// commitMark is the commit index at a moment.
type commitMark struct {
	at    time.Time
	index uint64
}

// keyExpiry is the coordinator's expiry of old idempotency keys: it marks
// the commit index once a minute and, once a mark is IdempotencyWindow old,
// commits ExpireKeys up to it.
type keyExpiry struct {
	commitIndex func() uint64
	marks       []commitMark
	expired     uint64
}

// step does what is due now; a failed expiry is tried again next time.
func (k *keyExpiry) step(ctx context.Context, n *Node, commit func(context.Context, registry.Command) (registry.Outcome, error)) {
	now := time.Now()
	if len(k.marks) == 0 || now.Sub(k.marks[len(k.marks)-1].at) >= time.Minute {
		k.marks = append(k.marks, commitMark{now, k.commitIndex()})
	}
	var before uint64
	if before, k.marks = expiryPoint(k.marks, now, IdempotencyWindow); before > k.expired {
		cctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
		defer cancel()
		if _, err := commit(cctx, registry.ExpireKeys{Before: before}); err == nil {
			k.expired = before
		} else {
			n.log.Debug("expiring idempotency keys failed; will retry", "before", before, "error", err)
		}
	}
}

// expiryPoint returns the log index below which keys are older than window
// (0 when none is), from marks taken oldest first, and the marks still
// needed later.
func expiryPoint(marks []commitMark, now time.Time, window time.Duration) (uint64, []commitMark) {
	var before uint64
	i := 0
	for i < len(marks) && now.Sub(marks[i].at) >= window {
		before = marks[i].index
		i++
	}
	return before, marks[i:]
}

// waitWake waits for a wake-up or d; it returns false if ctx ended.
func (r *replicator) waitWake(ctx context.Context, d time.Duration) bool {
	r.mu.Lock()
	wake := r.wake
	r.mu.Unlock()
	select {
	case <-ctx.Done():
		return false
	case <-wake:
	case <-time.After(d):
	}
	return true
}

// poke wakes every send loop and waiter of the current reign.
func (r *replicator) poke() {
	r.mu.Lock()
	close(r.wake)
	r.wake = make(chan struct{})
	r.mu.Unlock()
}

// voters returns the names of the members that count towards a majority,
// this node included, and the majority's size.
func (r *replicator) voters() ([]string, int) {
	var names []string
	for _, m := range r.n.mship.members() {
		if m.Status != StatusLeft {
			names = append(names, m.Name)
		}
	}
	return names, len(names)/2 + 1
}

// sync collects promises from a majority and adopts the most up-to-date log
// among them.
func (r *replicator) sync(ctx context.Context, e registry.Epoch) error {
	if err := r.store.SetPromised(e); err != nil {
		// We promised a newer epoch than the one we won at: the election
		// must rise above it and run again.
		r.raiseElection(r.store.Promised())
		return err
	}
	backoff := r.n.cfg.Profile.Heartbeat
	for {
		voters, majority := r.voters()
		type answer struct {
			name  string
			reply prepareReply
		}
		answers := []answer{{r.n.cfg.Name, prepareReply{r.store.LastIndex(), r.store.LastEpoch(), r.store.CommitIndex()}}}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, v := range voters {
			if v == r.n.cfg.Name {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				var rep prepareReply
				if err := r.call(ctx, v, "/v1/internal/prepare", prepareRequest{Epoch: e}, &rep); err != nil {
					r.log.Debug("prepare refused or unanswered", "peer", v, "error", err)
					var pe *peerError
					if errors.As(err, &pe) && pe.code == "stale_epoch" {
						r.raiseElection(pe.promised)
					}
					return
				}
				mu.Lock()
				answers = append(answers, answer{v, rep})
				mu.Unlock()
			}()
		}
		wg.Wait()
		if len(answers) >= majority {
			best := answers[0]
			for _, a := range answers[1:] {
				if c := a.reply.LastEpoch.Compare(best.reply.LastEpoch); c > 0 || (c == 0 && a.reply.LastIndex > best.reply.LastIndex) {
					best = a
				}
			}
			if best.name == r.n.cfg.Name {
				return nil
			}
			return r.adopt(ctx, e, best.name, best.reply)
		}
		r.log.Debug("prepare: no majority yet", "answers", len(answers), "majority", majority)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// adopt copies into our log the entries of a more up-to-date peer, from our
// commit index on (committed entries are the same everywhere).
func (r *replicator) adopt(ctx context.Context, e registry.Epoch, peer string, their prepareReply) error {
	from := r.store.CommitIndex() + 1
	var got []wireEntry
	q := url.Values{"from": {strconv.FormatUint(from, 10)}, "to": {strconv.FormatUint(their.LastIndex, 10)}}
	err := r.get(ctx, peer, "/v1/internal/entries?"+q.Encode(), &got)
	var pe *peerError
	if errors.As(err, &pe) && pe.code == "compacted" {
		// Our log ends before the peer's starts: take its snapshot, then
		// the entries after it.
		if err := r.pullSnapshot(ctx, e, peer); err != nil {
			return err
		}
		from = r.store.CommitIndex() + 1
		q.Set("from", strconv.FormatUint(from, 10))
		err = r.get(ctx, peer, "/v1/internal/entries?"+q.Encode(), &got)
	}
	if err != nil {
		return fmt.Errorf("fetching entries %d-%d from %s: %w", from, their.LastIndex, peer, err)
	}
	prevEpoch, err := r.store.EpochAt(from - 1)
	if err != nil {
		return err
	}
	if _, err := r.store.AppendEntries(e, from-1, prevEpoch, fromWire(got)); err != nil {
		return fmt.Errorf("adopting %s's log: %w", peer, err)
	}
	r.log.Info("coordinator: adopted a more up-to-date log", "from", peer, "entries", len(got))
	return nil
}

func fromWire(w []wireEntry) []registry.Entry {
	out := make([]registry.Entry, len(w))
	for i, e := range w {
		out[i] = registry.Entry{Index: e.Index, Epoch: e.Epoch, Command: e.Command}
	}
	return out
}

func toWire(es []registry.Entry) []wireEntry {
	out := make([]wireEntry, len(es))
	for i, e := range es {
		out[i] = wireEntry{Index: e.Index, Epoch: e.Epoch, Command: e.Command}
	}
	return out
}

// reconcilePeers starts a send loop for every voter that has none.
func (r *replicator) reconcilePeers(ctx context.Context, e registry.Epoch) {
	voters, _ := r.voters()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.epoch != e {
		return
	}
	for _, v := range voters {
		if v == r.n.cfg.Name || r.peers[v] {
			continue
		}
		r.peers[v] = true
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.sendLoop(ctx, e, v)
		}()
	}
}

// maxBatch bounds the entries in one append.
const maxBatch = 256

// sendLoop keeps one peer's log in step with ours for the reign of e, and
// doubles as the coordinator's heartbeat for the registry.
func (r *replicator) sendLoop(ctx context.Context, e registry.Epoch, peer string) {
	next := r.store.LastIndex() + 1
	snapFailing := false // the last snapshot sent to peer failed: said once
	for ctx.Err() == nil {
		last := r.store.LastIndex()
		if next > last+1 {
			next = last + 1
		}
		prevEpoch, err := r.store.EpochAt(next - 1)
		var entries []registry.Entry
		if err == nil && next <= last {
			entries, err = r.store.Entries(next, min(last, next+maxBatch-1))
		}
		if errors.Is(err, registry.ErrCompacted) {
			// The peer needs entries this log no longer keeps.
			idx, err := r.sendSnapshot(ctx, e, peer)
			if err != nil {
				if !snapFailing {
					r.log.Warn("the snapshot did not reach a follower; retrying every heartbeat", "peer", peer, "error", err)
				}
				snapFailing = true
				select {
				case <-ctx.Done():
					return
				case <-time.After(r.n.cfg.Profile.Heartbeat):
				}
				continue
			}
			snapFailing = false
			r.mu.Lock()
			if r.epoch == e && idx > r.match[peer] {
				r.match[peer] = idx
			}
			r.mu.Unlock()
			next = idx + 1
			continue
		}
		if err != nil {
			r.log.Error("cannot read the log", "from", next-1, "error", err)
			return
		}
		req := appendRequest{Epoch: e, PrevIndex: next - 1, PrevEpoch: prevEpoch, Entries: toWire(entries), Commit: r.store.CommitIndex()}
		var rep appendReply
		err = r.call(ctx, peer, "/v1/internal/append", req, &rep)
		var code string
		var ae *peerError
		if errors.As(err, &ae) {
			code = ae.code
		}
		r.noteRefusal(peer, err, code)
		switch {
		case err == nil:
			r.mu.Lock()
			if r.epoch == e {
				r.acked[peer] = time.Now()
				if rep.Matched > r.match[peer] {
					r.match[peer] = rep.Matched
				}
			}
			r.mu.Unlock()
			next = rep.Matched + 1
			r.advanceCommit(e)
			if next <= r.store.LastIndex() {
				continue // more to send
			}
		case code == "log_mismatch":
			r.mu.Lock()
			if r.epoch == e {
				r.acked[peer] = time.Now() // it answered at our epoch
			}
			r.mu.Unlock()
			// Step back, at least to just past the end of the peer's log.
			next = max(1, min(next-1, rep.LastIndex+1))
			continue
		case code == "stale_epoch":
			r.log.Info("a peer has promised a newer epoch; this reign is over", "peer", peer, "epoch", e.String(), "promised", ae.promised.String())
			r.raiseElection(ae.promised)
			return
		}
		if !r.waitWake(ctx, r.n.cfg.Profile.Heartbeat) {
			return
		}
	}
}

// noteRefusal records whether peer refused an append for a reason of its
// own (not a mismatch or a newer epoch, which the protocol handles, nor a
// peer out of reach), logging when that starts, changes or ends.
func (r *replicator) noteRefusal(peer string, err error, code string) {
	var pe *peerError
	refused := errors.As(err, &pe) && code != "log_mismatch" && code != "stale_epoch"
	r.mu.Lock()
	defer r.mu.Unlock()
	was, had := r.refusing[peer]
	switch {
	case refused && (!had || was.Code != pe.code):
		r.refusing[peer] = api.Refusal{Peer: peer, Code: pe.code, Message: pe.msg, Since: time.Now().UTC()}
		r.log.Warn("a follower refuses the coordinator's appends", "peer", peer, "status", pe.status, "code", pe.code, "reason", pe.msg)
	case !refused && had && err == nil:
		delete(r.refusing, peer)
		r.log.Info("a follower takes the coordinator's appends again", "peer", peer, "refused_since", was.Since)
	}
}

// refusals returns the followers that refuse this coordinator's appends,
// by name.
func (r *replicator) refusals() []api.Refusal {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]api.Refusal, 0, len(r.refusing))
	for _, f := range r.refusing {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Peer < out[j].Peer })
	return out
}

// advanceCommit commits the highest index a majority holds, if it is of our
// epoch (Raft's rule: older entries commit only under a newer one), and
// hands the outcomes to the writes waiting for them.
func (r *replicator) advanceCommit(e registry.Epoch) {
	voters, majority := r.voters()
	r.mu.Lock()
	if r.epoch != e {
		r.mu.Unlock()
		return
	}
	held := make([]uint64, 0, len(voters))
	for _, v := range voters {
		if v == r.n.cfg.Name {
			held = append(held, r.store.LastIndex())
		} else {
			held = append(held, r.match[v])
		}
	}
	r.mu.Unlock()
	if len(held) < majority {
		return
	}
	sort.Slice(held, func(i, j int) bool { return held[i] > held[j] })
	n := held[majority-1]
	if n <= r.store.CommitIndex() {
		return
	}
	if at, err := r.store.EpochAt(n); err != nil || at != e {
		return
	}
	applied, err := r.store.Commit(n)
	if err != nil {
		r.log.Error("commit failed", "index", n, "error", err)
		return
	}
	r.mu.Lock()
	for _, a := range applied {
		if ch, ok := r.waiters[a.Index]; ok {
			ch <- a
			close(ch)
			delete(r.waiters, a.Index)
		}
	}
	r.mu.Unlock()
	r.poke() // followers learn the new commit index at once
	r.maybeCompact()
}

// submit proposes cmd and waits until it is committed, returning what it
// did. Only a synced coordinator takes writes.
func (r *replicator) submit(ctx context.Context, cmd registry.Command) (registry.Outcome, error) {
	b, err := registry.Encode(cmd)
	if err != nil {
		return registry.Outcome{}, badRequest("%v", err)
	}
	r.mu.Lock()
	e, ready, draining := r.epoch, r.ready, r.draining
	r.mu.Unlock()
	if !ready {
		if e.IsZero() {
			return registry.Outcome{}, ErrNotCoordinator
		}
		return registry.Outcome{}, fmt.Errorf("%w: the coordinator is still syncing the registry", ErrUnavailable)
	}
	if draining != "" {
		// Not taken: the holds of every node send it on to the successor.
		return registry.Outcome{}, fmt.Errorf("%w: the coordinator is handing its role to %s", ErrUnavailable, draining)
	}
	if !r.heardFromMajority() {
		return registry.Outcome{}, errNoQuorum(r.lease())
	}
	// Group commit: the first writer to find no proposal under way
	// proposes every command queued meanwhile, in one fsync'd append; the
	// others wait for their entry to commit.
	ch := make(chan registry.Applied, 1)
	r.mu.Lock()
	r.queue = append(r.queue, proposal{cmd: b, ch: ch})
	if !r.proposing {
		r.proposing = true
		r.proposeQueued(e)
		r.proposing = false
	}
	r.mu.Unlock()
	r.poke()
	r.advanceCommit(e) // a cluster of one commits at once
	check := time.NewTicker(r.lease() / 2)
	defer check.Stop()
	for {
		select {
		case a, ok := <-ch:
			if !ok {
				return registry.Outcome{}, fmt.Errorf("%w (leadership changed)", ErrUnknownOutcome)
			}
			return a.Outcome, nil
		case <-ctx.Done():
			return registry.Outcome{}, fmt.Errorf("%w (no majority within the deadline)", ErrUnknownOutcome)
		case <-check.C:
			if !r.heardFromMajority() {
				// Cut off from the majority: waiting longer only holds the
				// client; the entry may still commit if the cut heals.
				return registry.Outcome{}, fmt.Errorf("%w (%v)", ErrUnknownOutcome, errNoQuorum(r.lease()))
			}
		}
	}
}

// drainFor prepares a hand-off to the voter `to`: from now on submit takes
// no new write, and it returns once every write taken is committed and
// `to` holds the whole log, so that the successor's sync finds nothing to
// fetch and nothing is left in flight. Past within, or when the reign ends,
// it gives up, takes writes again, and returns an error wrapping
// ErrNoHandoff.
func (r *replicator) drainFor(ctx context.Context, to string, within time.Duration) error {
	r.mu.Lock()
	e, ready := r.epoch, r.ready
	if !ready || r.draining != "" {
		r.mu.Unlock()
		if r.draining != "" {
			return fmt.Errorf("%w: a hand-off to %s is already under way", ErrNoHandoff, r.draining)
		}
		return fmt.Errorf("%w: this node does not coordinate, or has not synced yet", ErrNoHandoff)
	}
	r.draining = to
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		r.poke()
		r.advanceCommit(e)
		r.mu.Lock()
		same := r.epoch == e
		last := r.store.LastIndex()
		done := same && len(r.queue) == 0 && !r.proposing && len(r.waiters) == 0 &&
			r.store.CommitIndex() == last && r.match[to] >= last
		r.mu.Unlock()
		switch {
		case !same:
			return fmt.Errorf("%w: the reign at %v ended while the hand-off was prepared", ErrNoHandoff, e)
		case done:
			return nil
		}
		select {
		case <-ctx.Done():
			r.undrain()
			return fmt.Errorf("%w: %s did not catch up, or writes in flight did not commit, within %s", ErrNoHandoff, to, within)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// undrain takes writes again after a hand-off that was not made.
func (r *replicator) undrain() {
	r.mu.Lock()
	r.draining = ""
	r.mu.Unlock()
}

func (r *replicator) leading() bool { return r.isReady() && r.heardFromMajority() }

func (r *replicator) answered(peer string) bool {
	cutoff := time.Now().Add(-r.lease())
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.acked[peer].After(cutoff)
}

// lease is how long a coordinator goes on taking writes without hearing
// from a majority: the time after which the followers give it up and may
// elect another (Raft's leader lease, CheckQuorum in etcd's raft).
func (r *replicator) lease() time.Duration { return r.n.cfg.Profile.CoordinatorTimeout }

// heardFromMajority reports whether a majority of the voters, this node
// included, accepted an append within the lease.
func (r *replicator) heardFromMajority() bool {
	voters, majority := r.voters()
	cutoff := time.Now().Add(-r.lease())
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, v := range voters {
		if v == r.n.cfg.Name || r.acked[v].After(cutoff) {
			n++
		}
	}
	return n >= majority
}

func errNoQuorum(lease time.Duration) error {
	return fmt.Errorf("%w: no majority has answered the coordinator for %s; the others may have elected another", ErrUnavailable, lease)
}

// proposal is a write waiting to be appended to the log.
type proposal struct {
	cmd []byte
	ch  chan registry.Applied
}

// proposeQueued appends the queued writes at epoch e, batch after batch,
// until the queue is empty. It is called with r.mu held and releases it
// around each append. Only one proposer runs at a time, and while this
// node coordinates nothing else appends to its log, so the batch's indexes
// are known before the append and the waiters are registered first: a
// commit cannot slip in between.
func (r *replicator) proposeQueued(e registry.Epoch) {
	for len(r.queue) > 0 {
		batch := r.queue
		r.queue = nil
		base := r.store.LastIndex()
		cmds := make([][]byte, len(batch))
		for i, p := range batch {
			r.waiters[base+1+uint64(i)] = p.ch
			cmds[i] = p.cmd
		}
		r.mu.Unlock()
		entries, err := r.store.Propose(e, cmds...)
		r.mu.Lock()
		if err == nil && entries[0].Index == base+1 {
			continue
		}
		// Not appended (the reign ended, or the log moved under us): the
		// writers learn that the outcome is unknown, and retry.
		r.log.Debug("proposal failed", "epoch", e.String(), "entries", len(batch), "error", err)
		for i, p := range batch {
			idx := base + 1 + uint64(i)
			if r.waiters[idx] == p.ch {
				close(p.ch)
				delete(r.waiters, idx)
			}
		}
	}
}

// read runs f against the committed state on a synced coordinator. A
// coordinator of an older epoch cannot commit anything, but it could read
// a stale state until it learns of the newer epoch; writes go through the
// log, and reads here serve only listings and logins.
func (r *replicator) read(_ context.Context, f func(*registry.State)) error {
	if !r.isReady() {
		return ErrNotCoordinator
	}
	r.store.Read(f)
	return nil
}

func (r *replicator) readLocal(f func(*registry.State)) { r.store.Read(f) }

func (r *replicator) commitIndex() uint64 { return r.store.CommitIndex() }

// --- follower side ---

func (r *replicator) handlePrepare(w http.ResponseWriter, req *http.Request) error {
	var p prepareRequest
	if err := r.decodePeer(w, req, &p); err != nil {
		return err
	}
	if err := r.store.SetPromised(p.Epoch); err != nil {
		return r.refuse(w, err)
	}
	r.stepAside(p.Epoch)
	writeJSON(w, http.StatusOK, prepareReply{r.store.LastIndex(), r.store.LastEpoch(), r.store.CommitIndex()})
	return nil
}

func (r *replicator) handleAppend(w http.ResponseWriter, req *http.Request) error {
	var a appendRequest
	if err := r.decodePeer(w, req, &a); err != nil {
		return err
	}
	matched, err := r.store.AppendEntries(a.Epoch, a.PrevIndex, a.PrevEpoch, fromWire(a.Entries))
	if err == nil || errors.Is(err, registry.ErrLogMismatch) {
		// An append at an epoch we accept is the coordinator at work: as
		// good a sign of life as its heartbeat, and it comes over TCP
		// every heartbeat interval even when gossip's datagrams are late.
		r.n.heardFrom(a.Epoch.Node, a.Epoch)
	}
	if errors.Is(err, registry.ErrLogMismatch) {
		// Tell the coordinator where our log ends, so it steps back at once.
		writeJSON(w, http.StatusConflict, map[string]any{
			"error":      apiError{Code: "log_mismatch", Message: err.Error()},
			"last_index": r.store.LastIndex(),
		})
		return nil
	}
	if err != nil {
		if !errors.Is(err, registry.ErrStaleEpoch) {
			r.logRefused(a.Epoch, err)
		}
		return r.refuse(w, err)
	}
	r.stepAside(a.Epoch)
	if c := min(a.Commit, matched); c > r.store.CommitIndex() {
		if _, err := r.store.Commit(c); err != nil {
			return err
		}
		r.maybeCompact()
	}
	r.mu.Lock()
	r.leaderCommit, r.lastAppend = a.Commit, time.Now()
	r.mu.Unlock()
	writeJSON(w, http.StatusOK, appendReply{Matched: matched, LastIndex: r.store.LastIndex()})
	return nil
}

// logRefused logs why this follower refused an append from the
// coordinator of e, once a minute for one reason.
func (r *replicator) logRefused(e registry.Epoch, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	msg := err.Error()
	if msg == r.refusedLog && time.Since(r.refusedLogAt) < time.Minute {
		return
	}
	r.refusedLog, r.refusedLogAt = msg, time.Now()
	r.log.Warn("refusing an append from the coordinator", "coordinator", e.Node, "epoch", e.String(), "reason", msg)
}

// refuse answers a replication request the store refused. A stale epoch
// is answered with the epoch this node has promised, so that the sender's
// election can rise above it.
func (r *replicator) refuse(w http.ResponseWriter, err error) error {
	if errors.Is(err, registry.ErrStaleEpoch) {
		writeJSON(w, http.StatusConflict, map[string]any{
			"error":    apiError{Code: "stale_epoch", Message: err.Error()},
			"promised": r.store.Promised(),
		})
		return nil
	}
	return peerRefusal(err)
}

// raiseElection tells the election of an epoch a peer has promised.
func (r *replicator) raiseElection(e registry.Epoch) {
	if !e.IsZero() {
		r.n.elector.Raise(e)
	}
}

// stepAside ends our own reign when another coordinator's newer epoch
// reaches us through replication before the election tells us.
func (r *replicator) stepAside(e registry.Epoch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.epoch.IsZero() && r.epoch.Less(e) {
		r.log.Info("a newer coordinator replicates to us; stepping aside", "ours", r.epoch.String(), "theirs", e.String())
		r.endReignLocked()
	}
}

// caughtUp reports whether a follower holds everything the coordinator had
// committed when it last heard from it, and heard from it since t.
func (r *replicator) caughtUp(since time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastAppend.After(since) && r.store.CommitIndex() >= r.leaderCommit
}

func (r *replicator) handleEntries(w http.ResponseWriter, req *http.Request) error {
	if err := r.n.fromPeer(req); err != nil {
		return err
	}
	from, err1 := strconv.ParseUint(req.URL.Query().Get("from"), 10, 64)
	to, err2 := strconv.ParseUint(req.URL.Query().Get("to"), 10, 64)
	if err1 != nil || err2 != nil || from == 0 || to < from-1 {
		return badRequest("entries: want from >= 1 and to >= from-1")
	}
	var es []registry.Entry
	if to >= from {
		es, err1 = r.store.Entries(from, to)
		if errors.Is(err1, registry.ErrCompacted) {
			writeJSON(w, http.StatusGone, map[string]apiError{"error": {Code: "compacted", Message: err1.Error()}})
			return nil
		}
		if err1 != nil {
			return peerRefusal(err1)
		}
	}
	writeJSON(w, http.StatusOK, toWire(es))
	return nil
}

func (r *replicator) decodePeer(w http.ResponseWriter, req *http.Request, v any) error {
	if err := r.n.fromPeer(req); err != nil {
		return err
	}
	if m, ok := r.n.mship.member(req.Header.Get(hdrPeer)); r.n.gate.Silenced() || (ok && r.n.gate.closedTo(m.Gossip)) {
		return fmt.Errorf("%w: cut off from %s", ErrUnavailable, req.Header.Get(hdrPeer))
	}
	body, err := r.n.readBody(w, req)
	if err != nil {
		return err
	}
	return decodeKnown(body, v)
}

// decodeKnown decodes one JSON value and refuses unknown fields and
// trailing data: what one node sends another, written by this package's
// own encoder.
func decodeKnown(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("body: %v", err)
	}
	if dec.More() {
		return badRequest("body: data after the JSON value")
	}
	return nil
}

// decodeStrict decodes a client's JSON body as it is written and nothing
// else: one value; no member the type does not have, none twice, none in
// another case than its name (encoding/json would take "Name" for "name",
// and the last of two "name"s, so that what a proxy or a log reads could
// differ from what the node acts on).
func decodeStrict(body []byte, v any) error {
	if err := jsonv2.Unmarshal(body, v, jsonv2.RejectUnknownMembers(true)); err != nil {
		return badRequest("body: %v", err)
	}
	return nil
}

// peerError is a refusal from a peer's replication route.
type peerError struct {
	status    int
	code      string
	msg       string
	promised  registry.Epoch // with stale_epoch: the epoch the peer has promised
	lastIndex uint64         // with log_mismatch: where the peer's log ends
	have      int64          // with snapshot_offset: the bytes of the snapshot the peer holds
}

func (e *peerError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.msg) }

// errStaleEpoch marks a replication request from an epoch older than the
// one this node has promised.
var errStaleEpoch = errors.New("stale epoch")

// peerRefusal maps a store error to the reply a coordinator acts on.
func peerRefusal(err error) error {
	switch {
	case errors.Is(err, registry.ErrStaleEpoch):
		return fmt.Errorf("%w: %v", errStaleEpoch, err)
	case errors.Is(err, registry.ErrMalformed), errors.Is(err, registry.ErrOutOfRange),
		errors.Is(err, registry.ErrCompacted), errors.Is(err, registry.ErrCommittedConflict):
		return badRequest("%v", err)
	}
	return err
}

// call posts a JSON request to a peer's internal route and decodes the
// reply; refusals come back as *peerError (with the reply decoded into out
// when it carries one, as a mismatch does).
func (r *replicator) call(ctx context.Context, peer, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return r.roundTripPeer(ctx, peer, http.MethodPost, path, body, out)
}

func (r *replicator) get(ctx context.Context, peer, path string, out any) error {
	return r.roundTripPeer(ctx, peer, http.MethodGet, path, nil, out)
}

func (r *replicator) roundTripPeer(ctx context.Context, peer, method, path string, body []byte, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	b, _, err := r.peerRequest(ctx, peer, method, path, "application/json", body)
	var pe *peerError
	if errors.As(err, &pe) {
		if rep, ok := out.(*appendReply); ok {
			rep.LastIndex = pe.lastIndex
		}
		return err
	}
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// peerRequest sends one request to a peer's internal route and returns the
// reply's body and header; a refusal comes back as *peerError.
func (r *replicator) peerRequest(ctx context.Context, peer, method, path, contentType string, body []byte) ([]byte, http.Header, error) {
	m, ok := r.n.mship.member(peer)
	if !ok || m.Meta.API == "" {
		return nil, nil, fmt.Errorf("no API address for %s", peer)
	}
	if r.n.gate.closedTo(m.Gossip) {
		// A partition made by the gate cuts replication too.
		return nil, nil, fmt.Errorf("%s: %w", peer, ErrSilenced)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.n.apiURL(m.Meta.API)+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+r.n.peerTok)
	req.Header.Set(hdrPeer, r.n.cfg.Name)
	resp, err := r.n.peerClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error     apiError       `json:"error"`
			LastIndex uint64         `json:"last_index"`
			Promised  registry.Epoch `json:"promised"`
			Have      int64          `json:"have"`
		}
		_ = json.Unmarshal(b, &e)
		return nil, nil, &peerError{status: resp.StatusCode, code: e.Error.Code, msg: e.Error.Message, promised: e.Promised, lastIndex: e.LastIndex, have: e.Have}
	}
	return b, resp.Header, nil
}
