package cluster

import (
	"context"
	"time"

	"veil/cluster/registry"
	"veil/election"
)

// registryLog is how the node reaches the replicated registry, the same way
// in both modes: Bully mode's replicator (replicate.go) or Raft mode's
// raftLog (raftmode.go). The routes, dispatch and the failure simulation see
// only this.
type registryLog interface {
	// submit proposes cmd on the coordinator and waits until it is
	// committed and applied, returning what it did. ErrNotCoordinator:
	// this node does not coordinate; ErrUnknownOutcome: it may or may not
	// have been committed (retry with the same idempotency key).
	submit(ctx context.Context, cmd registry.Command) (registry.Outcome, error)
	// read runs f against the committed state, on the coordinator only.
	read(ctx context.Context, f func(*registry.State)) error
	// readLocal runs f against this node's own copy, which may lag.
	readLocal(f func(*registry.State))
	// isReady: this node coordinates and may serve writes.
	isReady() bool
	// leading: this node coordinates and can still commit (Bully: a
	// majority answered it within the lease; Raft: it is the leader, which
	// hashicorp/raft gives up when its lease runs out).
	leading() bool
	// answered: peer answered this coordinator within the lease (Bully: a
	// replication append; Raft keeps no such view, and says true).
	answered(peer string) bool
	// caughtUp: a follower heard from the coordinator since t and holds
	// everything the coordinator had committed.
	caughtUp(since time.Time) bool
	// commitIndex is this node's commit index.
	commitIndex() uint64
	// drainFor prepares a hand-off to `to`: no new writes, those in flight
	// committed, `to` up to date (Bully); Raft's transfer does this
	// itself, and its drainFor does nothing. undrain takes writes again
	// after a hand-off that was not made.
	drainFor(ctx context.Context, to string, within time.Duration) error
	undrain()
	// onLeadership starts or stops the coordinator's work.
	onLeadership(l election.Leadership)
	// close stops the goroutines; the stores are closed by their owner.
	close()
}

// commit is submit with the command's own refusal (Outcome.Err) folded
// into the error, as the command's caller may be told it (refusalFor). A
// command that admitCommand refuses is not proposed.
func (n *Node) commit(ctx context.Context, cmd registry.Command) (registry.Outcome, error) {
	if err := n.admitCommand(ctx, cmd); err != nil {
		return registry.Outcome{}, err
	}
	out, err := n.repl.submit(ctx, cmd)
	if err == nil && out.Err != nil {
		err = n.refusalFor(cmd, out.Err)
	}
	return out, err
}
