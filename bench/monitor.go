package bench

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"veil/bench/load"
	"veil/bench/proc"
	"veil/bench/report"
	"veil/cluster"
)

// monitorEvery is how often the monitor asks every node who coordinates.
const monitorEvery = 100 * time.Millisecond

// watched is what monitor saw during a load.
type watched struct {
	Changes []report.CoordinatorChange
	// Down are the stretches in which a node did not answer at all (a
	// fault, or the failure simulation): from its first unanswered poll
	// to its next answer.
	Down []report.FaultWindow
}

// monitor asks every node at apis who coordinates, every monitorEvery,
// until ctx ends. It returns each change of the coordinator named at the
// highest epoch, and the stretches in which a node did not answer.
func monitor(ctx context.Context, hc *http.Client, apis, names []string, start time.Time) watched {
	var out watched
	downSince := make([]time.Duration, len(apis)) // -1: answering
	for k := range downSince {
		downSince[k] = -1
	}
	tick := time.NewTicker(monitorEvery)
	defer tick.Stop()
	for {
		replies := make([]*cluster.CoordinatorReply, len(apis))
		answered := make([]bool, len(apis))
		asked := max(time.Since(start), 0)
		var wg sync.WaitGroup
		for k, api := range apis {
			wg.Go(func() {
				var r cluster.CoordinatorReply
				err := proc.GetJSON(ctx, hc, api, "/v1/coordinator", &r)
				var se *proc.StatusError
				answered[k] = err == nil || errors.As(err, &se)
				if err == nil && r.Coordinator != "" {
					replies[k] = &r
				}
			})
		}
		wg.Wait()
		if ctx.Err() != nil {
			break
		}
		now := max(time.Since(start), 0)
		for k := range apis {
			switch {
			case !answered[k] && downSince[k] < 0:
				downSince[k] = asked
			case answered[k] && downSince[k] >= 0:
				out.Down = append(out.Down, report.FaultWindow{Fault: "unreachable", Kind: "unreachable", Node: names[k],
					StartS: load.Secs(downSince[k]), EndS: load.Secs(now)})
				downSince[k] = -1
			}
		}
		var best *cluster.CoordinatorReply
		for _, r := range replies {
			if r != nil && (best == nil || r.Epoch > best.Epoch || r.Epoch == best.Epoch && r.EpochNode > best.EpochNode) {
				best = r
			}
		}
		if best != nil {
			ch := out.Changes
			if len(ch) == 0 || ch[len(ch)-1].Coordinator != best.Coordinator || ch[len(ch)-1].Epoch != best.Epoch ||
				ch[len(ch)-1].EpochNode != best.EpochNode {
				out.Changes = append(ch, report.CoordinatorChange{AtS: load.Secs(now), Coordinator: best.Coordinator,
					Epoch: best.Epoch, EpochNode: best.EpochNode})
			}
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
			continue
		}
		break
	}
	// A node still down when the watch ends: its window ends there.
	end := load.Secs(max(time.Since(start), 0))
	for k, since := range downSince {
		if since >= 0 {
			out.Down = append(out.Down, report.FaultWindow{Fault: "unreachable", Kind: "unreachable", Node: names[k],
				StartS: load.Secs(since), EndS: end})
		}
	}
	return out
}

// unavailable finds the gaps longer than minGap between acknowledgements
// during which at least one operation was outstanding. The edges of the run
// count as acknowledgements only where an operation was outstanding.
func unavailable(ops []load.Op, minGap time.Duration) []report.Unavailability {
	var acks []time.Duration
	for _, o := range ops {
		if o.Outcome == load.OutcomeOK {
			acks = append(acks, o.End)
		}
	}
	slices.Sort(acks)
	var out []report.Unavailability
	prev := time.Duration(-1)
	for _, a := range acks {
		if prev >= 0 && a-prev > minGap && outstanding(ops, a, minGap) {
			out = append(out, report.Unavailability{StartS: load.Secs(prev), EndS: load.Secs(a)})
		}
		prev = a
	}
	// Operations still unanswered after the last acknowledgement.
	var lastEnd time.Duration
	for _, o := range ops {
		lastEnd = max(lastEnd, o.End)
	}
	if prev >= 0 && lastEnd-prev > minGap && outstanding(ops, lastEnd, minGap) {
		out = append(out, report.Unavailability{StartS: load.Secs(prev), EndS: load.Secs(lastEnd)})
	}
	return out
}

// outstanding reports whether some operation was still unanswered at b
// after waiting at least gap: a client waited through the stretch.
func outstanding(ops []load.Op, b, gap time.Duration) bool {
	for _, o := range ops {
		if o.Due+gap <= b && o.End >= b {
			return true
		}
	}
	return false
}
