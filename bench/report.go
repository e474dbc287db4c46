package bench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText prints the trials and their summary.
func (r FailoverReport) WriteText(w io.Writer) {
	fmt.Fprintf(w, "failover: %d nodes, profile %s, %d trials in %s\n", r.Nodes, r.Profile, len(r.Trials), r.Elapsed.Round(time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "trial\tkilled\tnew coordinator\tepoch\tagreed\tfirst write\tfailed writes\t")
	for _, t := range r.Trials {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d/%s\t%s\t%s\t%d\t\n",
			t.N, t.Killed, dash(t.New.Coordinator), t.New.Epoch, dash(t.New.EpochNode),
			msOrDash(t.Agreed), msOrDash(t.FirstWrite), t.FailedWrites)
	}
	tw.Flush()
	for _, t := range r.Trials {
		if t.Err != nil {
			fmt.Fprintf(w, "trial %d: %v\n", t.N, t.Err)
		}
	}
	fmt.Fprintf(w, "SIGKILL → survivors agree on a new coordinator: %s\n", r.Agreed)
	fmt.Fprintf(w, "SIGKILL → first write acknowledged by it:        %s\n", r.FirstWrite)
	if r.Stopped != nil {
		fmt.Fprintf(w, "stopped early: %v\n", r.Stopped)
	}
}

// WriteText prints what the clients saw.
func (r LoadReport) WriteText(w io.Writer) {
	total := r.OK + r.Shed + r.Failed
	fmt.Fprintf(w, "load: %d clients, %d hides in %s: %d acknowledged, %d shed (429), %d failed, %.1f hides/s\n",
		r.Clients, total, r.Elapsed.Round(time.Millisecond), r.OK, r.Shed, r.Failed, r.Throughput)
	if r.Latency.N > 0 {
		l := r.Latency
		fmt.Fprintf(w, "latency: p50 %s  p95 %s  p99 %s  max %s  (mean %s)\n", ms(l.Median), ms(l.P95), ms(l.P99), ms(l.Max), ms(l.Mean))
	}
	if r.Retried > 0 {
		fmt.Fprintf(w, "acknowledged after a retry: %d\n", r.Retried)
	}
	fmt.Fprintf(w, "work by node: %s\n", counts(r.Workers))
	fmt.Fprintf(w, "handed out by coordinator: %s\n", counts(r.Coordinators))
	if len(r.Errors) > 0 {
		fmt.Fprintf(w, "failures: %s\n", counts(r.Errors))
	}
}

// WriteText prints the load and the election counters of each node.
func (r SteadyReport) WriteText(w io.Writer) {
	r.Load.WriteText(w)
	fmt.Fprintf(w, "coordinator before: %s; after: %s\n", r.Before, r.After)
	for _, n := range r.Nodes {
		fmt.Fprintf(w, "  %s: %g elections started, %g coordinator changes seen\n", n.Name, n.Elections, n.CoordinatorChanges)
	}
	fmt.Fprintf(w, "during the run: %g elections, %g coordinator changes (sums over the nodes)\n", r.Elections, r.CoordinatorChanges)
}

func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", dash(k), m[k]))
	}
	return strings.Join(parts, ", ")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func msOrDash(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return ms(d)
}
