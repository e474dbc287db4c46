package netns

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The addresses of every Net: the hub is .1, node i (from 0) is .11+i. Each
// Net lives in namespaces of its own, so two Nets with the same addresses
// never meet.
const (
	subnetBits = 24
	hubAddr    = "10.213.0.1"
	nodeBase   = 11
	// MaxNodes is the most nodes one Net holds.
	MaxNodes = 200
)

// Chains in each node's namespace that hold the fault rules; Heal flushes
// them. INPUT jumps to chainIn, OUTPUT to chainOut.
const (
	chainIn  = "VEILF-IN"
	chainOut = "VEILF-OUT"
)

// namePrefix starts the name of every namespace this package makes; a run's
// prefix adds its pid and a counter: veilf<pid>x<k>-.
const namePrefix = "veilf"

var staleName = regexp.MustCompile(`^` + namePrefix + `(\d+)x\d+-`)

var netCount atomic.Int64

// Net is a network of namespaces: a hub with a bridge, and one namespace
// per node, each with one interface (eth0) on the bridge. Its methods are
// safe for concurrent use.
type Net struct {
	prefix string
	hub    string   // the hub namespace
	nodes  []string // node namespaces
	addrs  []netip.Addr
	hubNS  *os.File // the hub's namespace, for sockets opened there
	logf   func(string, ...any)

	mu     sync.Mutex // serialises rule changes
	closed bool
	tls    atomic.Pointer[tls.Config] // the clients' TLS, for a cluster run with TLS
}

// Available says why this machine cannot make namespaces, or nil when it
// can: it needs root, the ip and iptables commands, and a kernel that lets
// it make a namespace with a bridge, a veth pair and an iptables rule,
// which it tries.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("netns: making network namespaces needs root")
	}
	for _, cmd := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(cmd); err != nil {
			return fmt.Errorf("netns: the %s command is not installed: %w", cmd, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nt, err := New(ctx, 1, nil)
	if err != nil {
		return fmt.Errorf("netns: this machine cannot make network namespaces: %w", err)
	}
	return nt.Close()
}

// New makes a Net of n node namespaces. logf, when not nil, is told what
// it does. On error nothing is left behind.
func New(ctx context.Context, n int, logf func(string, ...any)) (_ *Net, err error) {
	if n < 1 || n > MaxNodes {
		return nil, fmt.Errorf("netns: %d nodes: want 1 to %d", n, MaxNodes)
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	nt := &Net{
		prefix: fmt.Sprintf("%s%dx%d-", namePrefix, os.Getpid(), netCount.Add(1)),
		logf:   logf,
	}
	nt.hub = nt.prefix + "hub"
	defer func() {
		if err != nil {
			nt.Close()
		}
	}()
	hub := netip.MustParseAddr(hubAddr)
	steps := [][]string{
		{"ip", "netns", "add", nt.hub},
		{"ip", "-n", nt.hub, "link", "set", "lo", "up"},
		{"ip", "-n", nt.hub, "link", "add", "br0", "type", "bridge"},
		{"ip", "-n", nt.hub, "addr", "add", hubAddr + "/" + strconv.Itoa(subnetBits), "dev", "br0"},
		{"ip", "-n", nt.hub, "link", "set", "br0", "up"},
	}
	if err := runAll(ctx, steps); err != nil {
		return nil, err
	}
	for i := range n {
		ns := fmt.Sprintf("%sn%d", nt.prefix, i+1)
		addr := hub
		for range nodeBase - 1 + i {
			addr = addr.Next()
		}
		nt.nodes = append(nt.nodes, ns)
		nt.addrs = append(nt.addrs, addr)
		veth := fmt.Sprintf("h%d", i+1)
		steps := [][]string{
			{"ip", "netns", "add", ns},
			{"ip", "-n", ns, "link", "set", "lo", "up"},
			{"ip", "-n", nt.hub, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns},
			{"ip", "-n", nt.hub, "link", "set", veth, "master", "br0"},
			{"ip", "-n", nt.hub, "link", "set", veth, "up"},
			{"ip", "-n", ns, "addr", "add", addr.String() + "/" + strconv.Itoa(subnetBits), "dev", "eth0"},
			{"ip", "-n", ns, "link", "set", "eth0", "up"},
			nt.iptables(i, "-N", chainIn),
			nt.iptables(i, "-N", chainOut),
			nt.iptables(i, "-I", "INPUT", "-j", chainIn),
			nt.iptables(i, "-I", "OUTPUT", "-j", chainOut),
		}
		if err := runAll(ctx, steps); err != nil {
			return nil, err
		}
	}
	f, err := os.Open("/run/netns/" + nt.hub)
	if err != nil {
		return nil, fmt.Errorf("netns: opening the hub namespace: %w", err)
	}
	nt.hubNS = f
	logf("netns: %d node namespaces %sn1… on %s/%d, clients at %s", n, nt.prefix, hubAddr, subnetBits, hubAddr)
	return nt, nil
}

// Len is the number of node namespaces.
func (nt *Net) Len() int { return len(nt.nodes) }

// Namespace is the name of node i's namespace (from 0).
func (nt *Net) Namespace(i int) string { return nt.nodes[i] }

// Addr is node i's address.
func (nt *Net) Addr(i int) netip.Addr { return nt.addrs[i] }

// Prefix starts the name of every namespace of this Net.
func (nt *Net) Prefix() string { return nt.prefix }

// Command returns a command that runs name with args in node i's namespace.
func (nt *Net) Command(i int, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", nt.nodes[i], name}, args...)...)
}

func (nt *Net) iptables(i int, args ...string) []string {
	return append([]string{"ip", "netns", "exec", nt.nodes[i], "iptables", "-w"}, args...)
}

// Cut drops every packet between nodes a and b, both ways, TCP and UDP
// alike, until Heal.
func (nt *Net) Cut(ctx context.Context, a, b int) error {
	nt.mu.Lock()
	defer nt.mu.Unlock()
	return runAll(ctx, [][]string{
		nt.iptables(a, "-A", chainIn, "-s", nt.addrs[b].String(), "-j", "DROP"),
		nt.iptables(a, "-A", chainOut, "-d", nt.addrs[b].String(), "-j", "DROP"),
		nt.iptables(b, "-A", chainIn, "-s", nt.addrs[a].String(), "-j", "DROP"),
		nt.iptables(b, "-A", chainOut, "-d", nt.addrs[a].String(), "-j", "DROP"),
	})
}

// Isolate cuts node i off from every other node. Clients in the hub still
// reach it, as clients on its side of a partition would.
func (nt *Net) Isolate(ctx context.Context, i int) error {
	for j := range nt.nodes {
		if j != i {
			if err := nt.Cut(ctx, i, j); err != nil {
				return err
			}
		}
	}
	return nil
}

// Partition cuts every node of each group off from the nodes of the other
// groups. A node in no group keeps every link: it sees both sides.
func (nt *Net) Partition(ctx context.Context, groups ...[]int) error {
	for g, a := range groups {
		for _, b := range groups[g+1:] {
			for _, i := range a {
				for _, j := range b {
					if err := nt.Cut(ctx, i, j); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// Loss drops each packet into and out of node i's interface with
// probability p, until Heal.
func (nt *Net) Loss(ctx context.Context, i int, p float64) error {
	if p < 0 || p > 1 {
		return fmt.Errorf("netns: loss %v: want a probability from 0 to 1", p)
	}
	prob := strconv.FormatFloat(p, 'f', 4, 64)
	nt.mu.Lock()
	defer nt.mu.Unlock()
	return runAll(ctx, [][]string{
		nt.iptables(i, "-A", chainIn, "-i", "eth0", "-m", "statistic", "--mode", "random", "--probability", prob, "-j", "DROP"),
		nt.iptables(i, "-A", chainOut, "-o", "eth0", "-m", "statistic", "--mode", "random", "--probability", prob, "-j", "DROP"),
	})
}

// SetLink takes node i's interface down or up: down, nothing goes in or
// out, clients' traffic included.
func (nt *Net) SetLink(ctx context.Context, i int, up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	nt.mu.Lock()
	defer nt.mu.Unlock()
	return run(ctx, "ip", "-n", nt.nodes[i], "link", "set", "eth0", state)
}

// Heal removes the fault rules of the given nodes (of all when none are
// given) and brings their interfaces up.
func (nt *Net) Heal(ctx context.Context, idx ...int) error {
	if len(idx) == 0 {
		for i := range nt.nodes {
			idx = append(idx, i)
		}
	}
	nt.mu.Lock()
	defer nt.mu.Unlock()
	var steps [][]string
	for _, i := range idx {
		steps = append(steps,
			nt.iptables(i, "-F", chainIn),
			nt.iptables(i, "-F", chainOut),
			[]string{"ip", "-n", nt.nodes[i], "link", "set", "eth0", "up"})
	}
	return runAll(ctx, steps)
}

// Rules returns the fault rules in force in node i's namespace, for a
// failure report.
func (nt *Net) Rules(ctx context.Context, i int) string {
	var b strings.Builder
	for _, chain := range []string{chainIn, chainOut} {
		out, err := exec.CommandContext(ctx, "ip", "netns", "exec", nt.nodes[i], "iptables", "-w", "-S", chain).CombinedOutput()
		if err != nil {
			fmt.Fprintf(&b, "(%s: %v)\n", chain, err)
		}
		b.Write(out)
	}
	return b.String()
}

// Close removes every namespace of the Net, and with them its interfaces
// and rules. Processes still running in a namespace keep it alive, cut
// off, until they end. Close may be called more than once.
func (nt *Net) Close() error {
	nt.mu.Lock()
	defer nt.mu.Unlock()
	if nt.closed {
		return nil
	}
	nt.closed = true
	if nt.hubNS != nil {
		nt.hubNS.Close()
	}
	var errs []error
	for _, ns := range append(append([]string(nil), nt.nodes...), nt.hub) {
		if _, err := os.Stat("/run/netns/" + ns); err != nil {
			continue // never made
		}
		if err := run(context.Background(), "ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RemoveStale removes the namespaces that runs of this package left
// behind when they were killed: those whose maker's process is gone. It
// returns the names it removed.
func RemoveStale() ([]string, error) {
	entries, err := os.ReadDir("/run/netns")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("netns: %w", err)
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		m := staleName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil || alive(pid) {
			continue
		}
		if err := run(context.Background(), "ip", "netns", "del", e.Name()); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, e.Name())
	}
	return removed, errors.Join(errs...)
}

// alive reports whether a process with this pid exists.
func alive(pid int) bool {
	if pid == os.Getpid() {
		return true
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func runAll(ctx context.Context, steps [][]string) error {
	for _, s := range steps {
		if err := run(ctx, s[0], s[1:]...); err != nil {
			return err
		}
	}
	return nil
}

func run(ctx context.Context, name string, args ...string) error {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("netns: %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}
