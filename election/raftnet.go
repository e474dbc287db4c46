package election

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Raft's network, with three additions to hashicorp/raft's TCP transport: a
// gate, so that a node silent on purpose (the failure simulation) or cut
// off in a test is silent on the Raft port too; mutual TLS, when the
// cluster runs it; and counters of the RPCs sent, so that elections can be
// compared by messages as in Bully mode.

// errCut is what a dial or a connection through a closed gate returns.
var errCut = errors.New("election: Raft traffic is cut")

// gatedStream is a TCP stream layer whose traffic stops while closed(addr)
// holds. A dial to a cut address fails; a connection is dropped at its
// next read or write once its peer is cut. Connections others opened to us
// have no known Raft address (they come from an ephemeral port), so they
// are cut by the silence of this node alone (closed("")); a partition
// between two nodes is made by cutting on both sides, as dials then fail
// both ways.
//
// With TLS, every connection is a TLS connection inside the gate: dialled
// ones shake hands before Dial returns, accepted ones on their first read
// or write, within handshakeTimeout, so that a slow or foreign caller holds
// up neither the accept loop nor Raft.
type gatedStream struct {
	ln        net.Listener
	advertise net.Addr
	closed    func(addr string) bool
	tls       streamTLS

	mu    sync.Mutex
	conns map[*gatedConn]struct{}
}

// streamTLS is the stream's two TLS ends; both nil for plain TCP.
type streamTLS struct{ server, client *tls.Config }

// handshakeTimeout bounds a TLS handshake on Raft's port.
const handshakeTimeout = 5 * time.Second

func listenGated(bind, advertise string, closed func(string) bool, st streamTLS) (*gatedStream, error) {
	if (st.server == nil) != (st.client == nil) {
		return nil, errors.New("election: Raft's TLS needs both a server and a client configuration")
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("election: Raft address %s: %w", bind, err)
	}
	adv := ln.Addr()
	if advertise != "" {
		a, err := net.ResolveTCPAddr("tcp", advertise)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("election: Raft advertise address %q: %w", advertise, err)
		}
		if a.Port == 0 {
			a.Port = ln.Addr().(*net.TCPAddr).Port
		}
		adv = a
	}
	if tcp, ok := adv.(*net.TCPAddr); ok && (tcp.IP == nil || tcp.IP.IsUnspecified()) {
		ln.Close()
		return nil, fmt.Errorf("election: Raft address %s is not one others can dial: set an advertise address", adv)
	}
	return &gatedStream{ln: ln, advertise: adv, closed: closed, tls: st, conns: map[*gatedConn]struct{}{}}, nil
}

func (s *gatedStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if s.closed(string(addr)) || s.closed("") {
		return nil, errCut
	}
	start := time.Now()
	c, err := net.DialTimeout("tcp", string(addr), timeout)
	if err != nil {
		return nil, err
	}
	if s.tls.client != nil {
		tc := tls.Client(c, s.tls.client)
		_ = c.SetDeadline(start.Add(min(timeout, handshakeTimeout)))
		if err := tc.Handshake(); err != nil {
			c.Close()
			return nil, fmt.Errorf("election: TLS with the Raft server at %s: %w", addr, err)
		}
		_ = c.SetDeadline(time.Time{})
		c = tc
	}
	return s.track(c, string(addr)), nil
}

func (s *gatedStream) Accept() (net.Conn, error) {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return nil, err
		}
		if s.closed("") {
			c.Close()
			continue
		}
		if s.tls.server != nil {
			c = &serverTLSConn{Conn: tls.Server(c, s.tls.server)}
		}
		return s.track(c, ""), nil
	}
}

func (s *gatedStream) Close() error   { return s.ln.Close() }
func (s *gatedStream) Addr() net.Addr { return s.advertise }

func (s *gatedStream) track(c net.Conn, addr string) *gatedConn {
	g := &gatedConn{Conn: c, s: s, addr: addr}
	s.mu.Lock()
	s.conns[g] = struct{}{}
	s.mu.Unlock()
	return g
}

// dropAll closes every open connection now, for a node going silent: a
// reader blocked on a connection would otherwise go on hearing the leader.
func (s *gatedStream) dropAll() {
	s.mu.Lock()
	conns := make([]*gatedConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

type gatedConn struct {
	net.Conn
	s    *gatedStream
	addr string
	once sync.Once
}

func (c *gatedConn) cut() bool { return c.s.closed("") || (c.addr != "" && c.s.closed(c.addr)) }

func (c *gatedConn) Read(p []byte) (int, error) {
	if c.cut() {
		c.Close()
		return 0, errCut
	}
	n, err := c.Conn.Read(p)
	if c.cut() {
		c.Close()
		return 0, errCut
	}
	return n, err
}

func (c *gatedConn) Write(p []byte) (int, error) {
	if c.cut() {
		c.Close()
		return 0, errCut
	}
	return c.Conn.Write(p)
}

func (c *gatedConn) Close() error {
	c.once.Do(func() {
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
	})
	return c.Conn.Close()
}

// serverTLSConn is an accepted TLS connection that shakes hands on its
// first read or write, within handshakeTimeout.
type serverTLSConn struct {
	*tls.Conn
	once sync.Once
	err  error
}

func (c *serverTLSConn) handshake() error {
	c.once.Do(func() {
		_ = c.Conn.SetDeadline(time.Now().Add(handshakeTimeout))
		if c.err = c.Conn.Handshake(); c.err != nil {
			c.err = fmt.Errorf("election: TLS with a Raft client at %s: %w", c.RemoteAddr(), c.err)
			return
		}
		_ = c.Conn.SetDeadline(time.Time{})
	})
	return c.err
}

func (c *serverTLSConn) Read(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *serverTLSConn) Write(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// rpcCounter counts the RPCs sent, by kind.
type rpcCounter struct {
	mu sync.Mutex
	n  map[string]uint64
}

func newRPCCounter() *rpcCounter { return &rpcCounter{n: map[string]uint64{}} }

func (c *rpcCounter) add(kind string) {
	c.mu.Lock()
	c.n[kind]++
	c.mu.Unlock()
}

func (c *rpcCounter) snapshot() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]uint64, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

// countedTransport counts what a NetworkTransport sends. It keeps the
// optional interfaces Raft looks for (pre-vote, close).
type countedTransport struct {
	*raft.NetworkTransport
	rpcs *rpcCounter
}

func countingTransport(t *raft.NetworkTransport, c *rpcCounter) *countedTransport {
	return &countedTransport{NetworkTransport: t, rpcs: c}
}

func (t *countedTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	kind := "append_entries"
	if len(args.Entries) == 0 {
		kind = "heartbeat"
	}
	t.rpcs.add(kind)
	return t.NetworkTransport.AppendEntries(id, target, args, resp)
}

func (t *countedTransport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	p, err := t.NetworkTransport.AppendEntriesPipeline(id, target)
	if err != nil {
		return nil, err
	}
	return countedPipeline{AppendPipeline: p, rpcs: t.rpcs}, nil
}

func (t *countedTransport) RequestVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	t.rpcs.add("request_vote")
	return t.NetworkTransport.RequestVote(id, target, args, resp)
}

func (t *countedTransport) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	t.rpcs.add("request_pre_vote")
	return t.NetworkTransport.RequestPreVote(id, target, args, resp)
}

func (t *countedTransport) InstallSnapshot(id raft.ServerID, target raft.ServerAddress, args *raft.InstallSnapshotRequest, resp *raft.InstallSnapshotResponse, data io.Reader) error {
	t.rpcs.add("install_snapshot")
	return t.NetworkTransport.InstallSnapshot(id, target, args, resp, data)
}

func (t *countedTransport) TimeoutNow(id raft.ServerID, target raft.ServerAddress, args *raft.TimeoutNowRequest, resp *raft.TimeoutNowResponse) error {
	t.rpcs.add("timeout_now")
	return t.NetworkTransport.TimeoutNow(id, target, args, resp)
}

type countedPipeline struct {
	raft.AppendPipeline
	rpcs *rpcCounter
}

func (p countedPipeline) AppendEntries(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	p.rpcs.add("append_entries")
	return p.AppendPipeline.AppendEntries(args, resp)
}

var (
	_ raft.WithPreVote = (*countedTransport)(nil)
	_ raft.WithClose   = (*countedTransport)(nil)
)
