package certs

import (
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
)

// NewListener is tls.NewListener, except that a client speaking in clear
// gets no answer in clear. net/http's server answers a plain HTTP request
// on a TLS port "400 Client sent an HTTP request to an HTTPS server", in
// clear; here that client gets a TLS alert (unexpected_message) and the
// connection closed, and nothing it could take for an HTTP answer.
func NewListener(ln net.Listener, cfg *tls.Config) net.Listener {
	return &listener{Listener: ln, cfg: cfg}
}

type listener struct {
	net.Listener
	cfg *tls.Config
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return tls.Server(&clearGuard{Conn: c}, l.cfg), nil
}

// alertUnexpected is a TLS record: a fatal unexpected_message alert.
var alertUnexpected = []byte{21, 3, 3, 0, 2, 2, 10}

// clearGuard is the connection under a TLS server. It looks at the first
// byte the client sends: anything but a handshake record (22) means the
// client does not speak TLS, and from then on what is written to it is
// replaced by one alert.
type clearGuard struct {
	net.Conn
	first sync.Once
	clear atomic.Bool
	alert sync.Once
}

func (g *clearGuard) Read(p []byte) (int, error) {
	n, err := g.Conn.Read(p)
	if n > 0 {
		g.first.Do(func() { g.clear.Store(p[0] != 22) })
	}
	return n, err
}

func (g *clearGuard) Write(p []byte) (int, error) {
	if !g.clear.Load() {
		return g.Conn.Write(p)
	}
	var err error
	g.alert.Do(func() { _, err = g.Conn.Write(alertUnexpected) })
	if err != nil {
		return 0, err
	}
	return len(p), nil
}
