package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"veil/cluster/client"
	"veil/cluster/registry"
	"veil/internal/certs"
)

// testPKI is a certificate authority of its own for a test's cluster.
type testPKI struct {
	t  testing.TB
	ca *certs.Authority
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	ca, err := certs.NewAuthority(certs.AuthorityRequest{Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return &testPKI{t: t, ca: ca}
}

func (p *testPKI) issue(kind certs.Kind, name string) *certs.Issued {
	p.t.Helper()
	is, err := p.ca.Issue(certs.Request{Kind: kind, Name: name, Now: time.Now()})
	if err != nil {
		p.t.Fatal(err)
	}
	return is
}

// node is the identity of the node of that name.
func (p *testPKI) node(name string) *certs.Identity {
	p.t.Helper()
	is := p.issue(certs.KindNode, name)
	id, err := certs.NewIdentity(is.CertPEM, is.KeyPEM, p.ca.CertPEM(), time.Now())
	if err != nil {
		p.t.Fatal(err)
	}
	return id
}

// user is a user's TLS: the authority alone, as a browser or curl with
// --cacert has it, and the client certificate given, if any.
func (p *testPKI) user(cert *certs.Issued) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca.Cert)
	c := &tls.Config{RootCAs: pool}
	if cert != nil {
		kp, err := tls.X509KeyPair(cert.CertPEM, cert.KeyPEM)
		if err != nil {
			p.t.Fatal(err)
		}
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &kp, nil }
	}
	return c
}

func newTLSCluster(t *testing.T, mode Mode, n int) (*TestCluster, *testPKI) {
	t.Helper()
	p := newTestPKI(t)
	c := NewTestClusterMode(t, mode, n, func(i int, cfg *Config) { cfg.TLS = p.node(cfg.Name) })
	return c, p
}

// tlsUser registers and logs in a user through a client that trusts the
// cluster's authority and is given the nodes' addresses without a scheme.
func tlsUser(t *testing.T, nodes []*Node, tc *tls.Config, route client.Route, name string) *client.Client {
	t.Helper()
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, n.APIAddr())
	}
	cl, err := client.New(client.Config{Nodes: addrs, Route: route, TLS: tc, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pw := "password of " + name
	if err := cl.Register(ctx, name, pw); err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	if _, err := cl.Login(ctx, name, pw); err != nil {
		t.Fatalf("login %s: %v", name, err)
	}
	return cl
}

// A cluster run with TLS elects, replicates over mutual TLS and serves a
// client that has only the cluster's authority: puts worked by any node
// and committed at the coordinator, views, in both modes.
func TestTLSClusterElectsReplicatesAndServesAClientTrustingItsAuthority(t *testing.T) {
	ForEachMode(t, func(t *testing.T, mode Mode) {
		c, p := newTLSCluster(t, mode, 3)
		c.WaitCoordinator(30 * time.Second)
		for _, n := range c.Nodes {
			if u := n.APIURL(); !strings.HasPrefix(u, "https://") {
				t.Fatalf("%s serves at %s", n.Name(), u)
			}
		}
		// Spread: the image work runs on the nodes that are not the
		// coordinator, which commit there.
		alice := tlsUser(t, c.Nodes, p.user(nil), client.RouteSpread, "alice")
		bob := tlsUser(t, c.Nodes, p.user(nil), client.RouteCoordinator, "bob")
		ctx := context.Background()
		secret := secretPNG(t, 1)
		var ids []string
		for i := range 3 {
			res, err := alice.Put(ctx, secret, nil, map[string]int{"bob": 2})
			if err != nil {
				t.Fatalf("put %d: %v", i, err)
			}
			ids = append(ids, res.ImageID)
			v, err := bob.View(ctx, res.PNG)
			if err != nil {
				t.Fatalf("view %d: %v", i, err)
			}
			if !bytes.Equal(v.Secret, secret) || v.ViewsLeft != 1 {
				t.Fatalf("view %d: %d bytes, %d views left", i, len(v.Secret), v.ViewsLeft)
			}
		}
		for _, n := range c.Nodes {
			c.WaitFor(15*time.Second, n.Name()+" to hold every image", func() bool {
				ok := true
				n.ReadRegistry(func(s *registry.State) {
					for _, id := range ids {
						if img, found := s.Image(id); !found || img.Viewers["bob"] != 1 {
							ok = false
						}
					}
				})
				return ok
			})
		}
		if st, err := bob.Status(ctx); err != nil || st.Coordinator == "" {
			t.Fatalf("status: %+v, %v", st, err)
		}
		// The handshakes are counted, for the bench to weigh them.
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: p.user(nil)}}
		resp, err := hc.Get(c.Nodes[0].APIURL() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{`veil_tls_handshakes_total{node="node-1",side="server"}`, `veil_tls_handshakes_total{node="node-1",side="client"}`} {
			if !strings.Contains(string(body), want) {
				t.Errorf("/metrics has no %s", want)
			}
		}
	})
}

// With TLS on, a client speaking plain HTTP gets no HTTP answer: a TLS
// alert, then the connection closes.
func TestTLSAPIGivesAPlainHTTPClientNoAnswer(t *testing.T) {
	c, _ := newTLSCluster(t, ModeBully, 1)
	addr := c.Nodes[0].APIAddr()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /v1/status HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	got, _ := io.ReadAll(conn)
	if bytes.Contains(got, []byte("HTTP/")) || len(got) == 0 || got[0] != 21 {
		t.Fatalf("a plain HTTP request got %q; want a TLS alert record and nothing else", got)
	}
	if _, err := http.Get("http://" + addr + "/v1/status"); err == nil {
		t.Fatal("net/http got an answer in clear")
	}
}

// A client that does not trust the cluster's authority, or presents a
// certificate of another, is refused at the handshake; one with the
// authority, or with a client certificate of it, is served.
func TestTLSClientsOfAnotherAuthorityAreRefused(t *testing.T) {
	c, p := newTLSCluster(t, ModeBully, 1)
	c.WaitCoordinator(20 * time.Second)
	other := newTestPKI(t)
	status := func(tc *tls.Config) error {
		cl, err := client.New(client.Config{Nodes: []string{c.Nodes[0].APIAddr()}, TLS: tc, NoRetry: true, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		_, err = cl.Status(context.Background())
		return err
	}
	for _, tc := range []struct {
		name string
		tls  *tls.Config
		want string
	}{
		{"trusting another authority", other.user(nil), "unknown authority"},
		{"trusting the system's authorities", &tls.Config{}, "unknown authority"},
		{"with another authority's client certificate", p.user(other.issue(certs.KindClient, "mallory")), "certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := status(tc.tls)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a refusal saying %q", err, tc.want)
			}
		})
	}
	if err := status(p.user(nil)); err != nil {
		t.Fatalf("trusting the authority: %v", err)
	}
	if err := status(p.user(p.issue(certs.KindClient, "operator"))); err != nil {
		t.Fatalf("with a client certificate of the authority: %v", err)
	}
}

// The routes between nodes take a node certificate of the cluster's
// authority, even with the internal token: not a user's connection, not a
// client certificate, and a node of another authority does not get past
// the handshake.
func TestTLSInternalRoutesTakeOnlyNodesOfTheAuthority(t *testing.T) {
	c, p := newTLSCluster(t, ModeBully, 1)
	c.WaitCoordinator(20 * time.Second)
	n := c.Nodes[0]
	other := newTestPKI(t)
	commit := func(tc *tls.Config) (int, error) {
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 10 * time.Second}
		req, _ := http.NewRequest(http.MethodPost, n.APIURL()+"/v1/internal/commit", strings.NewReader("x"))
		req.Header.Set("Authorization", "Bearer "+n.peerTok)
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	for _, tc := range []struct {
		name string
		tls  *tls.Config
	}{
		{"a user's connection", p.user(nil)},
		{"a client certificate of the authority", p.user(p.issue(certs.KindClient, "operator"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := commit(tc.tls); err != nil || got != http.StatusUnauthorized {
				t.Fatalf("status %d, %v; want 401", got, err)
			}
		})
	}
	if _, err := commit(other.node("node-2").PeerClientConfig()); err == nil {
		t.Fatal("a node of another authority got an answer")
	}
	// A node of the authority gets past the door (and is told its
	// command is no command).
	if got, err := commit(p.node("node-2").PeerClientConfig()); err != nil || got == http.StatusUnauthorized {
		t.Fatalf("a node of the authority: %d, %v", got, err)
	}
}

// A node with the cluster's key but a certificate of another authority
// joins gossip, but no other node takes its calls or answers its own: it
// never catches up, holds nothing written, and the cluster goes on
// without it.
func TestTLSNodeOfAnotherAuthorityGetsNothing(t *testing.T) {
	c, p := newTLSCluster(t, ModeBully, 3)
	coord := c.WaitCoordinator(30 * time.Second)
	alice := tlsUser(t, c.Nodes, p.user(nil), client.RouteCoordinator, "alice")
	tlsUser(t, c.Nodes, p.user(nil), client.RouteCoordinator, "bob")

	cfg := DefaultConfig("node-4")
	cfg.Profile = testProfile()
	cfg.GossipAddr, cfg.APIAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Key, cfg.DataDir = c.Key, t.TempDir()
	cfg.Join = []string{c.Nodes[0].GossipAddr()}
	cfg.TLS = newTestPKI(t).node("node-4")
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Output: c.logs, Level: hclog.Info})
	rogue, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer rogue.Close()
	c.WaitFor(20*time.Second, "node-4 to be seen alive by the coordinator", func() bool {
		for _, m := range coord.Members() {
			if m.Name == "node-4" && m.Status == StatusAlive {
				return true
			}
		}
		return false
	})

	res, err := alice.Put(context.Background(), secretPNG(t, 2), nil, map[string]int{"bob": 1})
	if err != nil {
		t.Fatalf("put with node-4 in sight: %v", err)
	}
	for _, n := range c.Nodes {
		c.WaitFor(15*time.Second, n.Name()+" to hold the image", func() bool {
			found := false
			n.ReadRegistry(func(s *registry.State) { _, found = s.Image(res.ImageID) })
			return found
		})
	}
	if l := coord.Leadership(); !l.Self {
		t.Fatalf("the coordinator gave its role up to %s", l.Coordinator)
	}
	rogue.ReadRegistry(func(s *registry.State) {
		if _, found := s.Image(res.ImageID); found {
			t.Error("node-4 holds the image")
		}
		if _, found := s.User("alice"); found {
			t.Error("node-4 holds the users")
		}
	})
	if s := rogue.State(); s == StateActive {
		t.Errorf("node-4 is %s", s)
	}
}

// A node refuses to listen beyond loopback in clear, unless told so.
func TestANodeWithoutTLSListensOnLoopbackOnly(t *testing.T) {
	good := DefaultConfig("n1")
	good.DataDir, good.Key = t.TempDir(), make([]byte, KeySize)
	p := newTestPKI(t)
	for _, tc := range []struct {
		name   string
		mutate func(c *Config)
		ok     bool
	}{
		{"loopback", func(c *Config) {}, true},
		{"localhost", func(c *Config) { c.APIAddr = "localhost:8080" }, true},
		{"IPv6 loopback", func(c *Config) { c.APIAddr = "[::1]:8080" }, true},
		{"every interface", func(c *Config) { c.APIAddr = "0.0.0.0:8080" }, false},
		{"no host", func(c *Config) { c.APIAddr = ":8080" }, false},
		{"a private address", func(c *Config) { c.APIAddr = "10.0.0.7:8080" }, false},
		{"a host name", func(c *Config) { c.APIAddr = "veil.example.org:8080" }, false},
		{"Raft beyond loopback", func(c *Config) { c.Mode, c.BootstrapExpect, c.RaftAddr = ModeRaft, 1, "0.0.0.0:8300" }, false},
		{"gossip beyond loopback (encrypted by the key)", func(c *Config) { c.GossipAddr = "0.0.0.0:7946" }, true},
		{"every interface with --insecure-http", func(c *Config) { c.APIAddr, c.InsecureHTTP = "0.0.0.0:8080", true }, true},
		{"every interface with TLS", func(c *Config) { c.APIAddr, c.TLS = "0.0.0.0:8080", p.node("n1") }, true},
		{"client certificates without TLS", func(c *Config) { c.RequireClientCert = true }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.mutate(&c)
			err := c.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate: %v", err)
			}
			if err != nil && !tc.ok && !strings.Contains(err.Error(), "TLS") {
				t.Errorf("the refusal does not say what to do: %v", err)
			}
		})
	}
	_, err := Start(func() Config { c := good; c.APIAddr = "0.0.0.0:0"; return c }())
	if err == nil || !strings.Contains(err.Error(), "--insecure-http") {
		t.Fatalf("Start beyond loopback in clear: %v", err)
	}
}
