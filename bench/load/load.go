package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"veil/cluster/client"
)

// Config describes a closed-loop load: Clients clients, each sending
// one hide, waiting for the answer, and sending the next.
type Config struct {
	// Nodes are the API addresses the clients know (required).
	Nodes []string
	// Clients is the number of concurrent clients. Default 1.
	Clients int
	// Requests is how many hides each client sends. Zero: as many as fit
	// in Duration.
	Requests int
	// Duration bounds the run when Requests is zero.
	Duration time.Duration
	// Route is where the clients send first (client.RouteCoordinator by
	// default).
	Route client.Route
	// Timeout bounds one hide, the client's retries included. Default 30 s.
	Timeout time.Duration
}

// Report is what a load run saw.
type Report struct {
	Clients    int
	OK, Failed int
	// Shed counts the hides the cluster refused as overloaded (429 with
	// Retry-After), apart from the failures.
	Shed    int
	Elapsed time.Duration
	// Throughput is acknowledged hides per second of Elapsed.
	Throughput float64
	// Latency is over the acknowledged hides, retries included.
	Latency Summary
	// Workers and Coordinators count the acknowledged hides by the node
	// that did the work and the coordinator that handed it out.
	Workers      map[string]int
	Coordinators map[string]int
	// Errors counts the failures by their error code (or text), and
	// Retried the acknowledged hides that took more than one attempt.
	Errors  map[string]int
	Retried int
}

// Run runs a closed-loop load and reports it. It returns an error only
// when the load cannot be run; failed requests are counted in the report.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if len(cfg.Nodes) == 0 {
		return Report{}, errors.New("bench: load needs the API address of at least one node")
	}
	if cfg.Clients <= 0 {
		cfg.Clients = 1
	}
	if cfg.Requests <= 0 && cfg.Duration <= 0 {
		return Report{}, errors.New("bench: load needs a number of requests per client or a duration")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Requests <= 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	hc := NewHTTPClient()
	defer hc.CloseIdleConnections()
	if err := EnsureUser(ctx, cfg.Nodes, hc); err != nil {
		return Report{}, err
	}
	clients := make([]*client.Client, cfg.Clients)
	for k := range clients {
		// Each client learns the coordinator on its own; they share
		// connections.
		cl, err := client.New(client.Config{Nodes: cfg.Nodes, Route: cfg.Route, Timeout: cfg.Timeout, HTTP: hc,
			User: User, Password: Password})
		if err != nil {
			return Report{}, fmt.Errorf("bench: %w", err)
		}
		clients[k] = cl
	}

	rep := Report{
		Clients: cfg.Clients, Workers: map[string]int{}, Coordinators: map[string]int{}, Errors: map[string]int{},
	}
	var mu sync.Mutex
	var latencies []time.Duration
	record := func(d time.Duration, res *client.HideResult, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if outcome, _ := classify(err); outcome == OutcomeShed {
				rep.Shed++
				return
			}
			rep.Failed++
			rep.Errors[errorKey(err)]++
			return
		}
		rep.OK++
		latencies = append(latencies, d)
		rep.Workers[res.Worker]++
		rep.Coordinators[res.Coordinator]++
		if res.Attempts > 1 {
			rep.Retried++
		}
	}

	start := time.Now()
	var wg sync.WaitGroup
	for _, cl := range clients {
		wg.Go(func() {
			for n := 0; cfg.Requests <= 0 || n < cfg.Requests; n++ {
				if ctx.Err() != nil {
					return
				}
				t := time.Now()
				res, err := cl.Hide(ctx, HideRequest())
				if err != nil && cfg.Requests <= 0 && ctx.Err() != nil {
					return // cut off by the end of the run, not a failure
				}
				record(time.Since(t), res, err)
			}
		})
	}
	wg.Wait()
	rep.Elapsed = time.Since(start)
	rep.Latency = Summarize(latencies)
	if rep.Elapsed > 0 {
		rep.Throughput = float64(rep.OK) / rep.Elapsed.Seconds()
	}
	return rep, nil
}

// errorKey groups failures: by the cluster's error code when there is one.
func errorKey(err error) string {
	var apiErr *client.Error
	if errors.As(err, &apiErr) {
		return fmt.Sprintf("%d %s", apiErr.Status, apiErr.Code)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	s := err.Error()
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

// WriteText prints what the clients saw.
func (r Report) WriteText(w io.Writer) {
	total := r.OK + r.Shed + r.Failed
	fmt.Fprintf(w, "load: %d clients, %d hides in %s: %d acknowledged, %d shed (429), %d failed, %.1f hides/s\n",
		r.Clients, total, r.Elapsed.Round(time.Millisecond), r.OK, r.Shed, r.Failed, r.Throughput)
	if r.Latency.N > 0 {
		l := r.Latency
		fmt.Fprintf(w, "latency: p50 %s  p95 %s  p99 %s  max %s  (mean %s)\n", FormatMS(l.Median), FormatMS(l.P95), FormatMS(l.P99), FormatMS(l.Max), FormatMS(l.Mean))
	}
	if r.Retried > 0 {
		fmt.Fprintf(w, "acknowledged after a retry: %d\n", r.Retried)
	}
	fmt.Fprintf(w, "work by node: %s\n", Counts(r.Workers))
	fmt.Fprintf(w, "handed out by coordinator: %s\n", Counts(r.Coordinators))
	if len(r.Errors) > 0 {
		fmt.Fprintf(w, "failures: %s\n", Counts(r.Errors))
	}
}

// Counts lists counts by key, in the order of the keys: "a 3, b 1".
func Counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", Dash(k), m[k]))
	}
	return strings.Join(parts, ", ")
}

// Dash is s, or "-" for nothing.
func Dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// NewHTTPClient returns an HTTP client of its own for the bench, so that
// whoever made it can close its idle connections when done.
func NewHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     10 * time.Second,
	}}
}
