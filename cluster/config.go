package cluster

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"

	"veil/cluster/api"
	"veil/election"
	"veil/internal/certs"
	"veil/stego"
)

// Config is everything a node needs to run. Build one with DefaultConfig
// and check it with Validate; cmd/veil maps flags and VEIL_* variables onto
// it.
type Config struct {
	Name       string // unique in the cluster; also the election's node id
	Mode       Mode   // ModeBully or ModeRaft
	GossipAddr string // host:port for memberlist (UDP and TCP)
	APIAddr    string // host:port for the HTTP API
	// Advertise is the host others reach this node at, for gossip and the
	// API, when the binds are wildcards (0.0.0.0); empty picks the first
	// private address of the machine.
	Advertise string
	Join      []string // gossip addresses of nodes to join; empty starts a new cluster
	DataDir   string   // where the node keeps its state
	Key       []byte   // the 32-byte master key shared by the cluster
	Profile   Profile  // timing: LANProfile or FastProfile

	// RaftAddr is the host:port of the Raft transport (Raft mode only).
	// With a wildcard host, the Raft address advertised is the Advertise
	// host, or the host gossip advertises.
	RaftAddr string
	// BootstrapExpect (Raft mode) is the number of servers a new cluster
	// starts with: once gossip shows that many Raft-mode members, they
	// bootstrap the cluster together, once. Zero means never bootstrap:
	// the node waits to be added by the leader of an existing cluster.
	BootstrapExpect int
	// RaftDeadGrace (Raft mode) is how long a member may stay failed
	// before the leader removes it from the Raft configuration. It exceeds
	// the failure simulation's longest silence.
	RaftDeadGrace time.Duration

	// SnapshotThreshold is how many committed entries past the last
	// snapshot make the node take a new one and compact its log, and
	// TrailingLogs how many entries it keeps before the snapshot for
	// followers a little behind, in both modes: hashicorp/raft's names and
	// defaults. A follower that needs an entry no longer kept gets the
	// snapshot.
	SnapshotThreshold uint64
	TrailingLogs      uint64

	// Workers is the number of hide/reveal jobs the node runs at once. The
	// load a node reports is its queued and running jobs per worker slot.
	Workers int
	// QueuePerWorker is how many jobs may wait for each worker slot. Past
	// it the node sheds: it answers 429 with Retry-After at once, so that
	// an overloaded cluster answers every request in bounded time instead
	// of letting its queue, and its clients' waits, grow without end.
	QueuePerWorker int
	// MaxBodyBytes bounds a request body; larger ones get 413. A put's
	// body holds its secret and, optionally, a cover.
	MaxBodyBytes int64
	// MaxSecretBytes is the largest secret a put takes, at any stealth
	// level; each level may take less (stego.MaxSecret: its generated
	// cover must stay under the pixel limit). Larger ones get 413 before
	// any image work.
	MaxSecretBytes int64
	// MaxImageBytes bounds the body of a view or a lease: a veiled image.
	// It is at least the largest veiled PNG the node writes, so that
	// whatever the cloud veils can be viewed.
	MaxImageBytes int64
	// DecodeBudget bounds the memory the node's image work (hides and
	// reveals) holds at once, in bytes, each reserved from the images'
	// headers before anything is decoded (stego.HideCost, RevealCost).
	DecodeBudget int64
	// RequestTimeout bounds the handling of one API request end to end.
	RequestTimeout time.Duration

	// PeerTTL is how long a user's peer stays online in the directory
	// after its last heartbeat. Peers send one every third of it.
	PeerTTL time.Duration
	// StatementTTL is how long the statements the cloud signs for peers
	// (device keys, fetch tickets) stay valid: how long two peers can
	// trust each other with every node out of reach.
	StatementTTL time.Duration
	// LeaseTTL is how long an offline lease of views lasts; its device
	// stops spending it then, and reports it at its next contact.
	LeaseTTL time.Duration

	// Failures turns on the failure simulation when non-nil.
	Failures *FailureSim

	// TLS, when set, is the node's certificate, its key and the cluster's
	// authority (internal/certs): the API is served over HTTPS (TLS 1.3),
	// and every call between nodes (internal routes, replication, commits,
	// forwarding, watches, image work, Raft's transport) is mutual TLS that
	// takes only node certificates of that authority. Every node of a
	// cluster has it, or none: members call each other at the scheme of
	// their own setting.
	TLS *certs.Identity
	// RequireClientCert asks every client of the API for a certificate of
	// the cluster's authority (veil tls cert create --client), as Consul's
	// verify_incoming does; by default a client needs only the authority's
	// certificate to check the node's, as a browser or curl does.
	RequireClientCert bool
	// InsecureHTTP lets a node without TLS listen beyond the loopback
	// interface, in clear: for a network the operator trusts (a test's
	// network namespaces, a private bridge). Without it such a node
	// refuses to start.
	InsecureHTTP bool

	// Pprof serves Go's profiles at /debug/pprof/ on the API address,
	// without authentication: for an operator's loopback or private
	// network only.
	Pprof bool

	Logger hclog.Logger
}

// FailureSim configures the simulated failures of the original assignment:
// about every Every the coordinator picks one node (itself included) and
// tells it to go silent for a random time in [DownMin, DownMax].
type FailureSim struct {
	Every   time.Duration
	DownMin time.Duration
	DownMax time.Duration
}

// Validate states the failure simulation's invariants.
func (f FailureSim) Validate() error {
	switch {
	case f.Every <= 0:
		return errors.New("failure simulation: every must be > 0")
	case f.DownMin <= 0 || f.DownMax < f.DownMin:
		return fmt.Errorf("failure simulation: down window %s-%s must satisfy 0 < min <= max", f.DownMin, f.DownMax)
	case f.DownMax > MaxSimulatedDown:
		return fmt.Errorf("failure simulation: down for at most %s (got %s)", MaxSimulatedDown, f.DownMax)
	}
	return nil
}

// MaxSimulatedDown is the longest a node may be made to fail, as the
// original assignment sets it.
const MaxSimulatedDown = 20 * time.Second

// Profile is a named set of timings for gossip and the election.
type Profile struct {
	Name string
	// Memberlist returns the gossip configuration this profile starts from.
	Memberlist func() *memberlist.Config
	// Tick is the length of one election tick.
	Tick time.Duration
	// Heartbeat is how often the coordinator announces itself;
	// ElectionTimeout how long a candidate waits for an answer;
	// CoordinatorTimeout how long a node waits without hearing the
	// coordinator before it calls an election. They are rounded up to
	// whole ticks for the state machine of package bully.
	Heartbeat          time.Duration
	ElectionTimeout    time.Duration
	CoordinatorTimeout time.Duration
	// ReelectInterval is the shortest time between two load-driven
	// re-elections; LoadGap the load difference that justifies one.
	ReelectInterval time.Duration
	LoadGap         float64
	// Raft is the Raft mode's timers, matched to the gossip timings.
	Raft election.RaftTiming
}

// LANProfile uses memberlist's LAN defaults (probe every 1 s, 500 ms probe
// timeout, suspicion 4·log10(n)·1 s) and hashicorp/raft's default timers.
// The Bully timers give the same detection as Raft's: a follower gives the
// coordinator up after 1 s without a heartbeat, as a Raft follower does
// after its 1 s heartbeat timeout (which Raft stretches at random to up to
// 2 s).
func LANProfile() Profile {
	return Profile{
		Name:               "lan",
		Memberlist:         memberlist.DefaultLANConfig,
		Tick:               100 * time.Millisecond,
		Heartbeat:          300 * time.Millisecond,
		ElectionTimeout:    500 * time.Millisecond,
		CoordinatorTimeout: time.Second,
		ReelectInterval:    30 * time.Second,
		LoadGap:            1.0,
		Raft:               election.RaftTiming{Heartbeat: time.Second, Election: time.Second, LeaderLease: 500 * time.Millisecond, Commit: 50 * time.Millisecond},
	}
}

// FastProfile is tuned for failover on one machine: gossip probes every
// 200 ms with a 100 ms timeout and a suspicion multiplier of 2, so a silent
// node is declared dead in about a second on a small cluster; the election
// ticks every 20 ms.
func FastProfile() Profile {
	return Profile{
		Name: "fast",
		Memberlist: func() *memberlist.Config {
			c := memberlist.DefaultLocalConfig()
			c.ProbeInterval = 200 * time.Millisecond
			c.ProbeTimeout = 100 * time.Millisecond
			c.SuspicionMult = 2
			c.SuspicionMaxTimeoutMult = 4
			c.GossipInterval = 50 * time.Millisecond
			c.PushPullInterval = 5 * time.Second
			c.TCPTimeout = 500 * time.Millisecond
			c.GossipToTheDeadTime = 5 * time.Second
			c.DeadNodeReclaimTime = time.Second
			return c
		},
		Tick:               20 * time.Millisecond,
		Heartbeat:          100 * time.Millisecond,
		ElectionTimeout:    200 * time.Millisecond,
		CoordinatorTimeout: 500 * time.Millisecond,
		ReelectInterval:    10 * time.Second,
		LoadGap:            1.0,
		// A follower waits 500 ms to 1 s (Raft randomises between one and
		// two timeouts) without the leader before it campaigns, as a
		// Bully node waits the coordinator timeout above.
		Raft: election.RaftTiming{Heartbeat: 500 * time.Millisecond, Election: 500 * time.Millisecond, LeaderLease: 250 * time.Millisecond, Commit: 10 * time.Millisecond},
	}
}

// ProfileByName returns the named profile.
func ProfileByName(name string) (Profile, error) {
	switch name {
	case "lan":
		return LANProfile(), nil
	case "fast":
		return FastProfile(), nil
	}
	return Profile{}, fmt.Errorf("unknown profile %q: want lan or fast", name)
}

// Validate states the invariants between a profile's timers.
func (p Profile) Validate() error {
	switch {
	case p.Memberlist == nil:
		return fmt.Errorf("profile %q: no gossip configuration", p.Name)
	case p.Tick <= 0:
		return fmt.Errorf("profile %q: tick must be > 0", p.Name)
	case p.Heartbeat < p.Tick:
		return fmt.Errorf("profile %q: heartbeat %s shorter than a tick %s", p.Name, p.Heartbeat, p.Tick)
	case p.CoordinatorTimeout <= 2*p.Heartbeat:
		return fmt.Errorf("profile %q: coordinator timeout %s must exceed two heartbeats (%s), or one lost heartbeat starts an election",
			p.Name, p.CoordinatorTimeout, 2*p.Heartbeat)
	case p.ElectionTimeout < 2*p.Tick:
		return fmt.Errorf("profile %q: election timeout %s must be at least two ticks", p.Name, p.ElectionTimeout)
	case p.CoordinatorTimeout <= p.ElectionTimeout:
		return fmt.Errorf("profile %q: coordinator timeout %s must exceed the election timeout %s",
			p.Name, p.CoordinatorTimeout, p.ElectionTimeout)
	case p.ReelectInterval <= p.CoordinatorTimeout:
		return fmt.Errorf("profile %q: re-election interval %s must exceed the coordinator timeout %s",
			p.Name, p.ReelectInterval, p.CoordinatorTimeout)
	case p.LoadGap <= 0:
		return fmt.Errorf("profile %q: load gap must be > 0", p.Name)
	case p.Raft.Heartbeat <= 0 || p.Raft.Election < p.Raft.Heartbeat:
		return fmt.Errorf("profile %q: Raft heartbeat timeout %s must be > 0 and at most the election timeout %s", p.Name, p.Raft.Heartbeat, p.Raft.Election)
	case p.Raft.LeaderLease <= 0 || p.Raft.LeaderLease > p.Raft.Heartbeat:
		return fmt.Errorf("profile %q: Raft leader lease %s must be > 0 and at most the heartbeat timeout %s", p.Name, p.Raft.LeaderLease, p.Raft.Heartbeat)
	case p.Raft.Commit <= 0:
		return fmt.Errorf("profile %q: Raft commit timeout must be > 0", p.Name)
	}
	return nil
}

// DefaultConfig returns a configuration for one node on the loopback
// interface with the default ports (gossip 7946, API 8080, Raft 8300), the
// fast profile and Bully mode.
func DefaultConfig(name string) Config {
	return Config{
		Name:              name,
		Mode:              ModeBully,
		GossipAddr:        "127.0.0.1:7946",
		APIAddr:           "127.0.0.1:8080",
		RaftAddr:          "127.0.0.1:8300",
		RaftDeadGrace:     2 * MaxSimulatedDown,
		SnapshotThreshold: DefaultSnapshotThreshold,
		TrailingLogs:      DefaultTrailingLogs,
		Profile:           FastProfile(),
		Workers:           2,
		QueuePerWorker:    DefaultQueuePerWorker,
		MaxBodyBytes:      32 << 20,
		MaxSecretBytes:    DefaultMaxSecretBytes,
		MaxImageBytes:     stego.MaxVeiledBytes(stego.Options{}),
		DecodeBudget:      DefaultDecodeBudget,
		RequestTimeout:    30 * time.Second,
		PeerTTL:           DefaultPeerTTL,
		StatementTTL:      24 * time.Hour,
		LeaseTTL:          24 * time.Hour,
	}
}

// MaxSecret is the largest secret a put takes at the level into a cover the
// node generates: MaxSecretBytes, or less where the level's cover would
// pass the pixel limit or its body MaxBodyBytes.
func (c Config) MaxSecret(l stego.Level) int64 {
	return min(c.maxSecret(), int64(stego.MaxSecret(l, stego.Options{})))
}

// maxSecret is the largest secret any put takes: a body must carry it.
func (c Config) maxSecret() int64 { return min(c.MaxSecretBytes, c.MaxBodyBytes) }

// checkSecret refuses, before any image work, a put whose secret is larger
// than the node takes at its level, and says what each level takes.
func (c Config) checkSecret(n int, l stego.Level, cover bool) error {
	limit := c.maxSecret()
	if !cover {
		limit = c.MaxSecret(l)
	}
	if int64(n) <= limit {
		return nil
	}
	var each []string
	for _, o := range stego.Levels {
		each = append(each, fmt.Sprintf("%s %s", o, commas(c.MaxSecret(o))))
	}
	if cover {
		return fmt.Errorf("%w: the secret is %s bytes; a put takes at most %s", ErrSecretTooLarge, commas(int64(n)), commas(limit))
	}
	return fmt.Errorf("%w: the secret is %s bytes; at the %s level a put takes at most %s bytes (by level: %s)",
		ErrSecretTooLarge, commas(int64(n)), l, commas(limit), strings.Join(each, ", "))
}

// limits are the sizes the node takes, as GET /v1/status shows them.
func (c Config) limits() *api.Limits {
	l := &api.Limits{MaxBodyBytes: c.MaxBodyBytes, MaxImageBytes: c.MaxImageBytes,
		MaxSecretBytes: map[string]int64{}, DefaultStealth: stego.DefaultLevel.String()}
	for _, o := range stego.Levels {
		l.MaxSecretBytes[o.String()] = c.MaxSecret(o)
	}
	return l
}

// DefaultMaxSecretBytes is the default Config.MaxSecretBytes: a
// photograph of a phone or a camera, with room to spare; the compact level
// takes all of it, balanced and stealthy less (their covers reach the pixel
// limit first).
const DefaultMaxSecretBytes = 24 << 20

// DefaultQueuePerWorker bounds the wait for a worker slot to about eight
// jobs' time: a small put's hide takes tens of milliseconds on a laptop
// core, so a request waits a few hundred milliseconds at most before it
// runs or is shed.
const DefaultQueuePerWorker = 8

// DefaultDecodeBudget is the memory a node's image work holds at once by
// default: room for the largest stealthy hide (50 megapixels, about 500
// MB) or for several photographs at once.
const DefaultDecodeBudget = 512 << 20

// DefaultSnapshotThreshold and DefaultTrailingLogs are hashicorp/raft's
// defaults (raft.DefaultConfig).
const (
	DefaultSnapshotThreshold = 8192
	DefaultTrailingLogs      = 10240
)

// DefaultPeerTTL is the time a peer stays online after its last heartbeat,
// as Consul's session TTLs and Syncthing's discovery announcements keep
// presence: soft state that lapses unless renewed.
const DefaultPeerTTL = 30 * time.Second

// loopback reports whether a host:port binds the loopback interface only.
// A wildcard or a host name other than localhost does not: it may be
// reached from elsewhere.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// KeySize is the length of the cluster's master key.
const KeySize = 32

// Validate checks the configuration and says what to change.
func (c Config) Validate() error {
	if !nameRE.MatchString(c.Name) {
		return fmt.Errorf("node name %q: use 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit", c.Name)
	}
	addrs := map[string]string{"gossip": c.GossipAddr, "API": c.APIAddr}
	switch c.Mode {
	case ModeBully:
	case ModeRaft:
		addrs["Raft"] = c.RaftAddr
		switch {
		case c.BootstrapExpect < 0:
			return fmt.Errorf("bootstrap-expect %d: want the number of servers a new cluster starts with, or 0", c.BootstrapExpect)
		case c.BootstrapExpect == 0 && len(c.Join) == 0:
			return errors.New("raft mode: give --bootstrap-expect N to start a new cluster of N servers, or --join an existing one")
		case c.RaftDeadGrace <= 0:
			return errors.New("raft dead grace must be > 0")
		case c.Failures != nil && c.RaftDeadGrace <= c.Failures.DownMax:
			return fmt.Errorf("raft dead grace %s must exceed the longest simulated failure, %s", c.RaftDeadGrace, c.Failures.DownMax)
		}
	default:
		return fmt.Errorf("unknown mode %d", c.Mode)
	}
	if c.DecodeBudget < 1<<20 {
		return fmt.Errorf("decode budget %d: want at least 1 MiB", c.DecodeBudget)
	}
	if c.SnapshotThreshold < 1 {
		return fmt.Errorf("snapshot threshold %d: want at least 1 entry", c.SnapshotThreshold)
	}
	for what, addr := range addrs {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("%s address %q: %v (want HOST:PORT)", what, addr, err)
		}
	}
	if c.TLS == nil && !c.InsecureHTTP {
		for _, what := range []string{"API", "Raft"} {
			if addr, ok := addrs[what]; ok && !loopback(addr) {
				return fmt.Errorf("%s address %s reaches beyond this machine and the node has no TLS: give --tls-cert, --tls-key and --tls-ca (make them with 'veil tls'), bind a loopback address, or pass --insecure-http to serve in clear on a network you trust", what, addr)
			}
		}
	}
	if c.RequireClientCert && c.TLS == nil {
		return errors.New("client certificates can only be required over TLS: give --tls-cert, --tls-key and --tls-ca too")
	}
	if c.Advertise != "" && net.ParseIP(c.Advertise) == nil {
		return fmt.Errorf("advertise address %q is not an IP address", c.Advertise)
	}
	for _, j := range c.Join {
		if _, _, err := net.SplitHostPort(j); err != nil {
			return fmt.Errorf("join address %q: %v (want HOST:PORT)", j, err)
		}
	}
	if c.DataDir == "" {
		return errors.New("no data directory: the node keeps its registry there")
	}
	if len(c.Key) != KeySize {
		return fmt.Errorf("master key is %d bytes, want %d (make one with 'veil keygen')", len(c.Key), KeySize)
	}
	if err := c.Profile.Validate(); err != nil {
		return err
	}
	switch {
	case c.Workers < 1:
		return errors.New("workers must be at least 1")
	case c.QueuePerWorker < 1:
		return errors.New("the queue per worker must hold at least 1 job")
	case c.MaxBodyBytes < 1<<10:
		return fmt.Errorf("max body %d bytes is too small to hold an image", c.MaxBodyBytes)
	case c.MaxSecretBytes < 1<<10:
		return fmt.Errorf("max secret %d bytes is too small to hold an image", c.MaxSecretBytes)
	case c.MaxImageBytes < stego.MaxVeiledBytes(stego.Options{}):
		return fmt.Errorf("max image %d bytes is less than the largest veiled PNG the node writes (%d bytes): some images could be put but never viewed",
			c.MaxImageBytes, stego.MaxVeiledBytes(stego.Options{}))
	case c.RequestTimeout <= 0:
		return errors.New("request timeout must be > 0")
	case c.PeerTTL < 500*time.Millisecond || c.PeerTTL > time.Hour:
		return fmt.Errorf("peer TTL %s: want 500ms to 1h", c.PeerTTL)
	case c.LeaseTTL < time.Second || c.LeaseTTL > 90*24*time.Hour:
		return fmt.Errorf("lease TTL %s: want 1s to 2160h", c.LeaseTTL)
	case c.StatementTTL < time.Minute || c.StatementTTL > 30*24*time.Hour:
		return fmt.Errorf("statement TTL %s: want 1m to 720h", c.StatementTTL)
	}
	if c.Failures != nil {
		if err := c.Failures.Validate(); err != nil {
			return err
		}
	}
	return nil
}
