package cluster

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"

	"veil/bully"
	"veil/cluster/registry"
	"veil/election"
	"veil/internal/certs"
	"veil/stego"
)

// Node is one running member of a Veil cluster: gossip membership, the
// election, the HTTP API, the worker pool and the failure simulation.
type Node struct {
	cfg     Config
	log     hclog.Logger
	key     stego.Key
	admin   string // bearer token for admin calls
	peerTok string // bearer token for node-to-node calls
	userKey []byte // signs users' login tokens
	seedKey []byte // keys the seeds of idempotent requests
	// vouchKey signs the statements peers show each other (peers.go).
	vouchKey ed25519.PrivateKey
	presence presence // the coordinator's soft state of peers' heartbeats
	events   eventLog // what the dashboard lists
	traffic  traffic  // finished API requests, for the dashboard
	// logins throttles failed logins, per user and address (users.go).
	logins loginThrottle

	gate    *Gate
	ml      *memberlist.Memberlist
	mship   *membership
	elector election.Elector
	bully   *election.Bully // Bully mode
	// bullyReady is bully once it is set, for the gossip and API
	// callbacks that may run before Start sets it.
	bullyReady atomic.Pointer[election.Bully]
	raft       *election.Raft // Raft mode
	pool       *pool
	// budget bounds the memory the image work in pool holds at once.
	budget *decodeBudget
	// passwords bounds the password hashes computed at once (register,
	// login): each takes tens of milliseconds of a core and 19 MiB, and a
	// burst of logins must be shed with 429, not exhaust the machine.
	passwords *pool
	metrics   *metrics
	client    *http.Client
	// peerClient carries replication (prepare, append, entries) on
	// connections of its own, so that the coordinator's appends, which are
	// also its proof of life, never wait for a connection behind image
	// work and forwarded requests.
	peerClient *http.Client
	// scheme is how members' APIs are called: https when the node runs
	// TLS, and so does every node of its cluster. peerTLS is the client
	// side of those calls (nil without TLS).
	scheme  string
	peerTLS *tls.Config
	// tlsAccepted and tlsDialled count TLS handshakes, of the API and of
	// the calls to other nodes' APIs: connections are meant to be reused.
	tlsAccepted, tlsDialled atomic.Uint64
	store                   *registry.Store // Bully mode's log; Raft keeps its own
	repl                    registryLog

	recoverSince  atomic.Int64  // unix nanos: when the node last began to recover
	gossipAddr    string        // host:port others reach our gossip at
	probeInterval time.Duration // memberlist's, from the profile

	apiLn  net.Listener
	server *http.Server
	connMu sync.Mutex
	conns  map[net.Conn]struct{} // the API's open connections, cut when the node goes silent

	state       atomic.Uint32 // State
	failing     atomic.Bool   // a simulated failure is under way here
	handoffs    atomic.Uint64 // hand-offs made as coordinator
	handingOff  atomic.Bool   // a hand-off is being prepared or made
	failures    atomic.Uint64 // simulated failures so far
	assigned    sync.Map      // worker name → *atomic.Int64 jobs in flight, as coordinator
	unreachable sync.Map      // worker name → time.Time it last could not be reached

	// leadCh is closed and replaced at each leadership change (watch.go).
	leadMu   sync.Mutex
	leadCh   chan struct{}
	watching atomic.Int64 // followers' watches this node holds open
	// handedOff is the last hand-off this node made as coordinator: the
	// watches it held then are answered "handed to", not "gone", so that
	// their followers wait for the successor instead of calling an
	// election.
	handedOff atomic.Pointer[handedOff]

	metaKick chan struct{}
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopOnce sync.Once
}

// Start validates cfg, binds the gossip and API ports, joins the cluster
// (retrying in the background until a member answers) and starts serving.
// Stop it with Leave or Close.
func Start(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	key, err := stego.ParseKey(cfg.Key)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	log = log.With("node", cfg.Name)
	n := &Node{
		cfg:       cfg,
		log:       log,
		key:       key,
		admin:     AdminToken(cfg.Key),
		peerTok:   internalToken(cfg.Key),
		userKey:   derive(cfg.Key, labelUserToken, 32),
		seedKey:   derive(cfg.Key, labelSeed, 32),
		vouchKey:  VouchKey(cfg.Key),
		pool:      newPool(cfg.Workers, cfg.Workers*cfg.QueuePerWorker),
		budget:    &decodeBudget{total: cfg.DecodeBudget},
		passwords: newPool(cfg.Workers, cfg.Workers*cfg.QueuePerWorker),
		metaKick:  make(chan struct{}, 1),
		leadCh:    make(chan struct{}),
		conns:     map[net.Conn]struct{}{},
		scheme:    "http",
	}
	if cfg.TLS != nil {
		n.scheme, n.peerTLS = "https", cfg.TLS.PeerClientConfig()
		verify := n.peerTLS.VerifyConnection
		n.peerTLS.VerifyConnection = func(cs tls.ConnectionState) error {
			n.tlsDialled.Add(1)
			return verify(cs)
		}
	}
	n.client = &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
		TLSClientConfig:     n.peerTLS,
		TLSHandshakeTimeout: time.Second,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	}}
	n.peerClient = &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
		TLSClientConfig:     n.peerTLS,
		TLSHandshakeTimeout: time.Second,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     30 * time.Second,
	}}
	// A node starts recovering: it serves once it holds what the
	// coordinator has committed (or, as coordinator, once it has synced).
	n.state.Store(uint32(StateRecovering))
	n.recoverSince.Store(time.Now().UnixNano())
	n.ctx, n.cancel = context.WithCancel(context.Background())

	if cfg.Mode == ModeBully {
		n.store, err = registry.Open(cfg.DataDir)
		if err != nil {
			return nil, fmt.Errorf("data dir %s: %w", cfg.DataDir, err)
		}
		n.repl = newReplicator(n, n.store)
	}
	closeStore := func() {
		if n.store != nil {
			n.store.Close()
		}
	}
	n.apiLn, err = net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		closeStore()
		return nil, fmt.Errorf("API address %s: %w", cfg.APIAddr, err)
	}
	if cfg.TLS != nil {
		sc := cfg.TLS.ServerConfig(cfg.RequireClientCert)
		sc.VerifyConnection = func(tls.ConnectionState) error { n.tlsAccepted.Add(1); return nil }
		n.apiLn = certs.NewListener(n.apiLn, sc)
	}
	if err := n.startGossip(); err != nil {
		n.apiLn.Close()
		closeStore()
		return nil, err
	}
	start := n.startBully
	if cfg.Mode == ModeRaft {
		start = n.startRaft
	}
	if err := start(); err != nil {
		n.cancel()
		n.ml.Shutdown()
		n.apiLn.Close()
		closeStore()
		n.wg.Wait()
		return nil, err
	}
	n.metrics = newMetrics(cfg.Name, n.gauges())
	n.server = &http.Server{
		Handler:           n.routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       cfg.RequestTimeout,
		WriteTimeout:      cfg.RequestTimeout + 5*time.Second,
		ErrorLog:          log.Named("http").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
		ConnState:         n.trackConn,
	}
	n.goRun(func() {
		if err := n.server.Serve(n.apiLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("API server stopped", "error", err)
		}
	})
	n.goRun(n.joinLoop)
	n.goRun(n.sampleLoop)
	n.goRun(n.handoffLoop)
	n.goRun(n.metaLoop)
	n.goRun(n.watchMembers)
	n.goRun(n.watchLeadership)
	n.goRun(n.readinessLoop)
	n.goRun(n.reconnectLoop)
	n.goRun(n.presenceLoop)
	if n.bully != nil {
		n.goRun(n.watchLoop)
	}
	if cfg.Failures != nil {
		n.goRun(n.failureLoop)
	}
	n.log.Info("node started", "mode", cfg.Mode, "gossip", n.GossipAddr(), "api", n.APIURL(), "profile", cfg.Profile.Name)
	if cfg.TLS != nil {
		n.log.Info("TLS on the API and between nodes", "certificate", cfg.TLS.Name(), "expires", cfg.TLS.NotAfter().Format(time.DateOnly),
			"client_certificates", map[bool]string{true: "required", false: "verified when given"}[cfg.RequireClientCert])
	} else if !loopback(cfg.APIAddr) || (cfg.Mode == ModeRaft && !loopback(cfg.RaftAddr)) {
		n.log.Warn("serving in clear beyond loopback (--insecure-http)")
	}
	return n, nil
}

func (n *Node) goRun(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

func (n *Node) startGossip() error {
	host, portStr, _ := net.SplitHostPort(n.cfg.GossipAddr)
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("gossip port %q: %w", portStr, err)
	}
	stdlog := n.log.Named("memberlist").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{host},
		BindPort:  port,
		Logger:    stdlog,
	})
	if err != nil {
		return fmt.Errorf("gossip address %s: %w", n.cfg.GossipAddr, err)
	}
	if port == 0 {
		port = nt.GetAutoBindPort()
	}
	n.gate = NewGate(nt)

	mc := n.cfg.Profile.Memberlist()
	mc.Name = n.cfg.Name
	mc.BindAddr, mc.BindPort = host, port
	mc.AdvertisePort = port
	switch {
	case n.cfg.Advertise != "":
		mc.AdvertiseAddr = n.cfg.Advertise
	case !unspecified(host):
		mc.AdvertiseAddr = host
	}
	// Otherwise memberlist advertises the first private address it finds.
	// The address others reach us at, worked out as memberlist will; kept
	// here because reading memberlist's own copy races with its updates.
	ip, aport, err := nt.FinalAdvertiseAddr(mc.AdvertiseAddr, port)
	if err != nil {
		n.gate.Shutdown()
		return fmt.Errorf("gossip: no address to advertise: %w (set --advertise)", err)
	}
	n.gossipAddr = net.JoinHostPort(ip.String(), strconv.Itoa(aport))
	mc.Transport = n.gate
	mc.SecretKey = GossipKey(n.cfg.Key)
	mc.Logger = stdlog
	probe := mc.ProbeInterval
	n.probeInterval = probe
	n.mship = newMembership(n.cfg.Name, n.localMeta(election.Leadership{}), n.log.Named("membership"),
		func(members int) time.Duration {
			// memberlist probes one member per interval, in a shuffled
			// round robin: a member is probed at least once in about
			// 2·(n-1) intervals. Two rounds without an answer is suspect.
			if members < 2 {
				members = 2
			}
			return time.Duration(2*(members-1)+2) * probe
		})
	n.mship.onMessage = n.onGossipMessage
	mc.Delegate, mc.Events, mc.Ping = n.mship, n.mship, n.mship
	ml, err := memberlist.Create(mc)
	if err != nil {
		n.gate.Shutdown()
		return fmt.Errorf("gossip: %w", err)
	}
	n.ml = ml
	return nil
}

func (n *Node) startBully() error {
	p := n.cfg.Profile
	ticks := func(d time.Duration) int { return int((d + p.Tick - 1) / p.Tick) }
	mc := bully.Config{
		ID:                 n.cfg.Name,
		HeartbeatInterval:  ticks(p.Heartbeat),
		ElectionTimeout:    ticks(p.ElectionTimeout),
		CoordinatorTimeout: ticks(p.CoordinatorTimeout),
		ReelectInterval:    ticks(p.ReelectInterval),
		LoadGap:            p.LoadGap,
		// A node with half its queue full is saturated: moving the role
		// to it moves the overload, at the cost of an election.
		ReelectBelow: float64(n.cfg.QueuePerWorker) / 2,
	}
	b, err := election.NewBully(election.BullyConfig{
		Machine:   mc,
		Tick:      p.Tick,
		Transport: gossipSender{n},
		Logger:    n.log.Named("election"),
	})
	if err != nil {
		return err
	}
	n.elector, n.bully = b, b
	n.bullyReady.Store(b)
	// The Bully machine keeps nothing across restarts; the registry's
	// promise does, and epochs must not go down.
	if p := n.store.Promised(); !p.IsZero() {
		b.Raise(p)
	}
	n.goRun(func() { _ = b.Run(n.ctx) })
	return nil
}

// unspecified reports whether host is a wildcard bind address.
func unspecified(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

// gossipSender carries election messages as gossip user messages (UDP,
// best effort, encrypted with the gossip key).
type gossipSender struct{ n *Node }

func (s gossipSender) Send(to string, payload []byte) error {
	return s.n.sendGossip(to, chanElection, payload, false)
}

// sendGossip sends a user message to the member named to. Control
// messages go to live members only; election messages to any member that
// has not left: gossip's "failed" is second-hand (in a bridge partition
// the far half's suspicion makes it call failed a node this one reaches),
// and a datagram to a dead node costs nothing.

func (n *Node) sendGossip(to string, channel byte, payload []byte, reliable bool) error {
	// The address comes from the node's own table: the *Node values
	// memberlist hands out are shared with its gossip goroutines, and
	// reading them races with their updates.
	m, ok := n.mship.member(to)
	live := ok && (m.Status == StatusAlive || m.Status == StatusSuspect)
	if !live && !(ok && channel == chanElection && m.Status != StatusLeft) {
		return fmt.Errorf("no live member named %q", to)
	}
	host, portStr, err := net.SplitHostPort(m.Gossip)
	if err != nil {
		return fmt.Errorf("member %s: gossip address %q: %w", to, m.Gossip, err)
	}
	port, _ := strconv.Atoi(portStr)
	msg := encodeUserMsg(channel, n.cfg.Name, payload)
	if reliable {
		return n.ml.SendReliable(&memberlist.Node{Name: to, Addr: net.ParseIP(host), Port: uint16(port)}, msg)
	}
	return n.ml.SendToAddress(memberlist.Address{Addr: m.Gossip, Name: to}, msg)
}

// heardFrom tells the election that traffic came from the node named
// from at epoch e: from the coordinator, a sign of life.
func (n *Node) heardFrom(from string, e election.Epoch) {
	if b := n.bullyReady.Load(); b != nil && from != "" && from != n.cfg.Name {
		b.Heard(from, e)
	}
}

func (n *Node) onGossipMessage(channel byte, from string, payload []byte) {
	switch channel {
	case chanElection:
		// Gossip and the API start before the election does: what
		// arrives before it is dropped, as a datagram may be.
		if b := n.bullyReady.Load(); b != nil {
			b.Deliver(from, payload)
		}
	case chanControl:
		n.onControl(from, payload)
	}
}

// joinLoop joins the cluster through cfg.Join, retrying with backoff until a
// member answers. A node with nothing to join starts a cluster of its own.
func (n *Node) joinLoop() {
	if len(n.cfg.Join) == 0 {
		return
	}
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		count, err := n.ml.Join(n.cfg.Join)
		if count > 0 {
			n.log.Info("joined the cluster", "contacted", count)
			return
		}
		n.log.Warn("no member answered; retrying", "join", n.cfg.Join, "attempt", attempt, "error", err, "retry_in", backoff)
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// sampleLoop measures the load, feeds it to the election and, when it has
// moved, to gossip; and it sweeps the status table for suspects.
func (n *Node) sampleLoop() {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	lastGossiped, lastAt := 0.0, time.Now()
	var lastRaft Meta
	probe := n.probeInterval
	lastSweep, lastForget := time.Now(), time.Now()
	for {
		select {
		case <-n.ctx.Done():
			return
		case now := <-t.C:
			load := n.pool.sample()
			n.elector.SetLoad(load)
			moved := n.raftMetaMoved(&lastRaft, now.Sub(lastAt) > time.Second)
			if moved || math.Abs(load-lastGossiped) >= 0.1 || (load != lastGossiped && now.Sub(lastAt) > 2*time.Second) {
				lastGossiped, lastAt = load, now
				n.kickMeta()
			}
			if now.Sub(lastSweep) >= probe {
				lastSweep = now
				n.mship.sweep()
			}
			n.mship.expireFailing(MaxSimulatedDown + 30*time.Second)
			if now.Sub(lastForget) >= time.Minute {
				lastForget = now
				n.mship.forget(time.Hour)
			}
		}
	}
}

// kickMeta asks metaLoop to gossip fresh metadata.
func (n *Node) kickMeta() {
	select {
	case n.metaKick <- struct{}{}:
	default:
	}
}

// metaLoop gossips this node's metadata whenever it is kicked. UpdateNode
// blocks until the update is broadcast, hence a goroutine of its own.
func (n *Node) metaLoop() {
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.metaKick:
			n.mship.setLocal(n.localMeta(n.elector.Leadership()))
			if n.gate.Silenced() {
				continue
			}
			if err := n.ml.UpdateNode(time.Second); err != nil {
				n.log.Debug("metadata update not confirmed", "error", err)
			}
		}
	}
}

func (n *Node) localMeta(l election.Leadership) Meta {
	role := RoleWorker
	if l.Self {
		role = RoleCoordinator
	}
	api := n.cfg.APIAddr
	if n.apiLn != nil {
		api = n.apiLn.Addr().String()
		// A wildcard bind is no address for others to call: advertise the
		// gossip address's host with the API port.
		if h, p, err := net.SplitHostPort(api); err == nil && unspecified(h) && n.gossipAddr != "" {
			if h, _, err := net.SplitHostPort(n.gossipAddr); err == nil {
				api = net.JoinHostPort(h, p)
			}
		}
	}
	load := 0.0
	if n.pool != nil {
		load = n.pool.load()
	}
	m := Meta{Mode: n.cfg.Mode, Role: role, State: n.State(), Load: load, Epoch: l.Epoch.Term, API: api}
	n.raftMeta(&m)
	return m
}

// watchMembers feeds the election the members gossip holds alive.
func (n *Node) watchMembers() {
	last, lastFan := "", ""
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.mship.changed:
		}
		var alive, fanout []string
		for _, m := range n.mship.members() {
			if m.Status == StatusAlive || m.Status == StatusSuspect {
				alive = append(alive, m.Name)
			}
			if m.Status != StatusLeft && m.Name != n.cfg.Name {
				fanout = append(fanout, m.Name)
			}
		}
		if n.bully == nil {
			continue
		}
		if key := fmt.Sprint(fanout); key != lastFan {
			lastFan = key
			n.bully.SetFanout(fanout)
		}
		if key := fmt.Sprint(alive); key != last {
			last = key
			n.bully.SetMembers(alive)
		}
	}
}

// watchLeadership logs coordinator changes and gossips the new role.
func (n *Node) watchLeadership() {
	for {
		select {
		case <-n.ctx.Done():
			return
		case l, ok := <-n.elector.Changes():
			if !ok {
				return
			}
			if l.Known() {
				n.events.add("coordinator", "%s is the coordinator at epoch %d", l.Coordinator, l.Epoch.Term)
			} else {
				n.events.add("coordinator", "no coordinator known")
			}
			if l.Self && n.State() == StateActive {
				// A new coordinator serves only once it has synced.
				n.beginRecovery()
			}
			n.repl.onLeadership(l)
			n.noteLeadershipChange()
			n.kickMeta()
		}
	}
}

// reconnectLoop tries, now and then, to join again the members gossip holds
// failed. memberlist gossips to a dead member only for a short while; after a
// partition heals, each side would go on holding the other dead, with no
// one probing across, unless someone reaches over (serf's reconnect does the
// same).
func (n *Node) reconnectLoop() {
	every := max(10*n.probeInterval, time.Second)
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(every):
		}
		if n.gate.Silenced() {
			continue
		}
		for _, m := range n.mship.members() {
			if m.Status != StatusFailed || m.Gossip == "" {
				continue
			}
			if _, err := n.ml.Join([]string{m.Gossip}); err == nil {
				n.log.Info("reconnected to a member held failed", "member", m.Name)
			}
		}
	}
}

// beginRecovery marks the node as recovering from now on.
func (n *Node) beginRecovery() {
	n.recoverSince.Store(time.Now().UnixNano())
	n.setState(StateRecovering)
}

// readinessLoop moves a recovering node to active once it is up to date: a
// coordinator when it has synced the registry with a majority, a follower
// when it has heard from the coordinator since it began to recover and
// holds everything the coordinator had committed.
func (n *Node) readinessLoop() {
	t := time.NewTicker(n.cfg.Profile.Tick)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		if n.State() != StateRecovering || n.failing.Load() {
			continue
		}
		l := n.elector.Leadership()
		switch {
		case !l.Known():
		case l.Self:
			if n.repl.isReady() {
				n.setState(StateActive)
			}
		case n.repl.caughtUp(time.Unix(0, n.recoverSince.Load())):
			n.setState(StateActive)
			n.log.Info("caught up with the coordinator; serving", "coordinator", l.Coordinator, "commit", n.repl.commitIndex())
		}
		if n.State() == StateActive && n.Failures() > 0 {
			n.tellAll(ctlBack) // harmless when nobody held us failing
		}
	}
}

// trackConn keeps the set of the API's open connections.
func (n *Node) trackConn(c net.Conn, s http.ConnState) {
	n.connMu.Lock()
	defer n.connMu.Unlock()
	switch s {
	case http.StateNew:
		n.conns[c] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		delete(n.conns, c)
	}
}

// dropConns closes every open API connection, requests in flight
// included: a node that goes silent answers nothing more, and its clients
// learn at once that they must go elsewhere.
func (n *Node) dropConns() {
	n.connMu.Lock()
	defer n.connMu.Unlock()
	for c := range n.conns {
		c.Close()
	}
	n.client.CloseIdleConnections()
	n.peerClient.CloseIdleConnections()
}

// State is what the node says of itself: active, failed, recovering or
// leaving.
func (n *Node) State() State { return State(n.state.Load()) }

func (n *Node) setState(s State) {
	if State(n.state.Swap(uint32(s))) != s {
		n.log.Info("state", "state", s)
		n.kickMeta()
	}
}

// Failures counts the simulated failures this node went through.
func (n *Node) Failures() uint64 { return n.failures.Load() }

// Name is the node's name.
func (n *Node) Name() string { return n.cfg.Name }

// APIAddr is the address the API listens on.
func (n *Node) APIAddr() string { return n.apiLn.Addr().String() }

// APIURL is the API's base URL: http:// or, with TLS, https:// and
// APIAddr.
func (n *Node) APIURL() string { return n.apiURL(n.APIAddr()) }

// apiURL is the base URL of the API at addr (host:port, as members
// gossip it), at the cluster's scheme.
func (n *Node) apiURL(addr string) string { return n.scheme + "://" + addr }

// GossipAddr is the address gossip listens on.
func (n *Node) GossipAddr() string { return n.gossipAddr }

// Leadership is who the node believes coordinates.
func (n *Node) Leadership() election.Leadership { return n.elector.Leadership() }

// Members is the node's status table, itself included.
func (n *Node) Members() []Member { return n.mship.members() }

// ReadRegistry runs f against this node's committed registry state (its
// own copy, which may lag the coordinator's).
func (n *Node) ReadRegistry(f func(*registry.State)) { n.repl.readLocal(f) }

// Gate is the node's gossip gate; tests use it to cut the node off.
func (n *Node) Gate() *Gate { return n.gate }

// Leave announces a graceful leave, waits up to timeout for gossip to carry
// it, and stops the node.
func (n *Node) Leave(timeout time.Duration) error {
	if n.elector.Leadership().Self && !n.gate.Silenced() {
		// Hand the role over first, so that the cluster does not wait out
		// an election, and no request in flight fails.
		ctx, cancel := context.WithTimeout(n.ctx, timeout)
		if res, err := n.HandOff(ctx, "", "leave"); err != nil {
			n.log.Warn("could not hand the coordinator's role over before leaving", "error", err)
		} else {
			n.log.Info("handed the coordinator's role over before leaving", "to", res.To, "took_ms", res.TookMS)
		}
		cancel()
	}
	n.setState(StateLeaving)
	n.mship.setLocal(n.localMeta(n.elector.Leadership()))
	var err error
	if !n.gate.Silenced() {
		// The leave intent must reach the others before the dead message
		// does, so that they record "left" and not "failed": tell each one
		// over TCP first. memberlist's own leave is a dead message sent by
		// the node itself, which gossip cannot tell from a crash.
		for _, m := range n.mship.members() {
			if m.Name != n.cfg.Name && (m.Status == StatusAlive || m.Status == StatusSuspect) {
				if e := n.sendGossip(m.Name, chanControl, []byte{ctlLeaving}, true); e != nil {
					n.log.Debug("could not announce the leave", "member", m.Name, "error", e)
				}
			}
		}
		err = n.ml.Leave(timeout)
	}
	return errors.Join(err, n.Close())
}

// Close stops the node at once, without telling the others (to them it
// looks like a crash).
func (n *Node) Close() error {
	var err error
	n.stopOnce.Do(func() {
		n.cancel()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		err = n.server.Shutdown(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			err = n.server.Close()
		}
		err = errors.Join(err, n.ml.Shutdown())
		n.repl.close()
		n.wg.Wait()
		if n.store != nil {
			err = errors.Join(err, n.store.Close())
		}
		n.log.Info("node stopped")
	})
	return err
}
