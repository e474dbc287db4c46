package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Counters are the election counters one node exports on /metrics.
type Counters struct {
	Elections          float64 // veil_elections_total: elections it started
	CoordinatorChanges float64 // veil_coordinator_changes_total: changes it saw
}

// Counters scrapes node i's /metrics.
func (c *Cluster) Counters(ctx context.Context, i int) (Counters, error) {
	ctx, cancel := context.WithTimeout(ctx, pollTimeout)
	defer cancel()
	n := c.Node(i)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.API+"/metrics", nil)
	if err != nil {
		return Counters{}, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return Counters{}, fmt.Errorf("bench: %s /metrics: %w", n.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Counters{}, fmt.Errorf("bench: %s /metrics: status %d", n.Name, resp.StatusCode)
	}
	out, err := parseCounters(resp.Body)
	if err != nil {
		return Counters{}, fmt.Errorf("bench: %s /metrics: %w", n.Name, err)
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
	value := func(name string) (float64, error) {
		f, ok := families[name]
		if !ok || len(f.GetMetric()) == 0 {
			return 0, fmt.Errorf("no metric %s", name)
		}
		var sum float64
		for _, m := range f.GetMetric() {
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
	return out, nil
}
