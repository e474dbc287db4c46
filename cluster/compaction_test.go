package cluster

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"veil/cluster/api"
	"veil/cluster/registry"
)

// Restart starts node i again with its name, key, data directory and
// addresses, as a restarted process would, joining the first live node.
// (On other addresses it would be refused until the others see the old
// incarnation fail: a live member holds its name.)
func (c *TestCluster) Restart(i int) {
	c.t.Helper()
	cfg := c.cfgs[i]
	old := c.Nodes[i]
	cfg.GossipAddr, cfg.APIAddr = old.GossipAddr(), old.APIAddr()
	cfg.Join = nil
	for j, n := range c.Nodes {
		if j != i && n.ctx.Err() == nil {
			cfg.Join = []string{n.GossipAddr()}
			break
		}
	}
	node, err := Start(cfg)
	if err != nil {
		c.t.Fatalf("restarting %s: %v", cfg.Name, err)
	}
	c.Nodes[i] = node
}

// registryOf reads GET /v1/status's registry section of n, as an operator
// would.
func registryOf(t *testing.T, n *Node) api.RegistryStatus {
	t.Helper()
	resp, err := http.Get("http://" + n.APIAddr() + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st StatusReply
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st.Registry == nil {
		t.Fatalf("status: %v, registry %v", err, st.Registry)
	}
	return *st.Registry
}

// sameRegistry waits until node a and b have applied the same index and
// then compares their registries byte for byte.
func sameRegistry(t *testing.T, c *TestCluster, a, b *Node) {
	t.Helper()
	c.WaitFor(20*time.Second, "the two nodes to apply the same committed log", func() bool {
		return a.repl.commitIndex() == b.repl.commitIndex()
	})
	var x, y []byte
	a.ReadRegistry(func(s *registry.State) { x = s.Snapshot() })
	b.ReadRegistry(func(s *registry.State) { y = s.Snapshot() })
	if !bytes.Equal(x, y) {
		t.Fatal("the nodes hold different registries at the same index")
	}
}

// TestBullyNodesCompactAndCatchUpBySnapshot runs three Bully nodes with a
// small snapshot threshold: every node compacts its log to the threshold
// and the trailing entries; a follower stopped while the log moved past its
// end catches up from the coordinator's snapshot; a follower whose data
// directory was deleted does too, and then coordinates and serves views of
// the images put before it was wiped.
func TestBullyNodesCompactAndCatchUpBySnapshot(t *testing.T) {
	const threshold, trailing = 16, 4
	c := NewTestCluster(t, 3, func(_ int, cfg *Config) {
		cfg.SnapshotThreshold, cfg.TrailingLogs = threshold, trailing
	})
	coord := c.WaitCoordinator(20 * time.Second)
	alice, bob := register(t, coord, "alice"), register(t, coord, "bob")
	r := put(t, coord, alice, secretPNG(t, 3), "bob=50")
	if r.status != http.StatusOK {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	veiled := r.body

	// Stop a follower, and move the log well past its end.
	var lagging int
	for i, n := range c.Nodes {
		if n != coord {
			lagging = i
			break
		}
	}
	c.Stop(lagging)
	for i := range 3 * threshold {
		if i%8 == 0 {
			if v := view(t, coord, bob, veiled); v.status != http.StatusOK {
				t.Fatalf("view: %d %s", v.status, v.body)
			}
			continue
		}
		if _, err := coord.SubmitForTest(registry.Barrier{}); err != nil {
			t.Fatal(err)
		}
	}
	st := registryOf(t, coord)
	if st.SnapshotIndex == 0 || st.LogEntries > threshold+trailing {
		t.Fatalf("the coordinator's registry %+v: no compaction, or a log longer than the threshold and the trailing entries", st)
	}
	c.WaitFor(10*time.Second, "the coordinator's log to start past the stopped node's end", func() bool {
		var first uint64
		coord.store.Status()
		first = coord.store.Status().FirstIndex
		return first > 2*threshold
	})

	c.Restart(lagging)
	sameRegistry(t, c, coord, c.Nodes[lagging])
	if st := registryOf(t, c.Nodes[lagging]); st.SnapshotIndex == 0 {
		t.Fatalf("the node that was behind holds no snapshot: %+v", st)
	}

	// Wipe a follower's data directory, and bring it back empty.
	wiped := 3 - lagging - c.indexOf(coord)
	c.Stop(wiped)
	if err := os.RemoveAll(c.cfgs[wiped].DataDir); err != nil {
		t.Fatal(err)
	}
	c.Restart(wiped)
	sameRegistry(t, c, coord, c.Nodes[wiped])

	newCoord := c.handTo(coord, wiped)
	v := view(t, newCoord, bob, veiled)
	if v.status != http.StatusOK {
		t.Fatalf("a view of an image put before the wipe, on the wiped node: %d %s", v.status, v.body)
	}
	left := viewsLeftEverywhere(t, c, r.header.Get(hdrImageID), "bob")
	want := 50 - (3*threshold+7)/8 - 1
	for _, got := range left {
		if got != want {
			t.Fatalf("views left on each node %v, want %d everywhere", left, want)
		}
	}
}

// handTo has coord hand its role to node i once it sees i active, and
// returns i once every node agrees it coordinates.
func (c *TestCluster) handTo(coord *Node, i int) *Node {
	c.t.Helper()
	name := c.Nodes[i].cfg.Name
	c.WaitFor(20*time.Second, "the coordinator to see "+name+" active", func() bool {
		m, ok := coord.mship.member(name)
		return ok && m.Status == StatusAlive && m.Meta.State == StateActive
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := coord.HandOff(ctx, name, "admin"); err != nil {
		c.t.Fatalf("hand-off to %s: %v", name, err)
	}
	if now := c.WaitCoordinator(20 * time.Second); now != c.Nodes[i] {
		c.t.Fatalf("the coordinator is %s, want %s", now.cfg.Name, name)
	}
	return c.Nodes[i]
}

func (c *TestCluster) indexOf(n *Node) int {
	for i, m := range c.Nodes {
		if m == n {
			return i
		}
	}
	c.t.Fatal("not a node of the cluster")
	return -1
}

// TestADamagedFollowerStaysOutUntilRebuilt flips a byte in a committed
// entry of a stopped follower's log: the node refuses to start and says
// which entry is damaged and how to rebuild it; rebuilt (its data directory
// moved aside), it catches up from the coordinator, takes the role, and
// every image acknowledged before is there with its views.
func TestADamagedFollowerStaysOutUntilRebuilt(t *testing.T) {
	c := NewTestCluster(t, 3, nil)
	coord := c.WaitCoordinator(20 * time.Second)
	alice, bob := register(t, coord, "alice"), register(t, coord, "bob")
	var ids []string
	var veiled [][]byte
	for i := range 3 {
		r := put(t, coord, alice, secretPNG(t, 10+i), "bob=5")
		if r.status != http.StatusOK {
			t.Fatalf("put: %d %s", r.status, r.body)
		}
		ids, veiled = append(ids, r.header.Get(hdrImageID)), append(veiled, r.body)
	}
	f := c.indexOf(c.NotCoordinator(coord))
	c.WaitFor(10*time.Second, "the follower to apply every put", func() bool {
		return c.Nodes[f].repl.commitIndex() == coord.repl.commitIndex()
	})
	damaged := c.Nodes[f].repl.commitIndex() - 1
	c.Stop(f)
	dir := c.cfgs[f].DataDir
	db, err := bolt.Open(filepath.Join(dir, registry.FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		k := binary.BigEndian.AppendUint64(nil, damaged)
		v := bytes.Clone(tx.Bucket([]byte("log")).Get(k))
		v[len(v)/2] ^= 0x20
		return tx.Bucket([]byte("log")).Put(k, v)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	cfg := c.cfgs[f]
	cfg.GossipAddr, cfg.APIAddr = c.Nodes[f].GossipAddr(), c.Nodes[f].APIAddr()
	cfg.Join = []string{coord.GossipAddr()}
	if n, err := Start(cfg); err == nil {
		n.Close()
		t.Fatal("a node whose log holds a damaged committed entry started")
	} else if !errors.Is(err, registry.ErrCorrupt) || !strings.Contains(err.Error(), fmt.Sprintf("entry %d", damaged)) {
		t.Fatalf("starting the damaged node: %v", err)
	}

	if err := os.Rename(dir, dir+".damaged"); err != nil {
		t.Fatal(err)
	}
	c.Restart(f)
	sameRegistry(t, c, coord, c.Nodes[f])
	c.handTo(coord, f)
	for i, b := range veiled {
		if v := view(t, c.Nodes[f], bob, b); v.status != http.StatusOK {
			t.Fatalf("a view of image %s on the rebuilt coordinator: %d %s", ids[i], v.status, v.body)
		}
	}
	for _, id := range ids {
		for _, left := range viewsLeftEverywhere(t, c, id, "bob") {
			if left != 4 {
				t.Fatalf("views left of %s: %d, want 4 on every node", id, left)
			}
		}
	}
}
