package local

import (
	"fmt"
	"net"
	"strconv"
	"sync"
)

// taken remembers the ports this process handed out, so that two nodes of
// one bench never get the same port even though each was free when picked.
var taken struct {
	sync.Mutex
	ports map[int]bool
}

// freePort returns a loopback port that is free for TCP and UDP at the time
// of the call (gossip binds both on one port). The kernel may still give it
// to someone else before the node binds it; the caller retries on a clash.
func freePort(host string) (int, error) {
	for range 20 {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return 0, fmt.Errorf("bench: picking a free port: %w", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(port)))
		ln.Close()
		if err != nil {
			continue // UDP side busy: try another
		}
		pc.Close()
		taken.Lock()
		if taken.ports == nil {
			taken.ports = map[int]bool{}
		}
		fresh := !taken.ports[port]
		taken.ports[port] = true
		taken.Unlock()
		if fresh {
			return port, nil
		}
	}
	return 0, fmt.Errorf("bench: no free TCP+UDP port on %s after 20 tries", host)
}

// FreePort returns a loopback port free for TCP and UDP at the time of the
// call, never the same twice in one process, for harnesses that start
// other programs (package bench/p2p).
func FreePort(host string) (int, error) { return freePort(host) }
