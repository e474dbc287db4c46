package netns

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// DialContext opens a connection from the hub, where clients live. The
// socket is made in the hub's namespace and keeps it for its life, so the
// rest of the process never leaves its own namespace.
func (nt *Net) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		// The thread enters the hub for the dial and leaves it after; a
		// thread that cannot leave is never unlocked, so the runtime ends
		// it instead of handing it to other goroutines.
		runtime.LockOSThread()
		c, err, back := nt.dialInHub(ctx, network, addr)
		if back {
			runtime.UnlockOSThread()
		}
		done <- result{c, err}
	}()
	r := <-done
	return r.c, r.err
}

func (nt *Net) dialInHub(ctx context.Context, network, addr string) (_ net.Conn, _ error, back bool) {
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, fmt.Errorf("netns: %w", err), true
	}
	defer self.Close()
	if err := unix.Setns(int(nt.hubNS.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("netns: entering the hub namespace: %w", err), true
	}
	d := net.Dialer{Timeout: time.Second}
	c, dialErr := d.DialContext(ctx, network, addr)
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		if c != nil {
			c.Close()
		}
		return nil, errors.Join(dialErr, fmt.Errorf("netns: leaving the hub namespace: %w", err)), false
	}
	return c, dialErr, true
}

// setTLS makes the clients of Transport trust the authority of tc only.
func (nt *Net) setTLS(tc *tls.Config) { nt.tls.Store(tc) }

// HTTPClient returns an HTTP client whose connections start in the hub.
func (nt *Net) HTTPClient() *http.Client {
	return &http.Client{Transport: nt.Transport()}
}

// Transport returns an HTTP transport whose connections start in the hub
// (and, for a cluster run with TLS, trust its authority only).
func (nt *Net) Transport() *http.Transport {
	return &http.Transport{
		DialContext:         nt.DialContext,
		TLSClientConfig:     nt.tls.Load(),
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     5 * time.Second,
	}
}
