package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"veil/cluster"
)

// CoordinatorChange is a moment the cluster's coordinator changed, as the
// nodes answered GET /v1/coordinator: the one named at the highest epoch.
type CoordinatorChange struct {
	AtS         float64 `json:"at_s"` // from the start of the load
	Coordinator string  `json:"coordinator"`
	Epoch       uint64  `json:"epoch"`
	EpochNode   string  `json:"epoch_node"`
}

// monitorEvery is how often the monitor asks every node who coordinates.
const monitorEvery = 100 * time.Millisecond

// monitorCoordinator asks every node at apis who coordinates, every
// monitorEvery, until ctx ends, and returns each change of the coordinator
// named at the highest epoch. Nodes that do not answer are skipped.
func monitorCoordinator(ctx context.Context, hc *http.Client, apis []string, start time.Time) []CoordinatorChange {
	var out []CoordinatorChange
	tick := time.NewTicker(monitorEvery)
	defer tick.Stop()
	for {
		replies := make([]*cluster.CoordinatorReply, len(apis))
		var wg sync.WaitGroup
		for k, api := range apis {
			wg.Go(func() {
				var r cluster.CoordinatorReply
				if fetchJSON(ctx, hc, api, "/v1/coordinator", &r) == nil && r.Coordinator != "" {
					replies[k] = &r
				}
			})
		}
		wg.Wait()
		var best *cluster.CoordinatorReply
		for _, r := range replies {
			if r != nil && (best == nil || r.Epoch > best.Epoch || r.Epoch == best.Epoch && r.EpochNode > best.EpochNode) {
				best = r
			}
		}
		if best != nil {
			last := CoordinatorChange{}
			if len(out) > 0 {
				last = out[len(out)-1]
			}
			if len(out) == 0 || last.Coordinator != best.Coordinator || last.Epoch != best.Epoch || last.EpochNode != best.EpochNode {
				out = append(out, CoordinatorChange{AtS: secs(max(time.Since(start), 0)), Coordinator: best.Coordinator,
					Epoch: best.Epoch, EpochNode: best.EpochNode})
			}
		}
		select {
		case <-ctx.Done():
			return out
		case <-tick.C:
		}
	}
}

// fetchJSON gets path from the node at api and decodes its JSON reply.
func fetchJSON(ctx context.Context, hc *http.Client, api, path string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, pollTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+api+path, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", path, resp.StatusCode)
	}
	return json.Unmarshal(body, v)
}

// Unavailability is a stretch of the run in which no operation was
// acknowledged although some were waiting for an answer.
type Unavailability struct {
	StartS float64 `json:"start_s"`
	EndS   float64 `json:"end_s"`
}

// unavailable finds the gaps longer than minGap between acknowledgements
// during which at least one operation was outstanding. The edges of the run
// count as acknowledgements only where an operation was outstanding.
func unavailable(ops []Op, minGap time.Duration) []Unavailability {
	var acks []time.Duration
	for _, o := range ops {
		if o.Outcome == OutcomeOK {
			acks = append(acks, o.End)
		}
	}
	sortDurations(acks)
	var out []Unavailability
	prev := time.Duration(-1)
	for _, a := range acks {
		if prev >= 0 && a-prev > minGap && outstanding(ops, a, minGap) {
			out = append(out, Unavailability{StartS: secs(prev), EndS: secs(a)})
		}
		prev = a
	}
	// Operations still unanswered after the last acknowledgement.
	var lastEnd time.Duration
	for _, o := range ops {
		lastEnd = max(lastEnd, o.End)
	}
	if prev >= 0 && lastEnd-prev > minGap && outstanding(ops, lastEnd, minGap) {
		out = append(out, Unavailability{StartS: secs(prev), EndS: secs(lastEnd)})
	}
	return out
}

// outstanding reports whether some operation was still unanswered at b
// after waiting at least gap: a client waited through the stretch.
func outstanding(ops []Op, b, gap time.Duration) bool {
	for _, o := range ops {
		if o.Due+gap <= b && o.End >= b {
			return true
		}
	}
	return false
}
