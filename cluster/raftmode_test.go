package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"veil/cluster/registry"
	"veil/election"
)

func TestPlanRaftChange(t *testing.T) {
	now := time.Now()
	grace := 10 * time.Second
	srv := func(ids ...string) []election.Server {
		var out []election.Server
		for _, id := range ids {
			out = append(out, election.Server{ID: id, Address: id + ":8300", Voter: true})
		}
		return out
	}
	member := func(name string, st Status, since time.Duration) Member {
		return Member{Name: name, Status: st, Since: now.Add(-since)}
	}
	cases := []struct {
		name    string
		servers []election.Server
		alive   []election.Server
		members []Member
		want    string
	}{
		{"nothing to do", srv("a", "b", "c"), srv("a", "b", "c"),
			[]Member{member("a", StatusAlive, 0), member("b", StatusAlive, 0), member("c", StatusAlive, 0)}, ""},
		{"a new member alive in gossip is added", srv("a", "b", "c"), srv("a", "b", "c", "d"),
			[]Member{member("d", StatusAlive, 0)}, "add d"},
		{"a voter back on a new address is left to the transport", srv("a", "b", "c"),
			append(srv("a", "b"), election.Server{ID: "c", Address: "c:9999", Voter: true}), nil, ""},
		{"a non-voter alive in gossip is made a voter where it is listed", append(srv("a", "b"), election.Server{ID: "c", Address: "c:7000"}),
			srv("a", "b", "c"), nil, "add c at c:7000"},
		{"a member that left is removed", srv("a", "b", "c"), srv("a", "b"),
			[]Member{member("b", StatusAlive, 0), member("c", StatusLeft, 0)}, "remove c"},
		{"a member failed past the grace is removed", srv("a", "b", "c", "d"), srv("a", "b", "c"),
			[]Member{member("b", StatusAlive, 0), member("c", StatusAlive, 0), member("d", StatusFailed, 2*grace)}, "remove d"},
		{"a member failed within the grace stays", srv("a", "b", "c"), srv("a", "b"),
			[]Member{member("b", StatusAlive, 0), member("c", StatusFailed, grace/2)}, ""},
		{"a member failing on purpose stays", srv("a", "b", "c"), srv("a", "b"),
			[]Member{member("b", StatusAlive, 0), {Name: "c", Status: StatusFailed, Since: now.Add(-2 * grace), Failing: true}}, ""},
		{"no removal that leaves the live voters short of a majority", srv("a", "b", "c", "d", "e"), srv("a"),
			[]Member{member("b", StatusFailed, 2*grace), member("c", StatusFailed, 2*grace), member("d", StatusFailed, 2*grace), member("e", StatusFailed, 2*grace)}, ""},
		{"a server gossip never heard of stays", srv("a", "b", "c"), srv("a", "b"),
			[]Member{member("b", StatusAlive, 0)}, ""},
		{"the leader itself is never removed", srv("a", "b"), srv("b"),
			[]Member{member("a", StatusLeft, 0), member("b", StatusAlive, 0)}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ch := planRaftChange("a", tc.servers, tc.alive, tc.members, now, grace)
			got := ""
			switch {
			case ch.add != nil && ch.add.Address != ch.add.ID+":8300":
				got = "add " + ch.add.ID + " at " + ch.add.Address
			case ch.add != nil:
				got = "add " + ch.add.ID
			case ch.remove != "":
				got = "remove " + ch.remove
			}
			if got != tc.want {
				t.Fatalf("plan = %q, want %q", got, tc.want)
			}
		})
	}
}

// voters is the Raft configuration as node n knows it, sorted.
func voters(t *testing.T, n *Node) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	servers, _, err := n.raft.Servers(ctx)
	if err != nil {
		t.Fatalf("%s: configuration: %v", n.Name(), err)
	}
	var ids []string
	for _, s := range servers {
		if s.Voter {
			ids = append(ids, s.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

// The Raft configuration follows gossip: a node that joins becomes a voter,
// a leader that leaves hands over the lead and is removed, a node that
// stays dead past the grace period is removed.
func TestRaftMembershipFollowsGossip(t *testing.T) {
	const grace = 3 * time.Second
	c := NewTestClusterMode(t, ModeRaft, 3, func(i int, cfg *Config) { cfg.RaftDeadGrace = grace })
	c.WaitCoordinator(20 * time.Second)

	// A fourth node joins an existing cluster: no bootstrap of its own.
	cfg := c.cfgs[0]
	cfg.Name, cfg.DataDir = "node-4", t.TempDir()
	cfg.GossipAddr, cfg.APIAddr, cfg.RaftAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.BootstrapExpect, cfg.Join = 0, []string{c.Nodes[0].GossipAddr()}
	n4, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Nodes, c.cfgs = append(c.Nodes, n4), append(c.cfgs, cfg)
	c.WaitFor(20*time.Second, "node-4 to become a voter and serve", func() bool {
		coord, ok := Agreed(c.Nodes)
		return ok && fmt.Sprint(voters(t, coord)) == "[node-1 node-2 node-3 node-4]" && n4.State() == StateActive
	})
	alice := register(t, n4, "alice")
	register(t, n4, "bob")
	if r := put(t, n4, alice, secretPNG(t, 9), "bob=1"); r.status != 200 {
		t.Fatalf("put through the new node: %d %s", r.status, r.body)
	}

	// The leader leaves gracefully: it hands over the lead first, and the
	// new leader removes it.
	old := c.WaitCoordinator(20 * time.Second)
	oldEpoch := old.Leadership().Epoch
	if err := old.Leave(5 * time.Second); err != nil {
		t.Fatalf("leave: %v", err)
	}
	var rest []*Node
	for i, n := range c.Nodes {
		if n == old {
			c.Nodes[i] = nil
		} else {
			rest = append(rest, n)
		}
	}
	c.WaitFor(20*time.Second, "a new leader without the one that left", func() bool {
		coord, ok := Agreed(rest)
		return ok && coord != old && len(voters(t, coord)) == 3
	})
	coord, _ := Agreed(rest)
	if e := coord.Leadership().Epoch; e.Compare(oldEpoch) <= 0 {
		t.Fatalf("epoch %v after the leave is not above %v", e, oldEpoch)
	}

	// A follower crashes: it is removed once the grace period has passed,
	// as two live voters of three stay a majority without it.
	victim := c.NotCoordinator(coord)
	victim.Close()
	var live []*Node
	for i, n := range c.Nodes {
		if n == victim {
			c.Nodes[i] = nil
		} else if n != nil {
			live = append(live, n)
		}
	}
	c.WaitFor(30*time.Second, "the dead follower to be removed", func() bool {
		coord, ok := Agreed(live)
		return ok && len(voters(t, coord)) == 2
	})
	coord, _ = Agreed(live)
	for _, id := range voters(t, coord) {
		if id == victim.Name() {
			t.Fatalf("%s is still a voter after it was removed", id)
		}
	}
	if r := put(t, coord, alice, secretPNG(t, 10), "bob=1"); r.status != 200 {
		t.Fatalf("put on the two remaining voters: %d %s", r.status, r.body)
	}
}

func TestRaftConfigIsChecked(t *testing.T) {
	good := DefaultConfig("n1")
	good.Mode, good.BootstrapExpect = ModeRaft, 3
	good.DataDir, good.Key = t.TempDir(), make([]byte, KeySize)
	if err := good.Validate(); err != nil {
		t.Fatalf("a good Raft config is refused: %v", err)
	}
	bad := map[string]func(c *Config){
		"neither bootstrap-expect nor join": func(c *Config) { c.BootstrapExpect = 0 },
		"negative bootstrap-expect":         func(c *Config) { c.BootstrapExpect = -1 },
		"no Raft port":                      func(c *Config) { c.RaftAddr = "127.0.0.1" },
		"no dead grace":                     func(c *Config) { c.RaftDeadGrace = 0 },
		"grace shorter than a simulated failure": func(c *Config) {
			c.Failures = &FailureSim{Every: time.Minute, DownMin: time.Second, DownMax: 20 * time.Second}
			c.RaftDeadGrace = 10 * time.Second
		},
		"Raft lease longer than the heartbeat timeout": func(c *Config) { c.Profile.Raft.LeaderLease = 2 * c.Profile.Raft.Heartbeat },
	}
	for name, mutate := range bad {
		t.Run(name, func(t *testing.T) {
			c := good
			mutate(&c)
			if err := c.Validate(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	joining := good
	joining.BootstrapExpect, joining.Join = 0, []string{"127.0.0.1:7946"}
	if err := joining.Validate(); err != nil {
		t.Fatalf("a node joining an existing Raft cluster is refused: %v", err)
	}
}

// The FSM's snapshot restores to the same registry, and an entry that does
// not decode is refused without stopping the log.
func TestRaftFSMSnapshotRestoresTheRegistry(t *testing.T) {
	hash, err := registry.HashPassword(registry.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1, SaltLen: 16, KeyLen: 32}, rand.Reader, "password1")
	if err != nil {
		t.Fatal(err)
	}
	f := &fsm{state: registry.NewState()}
	cmds := []registry.Command{
		registry.RegisterUser{Name: "ann", PasswordHash: hash},
		registry.PutImage{ID: fmt.Sprintf("%032x", 1), Owner: "ann", Viewers: map[string]int{"bob": 3}, Created: time.Unix(1e9, 0).UTC(), IdemKey: "k1"},
		registry.View{ID: fmt.Sprintf("%032x", 1), Viewer: "bob", IdemKey: "v1"},
	}
	index := uint64(3) // Raft's own entries take indexes too
	for _, c := range cmds {
		b, err := registry.Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		index++
		if out := f.Apply(&raft.Log{Index: index, Data: b}).(registry.Outcome); out.Err != nil {
			t.Fatalf("apply %T: %v", c, out.Err)
		}
	}
	index++
	if out := f.Apply(&raft.Log{Index: index, Data: []byte{0xff, 0x00}}).(registry.Outcome); !errors.Is(out.Err, registry.ErrMalformed) {
		t.Fatalf("a malformed entry: %v, want ErrMalformed", out.Err)
	}

	store := raft.NewInmemSnapshotStore()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink, err := store.Create(raft.SnapshotVersionMax, index, 1, raft.Configuration{}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	_, rc, err := store.Open(sink.ID())
	if err != nil {
		t.Fatal(err)
	}
	g := &fsm{state: registry.NewState()}
	if err := g.Restore(rc); err != nil {
		t.Fatalf("restore: %v", err)
	}
	var want, got []byte
	f.read(func(s *registry.State) { want = s.Snapshot() })
	g.read(func(s *registry.State) { got = s.Snapshot() })
	if !bytes.Equal(want, got) {
		t.Fatal("the restored registry differs from the snapshotted one")
	}
	g.read(func(s *registry.State) {
		img, ok := s.Image(fmt.Sprintf("%032x", 1))
		if !ok || img.Viewers["bob"] != 2 || s.LastApplied() != index {
			t.Fatalf("restored image %+v (found %v), last applied %d; want bob=2 at %d", img, ok, s.LastApplied(), index)
		}
	})
	if err := g.Restore(io.NopCloser(strings.NewReader("not a snapshot"))); err == nil {
		t.Fatal("a snapshot that does not decode was restored")
	}
}
