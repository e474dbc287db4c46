package cluster

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"veil/cluster/registry"
	"veil/cluster/vouch"
)

// device is a test peer's key pair and the statement the cloud gave it.
type device struct {
	priv      ed25519.PrivateKey
	id        string
	statement string
}

func newDevice(t testing.TB, n *Node, u user, seed byte) device {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(bytesOf(seed, ed25519.SeedSize))
	pub := priv.Public().(ed25519.PublicKey)
	at := time.Now().UTC()
	req := VouchRequest{
		Key: base64.StdEncoding.EncodeToString(pub), At: at,
		Proof: base64.StdEncoding.EncodeToString(ed25519.Sign(priv, vouch.PossessionProof(u.name, at))),
	}
	r := callRetry(t, "POST", "http://"+n.APIAddr()+"/v1/peers/vouch", jsonBody(t, req), u.auth())
	if r.status != http.StatusOK {
		t.Fatalf("vouch: %d %s", r.status, r.body)
	}
	var vr VouchReply
	if err := json.Unmarshal(r.body, &vr); err != nil {
		t.Fatal(err)
	}
	return device{priv: priv, id: vr.Device, statement: vr.Statement}
}

func bytesOf(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b ^ byte(i)
	}
	return out
}

func heartbeat(t testing.TB, n *Node, u user, d device, addr string, holds ...string) reply {
	t.Helper()
	body := jsonBody(t, PeerRequest{Statement: d.statement, Address: addr, Holds: holds})
	return callRetry(t, "PUT", "http://"+n.APIAddr()+"/v1/peers/"+d.id, body, u.auth())
}

func online(t testing.TB, n *Node, u user) []OnlineReply {
	t.Helper()
	r := call(t, "GET", "http://"+n.APIAddr()+"/v1/online", nil, u.auth())
	if r.status != http.StatusOK {
		t.Fatalf("online from %s: %d %s", n.Name(), r.status, r.body)
	}
	var out []OnlineReply
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func directory(t testing.TB, n *Node, u user) DirectoryReply {
	t.Helper()
	r := call(t, "GET", "http://"+n.APIAddr()+"/v1/directory", nil, u.auth())
	if r.status != http.StatusOK {
		t.Fatalf("directory from %s: %d %s", n.Name(), r.status, r.body)
	}
	var out DirectoryReply
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// onlineSet is who is online at which address, as one node says.
func onlineSet(t testing.TB, n *Node, u user) string {
	var rows []string
	for _, o := range online(t, n, u) {
		rows = append(rows, o.User+"@"+o.Address)
	}
	return strings.Join(rows, ",")
}

// everyNodeSays waits until every live node answers want.
func everyNodeSays(t *testing.T, c *TestCluster, u user, want string) {
	t.Helper()
	c.WaitFor(10*time.Second, "every node lists "+want, func() bool {
		for _, n := range c.Live() {
			if n.serving() != nil || onlineSet(t, n, u) != want {
				return false
			}
		}
		return true
	})
}

func TestTheDirectoryIsTheSameOnEveryNodeAndHeartbeatsWriteOnlyChanges(t *testing.T) {
	ForEachMode(t, func(t *testing.T, mode Mode) {
		c := NewTestClusterMode(t, mode, 3, func(_ int, cfg *Config) { cfg.PeerTTL = 2 * time.Second })
		coord := c.WaitCoordinator(20 * time.Second)
		ann, bob, eve := register(t, coord, "ann"), register(t, coord, "bob"), register(t, coord, "eve")
		r := put(t, coord, ann, secretPNG(t, 1), "bob")
		if r.status != http.StatusOK {
			t.Fatalf("put: %d %s", r.status, r.body)
		}
		imageID := r.header.Get(hdrImageID)
		other := c.NotCoordinator(coord)

		annDev, bobDev := newDevice(t, other, ann, 1), newDevice(t, other, bob, 2)
		if r := heartbeat(t, other, ann, annDev, "127.0.0.1:7001", imageID); r.status != http.StatusOK {
			t.Fatalf("ann's registration: %d %s", r.status, r.body)
		}
		if r := heartbeat(t, other, bob, bobDev, "127.0.0.1:7002"); r.status != http.StatusOK {
			t.Fatalf("bob's registration: %d %s", r.status, r.body)
		}
		everyNodeSays(t, c, eve, "ann@127.0.0.1:7001,bob@127.0.0.1:7002")

		// A heartbeat that changes nothing writes nothing.
		var before, after uint64
		coord.ReadRegistry(func(s *registry.State) { before = s.LastApplied() })
		for range 5 {
			if r := heartbeat(t, other, ann, annDev, "127.0.0.1:7001", imageID); r.status != http.StatusOK {
				t.Fatalf("heartbeat: %d %s", r.status, r.body)
			}
		}
		coord.ReadRegistry(func(s *registry.State) { after = s.LastApplied() })
		if after != before {
			t.Fatalf("5 heartbeats that changed nothing moved the registry from index %d to %d", before, after)
		}

		// bob sees ann's image, its digest, a ticket for it and ann as a
		// holder; eve, who is not a viewer, sees nothing of it.
		for _, n := range c.Live() {
			d := directory(t, n, bob)
			if len(d.Images) != 1 || d.Images[0].ID != imageID || len(d.Images[0].Holders) != 1 || d.Images[0].Holders[0].User != "ann" {
				t.Fatalf("bob's directory from %s: %+v", n.Name(), d)
			}
			if d.Images[0].ViewsLeft != 1 || d.Images[0].Viewers != nil {
				t.Fatalf("bob's directory shows %d views left and viewers %v", d.Images[0].ViewsLeft, d.Images[0].Viewers)
			}
			tk, err := vouch.VerifyTicket(coord.vouchKey.Public().(ed25519.PublicKey), d.Images[0].Ticket, time.Now())
			if err != nil || tk.User != "bob" || tk.Image != imageID || hex.EncodeToString(tk.Digest[:]) != d.Images[0].Digest {
				t.Fatalf("ticket %+v, %v", tk, err)
			}
			if d := directory(t, n, eve); len(d.Images) != 0 {
				t.Fatalf("eve's directory from %s lists %+v", n.Name(), d.Images)
			}
		}
		if want := sha256.Sum256(r.body); directory(t, coord, ann).Images[0].Digest != hex.EncodeToString(want[:]) {
			t.Fatal("the directory's digest is not that of the veiled PNG the put returned")
		}

		// eve cannot offer ann's image: it is dropped from what she holds.
		eveDev := newDevice(t, other, eve, 3)
		r = heartbeat(t, other, eve, eveDev, "127.0.0.1:7003", imageID)
		var pr PeerReply
		if err := json.Unmarshal(r.body, &pr); err != nil || r.status != http.StatusOK || len(pr.Holds) != 0 {
			t.Fatalf("eve's registration: %d %s", r.status, r.body)
		}
		if h := directory(t, coord, bob).Images[0].Holders; len(h) != 1 {
			t.Fatalf("holders after eve's registration: %+v", h)
		}

		// A clean stop is offline at once; silence is offline after the TTL.
		if r := callRetry(t, "DELETE", "http://"+other.APIAddr()+"/v1/peers/"+bobDev.id, nil, bob.auth()); r.status != http.StatusOK {
			t.Fatalf("leave: %d %s", r.status, r.body)
		}
		everyNodeSays(t, c, eve, "ann@127.0.0.1:7001,eve@127.0.0.1:7003")
		everyNodeSays(t, c, eve, "") // nobody heartbeats any more
		if h := directory(t, coord, bob).Images[0].Holders; len(h) != 0 {
			t.Fatalf("an offline holder is listed: %+v", h)
		}
	})
}

func TestAPeerThatKeepsBeatingStaysOnlineThroughAFailover(t *testing.T) {
	c := NewTestCluster(t, 3, func(_ int, cfg *Config) { cfg.PeerTTL = 2 * time.Second })
	coord := c.WaitCoordinator(20 * time.Second)
	ann := register(t, coord, "ann")
	other := c.NotCoordinator(coord)
	dev := newDevice(t, other, ann, 1)
	if r := heartbeat(t, other, ann, dev, "127.0.0.1:7001"); r.status != http.StatusOK {
		t.Fatalf("registration: %d %s", r.status, r.body)
	}
	everyNodeSays(t, c, ann, "ann@127.0.0.1:7001")
	var since time.Time
	for _, o := range online(t, other, ann) {
		since = o.Since
	}
	for i, n := range c.Nodes {
		if n == coord {
			c.Stop(i)
		}
	}
	// The peer beats every third of the TTL, as a peer does, through the
	// election and for two TTLs after it.
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		heartbeat(t, other, ann, dev, "127.0.0.1:7001")
		time.Sleep(600 * time.Millisecond)
	}
	c.WaitCoordinator(20 * time.Second)
	everyNodeSays(t, c, ann, "ann@127.0.0.1:7001")
	for _, n := range c.Live() {
		for _, o := range online(t, n, ann) {
			if !o.Since.Equal(since) {
				t.Fatalf("%s says online since %v, before the failover %v: the peer was taken offline", n.Name(), o.Since, since)
			}
		}
	}
}

func TestDiscoveryRefusesWhatItCannotTrust(t *testing.T) {
	c := NewTestCluster(t, 1, nil)
	n := c.WaitCoordinator(20 * time.Second)
	ann, bob := register(t, n, "ann"), register(t, n, "bob")
	annDev := newDevice(t, n, ann, 1)
	priv := ed25519.NewKeyFromSeed(bytesOf(9, ed25519.SeedSize))
	pub := base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey))
	now := time.Now().UTC()
	sign := func(user string, at time.Time) string {
		return base64.StdEncoding.EncodeToString(ed25519.Sign(priv, vouch.PossessionProof(user, at)))
	}
	cases := []struct {
		name   string
		method string
		path   string
		who    user
		body   any
		status int
		code   string
	}{
		{"a vouch with a proof for another user", "POST", "/v1/peers/vouch", bob, VouchRequest{Key: pub, At: now, Proof: sign("ann", now)}, 401, "bad_statement"},
		{"a vouch with an old proof", "POST", "/v1/peers/vouch", ann, VouchRequest{Key: pub, At: now.Add(-time.Hour), Proof: sign("ann", now.Add(-time.Hour))}, 401, "bad_statement"},
		{"a vouch with a key that is not one", "POST", "/v1/peers/vouch", ann, VouchRequest{Key: "AAAA", At: now, Proof: sign("ann", now)}, 400, "bad_request"},
		{"a heartbeat with another user's statement", "PUT", "/v1/peers/" + annDev.id, bob, PeerRequest{Statement: annDev.statement, Address: "h:1"}, 401, "bad_statement"},
		{"a heartbeat for another device than the statement's", "PUT", "/v1/peers/" + strings.Repeat("0", 32), ann, PeerRequest{Statement: annDev.statement, Address: "h:1"}, 401, "bad_statement"},
		{"a heartbeat with a forged statement", "PUT", "/v1/peers/" + annDev.id, ann, PeerRequest{Statement: annDev.statement[:len(annDev.statement)-4] + "AAAA", Address: "h:1"}, 401, "bad_statement"},
		{"a heartbeat without a port", "PUT", "/v1/peers/" + annDev.id, ann, PeerRequest{Statement: annDev.statement, Address: "host"}, 400, "bad_request"},
		{"a heartbeat offering a malformed id", "PUT", "/v1/peers/" + annDev.id, ann, PeerRequest{Statement: annDev.statement, Address: "h:1", Holds: []string{"x"}}, 400, "bad_request"},
		{"a heartbeat with an unknown field", "PUT", "/v1/peers/" + annDev.id, ann, map[string]any{"statement": annDev.statement, "address": "h:1", "extra": 1}, 400, "bad_request"},
		{"a leave of an unknown device", "DELETE", "/v1/peers/" + strings.Repeat("0", 32), ann, nil, 404, "unknown_device"},
	}
	var before []byte
	n.ReadRegistry(func(s *registry.State) { before = s.Snapshot() })
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.body != nil {
				body = jsonBody(t, tc.body)
			}
			r := call(t, tc.method, "http://"+n.APIAddr()+tc.path, body, tc.who.auth())
			var e struct {
				Error apiError `json:"error"`
			}
			_ = json.Unmarshal(r.body, &e)
			if r.status != tc.status || e.Error.Code != tc.code {
				t.Fatalf("%d %s, want %d %s", r.status, r.body, tc.status, tc.code)
			}
		})
	}
	var after []byte
	n.ReadRegistry(func(s *registry.State) { after = s.Snapshot() })
	if !slices.Equal(before, after) {
		t.Fatal("a refused request changed the registry")
	}
	if r := call(t, "GET", "http://"+n.APIAddr()+"/v1/online", nil, nil); r.status != http.StatusUnauthorized {
		t.Fatalf("online without a token: %d", r.status)
	}
}
