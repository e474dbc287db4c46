package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"

	"veil/cluster/registry"
	"veil/election"
)

// TestCluster is a cluster of in-process nodes on loopback, for the tests
// of this package and of the packages above it. Every node binds ports the
// kernel picks; the logs of all nodes are kept and printed if the test fails.
type TestCluster struct {
	t     testing.TB
	Key   []byte
	Nodes []*Node
	cfgs  []Config
	logs  *syncBuffer
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testProfile is the fast profile with failure detection relaxed enough
// that a test machine busy with other tests (the race detector, parallel
// packages) does not see false failures, while failover still takes about
// a second.
func testProfile() Profile {
	p := FastProfile()
	p.Name = "test"
	base := p.Memberlist
	p.Memberlist = func() *memberlist.Config {
		c := base()
		c.ProbeInterval = 300 * time.Millisecond
		c.ProbeTimeout = 250 * time.Millisecond
		c.SuspicionMult = 3
		c.TCPTimeout = time.Second
		return c
	}
	p.Heartbeat = 100 * time.Millisecond
	p.ElectionTimeout = 300 * time.Millisecond
	p.CoordinatorTimeout = time.Second
	p.Raft = election.RaftTiming{Heartbeat: time.Second, Election: time.Second, LeaderLease: 500 * time.Millisecond, Commit: 10 * time.Millisecond}
	return p
}

// NewTestCluster starts n Bully-mode nodes named node-1 … node-n with the
// test profile; configure, if given, may change each node's config before
// it starts. The cluster is closed when the test ends.
func NewTestCluster(t testing.TB, n int, configure func(i int, c *Config)) *TestCluster {
	t.Helper()
	return NewTestClusterMode(t, ModeBully, n, configure)
}

// ForEachMode runs f as a subtest for each mode, so that one test states a
// rule both modes must keep.
func ForEachMode(t *testing.T, f func(t *testing.T, mode Mode)) {
	for _, m := range []Mode{ModeBully, ModeRaft} {
		t.Run(m.String(), func(t *testing.T) { f(t, m) })
	}
}

// NewTestClusterMode is NewTestCluster in the given mode. In Raft mode
// every node expects the n of them to bootstrap the cluster.
func NewTestClusterMode(t testing.TB, mode Mode, n int, configure func(i int, c *Config)) *TestCluster {
	t.Helper()
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	c := &TestCluster{t: t, Key: key, logs: &syncBuffer{}}
	t.Cleanup(func() {
		for _, node := range c.Nodes {
			if node != nil {
				node.Close()
			}
		}
		if t.Failed() {
			t.Logf("logs of the cluster:\n%s", c.logs.String())
		}
	})
	for i := 0; i < n; i++ {
		cfg := DefaultConfig(fmt.Sprintf("node-%d", i+1))
		cfg.Profile = testProfile()
		cfg.GossipAddr, cfg.APIAddr, cfg.RaftAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
		cfg.Mode, cfg.BootstrapExpect = mode, 0
		if mode == ModeRaft {
			cfg.BootstrapExpect = n
		}
		cfg.Key = key
		cfg.DataDir = t.TempDir()
		cfg.Logger = hclog.New(&hclog.LoggerOptions{Output: c.logs, Level: hclog.Info})
		if i > 0 {
			cfg.Join = []string{c.Nodes[0].GossipAddr()}
		}
		if configure != nil {
			configure(i, &cfg)
		}
		node, err := Start(cfg)
		if err != nil {
			t.Fatalf("starting %s: %v", cfg.Name, err)
		}
		c.Nodes = append(c.Nodes, node)
		c.cfgs = append(c.cfgs, cfg)
	}
	return c
}

// Isolate cuts node i off from every other node, both ways (gossip,
// election and replication), or heals that cut (on false).
func (c *TestCluster) Isolate(i int, on bool) {
	for j, other := range c.Nodes {
		if j == i || other == nil {
			continue
		}
		c.Nodes[i].Gate().Block(other.GossipAddr(), on)
		other.Gate().Block(c.Nodes[i].GossipAddr(), on)
	}
}

// RestartAll stops every node and starts them again with the same names,
// keys and data directories, on new ports, as a whole-cluster restart: in
// Raft mode, every server comes back at an address other than the one in
// the configuration on disk.
func (c *TestCluster) RestartAll() {
	c.t.Helper()
	for _, n := range c.Nodes {
		n.Close()
	}
	for i, cfg := range c.cfgs {
		cfg.GossipAddr, cfg.APIAddr, cfg.RaftAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
		cfg.Join = nil
		if i > 0 {
			cfg.Join = []string{c.Nodes[0].GossipAddr()}
		}
		node, err := Start(cfg)
		if err != nil {
			c.t.Fatalf("restarting %s: %v", cfg.Name, err)
		}
		c.Nodes[i] = node
	}
}

// SubmitForTest commits one registry command through the node's
// replication, as a write route would, and returns its outcome. The node
// must be the coordinator.
func (n *Node) SubmitForTest(cmd registry.Command) (registry.Outcome, error) {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.RequestTimeout)
	defer cancel()
	return n.commit(ctx, cmd)
}

// NotCoordinator returns a live node other than coord.
func (c *TestCluster) NotCoordinator(coord *Node) *Node {
	for _, n := range c.Live() {
		if n != coord {
			return n
		}
	}
	c.t.Fatal("no live node besides the coordinator")
	return nil
}

// Live returns the nodes that have not been stopped.
func (c *TestCluster) Live() []*Node {
	var out []*Node
	for _, n := range c.Nodes {
		if n != nil && n.ctx.Err() == nil {
			out = append(out, n)
		}
	}
	return out
}

// Stop closes node i without a leave (a crash, to the others).
func (c *TestCluster) Stop(i int) {
	c.Nodes[i].Close()
}

// WaitFor polls cond until it holds or timeout passes, then fails the test
// with what.
func (c *TestCluster) WaitFor(timeout time.Duration, what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Agreed returns the coordinator every node in nodes names, if they all
// name the same one at the same epoch and it is one of them and active.
func Agreed(nodes []*Node) (*Node, bool) {
	if len(nodes) == 0 {
		return nil, false
	}
	first := nodes[0].Leadership()
	if !first.Known() {
		return nil, false
	}
	var coord *Node
	for _, n := range nodes {
		l := n.Leadership()
		if l.Coordinator != first.Coordinator || l.Epoch != first.Epoch {
			return nil, false
		}
		if n.Name() == l.Coordinator {
			coord = n
		}
		if n.State() != StateActive {
			return nil, false
		}
	}
	return coord, coord != nil
}

// WaitCoordinator waits until the live nodes agree on a coordinator among
// them and each sees every live node alive and active, and returns it.
func (c *TestCluster) WaitCoordinator(timeout time.Duration) *Node {
	c.t.Helper()
	var coord *Node
	live := c.Live()
	c.WaitFor(timeout, "the live nodes to agree on a coordinator", func() bool {
		var ok bool
		coord, ok = Agreed(live)
		if !ok {
			return false
		}
		for _, n := range live {
			healthy := 0
			for _, m := range n.Members() {
				if m.Healthy() {
					healthy++
				}
			}
			if healthy < len(live) {
				return false
			}
		}
		return true
	})
	return coord
}
