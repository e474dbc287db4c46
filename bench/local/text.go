package local

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"veil/bench/load"
)

// WriteText prints the trials and their summary.
func (r FailoverReport) WriteText(w io.Writer) {
	fmt.Fprintf(w, "failover: %d nodes, profile %s, %d trials in %s\n", r.Nodes, r.Profile, len(r.Trials), r.Elapsed.Round(time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "trial\tkilled\tnew coordinator\tepoch\tagreed\tfirst write\tfailed writes\t")
	for _, t := range r.Trials {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d/%s\t%s\t%s\t%d\t\n",
			t.N, t.Killed, load.Dash(t.New.Coordinator), t.New.Epoch, load.Dash(t.New.EpochNode),
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

// WriteText prints the load and the election counters of each node.
func (r SteadyReport) WriteText(w io.Writer) {
	r.Load.WriteText(w)
	fmt.Fprintf(w, "coordinator before: %s; after: %s\n", r.Before, r.After)
	for _, n := range r.Nodes {
		fmt.Fprintf(w, "  %s: %g elections started, %g coordinator changes seen\n", n.Name, n.Elections, n.CoordinatorChanges)
	}
	fmt.Fprintf(w, "during the run: %g elections, %g coordinator changes (sums over the nodes)\n", r.Elections, r.CoordinatorChanges)
}

func msOrDash(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return load.FormatMS(d)
}
