package election

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"veil/internal/certs"
)

// clusterTLS issues n node identities of one new authority and returns
// each one's TLS ends for Raft's stream.
func clusterTLS(t *testing.T, n int) []streamTLS {
	t.Helper()
	now := time.Now()
	ca, err := certs.NewAuthority(certs.AuthorityRequest{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	var out []streamTLS
	for i := range n {
		is, err := ca.Issue(certs.Request{Kind: certs.KindNode, Name: "r" + string(rune('1'+i)), Now: now})
		if err != nil {
			t.Fatal(err)
		}
		id, err := certs.NewIdentity(is.CertPEM, is.KeyPEM, ca.CertPEM(), now)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, streamTLS{server: id.PeerServerConfig(), client: id.PeerClientConfig()})
	}
	return out
}

func TestRaftOverMutualTLSElectsAndApplies(t *testing.T) {
	ends := clusterTLS(t, 3)
	tr := newRaftTrioTLS(t, func(i int) streamTLS { return ends[i] })
	lead := tr.agreed(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if got, err := lead.Apply(ctx, []byte("abc")); err != nil || got != 3 {
		t.Fatalf("apply on the leader = %v, %v; want 3, nil", got, err)
	}
	if err := lead.Barrier(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestRaftStreamTakesOnlyNodesOfItsAuthority(t *testing.T) {
	ours, theirs := clusterTLS(t, 2), clusterTLS(t, 1)
	never := func(string) bool { return false }
	s, err := listenGated("127.0.0.1:0", "", never, ours[0])
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	accepted := make(chan error, 4)
	go func() {
		for {
			c, err := s.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4)
				_, err := io.ReadFull(c, buf)
				if err == nil {
					_, err = c.Write(buf)
				}
				accepted <- err
			}()
		}
	}()
	addr := raft.ServerAddress(s.Addr().String())

	// A node of the same authority talks.
	d, err := listenGated("127.0.0.1:0", "", never, ours[1])
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := d.Dial(addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if err := <-accepted; err != nil {
		t.Fatalf("the server side: %v", err)
	}
	c.Close()

	// A node of another authority does not: its dial fails, as does the
	// server's first read.
	f, err := listenGated("127.0.0.1:0", "", never, theirs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Dial(addr, time.Second); err == nil || !strings.Contains(err.Error(), "TLS") {
		t.Fatalf("a node of another authority dialled in: %v", err)
	}
	if err := <-accepted; err == nil {
		t.Fatal("the server read from a node of another authority")
	}

	// Nor does a plain TCP caller.
	p, err := listenGated("127.0.0.1:0", "", never, streamTLS{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pc, err := p.Dial(addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = pc.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	if err := <-accepted; err == nil {
		t.Fatal("the server read from a caller in clear")
	}
	pc.Close()
}
