package local

import (
	"context"
	"errors"
	"fmt"
	"time"

	"veil/bench/load"
)

// SteadyReport is a run of load with no fault: the load as the clients saw
// it, and the elections and coordinator changes the nodes counted while it
// ran. On a healthy cluster both counts are zero.
type SteadyReport struct {
	Load          load.Report
	Before, After Agreement
	Nodes         []NodeCounters // one per node, in the cluster's order
	// Elections and CoordinatorChanges are the sums over the nodes.
	Elections          float64
	CoordinatorChanges float64
}

// NodeCounters is how much one node's counters grew during the run.
type NodeCounters struct {
	Name string
	Counters
}

// Steady waits for the cluster to settle, reads every node's election
// counters, runs load (cfg.Nodes defaults to the live nodes), waits for
// agreement again and reads the counters again. When ctx ends during the
// load, the report holds the load so far and the error says so.
func (c *Cluster) Steady(ctx context.Context, cfg load.Config) (SteadyReport, error) {
	var rep SteadyReport
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	var err error
	rep.Before, err = c.WaitSettled(sctx)
	cancel()
	if err != nil {
		return rep, err
	}
	live := c.Live()
	before, err := c.counters(ctx, live)
	if err != nil {
		return rep, err
	}
	if len(cfg.Nodes) == 0 {
		cfg.Nodes = c.APIs(live...)
	}
	if rep.Load, err = load.Run(ctx, cfg); err != nil {
		return rep, err
	}
	if ctx.Err() != nil {
		return rep, fmt.Errorf("bench: load cut short after %s: %w", rep.Load.Elapsed.Round(time.Millisecond), context.Cause(ctx))
	}
	sctx, cancel = context.WithTimeout(ctx, time.Minute)
	rep.After, err = c.WaitAgreement(sctx, live...)
	cancel()
	if err != nil {
		return rep, err
	}
	after, err := c.counters(ctx, live)
	if err != nil {
		return rep, err
	}
	for k, i := range live {
		d := NodeCounters{Name: c.Node(i).Name, Counters: Counters{
			Elections:          after[k].Elections - before[k].Elections,
			CoordinatorChanges: after[k].CoordinatorChanges - before[k].CoordinatorChanges,
		}}
		rep.Nodes = append(rep.Nodes, d)
		rep.Elections += d.Elections
		rep.CoordinatorChanges += d.CoordinatorChanges
	}
	return rep, nil
}

func (c *Cluster) counters(ctx context.Context, idx []int) ([]Counters, error) {
	out := make([]Counters, len(idx))
	var errs []error
	for k, i := range idx {
		var err error
		if out[k], err = c.Counters(ctx, i); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("bench: reading election counters: %w", err)
	}
	return out, nil
}
