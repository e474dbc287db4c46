package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"veil/cluster/api"
	"veil/election"
)

// The coordinator's hand-off: its role moves to another node while it is
// alive, for load (the Bully machine's Ready.Transfer) or on an operator's
// order (POST /v1/admin/handoff, and before a graceful leave), without a
// request failing.
//
// In Bully mode the coordinator first stops taking new writes (a write
// that arrives meanwhile is answered "unavailable", which every node's
// hold takes as not carried out, and sends again to the next coordinator),
// waits until every write in flight is committed and the successor holds
// the whole log, and only then tells the machine to send HANDOFF. The
// successor wins at the next term and syncs from a majority that already
// holds everything, so it serves within a round trip. In Raft mode
// hashicorp/raft's leadership transfer does the same steps itself.

// ErrNoHandoff: the hand-off cannot be made (this node does not coordinate,
// no member can take over, or the successor could not be brought up to
// date in time). Nothing changed.
var ErrNoHandoff = errors.New("no hand-off")

// handOffErr says an elector's refusal in the cluster's words.
func handOffErr(err error) error {
	if errors.Is(err, election.ErrNoHandoff) {
		return fmt.Errorf("%w: %s", ErrNoHandoff, strings.TrimPrefix(err.Error(), election.ErrNoHandoff.Error()+": "))
	}
	return err
}

// errNotAnnounced: the role was handed over but the successor has not
// announced itself yet.
var errNotAnnounced = errors.New("the successor has not announced itself yet; if it is gone, an election follows")

// handedOff records a hand-off this node made as coordinator at epoch.
type handedOff struct {
	epoch election.Epoch
	to    string
	at    time.Time
}

// handedTo names the successor when this node handed its role over at
// epoch e (any epoch, if e is zero) within the last CoordinatorTimeout.
func (n *Node) handedTo(e election.Epoch) string {
	h := n.handedOff.Load()
	if h == nil || (!e.IsZero() && h.epoch != e) || time.Since(h.at) > n.cfg.Profile.CoordinatorTimeout {
		return ""
	}
	return h.to
}

// handoffPrepare bounds the wait for writes in flight to commit and the
// successor to catch up; past it the hand-off is given up and the
// coordinator takes writes again.
func (n *Node) handoffPrepare() time.Duration { return n.cfg.Profile.CoordinatorTimeout }

// HandOffResult is what a hand-off did.
type HandOffResult = api.HandOffReply

// HandOff moves the coordinator's role from this node to the member named
// to, or to the least-loaded active member when to is "". It returns once
// the successor announced itself, or fails with ErrNoHandoff (nothing
// changed) or with the context's error.
func (n *Node) HandOff(ctx context.Context, to, reason string) (HandOffResult, error) {
	start := time.Now()
	res := HandOffResult{From: n.cfg.Name, Reason: reason}
	lead := n.elector.Leadership()
	if !lead.Self {
		return res, fmt.Errorf("%w: %s does not coordinate (the coordinator is %q)", ErrNoHandoff, n.cfg.Name, lead.Coordinator)
	}
	if to == "" && n.raft == nil {
		var err error
		if to, err = n.lightestMember(); err != nil {
			return res, err
		}
	}
	if to == n.cfg.Name {
		return res, fmt.Errorf("%w: %s already coordinates", ErrNoHandoff, to)
	}
	if to != "" {
		if m, ok := n.mship.member(to); !ok || m.Status != StatusAlive || m.Meta.State != StateActive {
			return res, fmt.Errorf("%w: %s is not an active member of the cluster", ErrNoHandoff, to)
		}
	}
	changed := n.leadershipChanged()
	if !n.handingOff.CompareAndSwap(false, true) {
		return res, fmt.Errorf("%w: a hand-off is already under way", ErrNoHandoff)
	}
	defer n.handingOff.Store(false)
	if err := n.repl.drainFor(ctx, to, n.handoffPrepare()); err != nil {
		return res, err
	}
	prepared := time.Since(start)
	n.handedOff.Store(&handedOff{epoch: lead.Epoch, to: to, at: time.Now()})
	if err := n.elector.HandOff(ctx, to); err != nil {
		n.handedOff.Store(nil)
		n.repl.undrain()
		return res, handOffErr(err)
	}
	n.log.Info("handing the coordinator's role over", "to", to, "reason", reason, "prepared_in", prepared)
	// Wait for the successor to announce itself, as this node sees it.
	wait := time.NewTimer(n.cfg.Profile.CoordinatorTimeout)
	defer wait.Stop()
	for {
		l := n.elector.Leadership()
		if l.Known() && !l.Self {
			res.To, res.Epoch = l.Coordinator, l.Epoch.String()
			res.TookMS = msSince(start)
			n.handoffs.Add(1)
			return res, nil
		}
		select {
		case <-changed:
			changed = n.leadershipChanged()
		case <-wait.C:
			// Handed over, but not heard of since: if the successor is
			// gone, the election that follows picks another.
			res.To, res.TookMS = to, msSince(start)
			return res, errNotAnnounced
		case <-ctx.Done():
			return res, context.Cause(ctx)
		}
	}
}

// msSince is the time since t in milliseconds, to the microsecond.
func msSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }

// lightestMember is the active member, other than this node, with the
// lowest load (its name breaks ties): the node a Bully election among the
// others would pick.
func (n *Node) lightestMember() (string, error) {
	best := Member{}
	for _, m := range n.mship.members() {
		if m.Name == n.cfg.Name || m.Status != StatusAlive || m.Meta.State != StateActive {
			continue
		}
		if best.Name == "" || m.Meta.Load < best.Meta.Load || (m.Meta.Load == best.Meta.Load && m.Name < best.Name) {
			best = m
		}
	}
	if best.Name == "" {
		return "", fmt.Errorf("%w: no other active member to hand the role to", ErrNoHandoff)
	}
	return best.Name, nil
}

// handoffLoop carries out the load-driven moves the Bully machine asks for.
func (n *Node) handoffLoop() {
	for {
		select {
		case <-n.ctx.Done():
			return
		case to := <-n.elector.Successors():
			ctx, cancel := context.WithTimeout(n.ctx, 2*n.cfg.Profile.CoordinatorTimeout)
			res, err := n.HandOff(ctx, to, "load")
			cancel()
			if err != nil {
				n.log.Warn("load-driven hand-off not made", "to", to, "error", err)
				continue
			}
			n.log.Info("load-driven hand-off made", "to", res.To, "epoch", res.Epoch, "took_ms", res.TookMS)
		}
	}
}

// handleAdminHandoff is POST /v1/admin/handoff[?to=NAME] with the admin
// token: the coordinator hands its role to NAME, or to the least-loaded
// active member. Any node takes the order and passes it to the
// coordinator.
func (n *Node) handleAdminHandoff(w http.ResponseWriter, r *http.Request) error {
	if err := n.adminOnly(r); err != nil {
		return err
	}
	to := r.URL.Query().Get("to")
	if len(to) > 255 {
		return badRequest("to: a member's name is at most 255 bytes")
	}
	// Not through atCoordinator: the coordinator changing under the
	// forwarded order is its success, not a reason to give it up.
	lead := n.elector.Leadership()
	switch {
	case !lead.Known():
		return ErrNoCoordinator
	case !lead.Self && r.Header.Get(hdrForwardedBy) != "":
		return fmt.Errorf("%w (forwarded by %s); the coordinator is %s", ErrNotCoordinator, r.Header.Get(hdrForwardedBy), lead.Coordinator)
	case !lead.Self:
		r.Header.Set(hdrForwardedBy, n.cfg.Name)
		return n.forwardAdmin(w, r, lead.Coordinator, r.URL.Query())
	}
	res, err := n.HandOff(r.Context(), to, "admin")
	status := http.StatusOK
	switch {
	case errors.Is(err, errNotAnnounced):
		status = http.StatusAccepted // done on this side; the epoch stays empty
	case err != nil:
		return err
	}
	writeJSON(w, status, res)
	return nil
}
