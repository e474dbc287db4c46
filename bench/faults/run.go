package faults

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"veil/bench/check"
	"veil/bench/netns"
)

// Case is one run: a cluster in one mode, a workload, and one kind of
// fault in the middle of it.
type Case struct {
	// Bin is the veil binary (required).
	Bin   string
	Mode  string // bully or raft
	Fault Fault
	// Nodes is the cluster's size. Default 5.
	Nodes int
	// TLS runs the nodes, and the clients' calls to them, with TLS
	// (netns.ClusterConfig.TLS).
	TLS bool
	// Warmup is how long the clients run before the fault, Window how
	// long the fault lasts, Settle how long they run once every node
	// agrees again. Defaults 1 s, 4 s and 2 s.
	Warmup, Window, Settle time.Duration
	// Seed makes the fault's choices (which node, how long) repeatable.
	Seed     uint64
	Workload Workload
	// CheckTimeout bounds the linearizability check of each image.
	// Default 10 s.
	CheckTimeout time.Duration
	// Dir receives the nodes' data and logs, the history and the
	// visualisation of any image that is not linearizable (required).
	Dir  string
	Logf func(string, ...any)
}

func (c *Case) setDefaults() {
	if c.Nodes == 0 {
		c.Nodes = 5
	}
	if c.Warmup == 0 {
		c.Warmup = time.Second
	}
	if c.Window == 0 {
		c.Window = 4 * time.Second
	}
	if c.Settle == 0 {
		c.Settle = 2 * time.Second
	}
	if c.CheckTimeout == 0 {
		c.CheckTimeout = 10 * time.Second
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
}

// Name is mode/fault, the name of the case in tests and tables.
func (c Case) Name() string { return c.Mode + "/" + c.Fault.Name }

// Result is what one case found.
type Result struct {
	Mode  string `json:"mode"`
	Fault string `json:"fault"`
	Seed  uint64 `json:"seed"`
	check.Report
	// Recovery is the time from the end of the fault until every node
	// named the same coordinator.
	Recovery time.Duration `json:"recovery_ns"`
	Duration time.Duration `json:"duration_ns"`
}

// CaseSeed derives the seed of one case from a run's seed, so that a case
// run alone makes the choices it made in the whole run.
func CaseSeed(seed uint64, name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return seed ^ h.Sum64()
}

// compactEvery is the snapshot threshold of the fault suite's nodes: a
// case commits some hundreds of entries, so that each node compacts its
// log several times in one.
const compactEvery = 32

// Run runs the case: it starts the cluster, runs the workload, injects the
// fault, waits until the nodes agree again, reads the registry and judges
// the history. An error means the case could not be run or the cluster
// did not recover; a broken rule shows in the result's report.
func Run(ctx context.Context, c Case) (res Result, err error) {
	c.setDefaults()
	start := time.Now()
	res = Result{Mode: c.Mode, Fault: c.Fault.Name, Seed: c.Seed}
	cl, err := netns.StartCluster(ctx, netns.ClusterConfig{
		Bin: c.Bin, Nodes: c.Nodes, Mode: c.Mode, SimulateFailures: c.Fault.SimulateFailures,
		Dir: filepath.Join(c.Dir, "cluster"), Logf: c.Logf, TLS: c.TLS,
		// Compaction all the time: a node a fault holds back for a few
		// seconds falls behind the compaction point and catches up from
		// the coordinator's snapshot, under the same checks.
		Args: []string{"--snapshot-threshold", strconv.Itoa(compactEvery), "--trailing-logs", strconv.Itoa(compactEvery / 4)},
	})
	if err != nil {
		return res, err
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, cl.Describe())
		}
		err = errors.Join(err, cl.Close())
	}()
	transport := cl.Net().Transport()
	defer transport.CloseIdleConnections()
	if err := register(ctx, cl.APIs(), transport); err != nil {
		return res, err
	}

	rec := check.NewRecorder()
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- c.Workload.run(stop, cl.APIs(), transport, rec) }()
	stopped := false
	stopClients := func() error {
		if stopped {
			return nil
		}
		stopped = true
		close(stop)
		return <-done
	}
	defer stopClients()

	hold(ctx, c.Warmup)
	env := &Env{Cluster: cl, Rand: rand.New(rand.NewPCG(c.Seed, c.Seed>>1|1)), Logf: c.Logf}
	c.Logf("faults: %s: fault on at %s", c.Name(), rec.Now().Round(time.Millisecond))
	if err := c.Fault.Inject(ctx, env, c.Window); err != nil {
		return res, fmt.Errorf("faults: %s: %w", c.Fault.Name, err)
	}
	healedAt := time.Now()
	c.Logf("faults: %s: fault off at %s", c.Name(), rec.Now().Round(time.Millisecond))
	actx, cancel := context.WithTimeout(ctx, time.Minute)
	a, err := cl.WaitAgreement(actx)
	cancel()
	if err != nil {
		return res, fmt.Errorf("faults: %s: the cluster did not recover within a minute of the fault: %w", c.Name(), err)
	}
	res.Recovery = time.Since(healedAt)
	c.Logf("faults: %s: every node names %s at epoch %d, %s after the fault", c.Name(), a.Coordinator, a.Epoch,
		res.Recovery.Round(time.Millisecond))
	hold(ctx, c.Settle)
	if err := stopClients(); err != nil {
		return res, err
	}
	h := rec.History()
	if err := writeHistory(filepath.Join(c.Dir, "history.json"), h); err != nil {
		return res, err
	}
	images, err := final(ctx, cl.APIs(), transport)
	if err != nil {
		return res, err
	}
	report, err := check.Judge(h, images, c.CheckTimeout, c.Dir)
	res.Report = report
	res.Duration = time.Since(start)
	return res, err
}

func writeHistory(path string, h check.History) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("faults: %w", err)
	}
	return errors.Join(h.Encode(f), f.Close())
}
