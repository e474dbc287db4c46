package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"veil/bench/cgroup"
	"veil/bench/load"
	"veil/bench/proc"
)

// SpawnConfig says which cluster to start.
type SpawnConfig struct {
	// Bin is the veil binary the nodes run (required).
	Bin string
	// Nodes is the number of nodes, named node-1 … node-N. Default 3.
	Nodes int
	// Profile is the nodes' timing profile, fast or lan. Default fast.
	Profile string
	// Mode is the coordinator selection. Default bully.
	Mode string
	// SimulateFailures, when set, is every node's --simulate-failures,
	// e.g. "every=30s,down=10s-20s".
	SimulateFailures string
	// Args are more flags for every node, e.g. --log-level debug.
	Args []string
	// Dir holds the master key, the nodes' data directories and their
	// logs. Empty means a new temporary directory that Close removes,
	// unless KeepDir is set.
	Dir     string
	KeepDir bool
	// Host is the address the nodes bind. Default 127.0.0.1.
	Host string
	// StartTimeout bounds the start of one node (until its API answers)
	// and the wait for the first agreement. Default 30 s.
	StartTimeout time.Duration
	// Logf, when set, is told what the harness does (a test passes t.Logf).
	Logf func(format string, args ...any)
	// NodeCPUs, when > 0, runs each node in a cgroup of its own limited
	// to that many CPUs, so that a node behaves like a machine of that
	// size (package cgroup; needs root). The bench's own clients stay
	// outside every budget.
	NodeCPUs float64
}

func (c *SpawnConfig) setDefaults() {
	if c.Nodes == 0 {
		c.Nodes = 3
	}
	if c.Profile == "" {
		c.Profile = "fast"
	}
	if c.Mode == "" {
		c.Mode = "bully"
	}
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = 30 * time.Second
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
}

// Node is where one node of a spawned cluster lives. Its name and ports
// stay the same across restarts.
type Node struct {
	Name   string
	Gossip string // host:port, UDP and TCP
	API    string // host:port
	Raft   string // host:port of its Raft transport (Raft mode)
	Data   string // its --data-dir
	Log    string // its stdout and stderr, appended to across restarts
}

// Cluster is a set of running veil node processes on one machine. It owns
// them: Close kills and reaps every one. Its methods are safe for
// concurrent use.
type Cluster struct {
	cfg     SpawnConfig
	dir     string
	ownDir  bool
	keyFile string
	http    *http.Client

	procs *proc.Set

	mu     sync.Mutex
	nodes  []Node
	cpus   cgroup.Root
	groups []*cgroup.Group // each node's CPU budget, when NodeCPUs is set
}

// errBindClash says a node could not bind a port someone else took.
var errBindClash = errors.New("address already in use")

// ErrNotRunning is returned when a node that is not running is asked to do
// something only a running node can.
var ErrNotRunning = proc.ErrNotRunning

// Spawn starts cfg.Nodes nodes and waits until they agree on a
// coordinator. The first node starts the cluster; each next one joins the
// ones before it. On error nothing is left running, and the directory with
// the nodes' logs is kept; the error names it.
func Spawn(ctx context.Context, cfg SpawnConfig) (_ *Cluster, err error) {
	cfg.setDefaults()
	if cfg.Bin == "" {
		return nil, errors.New("bench: no veil binary to run")
	}
	if cfg.Nodes < 1 {
		return nil, fmt.Errorf("bench: %d nodes: want at least 1", cfg.Nodes)
	}
	c := &Cluster{
		cfg:   cfg,
		dir:   cfg.Dir,
		http:  load.NewHTTPClient(),
		procs: proc.NewSet(cfg.Nodes),
	}
	if c.dir == "" {
		d, err := os.MkdirTemp("", "veil-bench-")
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		c.dir, c.ownDir = d, true
	} else if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer func() {
		if err != nil {
			c.Keep()
			c.Close()
		}
	}()
	if c.keyFile, err = proc.WriteKey(c.dir); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if cfg.NodeCPUs > 0 {
		if c.cpus, err = cgroup.Find(); err != nil {
			return nil, fmt.Errorf("bench: --node-cpus %g: %w", cfg.NodeCPUs, err)
		}
	}
	for i := range cfg.Nodes {
		name := fmt.Sprintf("node-%d", i+1)
		c.nodes = append(c.nodes, Node{
			Name: name,
			Data: filepath.Join(c.dir, name),
			Log:  filepath.Join(c.dir, name+".log"),
		})
		if cfg.NodeCPUs > 0 {
			g, err := c.cpus.New(fmt.Sprintf("veil-bench-%d-%s/%s", os.Getpid(), filepath.Base(c.dir), name), cfg.NodeCPUs)
			if err != nil {
				return nil, fmt.Errorf("bench: --node-cpus %g: %w", cfg.NodeCPUs, err)
			}
			c.groups = append(c.groups, g)
		}
	}
	for i := range c.nodes {
		for attempt := 1; ; attempt++ {
			if err = c.pickPorts(i); err != nil {
				return nil, err
			}
			err = c.start(ctx, i)
			if !errors.Is(err, errBindClash) || attempt == 5 {
				break
			}
			cfg.Logf("bench: %s: port clash, picking new ports (attempt %d)", c.nodes[i].Name, attempt)
		}
		if err != nil {
			return nil, fmt.Errorf("%w (logs kept in %s)", err, c.dir)
		}
	}
	actx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	var a Agreement
	if a, err = c.WaitAgreement(actx); err != nil {
		return nil, fmt.Errorf("%w (logs kept in %s)", err, c.dir)
	}
	cfg.Logf("bench: %d nodes agree: %s", cfg.Nodes, a)
	if err := load.EnsureUser(actx, c.APIs(), nil); err != nil {
		return nil, fmt.Errorf("%w (logs kept in %s)", err, c.dir)
	}
	return c, nil
}

func (c *Cluster) pickPorts(i int) error {
	g, err := freePort(c.cfg.Host)
	if err != nil {
		return err
	}
	a, err := freePort(c.cfg.Host)
	if err != nil {
		return err
	}
	r, err := freePort(c.cfg.Host)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.nodes[i].Gossip = net.JoinHostPort(c.cfg.Host, strconv.Itoa(g))
	c.nodes[i].API = net.JoinHostPort(c.cfg.Host, strconv.Itoa(a))
	c.nodes[i].Raft = net.JoinHostPort(c.cfg.Host, strconv.Itoa(r))
	c.mu.Unlock()
	return nil
}

// start runs node i and waits until its API answers. It joins the gossip
// addresses of the other running nodes.
func (c *Cluster) start(ctx context.Context, i int) error {
	if c.procs.Closed() {
		return errors.New("bench: cluster is closed")
	}
	n := c.Node(i)
	if c.procs.Running(i) {
		return fmt.Errorf("bench: %s is already running", n.Name)
	}
	var join []string
	for j := range c.Len() {
		if j != i && c.procs.Running(j) {
			join = append(join, c.Node(j).Gossip)
		}
	}

	// Every node of a new cluster expects them all (in Raft mode); one
	// that restarts has Raft state on disk and does not bootstrap again.
	args := proc.Node{Name: n.Name, KeyFile: c.keyFile, Gossip: n.Gossip, API: n.API, DataDir: n.Data,
		Profile: c.cfg.Profile, Mode: c.cfg.Mode, Raft: n.Raft, BootstrapExpect: c.Len(),
		Join: join, SimulateFailures: c.cfg.SimulateFailures, Extra: c.cfg.Args}.Args()

	p, err := c.procs.Start(i, func() (*proc.Process, error) {
		p, err := proc.Start(exec.Command(c.cfg.Bin, args...), n.Log)
		if err != nil || c.groups == nil {
			return p, err
		}
		// The node runs a few milliseconds outside its budget: long
		// before it serves anything.
		if err := c.groups[i].Add(p.Pid()); err != nil {
			_ = p.Signal(syscall.SIGKILL)
			p.Wait(10 * time.Second)
			return nil, err
		}
		return p, nil
	})
	if err != nil {
		return fmt.Errorf("bench: %s: %w", n.Name, err)
	}
	c.cfg.Logf("bench: started %s (pid %d) gossip %s api %s", n.Name, p.Pid(), n.Gossip, n.API)

	sctx, cancel := context.WithTimeout(ctx, c.cfg.StartTimeout)
	err = proc.WaitServing(sctx, c.http, n.API, p, 10*time.Millisecond)
	cancel()
	if err == nil {
		return nil
	}
	// It did not come up: make sure it is gone, then say why.
	_ = p.Signal(syscall.SIGKILL)
	p.Wait(10 * time.Second)
	c.procs.Forget(i, p)
	out := readFrom(n.Log, p.LogOffset())
	if strings.Contains(out, "address already in use") {
		return fmt.Errorf("bench: %s: %w (gossip %s, api %s)", n.Name, errBindClash, n.Gossip, n.API)
	}
	return fmt.Errorf("bench: %s did not start: %w; its output:\n%s", n.Name, err, out)
}

// Kill sends SIGKILL to node i and waits until the process is gone: to
// the others it is a crash.
func (c *Cluster) Kill(i int) error {
	if _, err := c.running(i); err != nil {
		return err
	}
	if err := c.procs.Kill(i); err != nil {
		return fmt.Errorf("bench: %s: %w", c.Node(i).Name, err)
	}
	return nil
}

// Stop sends SIGTERM to node i, which then leaves the cluster gracefully,
// and waits for it to exit; after 15 s it is killed and Stop fails.
func (c *Cluster) Stop(i int) error {
	p, err := c.running(i)
	if err != nil {
		return err
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	// A paused node would hold the SIGTERM until it is continued.
	if err := p.Signal(syscall.SIGCONT); err != nil {
		return err
	}
	if err := c.reap(i, p, 15*time.Second); err != nil {
		_ = p.Signal(syscall.SIGKILL)
		_ = c.reap(i, p, 10*time.Second)
		return fmt.Errorf("bench: %s did not leave within 15 s of SIGTERM; killed it", c.Node(i).Name)
	}
	return nil
}

// Pause stops node i with SIGSTOP: it holds its ports but answers nothing.
func (c *Cluster) Pause(i int) error { return c.pauseAs(i, syscall.SIGSTOP, true) }

// Resume continues node i after Pause with SIGCONT.
func (c *Cluster) Resume(i int) error { return c.pauseAs(i, syscall.SIGCONT, false) }

// pauseAs sends sig to node i and records whether it is now paused.
func (c *Cluster) pauseAs(i int, sig syscall.Signal, paused bool) error {
	if _, err := c.running(i); err != nil {
		return err
	}
	return c.procs.Pause(i, sig, paused)
}

// Restart starts node i again with the same name, ports and data
// directory, killing it first if it runs. It retries while its ports are
// still held (the kernel may take a moment to release them).
func (c *Cluster) Restart(ctx context.Context, i int) error {
	if c.Running(i) {
		if err := c.Kill(i); err != nil {
			return err
		}
	}
	var err error
	for attempt := 1; attempt <= 10; attempt++ {
		if err = c.start(ctx, i); !errors.Is(err, errBindClash) {
			return err
		}
		c.cfg.Logf("bench: %s: ports still held, retrying (attempt %d)", c.Node(i).Name, attempt)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
		}
	}
	return err
}

// Close kills every node and waits until each process is reaped, then
// removes the cluster's directory if Spawn made it. It may be called more
// than once.
func (c *Cluster) Close() error {
	procs, first := c.procs.Close()
	if !first {
		return nil
	}
	var errs []error
	for _, p := range procs {
		if p != nil {
			errs = append(errs, p.Signal(syscall.SIGKILL))
		}
	}
	for i, p := range procs {
		if p != nil {
			errs = append(errs, c.reap(i, p, 10*time.Second))
		}
	}
	c.http.CloseIdleConnections()
	c.mu.Lock()
	remove := c.ownDir && !c.cfg.KeepDir
	c.mu.Unlock()
	for _, g := range c.groups {
		errs = append(errs, g.Remove())
	}
	if remove {
		errs = append(errs, os.RemoveAll(c.dir))
	}
	return errors.Join(errs...)
}

// reap waits for p, the process of node i, to exit and forgets it.
func (c *Cluster) reap(i int, p *proc.Process, timeout time.Duration) error {
	if !c.procs.Reap(i, p, timeout) {
		return fmt.Errorf("bench: %s (pid %d) still runs %s after the signal", c.Node(i).Name, p.Pid(), timeout)
	}
	return nil
}

func (c *Cluster) running(i int) (*proc.Process, error) {
	if n := c.Len(); i < 0 || i >= n {
		return nil, fmt.Errorf("bench: no node %d (the cluster has %d)", i, n)
	}
	p, err := c.procs.Get(i)
	if err != nil {
		return nil, fmt.Errorf("bench: %s: %w", c.Node(i).Name, err)
	}
	return p, nil
}

// Len is the number of nodes, running or not.
func (c *Cluster) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.nodes)
}

// Node returns where node i lives.
func (c *Cluster) Node(i int) Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

// Index returns the index of the node named name, or -1.
func (c *Cluster) Index(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, n := range c.nodes {
		if n.Name == name {
			return i
		}
	}
	return -1
}

// Running reports whether node i's process runs (paused or not).
func (c *Cluster) Running(i int) bool { return c.procs.Running(i) }

// PID returns the process id of node i, or 0 when it does not run.
func (c *Cluster) PID(i int) int { return c.procs.PID(i) }

// Live returns the indexes of the running nodes that are not paused.
func (c *Cluster) Live() []int { return c.procs.Live() }

// APIs returns the API addresses of the given nodes, or of the live ones.
func (c *Cluster) APIs(idx ...int) []string {
	if len(idx) == 0 {
		idx = c.Live()
	}
	out := make([]string, len(idx))
	for k, i := range idx {
		out[k] = c.Node(i).API
	}
	return out
}

// Keep makes Close leave the cluster's directory, with the nodes' logs,
// even when Spawn made it: for a run that went wrong.
func (c *Cluster) Keep() {
	c.mu.Lock()
	c.cfg.KeepDir = true
	c.mu.Unlock()
}

// Release stops the cluster at the end of a run that ended with err. On an
// error it keeps the nodes' logs and says where they are; a failure to
// stop is the error when there was none.
func (c *Cluster) Release(err error) error {
	if err != nil {
		c.Keep()
		err = fmt.Errorf("%w (node logs kept in %s)", err, c.Dir())
	}
	if cerr := c.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("stopping the nodes: %w", cerr)
	}
	return err
}

// Dir is the directory of the key, the data and the logs.
func (c *Cluster) Dir() string { return c.dir }

// HTTP is the cluster's own HTTP client, for asking its nodes; Close
// closes its idle connections.
func (c *Cluster) HTTP() *http.Client { return c.http }

// KeyFile is the path of the cluster's master key.
func (c *Cluster) KeyFile() string { return c.keyFile }

// Profile is the nodes' timing profile.
func (c *Cluster) Profile() string { return c.cfg.Profile }

// Describe says where everything is, enough to look at a failed run by
// hand: directory, and per node its pid, ports and log.
func (c *Cluster) Describe() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "cluster of %d nodes in %s (profile %s, mode %s, binary %s)\n",
		len(c.nodes), c.dir, c.cfg.Profile, c.cfg.Mode, c.cfg.Bin)
	for i, n := range c.nodes {
		fmt.Fprintf(&b, "  %s  %s  gossip %s  api %s  log %s\n", n.Name, c.procs.State(i), n.Gossip, n.API, n.Log)
	}
	return b.String()
}

// Logs returns the log of every node, each under a header; of a long log
// only the last 256 KiB.
func (c *Cluster) Logs() string {
	c.mu.Lock()
	nodes := append([]Node(nil), c.nodes...)
	c.mu.Unlock()
	var b strings.Builder
	for _, n := range nodes {
		fmt.Fprintf(&b, "---- %s (gossip %s, api %s): %s\n", n.Name, n.Gossip, n.API, n.Log)
		b.WriteString(Tail(n.Log, 256<<10))
	}
	return b.String()
}

// readFrom returns a file's content from offset on (at most 64 KiB).
func readFrom(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)\n", path, err)
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(io.NewSectionReader(f, offset, 1<<62), 64<<10))
	return string(b)
}

// Tail returns the last max bytes of a file, such as a node's log, from a
// line start.
func Tail(path string, max int64) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)\n", path, err)
	}
	if int64(len(b)) > max {
		b = b[int64(len(b))-max:]
		if k := bytes.IndexByte(b, '\n'); k >= 0 {
			b = b[k+1:]
		}
		b = append([]byte("(earlier lines cut)\n"), b...)
	}
	return string(b)
}
