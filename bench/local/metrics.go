package local

import (
	"context"
	"fmt"
	"io"
	"net/http"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"veil/bench/proc"
)

// Counters are the election counters one node exports on /metrics.
type Counters struct {
	Elections          float64 // veil_elections_total: elections it started
	CoordinatorChanges float64 // veil_coordinator_changes_total: changes it saw
	// Messages is veil_election_messages_sent_total over the types that
	// elect (electionTypes), and Jobs veil_jobs_total over every kind and
	// result; a node that has sent or done none may not export them,
	// which reads as zero.
	Messages float64
	Jobs     float64
}

// electionTypes are the message types that take part in electing a
// coordinator: Bully's three (its COORDINATOR repeated as the heartbeat is
// counted as HEARTBEAT, and left out), and Raft's votes and leadership
// transfer. Raft's heartbeats and log appends replicate the registry and
// are left out.
var electionTypes = map[string]bool{
	"ELECTION": true, "ANSWER": true, "COORDINATOR": true,
	"request_vote": true, "request_pre_vote": true, "timeout_now": true,
}

// Counters scrapes node i's /metrics.
func (c *Cluster) Counters(ctx context.Context, i int) (Counters, error) {
	n := c.Node(i)
	out, err := ScrapeCounters(ctx, c.http, n.API)
	if err != nil {
		return out, fmt.Errorf("bench: %s %w", n.Name, err)
	}
	return out, nil
}

// ScrapeCounters reads the counters from the /metrics of the node at api
// (host:port, or a base URL with its scheme).
func ScrapeCounters(ctx context.Context, hc *http.Client, api string) (Counters, error) {
	ctx, cancel := context.WithTimeout(ctx, proc.GetTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, proc.URL(api, "/metrics"), nil)
	if err != nil {
		return Counters{}, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Counters{}, fmt.Errorf("/metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Counters{}, fmt.Errorf("/metrics: status %d", resp.StatusCode)
	}
	out, err := parseCounters(resp.Body)
	if err != nil {
		return Counters{}, fmt.Errorf("/metrics: %w", err)
	}
	return out, nil
}

// parseCounters reads the Prometheus text format and picks the election
// counters. A node exports each once, labelled with its name.
func parseCounters(r io.Reader) (Counters, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		return Counters{}, err
	}
	value := func(name string, keep ...func(*dto.Metric) bool) (float64, error) {
		f, ok := families[name]
		if !ok || len(f.GetMetric()) == 0 {
			return 0, fmt.Errorf("no metric %s", name)
		}
		var sum float64
		for _, m := range f.GetMetric() {
			if len(keep) > 0 && !keep[0](m) {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			case m.GetUntyped() != nil:
				sum += m.GetUntyped().GetValue()
			}
		}
		return sum, nil
	}
	var out Counters
	if out.Elections, err = value("veil_elections_total"); err != nil {
		return out, err
	}
	if out.CoordinatorChanges, err = value("veil_coordinator_changes_total"); err != nil {
		return out, err
	}
	out.Messages, _ = value("veil_election_messages_sent_total", func(m *dto.Metric) bool {
		for _, l := range m.GetLabel() {
			if l.GetName() == "type" {
				return electionTypes[l.GetValue()]
			}
		}
		return false
	})
	out.Jobs, _ = value("veil_jobs_total")
	return out, nil
}
