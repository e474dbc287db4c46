package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"
	"veil/internal/version"

	"veil/bench/load"
	"veil/bench/local"
	"veil/bench/proc"
	"veil/bench/report"
	"veil/cluster"
	"veil/cluster/client"
	"veil/stego"
)

// StudyConfig is a whole `veil bench` run: for each mode and cluster size,
// a workload (with faults) on a cluster, the books checked after it, and
// failover trials on a fresh cluster of the same mode and size.
type StudyConfig struct {
	// Bin is the veil binary the spawned nodes run.
	Bin string
	// Modes are the coordinator selections to run in turn (bully, raft).
	Modes []string
	// Sizes are the cluster sizes to run each mode at. Default 3.
	Sizes   []int
	Profile string
	// SimulateFailures is the nodes' --simulate-failures during the load
	// (never during the trials, which measure one failure at a time).
	SimulateFailures string
	Faults           []Fault
	// APIs, when set, is a running cluster to load instead of spawning one;
	// faults and trials need a spawned cluster.
	APIs []string
	// Load is the workload; its Nodes are filled in. A zero Pace runs no
	// load.
	Load load.Workload
	// Secret and Cover describe the workload's images for the report.
	Secret, Cover report.ImageInfo
	// Trials is the number of failover trials per mode and size.
	Trials       int
	TrialTimeout time.Duration
	// Reference is how long the raw pipeline is measured, hides then
	// reveals; zero skips it.
	Reference time.Duration
	// Gap is the shortest stretch without an acknowledgement that counts as
	// unavailability. Default 250 ms.
	Gap time.Duration
	// Progress receives the live progress; TTY makes it a bar redrawn in
	// place rather than a line every few seconds.
	Progress io.Writer
	TTY      bool
	Logf     func(string, ...any)
	// KeepLogs keeps the nodes' directories (with their logs) of every
	// cluster; a cluster whose run went wrong keeps its own anyway.
	KeepLogs bool
	// Dir, when set, holds every cluster's directory (kept afterwards):
	// Dir/MODE-SIZE-load and Dir/MODE-SIZE-trials.
	Dir     string
	Command string
	// NodeCPUs, when > 0, is the CPU budget of each spawned node
	// (local.SpawnConfig.NodeCPUs).
	NodeCPUs float64
}

func (c *StudyConfig) setDefaults() {
	if len(c.Modes) == 0 {
		c.Modes = []string{"bully"}
	}
	if len(c.Sizes) == 0 {
		c.Sizes = []int{3}
	}
	if c.Profile == "" {
		c.Profile = "fast"
	}
	if c.Gap <= 0 {
		c.Gap = 250 * time.Millisecond
	}
	if c.TrialTimeout <= 0 {
		c.TrialTimeout = 30 * time.Second
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	c.Load.SetDefaults()
}

// RunStudy runs the study and returns its report. The error says what
// went wrong in any run (a cluster that did not start, books that do not
// balance); the report holds whatever was measured all the same.
func RunStudy(ctx context.Context, cfg StudyConfig) (*report.Report, error) {
	cfg.setDefaults()
	rep := &report.Report{
		Started: time.Now().UTC(), Command: cfg.Command, Build: version.Get().String(),
		Machine: report.Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, Go: runtime.Version()},
		Runs:    []report.Run{},
	}
	rep.Workload = workloadInfo(cfg)
	var errs []error
	for _, size := range cfg.Sizes {
		for _, mode := range cfg.Modes {
			if ctx.Err() != nil {
				errs = append(errs, ctx.Err())
				break
			}
			run := cfg.runOne(ctx, mode, size)
			if rep.Reference == nil {
				rep.Reference = run.Reference
			}
			if run.Error != "" {
				errs = append(errs, fmt.Errorf("%s, %d nodes: %s", mode, size, run.Error))
			}
			if run.Books != nil && !run.Books.OK() {
				errs = append(errs, fmt.Errorf("%s, %d nodes: the books do not balance: %v", mode, size, run.Books.Problems))
			}
			rep.Runs = append(rep.Runs, run)
		}
	}
	rep.Finished = time.Now().UTC()
	return rep, errors.Join(errs...)
}

func workloadInfo(cfg StudyConfig) report.WorkloadInfo {
	w := cfg.Load
	info := report.WorkloadInfo{
		Loop: "closed", Clients: w.Workers, RequestsPerClient: w.Requests, DurationS: w.Duration.Seconds(),
		ViewShare: w.ViewShare, Quota: w.Quota, Viewers: w.Viewers, Secret: cfg.Secret, Cover: cfg.Cover, Stealth: w.Stealth,
		Profile: cfg.Profile, SimulateFailures: cfg.SimulateFailures, Seed: w.Seed, Route: routeName(w.Route), NoRetry: w.NoRetry,
		Trials: cfg.Trials, Sizes: cfg.Sizes, Modes: cfg.Modes, NodeCPUs: cfg.NodeCPUs,
	}
	if w.Rate > 0 {
		info.Loop, info.Rate, info.RequestsPerClient = "open", w.Rate, 0
	}
	for _, f := range cfg.Faults {
		info.Faults = append(info.Faults, f.String())
	}
	if len(cfg.APIs) > 0 {
		info.Target = "running cluster"
	} else {
		info.Target = "spawned"
	}
	return info
}

func routeName(r client.Route) string {
	switch r {
	case client.RouteAny:
		return "any"
	case client.RouteMulticast:
		return "multicast"
	case client.RouteSpread:
		return "spread"
	}
	return "coordinator"
}

// simulation is the nodes' --simulate-failures for the load.
func (cfg *StudyConfig) simulation() string {
	if cfg.SimulateFailures != "" {
		return cfg.SimulateFailures
	}
	for _, f := range cfg.Faults {
		if f.Kind == FaultSimulate {
			return DefaultSimulation
		}
	}
	return ""
}

func (cfg *StudyConfig) spawn(ctx context.Context, mode string, size int, sim, purpose string) (*local.Cluster, error) {
	dir := ""
	if cfg.Dir != "" {
		dir = filepath.Join(cfg.Dir, fmt.Sprintf("%s-%d-%s", mode, size, purpose))
	}
	return local.Spawn(ctx, local.SpawnConfig{Bin: cfg.Bin, Nodes: size, Profile: cfg.Profile, Mode: mode,
		SimulateFailures: sim, KeepDir: cfg.KeepLogs, Dir: dir, Logf: cfg.Logf, NodeCPUs: cfg.NodeCPUs})
}

// runOne is one mode at one size: the load, then the trials.
func (cfg *StudyConfig) runOne(ctx context.Context, mode string, size int) report.Run {
	run := report.Run{Mode: mode, Nodes: size, Errors: map[string]int{}, PerNode: map[string]int{}}
	label := fmt.Sprintf("%s, %d nodes", mode, size)
	if len(cfg.APIs) > 0 {
		run.Nodes = len(cfg.APIs)
		label = "running cluster"
	}
	if cfg.Load.Pace.Total() > 0 || cfg.Load.Pace.Duration > 0 {
		// The reference is taken just before the load and again just
		// after it, so that the two bracket the machine's conditions.
		level, err := stego.ParseLevel(cfg.Load.Stealth)
		if err != nil {
			run.Error = err.Error()
			return run
		}
		if cfg.Reference > 0 {
			fmt.Fprintf(cfg.Progress, "%s: measuring the raw stego pipeline (hide, then reveal, %s each, %d goroutines)...\n",
				label, cfg.Reference, runtime.GOMAXPROCS(0))
			p, err := load.MeasurePipeline(ctx, cfg.Load.Secrets, cfg.Load.Cover, level, cfg.Load.ViewShare, cfg.Reference)
			if err != nil {
				run.Error = err.Error()
				return run
			}
			run.Reference = &p
		}
		if err := cfg.runLoad(ctx, &run, label); err != nil {
			run.Error = err.Error()
			return run
		}
		if run.Reference != nil {
			// Again once the load's nodes have stopped.
			p, err := load.MeasurePipeline(ctx, cfg.Load.Secrets, cfg.Load.Cover, level, cfg.Load.ViewShare, cfg.Reference)
			if err != nil {
				run.Error = err.Error()
				return run
			}
			run.ReferenceAfter = &p
			if mix := referenceRPS(&run); mix > 0 {
				run.ShareOfReference = load.Round3(run.ThroughputRPS / mix)
			}
		}
	}
	if cfg.Trials > 0 && len(cfg.APIs) == 0 {
		if err := cfg.runTrials(ctx, &run, label); err != nil {
			run.Error = err.Error()
		}
	}
	return run
}

func (cfg *StudyConfig) runLoad(ctx context.Context, run *report.Run, label string) (err error) {
	var c *local.Cluster
	apis := cfg.APIs
	if len(apis) == 0 {
		fmt.Fprintf(cfg.Progress, "%s: starting the nodes (profile %s%s)...\n", label, cfg.Profile, simNote(cfg.simulation()))
		if c, err = cfg.spawn(ctx, run.Mode, run.Nodes, cfg.simulation(), "load"); err != nil {
			return err
		}
		defer func() { err = c.Release(err) }()
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		a, err := c.WaitSettled(sctx)
		cancel()
		if err != nil {
			return err
		}
		run.Coordinator = a.Coordinator
		apis = c.APIs()
	} else if mode := clusterMode(ctx, cfg.Load.HTTP, apis); mode != "" {
		run.Mode = mode
	}
	all := slices.Clone(apis)
	if c != nil {
		all = c.APIs(seq(c.Len())...)
	}
	before := scrapeAll(ctx, cfg.Load.HTTP, all)

	w := cfg.Load
	w.Nodes = apis
	wr, err := load.Prepare(ctx, w)
	if err != nil {
		return err
	}
	prog := &load.Progress{}
	total := w.Pace.Total()
	pctx, stopProgress := context.WithCancel(ctx)
	var bg sync.WaitGroup
	bg.Go(func() { load.ShowProgress(pctx, cfg.Progress, cfg.TTY, label, prog, total, w.Pace.Duration) })

	// After load.Prepare, whose registrations (a password hash each) are no
	// part of the load. A node's idle CPU (gossip, heartbeats, the
	// runtime) is measured first, so that what the load cost can be told
	// from what the node costs anyway.
	idle := idleCPU(ctx, c, 2*time.Second)
	cpuBefore := cpuSeconds(c)
	start := time.Now()
	mctx, stopMonitor := context.WithCancel(ctx)
	var seen watched
	nodeNames := names(c, all)
	bg.Go(func() { seen = monitor(mctx, cfg.Load.HTTP, all, nodeNames, start) })
	stopFaults := make(chan struct{})
	var windows []report.FaultWindow
	if c != nil && len(cfg.Faults) > 0 {
		bg.Go(func() { windows = runFaults(ctx, c, start, cfg.Faults, stopFaults, cfg.Logf) })
	}
	d := load.Drive(ctx, w.Pace, func(k int) load.OpFunc { return wr.Worker(k, start) }, prog)
	close(stopFaults)
	stopProgress()
	// The faults are undone; give the cluster time to agree before the
	// books are read, while the monitor still watches.
	if c != nil {
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		_, err = c.WaitAgreement(sctx)
		cancel()
		if err != nil {
			stopMonitor()
			bg.Wait()
			return err
		}
	}
	stopMonitor()
	bg.Wait()
	fmt.Fprintln(cfg.Progress)

	after := scrapeAll(ctx, cfg.Load.HTTP, all)
	cpuAfter := cpuSeconds(c)
	var ops []load.Op
	for _, o := range d.Ops {
		ops = append(ops, o...)
	}
	fillLoad(run, ops, d, nodeNames, before, after, cfg.Gap)
	run.Coordinators, run.Faults, run.Down = seen.Changes, windows, seen.Down
	if run.Faults == nil {
		run.Faults = []report.FaultWindow{}
	}
	if run.Down == nil {
		run.Down = []report.FaultWindow{}
	}
	fillCPU(run, cpuBefore, cpuAfter, idle, seen.Changes)

	images, err := wr.Images(ctx, cfg.Load.HTTP, apis)
	if err != nil {
		return fmt.Errorf("reading the registry for the books: %w", err)
	}
	books := load.CheckBooks(ops, images)
	run.Books = &books
	return nil
}

// cpuSeconds returns the CPU time each running node has used, by name; nil
// for a cluster it did not spawn.
func cpuSeconds(c *local.Cluster) map[string]float64 {
	if c == nil {
		return nil
	}
	out := map[string]float64{}
	for _, i := range c.Live() {
		if s, err := proc.CPUSeconds(c.PID(i)); err == nil {
			out[c.Node(i).Name] = s
		}
	}
	return out
}

// idleCPU returns each node's CPU use per second, measured over d before
// the load; nil for a cluster it did not spawn.
func idleCPU(ctx context.Context, c *local.Cluster, d time.Duration) map[string]float64 {
	if c == nil {
		return nil
	}
	before, start := cpuSeconds(c), time.Now()
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(d):
	}
	after, el := cpuSeconds(c), time.Since(start).Seconds()
	out := map[string]float64{}
	for name, b := range before {
		if a, ok := after[name]; ok && a >= b {
			out[name] = (a - b) / el
		}
	}
	return out
}

// fillCPU records each node's CPU time over the load, and the
// coordinator's per acknowledged operation, less what it used idle, when
// one node coordinated throughout (changes lists the coordinators seen, the
// first at the start).
func fillCPU(run *report.Run, before, after, idle map[string]float64, changes []report.CoordinatorChange) {
	if before == nil {
		run.Coordinator = ""
		return
	}
	run.CPUPerNode = map[string]float64{}
	for name, b := range before {
		if a, ok := after[name]; ok && a >= b {
			run.CPUPerNode[name] = load.Round3(a - b)
		}
	}
	run.IdleCPUPerNode = map[string]float64{}
	for name, v := range idle {
		run.IdleCPUPerNode[name] = load.Round3(v)
	}
	for _, ch := range changes {
		if ch.Coordinator != run.Coordinator {
			run.Coordinator = "" // it moved: no one node's figure stands for the run
		}
	}
	if run.Coordinator != "" && len(run.JobsPerNode) > 1 {
		var others []float64
		for name, jobs := range run.JobsPerNode {
			if name != run.Coordinator {
				others = append(others, jobs)
			}
		}
		run.FairnessWorkers = load.Round3(load.Jain(others))
	}
	cpu, ok := run.CPUPerNode[run.Coordinator]
	if !ok || run.Coordinator == "" || run.Succeeded == 0 {
		run.Coordinator = ""
		return
	}
	cpu = max(cpu-idle[run.Coordinator]*run.ElapsedS, 0)
	run.CoordinatorCPUPerOpMS = load.Round3(1000 * cpu / float64(run.Succeeded))
}

func simNote(sim string) string {
	if sim == "" {
		return ""
	}
	return ", failure simulation " + sim
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// names maps API addresses to node names for the per-node figures.
func names(c *local.Cluster, apis []string) []string {
	out := slices.Clone(apis)
	if c != nil {
		for i := range c.Len() {
			out[i] = c.Node(i).Name
		}
	}
	return out
}

// clusterMode asks a running cluster which mode it runs.
func clusterMode(ctx context.Context, hc *http.Client, apis []string) string {
	for _, api := range apis {
		var st cluster.StatusReply
		if proc.GetJSON(ctx, hc, api, "/v1/status", &st) == nil {
			return st.Mode
		}
	}
	return ""
}

// scrapeAll reads every node's counters; a node that does not answer is
// left out (nil).
func scrapeAll(ctx context.Context, hc *http.Client, apis []string) []*local.Counters {
	out := make([]*local.Counters, len(apis))
	var wg sync.WaitGroup
	for k, api := range apis {
		wg.Go(func() {
			if c, err := local.ScrapeCounters(ctx, hc, api); err == nil {
				out[k] = &c
			}
		})
	}
	wg.Wait()
	return out
}

// grown is how much a counter grew; a node restarted meanwhile starts from
// zero again, and then only what it counted since is known.
func grown(before, after float64) float64 {
	if after < before {
		return after
	}
	return after - before
}
