package certs

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// pki is an authority with a node and a client certificate of its own,
// issued now, for handshakes (which check validity against the clock).
type pki struct {
	ca     *Authority
	node   *Identity
	client tls.Certificate
}

func newPKI(t *testing.T, node string) pki {
	t.Helper()
	now := time.Now()
	ca, err := NewAuthority(AuthorityRequest{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	n, err := ca.Issue(Request{Kind: KindNode, Name: node, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	id, err := NewIdentity(n.CertPEM, n.KeyPEM, ca.CertPEM(), now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ca.Issue(Request{Kind: KindClient, Name: "alice", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pki{ca: ca, node: id, client: cc}
}

// handshake runs a TLS handshake between the two configurations over a
// loopback connection and returns each end's error and the server's view of
// the client.
func handshake(t *testing.T, server, client *tls.Config) (serverErr, clientErr error, state tls.ConnectionState) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		err   error
		state tls.ConnectionState
	}
	done := make(chan result, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		s := tls.Server(conn, server)
		err = s.Handshake()
		if err == nil {
			// In TLS 1.3 the client is done before the server has
			// checked its certificate: reading the client's byte
			// brings the server's verdict.
			_, err = s.Read(make([]byte, 1))
		}
		done <- result{err, s.ConnectionState()}
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	c := tls.Client(conn, client)
	if clientErr = c.Handshake(); clientErr == nil {
		_, _ = c.Write([]byte{0})
		// A refusal the server decides after the client's handshake
		// comes back as an alert on the next read.
		r := <-done
		if r.err != nil {
			_, clientErr = c.Read(make([]byte, 1))
		}
		return r.err, clientErr, r.state
	}
	conn.Close()
	r := <-done
	return r.err, clientErr, r.state
}

func TestTheAPIServesUsersWithTheCAAloneAndTellsNodesByTheirCertificate(t *testing.T) {
	p := newPKI(t, "node-1")
	users := &tls.Config{RootCAs: pool(p.ca), ServerName: "localhost"}
	for _, tc := range []struct {
		name     string
		client   *tls.Config
		fromNode bool
	}{
		{"a user trusting the authority", users, false},
		{"a user with a client certificate", &tls.Config{RootCAs: pool(p.ca), ServerName: "127.0.0.1", Certificates: []tls.Certificate{p.client}}, false},
		{"another node", p.node.PeerClientConfig(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			serr, cerr, st := handshake(t, p.node.ServerConfig(false), tc.client)
			if serr != nil || cerr != nil {
				t.Fatalf("server: %v, client: %v", serr, cerr)
			}
			if st.Version != tls.VersionTLS13 {
				t.Errorf("version %x, want TLS 1.3", st.Version)
			}
			if got := FromNode(&st) == nil; got != tc.fromNode {
				t.Errorf("FromNode: %v, want %v", got, tc.fromNode)
			}
		})
	}
}

func TestOnlyTheClusterAuthorityIsTrustedEitherWay(t *testing.T) {
	p, other := newPKI(t, "node-1"), newPKI(t, "node-1")
	for _, tc := range []struct {
		name           string
		server, client *tls.Config
	}{
		{"a user trusting another authority", p.node.ServerConfig(false), &tls.Config{RootCAs: pool(other.ca), ServerName: "localhost"}},
		{"a user trusting the system's authorities only", p.node.ServerConfig(false), &tls.Config{ServerName: "localhost"}},
		{"a node of another cluster calling", p.node.ServerConfig(false), other.node.PeerClientConfig()},
		{"a node calling a node of another cluster", other.node.ServerConfig(false), p.node.PeerClientConfig()},
		{"another cluster's client certificate", p.node.ServerConfig(false),
			&tls.Config{RootCAs: pool(p.ca), ServerName: "localhost", GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				return &other.client, nil // sent whatever authorities the server names, as curl does
			}}},
		{"a plain user where client certificates are required", p.node.ServerConfig(true), &tls.Config{RootCAs: pool(p.ca), ServerName: "localhost"}},
		{"a node of another cluster on Raft's port", p.node.PeerServerConfig(), other.node.PeerClientConfig()},
		{"a client certificate on Raft's port", p.node.PeerServerConfig(), &tls.Config{RootCAs: pool(p.ca), ServerName: "localhost", Certificates: []tls.Certificate{p.client}}},
		{"no certificate on Raft's port", p.node.PeerServerConfig(), &tls.Config{RootCAs: pool(p.ca), ServerName: "localhost"}},
		{"TLS 1.2 only", p.node.ServerConfig(false), &tls.Config{RootCAs: pool(p.ca), ServerName: "localhost", MaxVersion: tls.VersionTLS12}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			serr, cerr, _ := handshake(t, tc.server, tc.client)
			if serr == nil && cerr == nil {
				t.Fatal("the handshake went through")
			}
		})
	}
	// And the right ones go through on Raft's port too.
	if serr, cerr, _ := handshake(t, p.node.PeerServerConfig(), p.node.PeerClientConfig()); serr != nil || cerr != nil {
		t.Fatalf("two nodes of one cluster on Raft's port: server %v, client %v", serr, cerr)
	}
	if serr, cerr, _ := handshake(t, p.node.ServerConfig(true), &tls.Config{RootCAs: pool(p.ca), ServerName: "localhost", Certificates: []tls.Certificate{p.client}}); serr != nil || cerr != nil {
		t.Fatalf("a client certificate where one is required: server %v, client %v", serr, cerr)
	}
}

func TestFromNodeRefusesAConnectionWithoutAVerifiedNodeCertificate(t *testing.T) {
	if err := FromNode(nil); !errors.Is(err, ErrNotNode) {
		t.Errorf("plain HTTP: %v", err)
	}
	if err := FromNode(&tls.ConnectionState{}); !errors.Is(err, ErrNotNode) {
		t.Errorf("no certificate: %v", err)
	}
}

func TestClientConfigReadsTheAuthorityAndAnOptionalCertificate(t *testing.T) {
	p := newPKI(t, "node-1")
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, p.ca.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := ClientConfig(ca, "", "")
	if err != nil {
		t.Fatal(err)
	}
	c.ServerName = "node-1"
	if serr, cerr, _ := handshake(t, p.node.ServerConfig(false), c); serr != nil || cerr != nil {
		t.Fatalf("server %v, client %v", serr, cerr)
	}
	if _, err := ClientConfig(ca, filepath.Join(dir, "cert.pem"), ""); err == nil {
		t.Error("a certificate without its key: no error")
	}
	if _, err := ClientConfig(filepath.Join(dir, "none.pem"), "", ""); err == nil {
		t.Error("a missing authority file: no error")
	}
}

func TestAClientInClearGetsATLSAlertAndNoHTTPAnswer(t *testing.T) {
	p := newPKI(t, "node-1")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:  http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }),
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go srv.Serve(NewListener(ln, p.node.ServerConfig(false)))
	defer srv.Close()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: node-1\r\n\r\n")
	got, _ := io.ReadAll(conn)
	if !bytes.Equal(got, alertUnexpected) {
		t.Fatalf("a plain HTTP request got %q, want only a TLS alert", got)
	}

	// Over TLS, the same server answers.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool(p.ca)}}}
	resp, err := hc.Get("https://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello" || resp.TLS == nil {
		t.Fatalf("over TLS: %q, TLS %v", body, resp.TLS != nil)
	}
}
