package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"time"

	"veil/election"
)

// Crash detection in Bully mode, faster than silence.
//
// A follower keeps one request open at its coordinator, a long poll that
// the coordinator holds until its reign ends or watchHold passes. When the
// coordinator's process dies, its machine closes or resets the connection
// at once; the follower takes that (or a refused reconnection, or a reply
// that the coordinator is stopping or no longer coordinates) as proof that
// the coordinator is gone and calls an election now, instead of waiting out
// the heartbeat timeout. Silent failures (a paused process, a partition)
// close nothing: the heartbeat timeout still catches them. A false signal
// costs one election that the live coordinator answers and stays.

// watchRetry is how soon a follower looks again for its coordinator's
// address when gossip has not brought it yet.
const watchRetry = 20 * time.Millisecond

// watchHold is how long the coordinator holds a follower's watch before
// answering that nothing changed; the follower asks again at once.
const watchHold = 15 * time.Second

// handleWatch is GET /v1/internal/watch on the coordinator.
func (n *Node) handleWatch(w http.ResponseWriter, r *http.Request) error {
	if err := n.fromPeer(r); err != nil {
		return err
	}
	l := n.elector.Leadership()
	if !l.Self {
		if to := n.handedTo(election.Epoch{}); to != "" {
			writeJSON(w, http.StatusOK, watchReply{HandedTo: to})
			return nil
		}
		return fmt.Errorf("%w; the coordinator is %s", ErrNotCoordinator, l.Coordinator)
	}
	n.watching.Add(1)
	defer n.watching.Add(-1)
	hold := time.NewTimer(watchHold)
	defer hold.Stop()
	for {
		changed := n.leadershipChanged()
		if now := n.elector.Leadership(); !now.Self || now.Epoch != l.Epoch {
			if to := n.handedTo(l.Epoch); to != "" {
				// Not gone: handed over, and the successor announces
				// itself in a moment.
				writeJSON(w, http.StatusOK, watchReply{Epoch: l.Epoch.String(), HandedTo: to})
				return nil
			}
			return fmt.Errorf("%w any more", ErrNotCoordinator)
		}
		select {
		case <-changed:
		case <-hold.C:
			writeJSON(w, http.StatusOK, watchReply{Epoch: l.Epoch.String()})
			return nil
		case <-r.Context().Done():
			return r.Context().Err()
		case <-n.ctx.Done():
			return fmt.Errorf("%w: node %s is stopping", ErrUnavailable, n.cfg.Name)
		}
	}
}

// watchReply is the coordinator's answer to a watch that ends without a
// crash: nothing changed, or it handed its role to HandedTo.
type watchReply struct {
	Epoch    string `json:"epoch,omitempty"`
	HandedTo string `json:"handed_to,omitempty"`
}

// leadershipChanged returns a channel closed at the next change of the
// leadership this node sees.
func (n *Node) leadershipChanged() <-chan struct{} {
	n.leadMu.Lock()
	defer n.leadMu.Unlock()
	return n.leadCh
}

// noteLeadershipChange wakes everyone waiting on leadershipChanged.
func (n *Node) noteLeadershipChange() {
	n.leadMu.Lock()
	defer n.leadMu.Unlock()
	close(n.leadCh)
	n.leadCh = make(chan struct{})
}

// watchLoop keeps a watch open at the coordinator while this node follows
// one, and reports the coordinator lost when the watch breaks as a crash
// breaks it.
func (n *Node) watchLoop() {
	idle := n.cfg.Profile.CoordinatorTimeout
	for n.ctx.Err() == nil {
		changed := n.leadershipChanged()
		l := n.elector.Leadership()
		m, ok := n.mship.member(l.Coordinator)
		if l.Known() && !l.Self && (!ok || m.Meta.API == "") && !n.gate.Silenced() {
			// A node that just started or came back may follow a
			// coordinator whose address gossip has not brought yet:
			// without a watch it would not see a crash, and would refuse
			// the others' candidates meanwhile. Look again soon.
			n.waitFor(changed, watchRetry)
			continue
		}
		if !l.Known() || l.Self || !ok || m.Meta.API == "" || n.gate.Silenced() || n.gate.closedTo(m.Gossip) {
			n.waitFor(changed, idle)
			continue
		}
		status, reply, err := n.pollWatch(m.Meta.API)
		if n.ctx.Err() != nil {
			return
		}
		if now := n.elector.Leadership(); now.Coordinator != l.Coordinator || now.Epoch != l.Epoch || n.gate.Silenced() {
			continue // the election moved on by itself
		}
		switch {
		case err == nil && status == http.StatusOK && reply.HandedTo != "":
			// A hand-off: the successor's announcement is on its way. If
			// it never comes, the heartbeat timeout calls the election.
			n.waitFor(changed, idle)
			continue
		case err == nil && status == http.StatusOK:
			continue
		case err != nil && !brokenByPeer(err):
			n.log.Debug("watch of the coordinator failed; retrying", "coordinator", l.Coordinator, "error", err)
			n.waitFor(changed, n.probeInterval)
			continue
		}
		n.log.Info("the coordinator's connection was closed or refused; calling an election",
			"coordinator", l.Coordinator, "epoch", l.Epoch.String(), "status", status, "error", err)
		n.bully.Lost(l.Coordinator)
		n.waitFor(changed, idle)
	}
}

// pollWatch holds one watch at the coordinator's API address and returns
// its status and reply, or the error that ended it.
func (n *Node) pollWatch(api string) (int, watchReply, error) {
	var reply watchReply
	ctx, cancel := context.WithTimeout(n.ctx, watchHold+5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.apiURL(api)+"/v1/internal/watch", nil)
	if err != nil {
		return 0, reply, err
	}
	req.Header.Set("Authorization", "Bearer "+n.peerTok)
	req.Header.Set(hdrPeer, n.cfg.Name)
	resp, err := n.peerClient.Do(req)
	if err != nil {
		return 0, reply, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, reply, err
	}
	if resp.StatusCode == http.StatusOK {
		_ = json.Unmarshal(body, &reply) // an older node's reply has no hand-off: zero
	}
	return resp.StatusCode, reply, nil
}

// brokenByPeer reports whether err is the other machine closing, resetting
// or refusing the connection, which is what a dead process leaves behind,
// rather than a timeout, which a live but slow or cut-off one may cause.
func brokenByPeer(err error) bool {
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return false
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	}
	// net/http does not always wrap the cause of a connection it lost.
	s := err.Error()
	return strings.Contains(s, "connection reset") || strings.Contains(s, "connection refused") || strings.HasSuffix(s, "EOF")
}

// waitFor waits until ch is closed, d passes, or the node stops.
func (n *Node) waitFor(ch <-chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-n.ctx.Done():
	}
}
