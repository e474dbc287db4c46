package cluster

import (
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"
)

// nameTable is a membership for node-2 at 10.0.0.2:7946 that has run for
// a minute and holds node-1 alive, admitted or not.
func nameTable(t *testing.T, admitted bool) *membership {
	t.Helper()
	m := newMembership("node-2", Meta{}, hclog.NewNullLogger(), func(int) time.Duration { return time.Second })
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	m.now, m.started = func() time.Time { return now }, now.Add(-time.Minute)
	m.upsert(&memberlist.Node{Name: "node-2", Addr: net.ParseIP("10.0.0.2"), Port: 7946}, StatusAlive)
	m.upsert(&memberlist.Node{Name: "node-1", Addr: net.ParseIP("10.0.0.1"), Port: 7946}, StatusAlive)
	m.admitted = admitted
	return m
}

func names(ms []Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

// What a node makes of the claims of the member it exchanged gossip state
// with: a newcomer whose name a live member holds at another address
// refuses; anything else admits it.
func TestClaimsDecideWhetherANodeMayTakeItsName(t *testing.T) {
	tests := []struct {
		name     string
		admitted bool
		claims   claims
		refuses  bool
	}{
		{"a member of another name", false,
			claims{Version: 1, Name: "node-1", Gossip: "10.0.0.1:7946", AgeMS: 3_600_000, Live: []claim{{"node-3", "10.0.0.3:7946"}}}, false},
		{"a member of this name at another address, that has run longer", false,
			claims{Version: 1, Name: "node-2", Gossip: "10.0.0.9:7946", AgeMS: 3_600_000}, true},
		{"a member of this name at another address, started after this node", false,
			claims{Version: 1, Name: "node-2", Gossip: "10.0.0.9:7946", AgeMS: 1_000}, false},
		{"a member that holds this name alive at another address", false,
			claims{Version: 1, Name: "node-1", Gossip: "10.0.0.1:7946", AgeMS: 10, Live: []claim{{"node-2", "10.0.0.9:7946"}}}, true},
		{"a member that holds this node at its own address (its life before a restart)", false,
			claims{Version: 1, Name: "node-1", Gossip: "10.0.0.1:7946", AgeMS: 3_600_000, Live: []claim{{"node-2", "10.0.0.2:7946"}}}, false},
		{"a node that took part already, told of another of its name", true,
			claims{Version: 1, Name: "node-2", Gossip: "10.0.0.9:7946", AgeMS: 3_600_000, Live: []claim{{"node-2", "10.0.0.9:7946"}}}, false},
		{"a member whose claims could not be read", false, claims{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := nameTable(t, tt.admitted)
			if !tt.admitted {
				if got := names(m.members()); !reflect.DeepEqual(got, []string{"node-2"}) {
					t.Fatalf("before any exchange the table shows %v, want node-2 alone", got)
				}
				if _, ok := m.member("node-1"); ok {
					t.Fatal("before any exchange node-1 can be reached")
				}
			}
			m.judge(tt.claims)
			err := m.refusal()
			if got := err != nil; got != tt.refuses || m.isRefused() != tt.refuses {
				t.Fatalf("refused: %v (closed %v), want %v", err, m.isRefused(), tt.refuses)
			}
			if tt.refuses {
				if !errors.Is(err, ErrNameTaken) || !strings.Contains(err.Error(), "10.0.0.9:7946") {
					t.Fatalf("the reason %q does not name the holder's address", err)
				}
				if got := names(m.members()); !reflect.DeepEqual(got, []string{"node-2"}) {
					t.Fatalf("a node that refused shows %v, want itself alone", got)
				}
				// Whatever it hears next, it stays out.
				m.judge(claims{Version: 1, Name: "node-1", Gossip: "10.0.0.1:7946", AgeMS: 1})
				m.sweep()
				if got := names(m.members()); !reflect.DeepEqual(got, []string{"node-2"}) || m.refusal() == nil {
					t.Fatalf("after more gossip a node that refused shows %v (refused %v)", got, m.refusal())
				}
				return
			}
			if got := names(m.members()); !reflect.DeepEqual(got, []string{"node-1", "node-2"}) {
				t.Fatalf("an admitted node shows %v, want node-1 and node-2", got)
			}
		})
	}
}

// A member of a release that sends no claims leaves the exchange silent:
// the node takes part once its members have been in sight for a while.
func TestANodeTakesPartWhenNoMemberSendsClaims(t *testing.T) {
	m := nameTable(t, false)
	now := m.now()
	m.othersSince = now
	m.sweep()
	if len(m.members()) != 1 {
		t.Fatal("the node took part at once, before its members could say anything")
	}
	m.now = func() time.Time { return now.Add(2 * time.Second) }
	m.sweep()
	if got := names(m.members()); !reflect.DeepEqual(got, []string{"node-1", "node-2"}) {
		t.Fatalf("after members in sight for longer than a suspicion: %v", got)
	}
}

// A node's claims say what the other side needs: its name and address,
// its age, and the live members it holds once it takes part.
func TestANodeClaimsItsNameAddressAgeAndLiveMembers(t *testing.T) {
	m := nameTable(t, false)
	c, err := decodeClaims(m.LocalState(true))
	if err != nil {
		t.Fatal(err)
	}
	want := claims{Version: claimsVersion, Name: "node-2", Gossip: "10.0.0.2:7946", AgeMS: 60_000}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("before it takes part: %+v, want %+v", c, want)
	}
	m.admitted = true
	if c, _ = decodeClaims(m.LocalState(false)); !reflect.DeepEqual(c.Live, []claim{{"node-1", "10.0.0.1:7946"}}) {
		t.Fatalf("once it takes part, it lists %v", c.Live)
	}
}

func FuzzClaims(f *testing.F) {
	f.Add([]byte(`{"v":1,"name":"node-1","gossip":"10.0.0.1:7946","age_ms":5,"live":[{"name":"node-2","gossip":"10.0.0.2:7946"}]}`))
	f.Add([]byte(`{"v":2,"name":"x","age_ms":0,"extra":[1,2]}`))
	f.Add([]byte(`{"v":1,"age_ms":-1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeClaims(b)
		if err != nil {
			return
		}
		again, err := c.encode()
		if err != nil {
			t.Fatal(err)
		}
		d, err := decodeClaims(again)
		if err != nil || !reflect.DeepEqual(c, d) {
			t.Fatalf("%q read as %+v, encoded again as %q, read as %+v (%v)", b, c, again, d, err)
		}
		m := nameTable(t, false)
		m.judge(c) // never panics, whatever a member claims
	})
}

// A node started with the name of a live member refuses to take part and
// says why; the live cluster goes on as it was: no election, and the
// member whose name was taken stays alive and active, not leaving.
func TestANodeWhoseNameALiveMemberHoldsRefusesToJoin(t *testing.T) {
	c := NewTestCluster(t, 3, nil)
	coord := c.WaitCoordinator(20 * time.Second)
	follower := c.NotCoordinator(coord)
	var other *Node
	for _, n := range c.Nodes {
		if n != coord && n != follower {
			other = n
		}
	}
	tests := []struct {
		name         string
		holder, join *Node
	}{
		{"the coordinator's name, joining through another member", coord, follower},
		{"a follower's name, joining through that follower", follower, follower},
		{"a follower's name, joining through the coordinator", other, coord},
	}
	before := coord.Leadership()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := c.cfgs[0]
			cfg.Name, cfg.DataDir = tt.holder.Name(), t.TempDir()
			cfg.GossipAddr, cfg.APIAddr = "127.0.0.1:0", "127.0.0.1:0"
			cfg.Join = []string{tt.join.GossipAddr()}
			cfg.Logger = cfg.Logger.Named("impostor-" + string(rune('1'+i)))
			imp, err := Start(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer imp.Close()
			select {
			case <-imp.Refused():
			case <-time.After(20 * time.Second):
				t.Fatalf("a node named %s joined beside the live one; its table: %v", tt.holder.Name(), names(imp.Members()))
			}
			err = imp.RefusedErr()
			if !errors.Is(err, ErrNameTaken) || !strings.Contains(err.Error(), tt.holder.GossipAddr()) {
				t.Fatalf("the reason %q does not name the live member's address %s", err, tt.holder.GossipAddr())
			}
			// Alone, it elects itself: had it been in touch with the
			// cluster, its election would have reached the members.
			c.WaitFor(10*time.Second, "the refused node's election to end", func() bool { return imp.Leadership().Known() })
			if got := names(imp.Members()); !reflect.DeepEqual(got, []string{tt.holder.Name()}) {
				t.Fatalf("the refused node's table shows %v, want itself alone", got)
			}
			imp.Close()

			for _, n := range c.Nodes {
				if l := n.Leadership(); l.Coordinator != before.Coordinator || l.Epoch != before.Epoch {
					t.Fatalf("%s names %s at epoch %v, want %s at %v as before: an election", n.Name(), l.Coordinator, l.Epoch, before.Coordinator, before.Epoch)
				}
				for _, m := range n.Members() {
					if m.Name == tt.holder.Name() && (m.Gossip != tt.holder.GossipAddr() || !m.Healthy()) {
						t.Fatalf("%s holds %s at %s, %s, %v; want it at %s, alive and active", n.Name(), m.Name, m.Gossip, m.Status, m.Meta.State, tt.holder.GossipAddr())
					}
				}
				if len(n.Members()) != 3 {
					t.Fatalf("%s holds %v", n.Name(), names(n.Members()))
				}
			}
		})
	}
}
