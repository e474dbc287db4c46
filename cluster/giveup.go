package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"veil/election"
)

// A node that waits on another over a connection the network silently
// drops (a partition, an isolated coordinator: no reset, no error) waits
// until its client gives up. The fault suite showed it: a coordinator cut off
// with jobs out at its workers held six clients for their whole 5 s. These
// watches end such a wait as soon as it cannot help any more, while the
// client still waits, so that the request goes where it can be served.

var (
	// errCutOff: this coordinator lost its majority while a worker had
	// the job; it could not commit the result. Nothing was committed.
	errCutOff = fmt.Errorf("%w: this coordinator lost its majority while a worker had the job", ErrUnavailable)
	// errWorkerSilent: the worker stopped answering (replication, or
	// gossip gave it up) while it had the job.
	errWorkerSilent = errors.New("the worker stopped answering while it had the job")
	// errCoordinatorChanged: another coordinator took over while a command
	// was in flight at the old one.
	errCoordinatorChanged = errors.New("the coordinator changed while the command was in flight")
)

// watchWorker returns ctx, cancelled with a cause when waiting on worker for
// a job can no longer help: asCoordinator and this node can no longer commit
// (errCutOff), or the worker stopped answering the coordinator's replication
// or gossip gave it up (errWorkerSilent). It looks twice a lease.
func (n *Node) watchWorker(ctx context.Context, worker string, asCoordinator bool) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	every := n.cfg.Profile.CoordinatorTimeout / 2
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			m, known := n.mship.member(worker)
			// A coordinator that handed its role over, or was replaced,
			// is no longer cut off: the job's result goes to the next
			// coordinator through the entry's hold. Only one that still
			// coordinates is checked against its majority.
			coordinating := asCoordinator && n.elector.Leadership().Self && !n.handingOff.Load()
			switch {
			case coordinating && !n.repl.leading():
				cancel(errCutOff)
				return
			case !known || (m.Status != StatusAlive && m.Status != StatusSuspect),
				coordinating && !n.repl.answered(worker):
				cancel(errWorkerSilent)
				return
			}
		}
	}()
	return ctx, func() { cancel(nil) }
}

// sendWatched is sendWork given up as watchWorker says; the error then
// wraps its cause, errCutOff or errWorkerSilent.
func (n *Node) sendWatched(ctx context.Context, worker Member, j job, asCoordinator bool) (*outcome, error) {
	wctx, stop := n.watchWorker(ctx, worker.Name, asCoordinator)
	defer stop()
	o, err := n.sendWork(wctx, worker, j)
	if cause := context.Cause(wctx); err != nil && (errors.Is(cause, errCutOff) || errors.Is(cause, errWorkerSilent)) {
		return nil, fmt.Errorf("%w (%v)", cause, err)
	}
	return o, err
}

// watchCoordinator returns ctx, cancelled with errCoordinatorChanged as soon
// as this node names another coordinator or epoch than lead does.
func (n *Node) watchCoordinator(ctx context.Context, lead election.Leadership) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		for {
			changed := n.leadershipChanged()
			if l := n.elector.Leadership(); l.Coordinator != lead.Coordinator || l.Epoch != lead.Epoch {
				cancel(errCoordinatorChanged)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-changed:
			}
		}
	}()
	return ctx, func() { cancel(nil) }
}
