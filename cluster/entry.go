package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"veil/cluster/registry"
	"veil/election"
)

// Work where the bytes arrive, decide at the coordinator.
//
// A put or a view that reaches a node other than the coordinator is worked
// there: the node hides or opens the image itself (or, when its own slots
// are busy, on the least-loaded node), and sends the coordinator only the
// registry command, a few hundred bytes, to commit. The coordinator's
// share of an operation is then the same whatever the image's size, and
// clients that spread their requests over the nodes spread the image work
// with them. The rules do not change: a put's veiled PNG is returned only
// once its record is committed, and a view's original only once its view
// is counted, at the coordinator, in one replicated step.

// commitReply is the body of a POST /v1/internal/commit that took effect.
type commitReply struct {
	Index     uint64    `json:"index"`
	ID        string    `json:"id"`
	Version   uint64    `json:"version"`
	ViewsLeft int       `json:"views_left"`
	ByOwner   bool      `json:"by_owner"`
	Replayed  bool      `json:"replayed"`
	Created   time.Time `json:"created"`  // a put: the creation time of the image as registered
	Leased    int       `json:"leased"`   // a lease taken: the views it holds
	Returned  int       `json:"returned"` // a lease returned: the views back online
	// Coordinator and Epoch name the reign that committed the command
	// (absent from older nodes): what the client is told, rather than
	// the entry node's view, which may lag behind a failover.
	Coordinator string `json:"coordinator,omitempty"`
	Epoch       uint64 `json:"epoch,omitempty"`
}

// stamp tells the client which coordinator, at which epoch, committed its
// command. The entry node's own view, which every reply carries, may be
// older: a node cut off with a deposed coordinator still names it while
// the command it sent on was committed by the next one.
func (c commitReply) stamp(h http.Header) {
	if c.Coordinator == "" {
		return
	}
	if h.Get(hdrCoordinator) != c.Coordinator {
		h.Del(hdrCoordinatorAPI)
	}
	h.Set(hdrCoordinator, c.Coordinator)
	h.Set(hdrEpoch, strconv.FormatUint(c.Epoch, 10))
}

// handleInternalCommit is POST /v1/internal/commit: a node that worked a
// put, a view or a lease asks the coordinator to commit its registry command, sent
// in the registry's binary form.
func (n *Node) handleInternalCommit(w http.ResponseWriter, r *http.Request) error {
	body, err := n.admitPeer(w, r)
	if err != nil {
		return err
	}
	cmd, err := registry.Decode(body)
	if err != nil {
		return badRequest("%v", err)
	}
	switch cmd.(type) {
	case registry.PutImage, registry.View, registry.TakeLease, registry.ReturnLease:
	default:
		return badRequest("a node commits only puts, views and leases through this route, not %s", cmd.Kind())
	}
	if l := n.elector.Leadership(); !l.Self {
		return fmt.Errorf("%w; the coordinator is %s", ErrNotCoordinator, l.Coordinator)
	}
	reply, err := n.commitHere(r.Context(), cmd)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, reply)
	return nil
}

// commitHere commits a put or a view on this node, the coordinator, and
// says what it did; for a replayed put, with the creation time of the image
// the first attempt registered.
func (n *Node) commitHere(ctx context.Context, cmd registry.Command) (commitReply, error) {
	// The reign the command is submitted in is the one that commits it, or
	// the submission fails: its epoch is read before, so that a step down
	// just after cannot report a later one.
	reign := n.elector.Leadership()
	out, err := n.commit(ctx, cmd)
	if err != nil {
		return commitReply{}, err
	}
	reply := commitReply{Index: out.Index, ID: out.ID, Version: out.Version, ViewsLeft: out.ViewsLeft, ByOwner: out.ByOwner, Replayed: out.Replayed,
		Leased: out.Leased, Returned: out.Returned, Coordinator: n.cfg.Name, Epoch: reign.Epoch.Term}
	if p, ok := cmd.(registry.PutImage); ok {
		reply.Created = p.Created
		if out.Replayed {
			var img registry.Image
			var found bool
			if err := n.repl.read(ctx, func(s *registry.State) { img, found = s.Image(out.ID) }); err != nil || !found {
				return commitReply{}, fmt.Errorf("%w: the image of a replayed put is gone", ErrUnknownOutcome)
			}
			reply.Created = img.Created
		}
	}
	return reply, nil
}

// entryKey is the request's idempotency key, or, when the client sent
// none, one this node makes up for it (once per request). With a key, the
// commit can be sent again to the next coordinator when the first one
// died before it answered: the registry applies it once whichever
// coordinator got it. So a plain client that sends no key still gets an
// answer, not "the outcome is unknown", when the coordinator crashes.
func entryKey(r *http.Request) string {
	if k := r.Header.Get(hdrIdempotencyKey); k != "" {
		return k
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("cluster: random source failed: " + err.Error())
	}
	k := "entry-" + hex.EncodeToString(b[:])
	r.Header.Set(hdrIdempotencyKey, k)
	return k
}

// holdFor bounds how long an entry node waits for a coordinator to commit
// at: about an election's length, so that a client sees a slower answer,
// not an error, while the cloud replaces its coordinator.
func (n *Node) holdFor() time.Duration {
	return max(5*n.cfg.Profile.CoordinatorTimeout, 2*time.Second)
}

// commitRemote has the coordinator commit cmd, which carries an
// idempotency key (entryKey). It tries again, up to holdFor: while no
// coordinator is known, when one refused it as not (or not yet)
// coordinating or could not be dialled, and when one took it and died or
// stepped down before it answered (the key makes the next attempt replay
// the first one's outcome if it was committed). Any other failure is the
// client's answer, as an outcome.
func (n *Node) commitRemote(ctx context.Context, cmd registry.Command) (commitReply, *outcome) {
	body, err := registry.Encode(cmd)
	if err != nil {
		return commitReply{}, errorOutcome(badRequest("%v", err))
	}
	// The hold ends before the client's deadline, so that the client
	// hears why (no coordinator) rather than a bare timeout.
	wait := n.holdFor()
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl)*9/10)
	}
	hold, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var last error = ErrNoCoordinator
	// The wait between tries stays short: a new coordinator serves a few
	// tens of milliseconds after it is known (its promise round), and a
	// wait grown long during the election would be paid again after it.
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 40*time.Millisecond) {
		changed := n.leadershipChanged()
		l := n.elector.Leadership()
		switch {
		case l.Self:
			reply, err := n.commitHere(ctx, cmd)
			switch {
			case err == nil:
				return reply, nil
			case errors.Is(err, ErrUnknownOutcome), errors.Is(err, ErrNotCoordinator), errors.Is(err, ErrUnavailable):
				// Lost the lead, or not synced yet: the keyed command goes
				// to whoever coordinates next, and applies once.
				last = err
			default:
				return commitReply{}, errorOutcome(err)
			}
		case l.Known():
			reply, o, retry, inFlight := n.sendCommit(ctx, l, body)
			if !retry {
				return reply, o
			}
			switch {
			case inFlight:
				last = fmt.Errorf("%w: %s took the command and gave no answer", ErrUnknownOutcome, l.Coordinator)
			case !errors.Is(last, ErrUnknownOutcome):
				last = fmt.Errorf("%w: %s refused or was out of reach", ErrNoCoordinator, l.Coordinator)
			}
		}
		select {
		case <-hold.Done():
			if ctx.Err() != nil {
				return commitReply{}, errorOutcome(ctx.Err())
			}
			return commitReply{}, errorOutcome(last)
		case <-changed:
		case <-time.After(wait):
		}
	}
}

// sendCommit posts one commit to the coordinator. retry says that it may
// be sent again: it surely was not submitted, or it may have been
// (inFlight) but its key makes a second submission replay the first.
func (n *Node) sendCommit(ctx context.Context, lead election.Leadership, body []byte) (reply commitReply, o *outcome, retry, inFlight bool) {
	coordinator := lead.Coordinator
	m, ok := n.mship.member(coordinator)
	if !ok || m.Meta.API == "" {
		return reply, nil, true, false
	}
	// A coordinator that the network silently cut off would hold the
	// command until the client gives up; once another coordinator takes
	// over, the command goes there (its key makes it apply once).
	ctx, stop := n.watchCoordinator(ctx, lead)
	defer stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.apiURL(m.Meta.API)+"/v1/internal/commit", bytes.NewReader(body))
	if err != nil {
		return reply, errorOutcome(err), false, false
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Authorization", "Bearer "+n.peerTok)
	o, err = n.roundTrip(req)
	if err != nil {
		var op *net.OpError
		switch {
		case errors.As(err, &op) && op.Op == "dial":
			return reply, nil, true, false
		case brokenByPeer(err), errors.Is(context.Cause(ctx), errCoordinatorChanged):
			// The coordinator died with the command, or another took over
			// while it was in flight: the next one gets it again, and the
			// key makes it apply once.
			return reply, nil, true, true
		}
		return reply, errorOutcome(fmt.Errorf("%w: the coordinator %s did not answer: %v", ErrUnknownOutcome, coordinator, err)), false, false
	}
	if o.status == http.StatusOK {
		if l := n.elector.Leadership(); l.Coordinator == coordinator {
			n.heardFrom(coordinator, l.Epoch) // it committed for us: alive
		}
		if err := json.Unmarshal(o.body, &reply); err != nil {
			return reply, errorOutcome(fmt.Errorf("%w: the coordinator's reply: %v", ErrUnknownOutcome, err)), false, false
		}
		return reply, nil, false, false
	}
	switch code := replyCode(o.body); code {
	case "not_coordinator", "no_coordinator", "unavailable":
		return reply, o, true, false
	case "unknown_outcome":
		// It lost the lead with our command in flight.
		return reply, o, true, true
	}
	return reply, o, false, false
}

// replyCode reads the code of a JSON error reply; "" if it is none.
func replyCode(body []byte) string {
	var e struct {
		Error apiError `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return e.Error.Code
}

// work runs a put's or a view's image job: on the best worker when this
// node coordinates, near otherwise.
func (n *Node) work(ctx context.Context, j job) *outcome {
	if n.elector.Leadership().Self {
		// A Bully coordinator cut off from a majority could work the
		// image but not commit it: it says so now, not at the deadline.
		// One that is still syncing after its election has heard from
		// nobody yet: it works, and the commit waits for the sync.
		if rep, ok := n.repl.(*replicator); ok && rep.isReady() && !rep.heardFromMajority() {
			return errorOutcome(errNoQuorum(rep.lease()))
		}
		return n.onWorker(ctx, j)
	}
	return n.workNear(ctx, j)
}

// shedding refuses a client's put or view at once, before its body is
// read, when the image work it brings has nowhere to go: this node will
// work it (it does not coordinate) and its queue is full, or, as
// coordinator, every node's queue is. The client gets 429 with
// Retry-After, in a millisecond, instead of a place at the end of a queue
// it would time out in.
func (n *Node) shedding(r *http.Request) error {
	if r.Header.Get(hdrForwardedBy) != "" {
		return nil
	}
	lead := n.elector.Leadership()
	if lead.Self {
		// The coordinator knows what it has handed out: when every
		// worker already holds a full queue of its jobs, the next one
		// would only come back 429, after costing a round trip.
		full := int64(n.cfg.Workers * (n.cfg.QueuePerWorker + 1))
		workers := n.pickWorkers(3)
		for _, m := range workers {
			if n.assignedTo(m.Name).Load() < full {
				return nil
			}
		}
		if len(workers) == 0 {
			return nil // onWorker says why
		}
		return ErrOverloaded
	}
	if !n.pool.full() {
		return nil
	}
	for _, m := range n.pickWorkers(3) {
		if m.Name != n.cfg.Name && m.Name != lead.Coordinator && m.Meta.Load < float64(n.cfg.QueuePerWorker) {
			return nil // workNear may send it there
		}
	}
	return ErrOverloaded
}

// workNear runs a job here, where its bytes already are, unless this node
// is overloaded (a job queued behind every slot) and another node that is
// not the coordinator has at least one job per slot less; then there.
// Sending a job away costs both nodes its bytes in and out, about what a
// small job costs to run, so it pays only against a real difference; and
// the coordinator is left to decide.
func (n *Node) workNear(ctx context.Context, j job) *outcome {
	own := n.pool.instant()
	if own >= 2 {
		coordinator := n.elector.Leadership().Coordinator
		for _, m := range n.pickWorkers(3) {
			if m.Name == coordinator || m.Name == n.cfg.Name {
				continue
			}
			if float64(n.assignedTo(m.Name).Load())+m.Meta.Load <= own-1 {
				return n.sendNear(ctx, m, j)
			}
			break
		}
	}
	c := n.assignedTo(n.cfg.Name)
	c.Add(1)
	defer c.Add(-1)
	return n.runJob(ctx, j)
}

// sendNear runs j on worker m, and here if m cannot be reached or fails.
func (n *Node) sendNear(ctx context.Context, m Member, j job) *outcome {
	c := n.assignedTo(m.Name)
	c.Add(1)
	o, err := n.sendWatched(ctx, m, j, false)
	c.Add(-1)
	if err == nil && o.status < 500 {
		return o
	}
	if err != nil {
		n.unreachable.Store(m.Name, time.Now())
	}
	n.log.Warn("worker failed; working here", "worker", m.Name, "error", err)
	return n.runJob(ctx, j)
}

// putHere is a put taken by this node: hidden (work), then committed at
// the coordinator, which may be this node.
func (n *Node) putHere(r *http.Request, req hideRequest, owner string, body []byte) *outcome {
	key := entryKey(r)
	plan := n.planPut(owner, key, time.Now().UTC())
	j := job{path: "/v1/internal/hide", contentType: r.Header.Get("Content-Type"), query: r.URL.Query(), body: body, put: plan}
	o := n.work(r.Context(), j)
	if o.status != http.StatusOK {
		return o
	}
	digest := sha256.Sum256(o.body)
	reply, fail := n.commitRemote(r.Context(), registry.PutImage{
		ID: plan.id.String(), Owner: owner, Viewers: req.meta.Viewers, Created: plan.created, Digest: digest[:], IdemKey: key,
	})
	if fail != nil {
		return fail
	}
	if reply.Replayed {
		// A retry: the first attempt's record stands; seal its id and time
		// again, so the bytes are the first attempt's.
		if err := plan.id.UnmarshalText([]byte(reply.ID)); err != nil {
			return errorOutcome(fmt.Errorf("%w: replayed put names id %q", ErrUnknownOutcome, reply.ID))
		}
		if !reply.Created.Equal(plan.created) || o.header.Get(hdrImageID) != reply.ID {
			plan.created = reply.Created
			if o = n.work(r.Context(), j); o.status != http.StatusOK {
				return o
			}
		}
	}
	o.header.Set("Veil-Version", strconv.FormatUint(reply.Version, 10))
	reply.stamp(o.header)
	return o
}

// viewHere is a view taken by this node: opened (work), counted at the
// coordinator, which may be this node, and only then answered with the
// original.
func (n *Node) viewHere(r *http.Request, body []byte, viewer string) *outcome {
	o := n.work(r.Context(), job{path: "/v1/internal/reveal", contentType: r.Header.Get("Content-Type"), body: body})
	if o.status != http.StatusOK {
		return o
	}
	reply, fail := n.commitRemote(r.Context(), registry.View{ID: o.header.Get(hdrImageID), Viewer: viewer, IdemKey: entryKey(r)})
	if fail != nil {
		switch code := replyCode(fail.body); code {
		case "not_allowed", "no_views_left":
			// Denied: the original stays here.
			var e struct {
				Error apiError `json:"error"`
			}
			_ = json.Unmarshal(fail.body, &e)
			return jsonOutcome(http.StatusForbidden, map[string]apiError{"error": {Code: code, Message: e.Error.Message}})
		}
		return fail
	}
	o.header.Set("Veil-Views-Left", strconv.Itoa(reply.ViewsLeft))
	o.header.Set("Veil-By-Owner", strconv.FormatBool(reply.ByOwner))
	reply.stamp(o.header)
	return o
}
