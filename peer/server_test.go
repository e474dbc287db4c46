package peer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// closedWithin is how long a test waits for the server to close a
// connection before it calls the connection kept open. It is a bound on a
// failure, not a measure: with the timeouts the tests set, the server
// closes long before.
const closedWithin = 20 * time.Second

// runningPeer is a peer serving both its listeners, its cloud nowhere.
func runningPeer(t *testing.T, configure func(*Config)) *Peer {
	t.Helper()
	cfg := Config{
		User: "alice", Password: "secret", Listen: "127.0.0.1:0", Local: "127.0.0.1:0",
		DataDir: t.TempDir(), API: []string{"127.0.0.1:1"}, CloudTimeout: 50 * time.Millisecond,
		RetryInterval: time.Minute,
	}
	if configure != nil {
		configure(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return p
}

// waitClosed reads c until the server closes it; it fails the test if c is
// still open after closedWithin.
func waitClosed(t *testing.T, c net.Conn, r io.Reader) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(closedWithin))
	_, err := io.Copy(io.Discard, r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the server kept an idle connection open (%v)", err)
	}
}

// A connection that carries no request is closed by the server, on both
// listeners and in both HTTP versions: a client that got its answer (a
// refusal, say) cannot hold a connection and its goroutine for ever.
func TestThePeerClosesIdleConnections(t *testing.T) {
	p := runningPeer(t, func(c *Config) { c.IdleTimeout = 100 * time.Millisecond; c.HeaderTimeout = 2 * time.Second })
	other, err := LoadIdentity(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := other.certificate()
	if err != nil {
		t.Fatal(err)
	}
	dialP2P := func(t *testing.T, proto string) *tls.Conn {
		cfg := clientTLS(cert, p.id.Public())
		cfg.NextProtos = []string{proto}
		c, err := tls.Dial("tcp", p.ListenAddr(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if got := c.ConnectionState().NegotiatedProtocol; got != proto {
			t.Fatalf("negotiated %q, want %q", got, proto)
		}
		return c
	}

	t.Run("another peer's HTTP/1.1 connection after its answer", func(t *testing.T) {
		c := dialP2P(t, "http/1.1")
		io.WriteString(c, "GET /p2p/v1/images/0123456789abcdef0123456789abcdef HTTP/1.1\r\nHost: peer\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.Close {
			t.Fatalf("%d, close %v: want a refusal on a connection kept alive", resp.StatusCode, resp.Close)
		}
		waitClosed(t, c, br)
	})
	t.Run("another peer's HTTP/2 connection", func(t *testing.T) {
		c := dialP2P(t, "h2")
		// The client preface and an empty SETTINGS frame; then nothing.
		io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
		c.Write([]byte{0, 0, 0, 4, 0, 0, 0, 0, 0})
		waitClosed(t, c, c)
	})
	t.Run("the control API's connection after its answer", func(t *testing.T) {
		c, err := net.Dial("tcp", p.LocalAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /local/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n"+LocalHeader+": 1\r\nAuthorization: Basic "+
			base64.StdEncoding.EncodeToString([]byte("alice:secret"))+"\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("%d, close %v: want the status on a connection kept alive", resp.StatusCode, resp.Close)
		}
		waitClosed(t, c, br)
	})
	t.Run("a connection that never sends a request", func(t *testing.T) {
		c, err := net.Dial("tcp", p.LocalAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		waitClosed(t, c, c)
	})
}

// pipeListener hands the server one end of in-memory connections: net.Pipe
// buffers nothing, so a writer waits exactly as long as its reader does
// not read, whatever the machine's socket buffers.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

func (l *pipeListener) dial() net.Conn {
	server, client := net.Pipe()
	l.conns <- server
	return client
}

// An image is cut when it stops moving, never for the time its transfer
// takes: a slow reader gets all of it over far longer than the stall
// bound, and a reader that stops is let go.
func TestAnImageIsCutOnlyWhenItStopsMoving(t *testing.T) {
	const stall = time.Second
	content := bytes.Repeat([]byte("veiled png "), 100_000) // 1.1 MB
	served := make(chan struct{}, 2)
	ln := newPipeListener()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			serveMoving(w, r, stall, time.Time{}, bytes.NewReader(content))
			served <- struct{}{}
		}),
		WriteTimeout: stall,
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	get := func() (net.Conn, *http.Response) {
		c := ln.dial()
		t.Cleanup(func() { c.Close() })
		go io.WriteString(c, "GET /image HTTP/1.1\r\nHost: peer\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReaderSize(c, 4096), nil)
		if err != nil {
			t.Fatal(err)
		}
		return c, resp
	}

	t.Run("a slow reader gets the whole image", func(t *testing.T) {
		_, resp := get()
		// 4 KiB every 12 ms: a 32 KiB write waits about 0.1 s for its
		// reader, and the whole image takes over 3 s, three times the
		// stall bound.
		tick := time.NewTicker(12 * time.Millisecond)
		defer tick.Stop()
		var got bytes.Buffer
		buf := make([]byte, 4096)
		for {
			<-tick.C
			n, err := resp.Body.Read(buf)
			got.Write(buf[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("cut after %d of %d bytes: %v", got.Len(), len(content), err)
			}
		}
		if !bytes.Equal(got.Bytes(), content) {
			t.Fatalf("got %d bytes, want the %d of the image", got.Len(), len(content))
		}
		<-served
	})
	t.Run("a reader that stops is let go", func(t *testing.T) {
		c, resp := get()
		head := make([]byte, 1000)
		if _, err := io.ReadFull(resp.Body, head); err != nil {
			t.Fatal(err)
		}
		select {
		case <-served:
		case <-time.After(closedWithin):
			t.Fatal("the server still waits on a reader that stopped reading")
		}
		c.SetReadDeadline(time.Now().Add(closedWithin))
		rest, err := io.ReadAll(resp.Body)
		if err == nil || len(head)+len(rest) >= len(content) {
			t.Fatalf("the reader got %d of %d bytes and %v; want the transfer cut", len(head)+len(rest), len(content), err)
		}
		if strings.Contains(err.Error(), "deadline") {
			t.Fatalf("the connection is still open: %v", err)
		}
	})
}
