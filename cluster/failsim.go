package cluster

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"
)

// The failure simulation of the original assignment: now and then the
// coordinator picks one node, possibly itself, and tells it to fail. The
// victim ignores all communication (gossip, election, API) for a while, then
// rejoins, learns the coordinator and epoch, catches up and only then serves
// again. Never two nodes at once: a failure is ordered, or allowed through
// the admin route, only while every member of the status table is alive and
// active, and the victim shows as suspect, failed or recovering until it
// serves again.

// Control messages travel as gossip user messages on chanControl.
const (
	ctlFail    byte = 1 // payload: 8 bytes, the duration in milliseconds
	ctlLeaving byte = 2 // no payload: the sender is about to leave on purpose
	ctlFailing byte = 3 // no payload: the sender is about to fail on purpose
	ctlBack    byte = 4 // no payload: the sender is back from a failure and serves
)

// mayFail returns nil when this node may fail now without a second node
// being down at the same time.
func (n *Node) mayFail() error {
	if n.failing.Load() || n.State() != StateActive {
		return fmt.Errorf("%w: node %s is already %s", ErrBusy, n.cfg.Name, n.State())
	}
	for _, m := range n.mship.members() {
		if m.Name == n.cfg.Name {
			continue
		}
		if m.Failing || (!m.Healthy() && m.Status != StatusLeft) {
			return fmt.Errorf("%w: member %s is %s/%s; one failure at a time", ErrBusy, m.Name, m.Status, m.Meta.State)
		}
	}
	return nil
}

// fail silences the node for d, then recovers it. why names the cause in
// the logs ("simulation", "admin").
func (n *Node) fail(d time.Duration, why string) {
	if !n.failing.CompareAndSwap(false, true) {
		return
	}
	defer n.failing.Store(false)
	// Tell everyone first, over TCP: gossip takes a second or two to see a
	// silent node, and a coordinator elected meanwhile must not order a
	// second failure.
	n.tellAll(ctlFailing)
	n.log.Warn("failing on purpose: ignoring all communication", "for", d, "cause", why)
	n.events.add("failure", "%s failing on purpose for %s (%s)", n.cfg.Name, d.Round(time.Millisecond), why)
	n.metrics.failures.Inc()
	n.failures.Add(1)
	n.setState(StateFailed)
	n.elector.Suspend()
	n.gate.Silence(true)
	n.dropConns()
	select {
	case <-time.After(d):
	case <-n.ctx.Done():
		return
	}
	n.gate.Silence(false)
	n.failing.Store(false)
	n.recover()
}

// recover brings a node back after a failure: it rejoins gossip, learns the
// coordinator, and only then serves.
func (n *Node) recover() {
	n.beginRecovery()
	n.log.Info("back from failure: rejoining")
	n.events.add("back", "%s back from its failure", n.cfg.Name)
	n.elector.Rejoin()
	var peers []string
	for _, m := range n.mship.members() {
		if m.Name != n.cfg.Name && m.Status != StatusLeft {
			peers = append(peers, m.Gossip)
		}
	}
	peers = append(peers, n.cfg.Join...)
	// A push/pull with any peer refutes the others' verdict that this node
	// is dead and brings its table up to date; failing that, the normal
	// gossip rounds get there too.
	if len(peers) > 0 {
		if _, err := n.ml.Join(peers); err != nil {
			n.log.Warn("rejoin: no peer answered yet", "error", err)
		}
	}
	// readinessLoop serves again once the node has caught up with the
	// coordinator it learns.
}

// tellAll sends a one-byte control notice to every live member.
func (n *Node) tellAll(notice byte) {
	for _, m := range n.mship.members() {
		if m.Name != n.cfg.Name && (m.Status == StatusAlive || m.Status == StatusSuspect) {
			if err := n.sendGossip(m.Name, chanControl, []byte{notice}, true); err != nil {
				n.log.Debug("could not send a notice", "member", m.Name, "notice", notice, "error", err)
			}
		}
	}
}

// failureLoop is the coordinator's side of the simulation: about every
// Failures.Every, pick a victim among the healthy members and order it down.
func (n *Node) failureLoop() {
	sim := n.cfg.Failures
	for {
		wait := time.Duration(jitter(float64(sim.Every), 0.2))
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(wait):
		}
		if !n.elector.Leadership().Self || n.mayFail() != nil {
			continue
		}
		var healthy []Member
		for _, m := range n.mship.members() {
			if m.Name == n.cfg.Name || m.Healthy() {
				healthy = append(healthy, m)
			}
		}
		if len(healthy) < 2 {
			continue // failing the only node would only stop the cluster
		}
		victim := healthy[rand.IntN(len(healthy))]
		d := sim.DownMin + time.Duration(rand.Int64N(int64(sim.DownMax-sim.DownMin)+1))
		n.log.Info("failure simulation: ordering a failure", "victim", victim.Name, "for", d)
		if victim.Name == n.cfg.Name {
			n.goRun(func() { n.fail(d, "simulation") })
			continue
		}
		payload := binary.BigEndian.AppendUint64([]byte{ctlFail}, uint64(d.Milliseconds()))
		if err := n.sendGossip(victim.Name, chanControl, payload, true); err != nil {
			n.log.Warn("failure simulation: could not reach the victim", "victim", victim.Name, "error", err)
		}
	}
}

// onControl handles a cluster command received over gossip.
func (n *Node) onControl(from string, payload []byte) {
	if len(payload) == 1 {
		switch payload[0] {
		case ctlLeaving:
			n.mship.intendsToLeave(from)
			return
		case ctlFailing:
			n.mship.setFailing(from, true)
			n.events.add("failure", "%s is failing on purpose", from)
			return
		case ctlBack:
			n.mship.setFailing(from, false)
			n.events.add("back", "%s is back", from)
			return
		}
	}
	if len(payload) != 9 || payload[0] != ctlFail {
		n.log.Warn("ignored a malformed control message", "from", from, "bytes", len(payload))
		return
	}
	d := time.Duration(binary.BigEndian.Uint64(payload[1:])) * time.Millisecond
	if d <= 0 || d > MaxSimulatedDown {
		n.log.Warn("ignored a failure order outside the allowed window", "from", from, "for", d)
		return
	}
	if l := n.elector.Leadership(); l.Coordinator != from {
		n.log.Warn("ignored a failure order from a node that is not the coordinator", "from", from, "coordinator", l.Coordinator)
		return
	}
	n.goRun(func() { n.fail(d, "simulation, ordered by "+from) })
}
