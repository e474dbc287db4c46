package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image/jpeg"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"veil/bench"
	faultsuite "veil/bench/faults"
	"veil/bench/load"
	"veil/bench/local"
	"veil/bench/p2p"
	regbench "veil/bench/registry"
	"veil/bench/report"
	"veil/cluster"
	"veil/cluster/client"
	"veil/internal/certs"
	"veil/stego"
)

var benchCommand = command{
	name:    "bench",
	summary: "measure a cluster: load with faults, the books, failover trials, a report; steady state; demo",
	run:     runBench,
}

const benchHelp = `
what it runs (one at a time):
  study     (default) for each --mode and --spawn size: a workload of puts and
            views by real users (closed loop --clients C x --requests R, or open
            loop --rate R for --duration D), with the --faults schedule; then the
            books check (every acknowledged put is in the registry, no operation
            applied twice, every view counted once); then --failover-trials T
            SIGKILLs of the coordinator on a fresh cluster. With --out DIR:
            report.json, report.md and a self-contained report.html with plots.
            --failover-trials alone (no load flag) runs only the trials.
  steady    --steady: load for --duration (default 5m) with no fault; reports
            the elections and coordinator changes each node counted
  demo      --demo: three nodes, a batch of hides, the members table, SIGKILL
            of the coordinator, the failover, the table again
  peers     --peers N: the P2P load: N users' peers (veil peer processes) put
            through the cloud, fetch from each other and view, for --duration
            (default 60s) with --clients operations at once (at most 16 here),
            peers going offline and back every --peer-churn, the coordinator
            killed halfway, and the --simulate-failures given; then the quotas
            and the directory on every node are checked. With --out DIR:
            p2p.md and p2p.json.
  peers-demo --peers-demo: Phase 2's use cases, narrated, on three nodes and
            three users' peers
  registry  --registry N[,N...]: for each N (10000, 10k, 1M) and --mode, a
            cluster of --spawn nodes (default 3) whose registry is filled with
            N images, N/10 users and 3 viewers an image through the log
            (POST /v1/admin/fill, batched; the nodes are started with
            VEIL_ALLOW_FILL=1); then the coordinator's heap per image, a
            user's directory and image list (p99 over HTTP), writes while no
            node takes a snapshot and while one does, the snapshot's time,
            the data directory after it, and a follower killed and restarted
            (its restore and its restart to serving and caught up). Raft mode
            waits for hashicorp/raft's own snapshot, every 2 to 4 minutes.
            With --out DIR: report.json (the runs under "registry"),
            report.md and a plot of each cost against N.
  redraw    --redraw FILE: no run; report.md, report.html and the plots drawn
            again from a report.json (with --fault-table, that table put in)
  photo     --make-photo FILE: no run; a JPEG photograph of about 2 MB written
            to FILE: --photo-from PHOTO re-encoded at quality 97 (scaled up as
            far as it takes), or else a generated photograph-like cover at
            quality 92. make photos uses it.

The secret the study puts is a PNG of noise, --secret-size pixels, unless
--secret names files of yours: a JPEG, PNG or GIF file, or a directory whose
image files are put in turn, each at most what the cloud takes at the
--stealth level. Every view's bytes are held against the secret put; the
report gives the secret MB/s (bytes of secret put or viewed, acknowledged
only, per second) beside the operations per second.

--faults takes a schedule, entries separated by commas or spaces:
  kill@10s+5s        SIGKILL the coordinator 10 s into the load, restart it 5 s later
  kill:node-2@10s    SIGKILL node-2 and leave it down
  stop@20s+3s        SIGSTOP the coordinator, SIGCONT 3 s later
  fail@30s+8s        the coordinator fails for 8 s as the failure simulation makes nodes fail
  simulate           the failure simulation on every node (` + bench.DefaultSimulation + `)

Every node is a 'veil node' process of --bin on free loopback ports, with its
data and log in a temporary directory (or under --dir, which is kept). All of
them are stopped when the bench ends, however it ends (on Linux even when the
bench itself is killed). With --api the bench loads a running cluster instead
(no faults, no trials).
`

// benchOptions are the parsed flags of veil bench.
type benchOptions struct {
	spawn local.SpawnConfig // for steady and demo
	mode  string            // study, steady or demo
	study bench.StudyConfig
	out   string
	// faultTable is the fault suite's results, for the report.
	faultTable *faultsuite.Table
	// redraw is a report.json to draw again (mode redraw).
	redraw  string
	load    load.Config      // for steady
	peers   []p2p.LoadConfig // for peers, one per mode
	maxTime time.Duration

	// photo and photoFrom are the photograph to make and the one to make
	// it from, "" for a generated one (mode photo).
	photo, photoFrom string

	// registry is the registry bench (mode registry).
	registry regbench.Config
}

func runBench(args []string, stdout, stderr io.Writer) int {
	opts, err := parseBench(args, stderr)
	if err != nil {
		return flagStatus(stderr, "bench", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, opts.maxTime)
	defer cancel()
	// When stdout is a pipe that closes (veil bench | head), the run stops
	// and cleans up instead of dying on the next write. Asking for SIGPIPE
	// would not do: it comes for any socket the peer closed too, and a
	// node killed on purpose closes many.
	signal.Ignore(syscall.SIGPIPE)
	stdout = stopOnClosedPipe{stdout, cancel}
	switch opts.mode {
	case "redraw":
		return benchStatus(stderr, runRedraw(opts, stdout))
	case "photo":
		return benchStatus(stderr, runMakePhoto(opts, stdout))
	case "demo":
		return benchStatus(stderr, runDemo(ctx, opts, stdout, stderr))
	case "peers-demo":
		return benchStatus(stderr, p2p.Demo(ctx, p2p.DemoConfig{Bin: opts.spawn.Bin, Mode: opts.spawn.Mode, Dir: opts.spawn.Dir, Out: stdout}))
	case "peers":
		return benchStatus(stderr, runPeers(ctx, opts, stdout))
	case "registry":
		opts.registry.Progress = stdout
		opts.registry.Command = "veil bench " + strings.Join(args, " ")
		return benchStatus(stderr, runRegistry(ctx, opts, stdout))
	case "study":
		opts.study.Progress, opts.study.TTY = stdout, isTerminal(stdout)
		opts.study.Command = "veil bench " + strings.Join(args, " ")
		return benchStatus(stderr, runStudy(ctx, opts, stdout))
	}

	fmt.Fprintf(stdout, "starting %d nodes (profile %s, mode %s)...\n", opts.spawn.Nodes, opts.spawn.Profile, opts.spawn.Mode)
	began := time.Now()
	c, err := local.Spawn(ctx, opts.spawn)
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
	return benchStatus(stderr, c.Release(benchSteady(ctx, c, opts, stdout)))
}

// runPeers runs the P2P load in each mode, prints and writes its report.
func runPeers(ctx context.Context, o benchOptions, stdout io.Writer) error {
	var md strings.Builder
	var reps []p2p.LoadReport
	var broken []string
	for _, cfg := range o.peers {
		fmt.Fprintf(stdout, "P2P load: %d %s nodes, %d peers, %d operations at once, for %s...\n", cfg.Nodes, cfg.Mode, cfg.Peers, cfg.Workers, cfg.Duration)
		cfg.Logf = func(format string, a ...any) { fmt.Fprintf(stdout, "  "+format+"\n", a...) }
		rep, err := p2p.RunLoad(ctx, cfg)
		if err != nil {
			return err
		}
		rep.WriteMarkdown(stdout)
		rep.WriteMarkdown(&md)
		fmt.Fprintln(stdout)
		reps = append(reps, rep)
		if !rep.OK() {
			broken = append(broken, cfg.Mode)
		}
	}
	if o.out != "" {
		if err := os.MkdirAll(o.out, 0o755); err != nil {
			return err
		}
		b, _ := json.MarshalIndent(reps, "", "  ")
		if err := os.WriteFile(filepath.Join(o.out, "p2p.json"), append(b, '\n'), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(o.out, "p2p.md"), []byte(md.String()), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "report: %s\n", filepath.Join(o.out, "p2p.md"))
	}
	if len(broken) > 0 {
		return fmt.Errorf("the P2P load broke a rule in %s mode (see the report)", strings.Join(broken, " and "))
	}
	return nil
}

// runRegistry runs the registry bench, prints its table and writes its
// report.
func runRegistry(ctx context.Context, o benchOptions, stdout io.Writer) error {
	rep, err := regbench.Run(ctx, o.registry)
	if rep == nil {
		return err
	}
	fmt.Fprintln(stdout)
	rep.WriteText(stdout)
	if o.out != "" {
		if werr := rep.WriteDir(o.out); werr != nil {
			return errors.Join(err, werr)
		}
		fmt.Fprintf(stdout, "\nreport: %s (and report.json, the plots there)\n", filepath.Join(o.out, "report.md"))
	}
	return err
}

// runStudy runs the study, prints its summary and writes the report.
func runStudy(ctx context.Context, o benchOptions, stdout io.Writer) error {
	rep, err := bench.RunStudy(ctx, o.study)
	if rep == nil {
		return err
	}
	rep.FaultSuite = o.faultTable
	fmt.Fprintln(stdout)
	rep.WriteText(stdout)
	if o.out != "" {
		if werr := rep.WriteDir(o.out); werr != nil {
			return errors.Join(err, werr)
		}
		fmt.Fprintf(stdout, "\nreport: %s (also report.json and report.md there)\n", filepath.Join(o.out, "report.html"))
	}
	return err
}

// runRedraw draws a report again from its report.json.
func runRedraw(o benchOptions, stdout io.Writer) error {
	f, err := os.Open(o.redraw)
	if err != nil {
		return err
	}
	rep, err := report.Read(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", o.redraw, err)
	}
	if o.faultTable != nil {
		rep.FaultSuite = o.faultTable
	}
	rep.WriteText(stdout)
	if err := rep.WriteDir(o.out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nreport: %s (also report.json and report.md there)\n", filepath.Join(o.out, "report.html"))
	return nil
}

// runMakePhoto writes the photograph of about load.PhotoBytes that the
// demo and the studies put.
func runMakePhoto(o benchOptions, stdout io.Writer) error {
	var b []byte
	how := fmt.Sprintf("a generated photograph-like cover at quality 92 (seed %d)", o.study.Load.Seed)
	if o.photoFrom != "" {
		src, err := os.ReadFile(o.photoFrom)
		if err != nil {
			return err
		}
		if b, err = load.ReencodePhoto(src, load.PhotoBytes); err != nil {
			return fmt.Errorf("%s: %w", o.photoFrom, err)
		}
		how = o.photoFrom + " re-encoded at quality 97"
	} else {
		var err error
		if b, err = load.GeneratedPhoto(load.PhotoBytes, o.study.Load.Seed); err != nil {
			return err
		}
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("the photograph made does not decode: %w", err)
	}
	if dir := filepath.Dir(o.photo); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(o.photo, b, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %s bytes, %dx%d JPEG, %s\n", o.photo, load.Commas(int64(len(b))), cfg.Width, cfg.Height, how)
	return nil
}

// stopOnClosedPipe ends the run when a write finds the pipe closed.
type stopOnClosedPipe struct {
	w      io.Writer
	cancel context.CancelFunc
}

func (s stopOnClosedPipe) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if errors.Is(err, syscall.EPIPE) {
		s.cancel()
	}
	return n, err
}

// isTerminal reports whether w is a terminal, for the live progress bar.
func isTerminal(w io.Writer) bool {
	if s, ok := w.(stopOnClosedPipe); ok {
		w = s.w
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func benchStatus(stderr io.Writer, err error) int {
	if err != nil {
		return fail(stderr, "bench", err)
	}
	return exitOK
}

func parseBench(args []string, stderr io.Writer) (benchOptions, error) {
	fl := newFlags("bench", "[--spawn N[,N...] --mode bully|raft|both | --api URL[,URL...]] [--clients C --requests R | --rate R --duration D] [--secret FILE|DIR] [--stealth LEVEL] [--faults SCHEDULE] [--failover-trials T] [--out DIR] | --registry N[,N...] | --steady | --demo | --make-photo FILE", stderr)
	usage := fl.Usage
	fl.Usage = func() { usage(); fmt.Fprint(stderr, benchHelp) }
	bin := fl.String("bin", "", "veil binary the nodes run (default: this one)")
	sizes := fl.String("spawn", "3", "cluster sizes to start, e.g. 3 or 1,3,5,7")
	nodeCPUs := fl.Float64("node-cpus", 0, "run each spawned node under a CPU budget of its own (a cgroup; needs root), e.g. 0.25, so that it behaves like a machine of that size")
	api := fl.String("api", "", "load a running cluster at these API addresses instead of starting one")
	mode := fl.String("mode", "bully", "the nodes' coordinator selection: bully, raft, or both (one after the other)")
	profile := fl.String("profile", "fast", "the nodes' timing profile: fast or lan")
	failures := fl.String("simulate-failures", "", "the nodes' failure simulation during the load, e.g. every=30s,down=10s-20s (off by default)")
	faults := fl.String("faults", "", "fault schedule during the load, e.g. 'kill@10s+5s,stop@30s+2s' (see below)")
	dir := fl.String("dir", "", "directory for the keys, the nodes' data and logs, kept afterwards (default: temporary ones, removed)")
	out := fl.String("out", "", "write report.json, report.md and report.html here")
	faultTable := fl.String("fault-table", "", "put this fault suite results table (results.json of make test-faults) into the report")
	redraw := fl.String("redraw", "", "run nothing: draw report.md, report.html and the plots again from this report.json, into --out (default: beside it)")
	trials := fl.Int("failover-trials", 0, "SIGKILL the coordinator this many times per mode and size, and measure")
	trialMax := fl.Duration("trial-timeout", 30*time.Second, "give up on one failover trial after this long")
	clients := fl.Int("clients", 50, "concurrent clients (closed loop), or most operations outstanding (open loop)")
	requests := fl.Int("requests", 200, "operations per client (closed loop)")
	rate := fl.Float64("rate", 0, "open loop: operations per second, due at fixed times; latency counts from then")
	duration := fl.Duration("duration", 0, "send for this long instead of a number of requests")
	views := fl.Float64("views", 0.5, "share of operations that are views (0 to 1)")
	quota := fl.Int("quota", 3, "views each put gives its viewer")
	viewers := fl.Int("viewers", 4, "viewer users")
	secretSize := fl.String("secret-size", "8x8", "the secret put: a PNG of noise, WxH pixels")
	secretPath := fl.String("secret", "", "the secret put: a JPEG, PNG or GIF `file`, or a directory whose image files are put in turn (instead of --secret-size)")
	stealth := fl.String("stealth", "", "the stealth `level` every put asks for: compact, balanced or stealthy (default: the cluster's)")
	makePhoto := fl.String("make-photo", "", "run nothing: write a JPEG photograph of about 2 MB to this `file` (see below)")
	photoFrom := fl.String("photo-from", "", "with --make-photo: the `photograph` to re-encode (default: a generated one)")
	coverSize := fl.String("cover-size", "", "the cover sent with each put, WxH (default: none, the cluster makes one)")
	reference := fl.Duration("reference", 2*time.Second, "measure the raw stego pipeline for this long (hides, then reveals); 0 skips it")
	seed := fl.Uint64("seed", 1, "seed of the workload's choices")
	gap := fl.Duration("gap", 250*time.Millisecond, "a stretch this long with no acknowledgement counts as unavailability")
	steady := fl.Bool("steady", false, "steady state: load with no fault for --duration (default 5m); count elections")
	route := fl.String("route", "coordinator", "where clients send: coordinator, any, multicast or spread (any node but the coordinator)")
	caFile := fl.String("ca", "", "with --api: the running cluster's certificate authority (PEM, veil-ca.pem): its API over https, trusting that authority only")
	noRetry := fl.Bool("no-retry", false, "send each operation once, as a plain HTTP client does: the cloud's churn shows as failures")
	timeout := fl.Duration("timeout", 30*time.Second, "give up on one operation after this long, retries included")
	demo := fl.Bool("demo", false, "run the demo: a three-node cluster, a batch of hides, a failover")
	maxTime := fl.Duration("max-time", 3*time.Hour, "stop everything after this long")
	peers := fl.Int("peers", 0, "run the P2P load with this many users' peers instead of the study (see below)")
	peerChurn := fl.Duration("peer-churn", 2*time.Second, "with --peers: take a peer offline this often (0: never)")
	peersDemo := fl.Bool("peers-demo", false, "run the narrated demo of Phase 2 (users' peers)")
	registrySizes := fl.String("registry", "", "run the registry bench at these `sizes`, N[,N...] images (e.g. 10k,100k,1M; see below)")
	snapshotWait := fl.Duration("snapshot-wait", 5*time.Minute, "with --registry: keep writing this long at most for the coordinator to take a snapshot")
	var o benchOptions
	if err := parseFlags(fl, args); err != nil {
		return o, err
	}
	if fl.NArg() > 0 {
		return o, usagef("unexpected argument %q", fl.Arg(0))
	}
	set := map[string]bool{}
	fl.Visit(func(f *flag.Flag) { set[f.Name] = true })

	o.mode, o.out = "study", *out
	if *redraw != "" {
		for name := range set {
			if name != "redraw" && name != "out" && name != "fault-table" {
				return o, usagef("--redraw runs nothing: only --out and --fault-table go with it, not --%s", name)
			}
		}
		o.mode, o.redraw = "redraw", *redraw
		if o.out == "" {
			o.out = filepath.Dir(*redraw)
		}
	}
	if *makePhoto != "" {
		for name := range set {
			if name != "make-photo" && name != "photo-from" && name != "seed" {
				return o, usagef("--make-photo runs nothing: only --photo-from and --seed go with it, not --%s", name)
			}
		}
		o.mode, o.photo, o.photoFrom = "photo", *makePhoto, *photoFrom
		o.study.Load.Seed = *seed
		return o, nil
	}
	if *photoFrom != "" {
		return o, usagef("--photo-from is the source of --make-photo; give --make-photo FILE too")
	}
	if *steady && *demo {
		return o, usagef("--steady and --demo are different runs; choose one")
	}
	if *peers > 0 || *peersDemo {
		if *steady || *demo || *trials > 0 || *peers > 0 && *peersDemo {
			return o, usagef("--peers, --peers-demo, --steady, --demo and --failover-trials are different runs; choose one")
		}
		o.mode = map[bool]string{true: "peers", false: "peers-demo"}[*peers > 0]
	}
	if *registrySizes != "" {
		for name := range set {
			switch name {
			case "registry", "snapshot-wait", "mode", "spawn", "profile", "bin", "dir", "out", "seed", "max-time":
			default:
				return o, usagef("--registry is a run of its own: --%s does not go with it", name)
			}
		}
	} else if set["snapshot-wait"] {
		return o, usagef("--snapshot-wait is for --registry")
	}
	if *peers < 0 || *peers == 1 {
		return o, usagef("--peers %d: want at least 2 peers", *peers)
	}
	if *steady || *demo {
		if *trials > 0 {
			return o, usagef("--failover-trials, --steady and --demo are different runs; choose one")
		}
		o.mode = map[bool]string{true: "steady", false: "demo"}[*steady]
	}
	ns, err := bench.ParseSizes(*sizes)
	if err != nil {
		return o, usagef("--spawn: %v", err)
	}
	modes, err := bench.ParseModes(*mode)
	if err != nil {
		return o, usagef("--mode: %v", err)
	}
	schedule, err := bench.ParseFaults(*faults)
	if err != nil {
		return o, usagef("--faults: %v", err)
	}
	var apis []string
	if *api != "" {
		apis = strings.Split(*api, ",")
	}
	switch {
	case *trials < 0:
		return o, usagef("--failover-trials %d: want a positive number", *trials)
	case *trials > 0 && slices.Min(ns) < 2:
		return o, usagef("--spawn %s: a failover needs at least 2 nodes", *sizes)
	case *clients < 1:
		return o, usagef("--clients %d: want at least 1", *clients)
	case *requests < 1:
		return o, usagef("--requests %d: want at least 1", *requests)
	case *duration < 0:
		return o, usagef("--duration %s: want a positive duration", *duration)
	case *rate > 0 && set["requests"]:
		return o, usagef("--rate sends for --duration; --requests is for the closed loop")
	case *duration > 0 && set["requests"]:
		return o, usagef("--requests and --duration both bound the load; give one")
	case *rate < 0 || *rate > 0 && *duration == 0:
		return o, usagef("--rate %g: an open loop needs a positive rate and a --duration", *rate)
	case *views < 0 || *views > 1:
		return o, usagef("--views %g: want a share from 0 to 1", *views)
	case *quota < 1 || *viewers < 1:
		return o, usagef("--quota and --viewers: want at least 1")
	case len(apis) > 0 && (len(schedule) > 0 || *trials > 0 || set["spawn"] || set["mode"] || *failures != "" || *nodeCPUs != 0):
		return o, usagef("--api loads a running cluster: --spawn, --mode, --faults, --simulate-failures, --node-cpus and --failover-trials need one the bench starts")
	case *nodeCPUs < 0 || *nodeCPUs > 64:
		return o, usagef("--node-cpus %g: want a budget above 0 CPUs (e.g. 0.25), or 0 for none", *nodeCPUs)
	case len(apis) > 0 && o.mode != "study":
		return o, usagef("--api works with the default run only, not --steady, --demo or --peers")
	case *secretPath != "" && set["secret-size"]:
		return o, usagef("--secret and --secret-size both name the secret put; give one")
	case (*secretPath != "" || *stealth != "") && o.mode != "study" && o.mode != "redraw":
		return o, usagef("--secret and --stealth are for the study (the default run), not --steady, --demo or --peers")
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
	o.maxTime = *maxTime
	if *faultTable != "" {
		if o.out == "" {
			return o, usagef("--fault-table goes into the report: give --out too")
		}
		f, err := os.Open(*faultTable)
		if err != nil {
			return o, fmt.Errorf("--fault-table: %w", err)
		}
		t, err := faultsuite.ReadTable(f)
		f.Close()
		if err != nil {
			return o, fmt.Errorf("--fault-table %s: %w", *faultTable, err)
		}
		o.faultTable = &t
	}
	if o.mode == "redraw" {
		return o, nil
	}
	if *registrySizes != "" {
		counts, err := regbench.ParseCounts(*registrySizes)
		if err != nil {
			return o, usagef("--registry: %v", err)
		}
		if len(ns) > 1 || ns[0] < 1 {
			return o, usagef("--spawn %s: the registry bench runs one cluster size", *sizes)
		}
		if *snapshotWait <= 0 {
			return o, usagef("--snapshot-wait %s: want a positive duration", *snapshotWait)
		}
		o.mode = "registry"
		o.registry = regbench.Config{Bin: *bin, Modes: modes, Images: counts, Nodes: ns[0], Profile: *profile,
			Seed: *seed, SnapshotWait: *snapshotWait, Dir: *dir}
		return o, nil
	}

	// steady and demo: one cluster.
	nodes := ns[0]
	if o.mode == "demo" {
		nodes, *profile = 3, "fast"
	}
	o.spawn = local.SpawnConfig{
		Bin: *bin, Nodes: nodes, Profile: *profile, Mode: modes[0],
		SimulateFailures: *failures, Dir: *dir,
	}
	o.load = load.Config{Clients: *clients, Requests: *requests, Route: r, Timeout: *timeout}
	if o.mode == "peers" {
		d := *duration
		if d == 0 {
			d = time.Minute
		}
		for _, m := range modes {
			o.peers = append(o.peers, p2p.LoadConfig{
				Bin: *bin, Mode: m, Nodes: nodes, Peers: *peers, Workers: min(*clients, 16), Duration: d,
				Churn: *peerChurn, KillCoordinator: nodes >= 3, SimulateFailures: *failures, Quota: *quota, Seed: *seed,
			})
		}
	}
	if *duration > 0 {
		o.load.Requests, o.load.Duration = 0, *duration
	}
	if o.mode == "steady" && *duration == 0 {
		o.load.Requests, o.load.Duration = 0, 5*time.Minute
	}

	// The study.
	level, err := stego.ParseLevel(*stealth)
	if err != nil {
		return o, usagef("--stealth: %v", err)
	}
	s := bench.StudyConfig{
		Bin: *bin, Modes: modes, Sizes: ns, Profile: *profile, SimulateFailures: *failures, Faults: schedule,
		APIs: apis, Trials: *trials, TrialTimeout: *trialMax, Reference: *reference, Gap: *gap, Dir: *dir, NodeCPUs: *nodeCPUs,
		Cover: report.ImageInfo{Size: "generated by the cluster"},
	}
	var secrets [][]byte
	if *secretPath != "" {
		files, err := load.ReadSecrets(*secretPath, level)
		if err != nil {
			return o, usagef("--secret: %v", err)
		}
		secrets, s.Secret = load.SecretBytes(files), report.SecretInfo(files)
	} else {
		sw, sh, err := bench.ParseDims(*secretSize)
		if err != nil {
			return o, usagef("--secret-size: %v", err)
		}
		secret, err := load.NoisePNG(sw, sh, *seed)
		if err != nil {
			return o, err
		}
		secrets, s.Secret = [][]byte{secret}, report.ImageInfo{Size: fmt.Sprintf("%dx%d", sw, sh), Bytes: len(secret)}
	}
	s.Load = load.Workload{
		Pace:      load.Pace{Workers: *clients, Requests: *requests, Rate: *rate, Duration: *duration},
		ViewShare: *views, Quota: *quota, Viewers: *viewers, Secrets: secrets, Route: r, Timeout: *timeout, Seed: *seed,
		NoRetry: *noRetry,
	}
	if *stealth != "" {
		s.Load.Stealth = level.String() // as the cloud spells it
	}
	if *caFile != "" && len(apis) > 0 {
		tc, err := certs.ClientConfig(*caFile, "", "")
		if err != nil {
			return o, fmt.Errorf("--ca: %w", err)
		}
		hc := load.NewHTTPClient()
		hc.Transport.(*http.Transport).TLSClientConfig = tc
		s.Load.HTTP = hc
		for i, a := range apis {
			if !strings.Contains(a, "://") {
				apis[i] = "https://" + a
			}
		}
	}
	if *views == 0 {
		s.Load.ViewShare = -1 // none, rather than the default
	}
	if *duration > 0 {
		s.Load.Requests = 0
	}
	if *coverSize != "" {
		cw, ch, err := bench.ParseDims(*coverSize)
		if err != nil {
			return o, usagef("--cover-size: %v", err)
		}
		largest := slices.MaxFunc(secrets, func(a, b []byte) int { return len(a) - len(b) })
		if room := stego.CapacityOf(cw, ch); room < len(largest) {
			return o, usagef("--cover-size %s holds %d bytes of secret; the secret %s is %d bytes", *coverSize, room, s.Secret.Size, len(largest))
		}
		if s.Load.Cover, err = load.CoverPNG(cw, ch, *seed); err != nil {
			return o, err
		}
		s.Cover = report.ImageInfo{Size: fmt.Sprintf("%dx%d", cw, ch), Bytes: len(s.Load.Cover)}
	}
	// --failover-trials alone measures failover only.
	if *trials > 0 && !set["clients"] && !set["requests"] && !set["rate"] && !set["duration"] && len(schedule) == 0 {
		s.Load.Pace = load.Pace{}
	}
	o.study = s
	return o, nil
}

func benchLoad(ctx context.Context, c *local.Cluster, o benchOptions, stdout io.Writer) error {
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

func benchSteady(ctx context.Context, c *local.Cluster, o benchOptions, stdout io.Writer) error {
	fmt.Fprintf(stdout, "steady load for %s with no fault...\n", o.load.Duration)
	return benchLoad(ctx, c, o, stdout)
}

// runDemo shows the cluster at work and through a coordinator crash.
func runDemo(ctx context.Context, o benchOptions, stdout, stderr io.Writer) error {
	fmt.Fprintln(stdout, "== starting three nodes (fast profile), each a 'veil node' process on loopback")
	began := time.Now()
	c, err := local.Spawn(ctx, o.spawn)
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
	batch := load.Config{Nodes: c.APIs(), Clients: 4, Requests: 8, Timeout: 30 * time.Second}
	rep, err := load.Run(ctx, batch)
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
	t, err := c.FailoverTrial(ctx, local.FailoverConfig{})
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
	batch.Nodes = c.APIs()
	if rep, err = load.Run(ctx, batch); err != nil {
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
func waitTable(ctx context.Context, c *local.Cluster, i int, killed string, now local.Agreement) error {
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
