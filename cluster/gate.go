package cluster

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Gate wraps memberlist's transport so that a node can stop hearing and
// speaking on purpose: all of it (Silence, for the failure simulation) or
// towards chosen peers (Block, for partitions in tests). Because the gate
// sits under memberlist, everything that rides on gossip (probes, the
// election's messages, failure commands) goes quiet together, and the other
// nodes really see a silent node rather than one that says it is down.
//
// Blocking is by the peer's gossip address. A blocked peer's UDP packets are
// dropped on the way in and nothing is sent or dialled to it; its incoming
// TCP streams cannot be told apart by address (they come from an ephemeral
// port), so a partition is made by blocking on both sides.
type Gate struct {
	inner    memberlist.NodeAwareTransport
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	silent   atomic.Bool

	mu      sync.RWMutex
	blocked map[string]bool

	dropped atomic.Uint64
	stop    chan struct{} // closed by Shutdown: stop relaying
	drained chan struct{} // closed once the wrapped transport has stopped
	wg      sync.WaitGroup
}

// ErrSilenced is what a send or dial through a closed gate returns.
var ErrSilenced = errors.New("cluster: node is silenced")

// NewGate wraps inner and starts relaying what it receives. Shutdown stops it.
func NewGate(inner memberlist.NodeAwareTransport) *Gate {
	g := &Gate{
		inner:    inner,
		packetCh: make(chan *memberlist.Packet),
		streamCh: make(chan net.Conn),
		blocked:  map[string]bool{},
		stop:     make(chan struct{}),
		drained:  make(chan struct{}),
	}
	g.wg.Add(2)
	go g.relayPackets()
	go g.relayStreams()
	return g
}

// Silence closes (true) or opens (false) the gate for all traffic.
func (g *Gate) Silence(on bool) { g.silent.Store(on) }

// Silenced reports whether the gate is closed for all traffic.
func (g *Gate) Silenced() bool { return g.silent.Load() }

// Block stops (true) or restores (false) traffic with the peer whose gossip
// address is addr (host:port).
func (g *Gate) Block(addr string, on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if on {
		g.blocked[addr] = true
	} else {
		delete(g.blocked, addr)
	}
}

// blocking reports whether any peer is blocked.
func (g *Gate) blocking() bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return len(g.blocked) > 0
}

// Dropped counts the packets and streams the gate has refused so far.
func (g *Gate) Dropped() uint64 { return g.dropped.Load() }

func (g *Gate) closedTo(addr string) bool {
	if g.silent.Load() {
		return true
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.blocked[addr]
}

func (g *Gate) relayPackets() {
	defer g.wg.Done()
	defer g.drain()
	for {
		select {
		case p := <-g.inner.PacketCh():
			if g.closedTo(p.From.String()) {
				g.dropped.Add(1)
				continue
			}
			select {
			case g.packetCh <- p:
			case <-g.stop:
				return
			}
		case <-g.stop:
			return
		}
	}
}

func (g *Gate) relayStreams() {
	defer g.wg.Done()
	for {
		select {
		case c := <-g.inner.StreamCh():
			if g.silent.Load() {
				g.dropped.Add(1)
				c.Close()
				continue
			}
			select {
			case g.streamCh <- c:
			case <-g.stop:
				c.Close()
				return
			}
		case <-g.stop:
			return
		}
	}
}

// drain discards what the wrapped transport still delivers after Shutdown
// began: its listeners block on their unbuffered channels, and its own
// Shutdown waits for them.
func (g *Gate) drain() {
	for {
		select {
		case <-g.inner.PacketCh():
		case c := <-g.inner.StreamCh():
			c.Close()
		case <-g.drained:
			return
		}
	}
}

// FinalAdvertiseAddr implements memberlist.Transport.
func (g *Gate) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	return g.inner.FinalAdvertiseAddr(ip, port)
}

// WriteTo implements memberlist.Transport.
func (g *Gate) WriteTo(b []byte, addr string) (time.Time, error) {
	if g.closedTo(addr) {
		g.dropped.Add(1)
		// A silent node's packets vanish on the wire; to memberlist the
		// send itself looks like it worked, as with a real lost datagram.
		return time.Now(), nil
	}
	return g.inner.WriteTo(b, addr)
}

// WriteToAddress implements memberlist.NodeAwareTransport.
func (g *Gate) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if g.closedTo(a.Addr) {
		g.dropped.Add(1)
		return time.Now(), nil
	}
	return g.inner.WriteToAddress(b, a)
}

// PacketCh implements memberlist.Transport.
func (g *Gate) PacketCh() <-chan *memberlist.Packet { return g.packetCh }

// DialTimeout implements memberlist.Transport.
func (g *Gate) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if g.closedTo(addr) {
		g.dropped.Add(1)
		return nil, fmt.Errorf("dial %s: %w", addr, ErrSilenced)
	}
	return g.inner.DialTimeout(addr, timeout)
}

// DialAddressTimeout implements memberlist.NodeAwareTransport.
func (g *Gate) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if g.closedTo(a.Addr) {
		g.dropped.Add(1)
		return nil, fmt.Errorf("dial %s: %w", a.Addr, ErrSilenced)
	}
	return g.inner.DialAddressTimeout(a, timeout)
}

// StreamCh implements memberlist.Transport.
func (g *Gate) StreamCh() <-chan net.Conn { return g.streamCh }

// Shutdown implements memberlist.Transport: it stops the relays and the
// wrapped transport.
func (g *Gate) Shutdown() error {
	select {
	case <-g.stop:
		return nil
	default:
	}
	close(g.stop)
	err := g.inner.Shutdown()
	close(g.drained)
	g.wg.Wait()
	return err
}
