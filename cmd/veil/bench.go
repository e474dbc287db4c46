package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"veil/bench"
	"veil/cluster"
	"veil/cluster/client"
)

var benchCommand = command{
	name:    "bench",
	summary: "start a local cluster and measure it: load, failover, steady state, demo",
	run:     runBench,
}

const benchHelp = `
what it runs (one at a time):
  load      (default) --clients C closed-loop clients, each sending --requests R
            hides, or sending for --duration D; reports throughput, failures,
            latency percentiles and the elections that happened meanwhile
  steady    --steady: load for --duration (default 5m) with no fault; reports
            the elections and coordinator changes each node counted
  failover  --failover-trials T: SIGKILL the coordinator T times; each time
            measure until the survivors agree on a new coordinator and until
            it acknowledges a write, then restart the killed node
  demo      --demo: three nodes, a batch of hides, the members table, SIGKILL
            of the coordinator, the failover, the table again

Every node is a 'veil node' process of --bin on free loopback ports, with its
data and log in a temporary directory (or --dir, which is kept). All of them
are stopped when the bench ends, however it ends (on Linux even when the
bench itself is killed).
`

// benchOptions are the parsed flags of veil bench.
type benchOptions struct {
	spawn    bench.SpawnConfig
	mode     string // load, steady, failover or demo
	trials   int
	trialMax time.Duration
	load     bench.LoadConfig
	maxTime  time.Duration
}

func runBench(args []string, stdout, stderr io.Writer) int {
	opts, err := parseBench(args, stderr)
	if err != nil {
		return flagStatus(stderr, "bench", err)
	}
	// SIGPIPE too: when stdout is a pipe that closes (veil bench | head),
	// the run stops and cleans up instead of dying on the next write.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGPIPE)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, opts.maxTime)
	defer cancel()
	if opts.mode == "demo" {
		return benchStatus(stderr, runDemo(ctx, opts, stdout, stderr))
	}

	fmt.Fprintf(stdout, "starting %d nodes (profile %s, mode %s)...\n", opts.spawn.Nodes, opts.spawn.Profile, opts.spawn.Mode)
	began := time.Now()
	c, err := bench.Spawn(ctx, opts.spawn)
	if err != nil {
		return fail(stderr, "bench", err)
	}
	defer c.Close()
	a, err := c.WaitAgreement(ctx)
	if err != nil {
		return fail(stderr, "bench", err)
	}
	fmt.Fprintf(stdout, "%d nodes in %s agree on %s, %s after the start\n",
		c.Len(), c.Dir(), a, time.Since(began).Round(time.Millisecond))

	switch opts.mode {
	case "failover":
		err = benchFailover(ctx, c, opts, stdout)
	case "steady":
		err = benchSteady(ctx, c, opts, stdout)
	default:
		err = benchLoad(ctx, c, opts, stdout)
	}
	if err != nil {
		c.Keep()
		err = fmt.Errorf("%w (node logs kept in %s)", err, c.Dir())
	}
	if cerr := c.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("stopping the nodes: %w", cerr)
	}
	return benchStatus(stderr, err)
}

func benchStatus(stderr io.Writer, err error) int {
	if err != nil {
		return fail(stderr, "bench", err)
	}
	return exitOK
}

func parseBench(args []string, stderr io.Writer) (benchOptions, error) {
	fl := newFlags("bench", "[--spawn N] [--profile fast|lan] [--clients C --requests R | --duration D [--steady] | --failover-trials T | --demo]", stderr)
	usage := fl.Usage
	fl.Usage = func() { usage(); fmt.Fprint(stderr, benchHelp) }
	bin := fl.String("bin", "", "veil binary the nodes run (default: this one)")
	nodes := fl.Int("spawn", 3, "number of nodes to start")
	mode := fl.String("mode", "bully", "the nodes' coordinator selection")
	profile := fl.String("profile", "fast", "the nodes' timing profile: fast or lan")
	failures := fl.String("simulate-failures", "", "the nodes' failure simulation, e.g. every=30s,down=10s-20s (off by default)")
	dir := fl.String("dir", "", "directory for the key, the nodes' data and logs, kept afterwards (default: a temporary one, removed)")
	trials := fl.Int("failover-trials", 0, "run this many failover trials")
	trialMax := fl.Duration("trial-timeout", 30*time.Second, "give up on one failover trial after this long")
	clients := fl.Int("clients", 4, "concurrent closed-loop clients")
	requests := fl.Int("requests", 25, "hides per client")
	duration := fl.Duration("duration", 0, "send for this long instead of a number of requests")
	steady := fl.Bool("steady", false, "steady state: load with no fault for --duration (default 5m); count elections")
	route := fl.String("route", "coordinator", "where clients send: coordinator, any or multicast")
	timeout := fl.Duration("timeout", 30*time.Second, "give up on one hide after this long, retries included")
	demo := fl.Bool("demo", false, "run the demo: a three-node cluster, a batch of hides, a failover")
	maxTime := fl.Duration("max-time", 30*time.Minute, "stop everything after this long")
	var o benchOptions
	if err := parseFlags(fl, args); err != nil {
		return o, err
	}
	if fl.NArg() > 0 {
		return o, usagef("unexpected argument %q", fl.Arg(0))
	}
	set := map[string]bool{}
	fl.Visit(func(f *flag.Flag) { set[f.Name] = true })

	modes := 0
	o.mode = "load"
	if *trials > 0 {
		o.mode, modes = "failover", modes+1
	}
	if *steady {
		o.mode, modes = "steady", modes+1
	}
	if *demo {
		o.mode, modes = "demo", modes+1
	}
	switch {
	case modes > 1:
		return o, usagef("--failover-trials, --steady and --demo are different runs; choose one")
	case *trials < 0:
		return o, usagef("--failover-trials %d: want a positive number", *trials)
	case *nodes < 1:
		return o, usagef("--spawn %d: want at least 1 node", *nodes)
	case o.mode == "failover" && *nodes < 2:
		return o, usagef("--spawn %d: a failover needs at least 2 nodes", *nodes)
	case *clients < 1:
		return o, usagef("--clients %d: want at least 1", *clients)
	case *requests < 1:
		return o, usagef("--requests %d: want at least 1", *requests)
	case *duration < 0:
		return o, usagef("--duration %s: want a positive duration", *duration)
	case *duration > 0 && set["requests"]:
		return o, usagef("--requests and --duration both bound the load; give one")
	case *maxTime <= 0 || *trialMax <= 0 || *timeout <= 0:
		return o, usagef("--max-time, --trial-timeout and --timeout must be positive")
	}
	if _, err := cluster.ProfileByName(*profile); err != nil {
		return o, usagef("--profile: %v", err)
	}
	r, err := client.ParseRoute(*route)
	if err != nil {
		return o, usagef("--route: %v", err)
	}
	if *bin == "" {
		if *bin, err = os.Executable(); err != nil {
			return o, fmt.Errorf("finding this binary (give --bin): %w", err)
		}
	}
	if o.mode == "demo" {
		*nodes, *profile = 3, "fast"
	}
	o.spawn = bench.SpawnConfig{
		Bin: *bin, Nodes: *nodes, Profile: *profile, Mode: *mode,
		SimulateFailures: *failures, Dir: *dir,
	}
	o.trials, o.trialMax, o.maxTime = *trials, *trialMax, *maxTime
	o.load = bench.LoadConfig{Clients: *clients, Requests: *requests, Route: r, Timeout: *timeout}
	if *duration > 0 {
		o.load.Requests, o.load.Duration = 0, *duration
	}
	if o.mode == "steady" && *duration == 0 {
		o.load.Requests, o.load.Duration = 0, 5*time.Minute
	}
	return o, nil
}

func benchLoad(ctx context.Context, c *bench.Cluster, o benchOptions, stdout io.Writer) error {
	rep, err := c.Steady(ctx, o.load)
	if err != nil {
		if rep.Load.OK+rep.Load.Failed > 0 {
			rep.Load.WriteText(stdout)
		}
		return err
	}
	rep.WriteText(stdout)
	if rep.Load.OK == 0 {
		return errors.New("no hide was acknowledged")
	}
	return nil
}

func benchSteady(ctx context.Context, c *bench.Cluster, o benchOptions, stdout io.Writer) error {
	fmt.Fprintf(stdout, "steady load for %s with no fault...\n", o.load.Duration)
	return benchLoad(ctx, c, o, stdout)
}

func benchFailover(ctx context.Context, c *bench.Cluster, o benchOptions, stdout io.Writer) error {
	rep, err := c.Failover(ctx, bench.FailoverConfig{
		Trials: o.trials, TrialTimeout: o.trialMax,
		OnTrial: func(t bench.Trial) {
			if t.Err != nil {
				fmt.Fprintf(stdout, "trial %d/%d: killed %s: %v\n", t.N, o.trials, t.Killed, t.Err)
				return
			}
			fmt.Fprintf(stdout, "trial %d/%d: killed %s; survivors agree on %s after %s; first write after %s\n",
				t.N, o.trials, t.Killed, t.New, ms(t.Agreed), ms(t.FirstWrite))
		},
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	rep.WriteText(stdout)
	if rep.Agreed.N == 0 {
		return errors.New("no trial measured a failover")
	}
	return nil
}

// runDemo shows the cluster at work and through a coordinator crash.
func runDemo(ctx context.Context, o benchOptions, stdout, stderr io.Writer) error {
	fmt.Fprintln(stdout, "== starting three nodes (fast profile), each a 'veil node' process on loopback")
	began := time.Now()
	c, err := bench.Spawn(ctx, o.spawn)
	if err != nil {
		return err
	}
	defer c.Close()
	for i := range c.Len() {
		n := c.Node(i)
		fmt.Fprintf(stdout, "   %s  pid %d  gossip %s  api %s\n", n.Name, c.PID(i), n.Gossip, n.API)
	}
	a, err := c.WaitSettled(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "   they agree on %s, %s after the start\n\n", a, time.Since(began).Round(time.Millisecond))

	fmt.Fprintln(stdout, "== hiding a batch of images through the cluster (4 clients, 8 hides each)")
	load := bench.LoadConfig{Nodes: c.APIs(), Clients: 4, Requests: 8, Timeout: 30 * time.Second}
	rep, err := bench.RunLoad(ctx, load)
	if err != nil {
		return err
	}
	rep.WriteText(stdout)
	fmt.Fprintln(stdout)

	fmt.Fprintf(stdout, "== veil members --api %s\n", a.API)
	if runMembers([]string{"--api", a.API}, stdout, stderr) != exitOK {
		return errors.New("veil members failed")
	}
	fmt.Fprintln(stdout)

	killed := c.Index(a.Coordinator)
	fmt.Fprintf(stdout, "== SIGKILL the coordinator %s (pid %d); a client keeps hiding through the others\n", a.Coordinator, c.PID(killed))
	t, err := c.FailoverTrial(ctx, bench.FailoverConfig{})
	if err != nil {
		return err
	}
	if t.Err != nil {
		return fmt.Errorf("failover: %w", t.Err)
	}
	fmt.Fprintf(stdout, "   the survivors agree on %s %s after the kill\n", t.New, ms(t.Agreed))
	fmt.Fprintf(stdout, "   first write acknowledged by %s %s after the kill (%d failed before it)\n\n", t.WriteBy, ms(t.FirstWrite), t.FailedWrites)

	// The table as a survivor other than the new coordinator has it: what
	// it shows of the coordinator came by gossip.
	observer := c.Index(t.New.Coordinator)
	for _, i := range c.Live() {
		if i != observer {
			observer = i
			break
		}
	}
	api := c.Node(observer).API
	if err := waitTable(ctx, c, observer, t.Killed, t.New); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "== veil members --api %s, once gossip has declared %s failed\n", api, t.Killed)
	if runMembers([]string{"--api", api}, stdout, stderr) != exitOK {
		return errors.New("veil members failed")
	}
	fmt.Fprintln(stdout)

	fmt.Fprintln(stdout, "== hiding another batch with the node down")
	load.Nodes = c.APIs()
	if rep, err = bench.RunLoad(ctx, load); err != nil {
		return err
	}
	rep.WriteText(stdout)
	fmt.Fprintln(stdout)

	fmt.Fprintln(stdout, "== stopping the cluster")
	if err := c.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "   every node process was killed and reaped; none is left\n")
	return nil
}

// waitTable waits until node i's members table shows the killed node
// failed and the new coordinator in its role at its epoch: gossip carries
// both a moment after the election.
func waitTable(ctx context.Context, c *bench.Cluster, i int, killed string, now bench.Agreement) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		members, err := c.Members(ctx, i)
		done := err == nil
		for _, m := range members {
			switch m.Name {
			case killed:
				done = done && m.Status == "failed"
			case now.Coordinator:
				done = done && m.Role == "coordinator" && m.Epoch == now.Epoch
			}
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the members table of %s did not show %s failed and %s coordinating (last: %v, %v)",
				c.Node(i).Name, killed, now.Coordinator, members, err)
		case <-tick.C:
		}
	}
}

// ms prints a duration in milliseconds with one decimal.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}
