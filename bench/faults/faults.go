package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"veil/bench/netns"
)

// Env is what a fault acts on: the cluster, a seeded source of randomness
// for its choices, and a log.
type Env struct {
	Cluster *netns.Cluster
	Rand    *rand.Rand
	Logf    func(string, ...any)
}

// coordinator returns the index of the node the live nodes agree
// coordinates.
func (e *Env) coordinator(ctx context.Context) (int, error) {
	actx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	a, err := e.Cluster.WaitAgreement(actx)
	if err != nil {
		return -1, err
	}
	return e.Cluster.Index(a.Coordinator), nil
}

// others returns the nodes but i, in a random order.
func (e *Env) others(i int) []int {
	var out []int
	for j := range e.Cluster.Len() {
		if j != i {
			out = append(out, j)
		}
	}
	e.Rand.Shuffle(len(out), func(a, b int) { out[a], out[b] = out[b], out[a] })
	return out
}

// between returns a random duration in [lo, hi].
func (e *Env) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(e.Rand.Int64N(int64(hi-lo)+1))
}

// Fault is one kind of fault. Inject starts it, keeps it for about the
// window, and undoes it before it returns, whatever happens: every node
// runs, unpaused, with every link up and no rule, once it is done.
type Fault struct {
	Name string
	// What it does, for the README and the report.
	Doc string
	// SimulateFailures, when set, is the nodes' --simulate-failures for
	// the whole case.
	SimulateFailures string
	Inject           func(ctx context.Context, e *Env, window time.Duration) error
}

// hold waits for d or until ctx ends.
func hold(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// healed undoes every network fault, with a context of its own so that it
// runs even when the case's has ended.
func healed(e *Env, err error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if herr := e.Cluster.Net().Heal(ctx); herr != nil && err == nil {
		err = herr
	}
	return err
}

// aroundCoordinator makes a network fault of cut: it finds the coordinator,
// cuts, holds the cut for the window, and heals however it ends.
func aroundCoordinator(cut func(ctx context.Context, e *Env, c int) error) func(context.Context, *Env, time.Duration) error {
	return func(ctx context.Context, e *Env, window time.Duration) (err error) {
		c, err := e.coordinator(ctx)
		if err != nil {
			return err
		}
		defer func() { err = healed(e, err) }()
		if err := cut(ctx, e, c); err != nil {
			return err
		}
		hold(ctx, window)
		return nil
	}
}

// Faults returns every kind of fault the suite knows, in the order of the
// results table.
func Faults() []Fault {
	return []Fault{
		{
			Name: "isolate-coordinator",
			Doc:  "the coordinator's namespace drops every packet to and from the other nodes (TCP and UDP); clients still reach it",
			Inject: aroundCoordinator(func(ctx context.Context, e *Env, c int) error {
				e.Logf("faults: isolating the coordinator %s", e.Cluster.Name(c))
				return e.Cluster.Net().Isolate(ctx, c)
			}),
		},
		{
			Name: "partition",
			Doc:  "the coordinator and one other node are cut off from the majority; clients reach both sides",
			Inject: aroundCoordinator(func(ctx context.Context, e *Env, c int) error {
				rest := e.others(c)
				minority := []int{c, rest[0]}
				e.Logf("faults: minority %v against majority %v", names(e, minority), names(e, rest[1:]))
				return e.Cluster.Net().Partition(ctx, minority, rest[1:])
			}),
		},
		{
			Name: "bridge",
			Doc:  "two halves that cannot see each other and one node that sees both; the coordinator is in a half",
			Inject: aroundCoordinator(func(ctx context.Context, e *Env, c int) error {
				rest := e.others(c)
				bridge := rest[0]
				half := (len(rest) - 1) / 2
				a := append([]int{c}, rest[1:1+half]...)
				b := rest[1+half:]
				e.Logf("faults: %v | %s | %v", names(e, a), e.Cluster.Name(bridge), names(e, b))
				return e.Cluster.Net().Partition(ctx, a, b)
			}),
		},
		{
			Name: "packet-loss",
			Doc:  "every node drops 10% of the packets into and out of it (19% of those between two nodes), clients' included",
			Inject: func(ctx context.Context, e *Env, window time.Duration) (err error) {
				defer func() { err = healed(e, err) }()
				for i := range e.Cluster.Len() {
					if err := e.Cluster.Net().Loss(ctx, i, 0.1); err != nil {
						return err
					}
				}
				hold(ctx, window)
				return nil
			},
		},
		{
			Name: "flapping",
			Doc:  "the coordinator's link goes down and up at random, 100 ms to 1 s each way",
			Inject: func(ctx context.Context, e *Env, window time.Duration) (err error) {
				c, err := e.coordinator(ctx)
				if err != nil {
					return err
				}
				defer func() { err = healed(e, err) }()
				e.Logf("faults: flapping the link of %s", e.Cluster.Name(c))
				end := time.Now().Add(window)
				for up := false; time.Now().Before(end) && ctx.Err() == nil; up = !up {
					if err := e.Cluster.Net().SetLink(ctx, c, up); err != nil {
						return err
					}
					hold(ctx, min(e.between(100*time.Millisecond, time.Second), time.Until(end)))
				}
				return nil
			},
		},
		{
			Name: "kill-restart",
			Doc:  "SIGKILL of the coordinator, restarted with its data 2 s later; again for each 4 s of the window",
			Inject: func(ctx context.Context, e *Env, window time.Duration) error {
				for end := time.Now().Add(window); ; {
					c, err := e.coordinator(ctx)
					if err != nil {
						return err
					}
					e.Logf("faults: SIGKILL to the coordinator %s", e.Cluster.Name(c))
					if err := e.Cluster.Kill(c); err != nil {
						return err
					}
					hold(ctx, 2*time.Second)
					sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					err = e.Cluster.Start(sctx, c)
					cancel()
					if err != nil {
						return err
					}
					if time.Until(end) < 4*time.Second || ctx.Err() != nil {
						return nil
					}
					hold(ctx, 2*time.Second)
				}
			},
		},
		{
			Name: "pause",
			Doc:  "SIGSTOP of the coordinator for 3 s, past every timeout, then SIGCONT; again for each 4 s of the window",
			Inject: func(ctx context.Context, e *Env, window time.Duration) error {
				for end := time.Now().Add(window); ; {
					c, err := e.coordinator(ctx)
					if err != nil {
						return err
					}
					e.Logf("faults: SIGSTOP to the coordinator %s", e.Cluster.Name(c))
					if err := e.Cluster.Pause(c); err != nil {
						return err
					}
					hold(ctx, 3*time.Second)
					if err := e.Cluster.Resume(c); err != nil {
						return err
					}
					if time.Until(end) < 4*time.Second || ctx.Err() != nil {
						return nil
					}
					hold(ctx, time.Second)
				}
			},
		},
		{
			Name:             "failure-simulation",
			Doc:              "the assignment's failure simulation: every 3 s the nodes pick one to go silent for 1-3 s",
			SimulateFailures: "every=3s,down=1s-3s",
			Inject: func(ctx context.Context, e *Env, window time.Duration) error {
				hold(ctx, window)
				return nil
			},
		},
	}
}

func names(e *Env, idx []int) []string {
	out := make([]string, len(idx))
	for k, i := range idx {
		out[k] = e.Cluster.Name(i)
	}
	return out
}

// Lookup returns the fault named name.
func Lookup(name string) (Fault, error) {
	for _, f := range Faults() {
		if f.Name == name {
			return f, nil
		}
	}
	return Fault{}, fmt.Errorf("faults: no fault named %q", name)
}
