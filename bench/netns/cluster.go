package netns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"veil/bench/proc"
	"veil/cluster"
	"veil/internal/certs"
)

// Ports every node uses on its own address.
const (
	GossipPort = "7946"
	APIPort    = "8080"
	RaftPort   = "7947"
)

// ClusterConfig says which cluster to run.
type ClusterConfig struct {
	// Bin is the veil binary (required).
	Bin string
	// Nodes is the number of nodes, node-1 … node-N. Default 3.
	Nodes int
	// Mode is the coordinator selection, bully or raft. Default bully.
	Mode string
	// Profile is the timing profile. Default fast.
	Profile string
	// SimulateFailures, when set, is every node's --simulate-failures.
	SimulateFailures string
	// Args are more flags for every node.
	Args []string
	// TLS runs the nodes with TLS: an authority of the cluster's own in
	// Dir/tls, a node certificate each (its name and its address), and
	// the harness's clients trusting that authority only. Without it the
	// nodes serve in clear (--insecure-http).
	TLS bool
	// Dir holds the key, the data directories and the logs (required).
	Dir string
	// StartTimeout bounds the start of a node and the first agreement.
	// Default 30 s.
	StartTimeout time.Duration
	Logf         func(string, ...any)
}

// Cluster is a set of veil node processes, each in its own namespace of a
// Net. It owns them, and the Net: Close kills and reaps every process and
// removes the namespaces. Its methods are safe for concurrent use.
type Cluster struct {
	cfg     ClusterConfig
	net     *Net
	keyFile string
	http    *http.Client
	procs   *proc.Set
}

// StartCluster makes a Net and starts cfg.Nodes nodes on it, then waits
// until they agree on a coordinator. On error nothing is left running and
// no namespace is left behind.
func StartCluster(ctx context.Context, cfg ClusterConfig) (_ *Cluster, err error) {
	if cfg.Bin == "" || cfg.Dir == "" {
		return nil, errors.New("netns: a cluster needs a binary and a directory")
	}
	if cfg.Nodes == 0 {
		cfg.Nodes = 3
	}
	if cfg.Mode == "" {
		cfg.Mode = "bully"
	}
	if cfg.Profile == "" {
		cfg.Profile = "fast"
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	nt, err := New(ctx, cfg.Nodes, cfg.Logf)
	if err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, net: nt, http: &http.Client{Transport: nt.Transport()}, procs: proc.NewSet(cfg.Nodes)}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("netns: %w", err)
	}
	if c.keyFile, err = proc.WriteKey(cfg.Dir); err != nil {
		return nil, fmt.Errorf("netns: %w", err)
	}
	if cfg.TLS {
		if err := c.writeCerts(); err != nil {
			return nil, err
		}
	}
	for i := range cfg.Nodes {
		if err := c.Start(ctx, i); err != nil {
			return nil, err
		}
	}
	actx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	a, err := c.WaitAgreement(actx)
	if err != nil {
		return nil, err
	}
	cfg.Logf("netns: %d nodes (%s) agree: %s at epoch %d", cfg.Nodes, cfg.Mode, a.Coordinator, a.Epoch)
	return c, nil
}

// Net is the network the nodes run on, for network faults.
func (c *Cluster) Net() *Net { return c.net }

// Len is the number of nodes.
func (c *Cluster) Len() int { return c.cfg.Nodes }

// Mode is the nodes' coordinator selection.
func (c *Cluster) Mode() string { return c.cfg.Mode }

// KeyFile is the path of the cluster's master key.
func (c *Cluster) KeyFile() string { return c.keyFile }

// Name is node i's name.
func (c *Cluster) Name(i int) string { return fmt.Sprintf("node-%d", i+1) }

// Index returns the index of the node named name, or -1.
func (c *Cluster) Index(name string) int {
	for i := range c.cfg.Nodes {
		if c.Name(i) == name {
			return i
		}
	}
	return -1
}

// API is node i's API address; with TLS, its base URL (https://).
func (c *Cluster) API(i int) string {
	addr := net.JoinHostPort(c.net.Addr(i).String(), APIPort)
	if c.cfg.TLS {
		return "https://" + addr
	}
	return addr
}

// APIs returns every node's API address.
func (c *Cluster) APIs() []string {
	out := make([]string, c.cfg.Nodes)
	for i := range out {
		out[i] = c.API(i)
	}
	return out
}

// tlsArgs are node i's TLS flags. The namespaces' addresses are not
// loopback, and a node refuses to serve beyond loopback in clear unless
// told: without TLS the suite says so, its network being the test's own.
func (c *Cluster) tlsArgs(i int) []string {
	if !c.cfg.TLS {
		return []string{"--insecure-http"}
	}
	dir := filepath.Join(c.cfg.Dir, "tls")
	return []string{"--tls-cert", filepath.Join(dir, c.Name(i)+".pem"), "--tls-key", filepath.Join(dir, c.Name(i)+"-key.pem"),
		"--tls-ca", filepath.Join(dir, "ca.pem")}
}

// writeCerts makes the cluster's authority and each node's certificate in
// Dir/tls, and has the harness's clients trust that authority only.
func (c *Cluster) writeCerts() error {
	dir := filepath.Join(c.cfg.Dir, "tls")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("netns: %w", err)
	}
	now := time.Now()
	ca, err := certs.NewAuthority(certs.AuthorityRequest{Name: c.net.Prefix(), Now: now})
	if err != nil {
		return fmt.Errorf("netns: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), ca.CertPEM(), 0o644); err != nil {
		return fmt.Errorf("netns: %w", err)
	}
	for i := range c.cfg.Nodes {
		is, err := ca.Issue(certs.Request{Kind: certs.KindNode, Name: c.Name(i), IPs: []net.IP{c.net.Addr(i).AsSlice()}, Now: now})
		if err != nil {
			return fmt.Errorf("netns: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, c.Name(i)+".pem"), is.CertPEM, 0o644); err != nil {
			return fmt.Errorf("netns: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, c.Name(i)+"-key.pem"), is.KeyPEM, 0o600); err != nil {
			return fmt.Errorf("netns: %w", err)
		}
	}
	tc, err := certs.ClientConfig(filepath.Join(dir, "ca.pem"), "", "")
	if err != nil {
		return fmt.Errorf("netns: %w", err)
	}
	c.net.setTLS(tc)
	c.http.Transport = c.net.Transport()
	return nil
}

// Log is the path of node i's log.
func (c *Cluster) Log(i int) string { return filepath.Join(c.cfg.Dir, c.Name(i)+".log") }

// Start starts node i in its namespace and waits until its API answers.
// It joins every other node: those that are down are skipped by gossip.
func (c *Cluster) Start(ctx context.Context, i int) error {
	addr := c.net.Addr(i).String()
	var join []string
	for j := range c.cfg.Nodes {
		if j != i {
			join = append(join, net.JoinHostPort(c.net.Addr(j).String(), GossipPort))
		}
	}
	args := proc.Node{Name: c.Name(i), KeyFile: c.keyFile,
		Gossip: net.JoinHostPort(addr, GossipPort), API: net.JoinHostPort(addr, APIPort),
		DataDir: filepath.Join(c.cfg.Dir, c.Name(i)), Profile: c.cfg.Profile, Mode: c.cfg.Mode,
		Raft: net.JoinHostPort(addr, RaftPort), BootstrapExpect: c.cfg.Nodes,
		Join: join, SimulateFailures: c.cfg.SimulateFailures, Extra: append(c.tlsArgs(i), c.cfg.Args...)}.Args()

	p, err := c.procs.Start(i, func() (*proc.Process, error) {
		return proc.Start(c.net.Command(i, c.cfg.Bin, args...), c.Log(i))
	})
	if err != nil {
		return fmt.Errorf("netns: %s: %w", c.Name(i), err)
	}
	c.cfg.Logf("netns: started %s (pid %d) at %s", c.Name(i), p.Pid(), addr)
	sctx, cancel := context.WithTimeout(ctx, c.cfg.StartTimeout)
	err = proc.WaitServing(sctx, c.http, c.API(i), p, 20*time.Millisecond)
	cancel()
	if err != nil {
		_ = c.Kill(i)
		return fmt.Errorf("netns: %s did not start: %w (log %s)", c.Name(i), err, c.Log(i))
	}
	return nil
}

// Kill sends SIGKILL to node i and waits until it is reaped.
func (c *Cluster) Kill(i int) error {
	if err := c.procs.Kill(i); err != nil {
		return fmt.Errorf("netns: %s: %w", c.Name(i), err)
	}
	return nil
}

// Pause stops node i with SIGSTOP.
func (c *Cluster) Pause(i int) error {
	if err := c.procs.Pause(i, syscall.SIGSTOP, true); err != nil {
		return fmt.Errorf("netns: %s: %w", c.Name(i), err)
	}
	return nil
}

// Resume continues node i with SIGCONT.
func (c *Cluster) Resume(i int) error {
	if err := c.procs.Pause(i, syscall.SIGCONT, false); err != nil {
		return fmt.Errorf("netns: %s: %w", c.Name(i), err)
	}
	return nil
}

// Restart kills node i if it runs and starts it again with the same name,
// address and data.
func (c *Cluster) Restart(ctx context.Context, i int) error {
	if c.Running(i) {
		if err := c.Kill(i); err != nil {
			return err
		}
	}
	return c.Start(ctx, i)
}

// Running reports whether node i's process runs, paused or not.
func (c *Cluster) Running(i int) bool { return c.procs.Running(i) }

// Live returns the nodes that run and are not paused.
func (c *Cluster) Live() []int { return c.procs.Live() }

// Close kills and reaps every node, then removes the namespaces. It may
// be called more than once.
func (c *Cluster) Close() error {
	c.procs.Close()
	var errs []error
	for i := range c.cfg.Nodes {
		if c.Running(i) {
			errs = append(errs, c.Kill(i))
		}
	}
	c.http.CloseIdleConnections()
	errs = append(errs, c.net.Close())
	return errors.Join(errs...)
}

// HTTPClient returns a new HTTP client whose connections start in the hub.
func (c *Cluster) HTTPClient() *http.Client { return c.net.HTTPClient() }

// get fetches path from node i and decodes the JSON reply into v (when v
// is not nil).
func (c *Cluster) get(ctx context.Context, i int, path string, v any) error {
	if err := proc.GetJSON(ctx, c.http, c.API(i), path, v); err != nil {
		return fmt.Errorf("%s: %w", c.Name(i), err)
	}
	return nil
}

// Coordinator asks node i who coordinates.
func (c *Cluster) Coordinator(ctx context.Context, i int) (cluster.CoordinatorReply, error) {
	var r cluster.CoordinatorReply
	return r, c.get(ctx, i, "/v1/coordinator", &r)
}

// WaitAgreement waits until the given nodes (the live ones when none are
// given) name the same coordinator, one of them, at the same epoch, and
// the coordinator's state is active.
func (c *Cluster) WaitAgreement(ctx context.Context, idx ...int) (cluster.CoordinatorReply, error) {
	if len(idx) == 0 {
		idx = c.Live()
	}
	var r cluster.CoordinatorReply
	var why string
	err := proc.Poll(ctx, 20*time.Millisecond, func() bool {
		var ok bool
		r, ok, why = c.agree(ctx, idx)
		return ok
	})
	if err != nil {
		return r, fmt.Errorf("netns: the nodes did not agree on a coordinator: %w; last: %s", err, why)
	}
	return r, nil
}

func (c *Cluster) agree(ctx context.Context, idx []int) (cluster.CoordinatorReply, bool, string) {
	replies := make([]cluster.CoordinatorReply, len(idx))
	errs := make([]error, len(idx))
	var wg sync.WaitGroup
	for k, i := range idx {
		wg.Go(func() { replies[k], errs[k] = c.Coordinator(ctx, i) })
	}
	wg.Wait()
	among := false
	for k, i := range idx {
		if errs[k] != nil {
			return replies[0], false, fmt.Sprintf("%s: %v", c.Name(i), errs[k])
		}
		r := replies[k]
		if r.Coordinator != replies[0].Coordinator || r.Epoch != replies[0].Epoch || r.EpochNode != replies[0].EpochNode {
			return r, false, fmt.Sprintf("%s names %s at %d, %s names %s at %d", c.Name(idx[0]), replies[0].Coordinator,
				replies[0].Epoch, c.Name(i), r.Coordinator, r.Epoch)
		}
		among = among || r.Coordinator == c.Name(i)
	}
	if !among {
		return replies[0], false, fmt.Sprintf("they name %s, not one of them", replies[0].Coordinator)
	}
	var st cluster.StatusReply
	ci := c.Index(replies[0].Coordinator)
	if err := c.get(ctx, ci, "/v1/status", &st); err != nil || st.State != "active" {
		return replies[0], false, fmt.Sprintf("coordinator %s is %q (%v)", replies[0].Coordinator, st.State, err)
	}
	return replies[0], true, ""
}

// Describe says where each node runs and what fault rules hold.
func (c *Cluster) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cluster of %d nodes (mode %s, profile %s) in %s, namespaces %s*\n",
		c.cfg.Nodes, c.cfg.Mode, c.cfg.Profile, c.cfg.Dir, c.net.Prefix())
	for i := range c.cfg.Nodes {
		fmt.Fprintf(&b, "  %s  %s  %s  log %s\n", c.Name(i), c.procs.State(i), c.net.Addr(i), c.Log(i))
	}
	return b.String()
}
