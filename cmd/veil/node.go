package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	"veil/internal/version"

	"github.com/hashicorp/go-hclog"

	"veil/cluster"
	"veil/internal/certs"
	"veil/stego"
)

var nodeCommand = command{
	name:    "node",
	summary: "run a cluster node",
	run:     runNode,
}

const profilesHelp = `
profiles (--profile):
  lan   memberlist's LAN defaults: probe every 1s (500ms timeout), suspicion
        4·log10(n) probe intervals; election tick 100ms, coordinator heartbeat
        300ms, election timeout 500ms, a follower calls an election after 1s
        without a heartbeat.
  fast  for failover on one machine: probe every 200ms (100ms timeout),
        suspicion multiplier 2; election tick 20ms, heartbeat 100ms, election
        after 500ms without a heartbeat.

  In Raft mode the same names set Raft's timers (hashicorp/raft's names):
  lan   heartbeat timeout 1s, election timeout 1s, leader lease 500ms, commit
        timeout 50ms (hashicorp/raft's defaults)
  fast  heartbeat timeout 500ms, election timeout 500ms, leader lease 250ms,
        commit timeout 10ms (a follower campaigns 0.5-1s after losing the
        leader, as a Bully node calls an election after 500ms)
`

func runNode(args []string, stdout, stderr io.Writer) int {
	fl := newFlags("node", "--name NAME --key-file K [--gossip HOST:PORT] [--api HOST:PORT] [--join HOST:PORT,...] [flags]", stderr)
	usage := fl.Usage
	fl.Usage = func() { usage(); fmt.Fprint(stderr, profilesHelp) }
	mode := fl.String("mode", "bully", "coordinator selection: bully, or raft (hashicorp/raft; needs --raft and --bootstrap-expect or --join)")
	hostname, _ := os.Hostname()
	name := fl.String("name", hostname, "node name, unique in the cluster")
	gossip := fl.String("gossip", "127.0.0.1:7946", "gossip address (UDP and TCP)")
	api := fl.String("api", "127.0.0.1:8080", "HTTP API address")
	raftAddr := fl.String("raft", "127.0.0.1:8300", "Raft transport address (TCP, raft mode only)")
	expect := fl.Int("bootstrap-expect", 0, "raft mode: start a new cluster once this many raft-mode nodes are in sight (0: join an existing one)")
	advertise := fl.String("advertise", "", "IP address others reach this node at when --gossip/--api bind to 0.0.0.0 (default: the first private address)")
	join := fl.String("join", "", "gossip addresses of nodes to join, comma separated; empty starts a new cluster")
	dataDir := fl.String("data-dir", "", "directory for the node's state (default veil-data-NAME)")
	keyFile := fl.String("key-file", "", "the cluster's master key, from 'veil keygen' (required, unless VEIL_KEY holds the key itself)")
	allowOpenKey := fl.Bool("allow-open-key", false, "use a --key-file that other users may read (refused by default)")
	profile := fl.String("profile", "lan", "timing profile: lan or fast (see below)")
	failures := fl.String("simulate-failures", "", "turn the failure simulation on, e.g. every=30s,down=10s-20s")
	workers := fl.Int("workers", 2, "image jobs run at once")
	queue := fl.Int("queue", cluster.DefaultQueuePerWorker, "image jobs that may wait per worker slot; past that the node answers 429 with Retry-After")
	maxBody := fl.Int64("max-body", 32<<20, "largest request body in bytes (a put's secret and cover)")
	maxSecret := fl.Int64("max-secret", cluster.DefaultMaxSecretBytes, "largest secret a put takes, in bytes; each stealth level may take less, and none more than --max-body (veil capacity --secret shows it)")
	decodeBudget := fl.Int64("decode-budget", cluster.DefaultDecodeBudget, "memory in bytes the node's image work may hold at once, reserved from each image's header before decoding; work that does not fit now gets 429, work larger than it 422")
	snapThreshold := fl.Uint64("snapshot-threshold", cluster.DefaultSnapshotThreshold, "committed log entries past the last snapshot that make the node take a new one and compact its log (both modes)")
	trailing := fl.Uint64("trailing-logs", cluster.DefaultTrailingLogs, "log entries kept before the snapshot for followers a little behind; one further behind gets the snapshot")
	logLevel := fl.String("log-level", "info", "trace, debug, info, warn or error")
	peerTTL := fl.Duration("peer-ttl", cluster.DefaultPeerTTL, "a user's peer is offline this long after its last heartbeat")
	statementTTL := fl.Duration("statement-ttl", 24*time.Hour, "how long the statements signed for peers (device keys, fetch tickets) stay valid")
	leaseTTL := fl.Duration("lease-ttl", 24*time.Hour, "how long a device may spend views it leased for offline use")
	tlsCert := fl.String("tls-cert", "", "the node's certificate (PEM, from 'veil tls cert create --node'): serve the API over HTTPS and call the other nodes over mutual TLS")
	tlsKey := fl.String("tls-key", "", "the node certificate's key (PEM, mode 0600)")
	tlsCA := fl.String("tls-ca", "", "the cluster's certificate authority (PEM, from 'veil tls ca create'): the only one the node trusts")
	requireClientCert := fl.Bool("tls-require-client-cert", false, "ask every API client for a certificate of the cluster's authority ('veil tls cert create --client'); by default clients need only the authority to check the node")
	insecureHTTP := fl.Bool("insecure-http", false, "without TLS, listen beyond loopback anyway, in clear: for a network you trust")
	pprofOn := fl.Bool("pprof", false, "serve Go's profiles at /debug/pprof/ on the API address (no authentication: private networks only)")
	if err := parseFlags(fl, args); err != nil {
		return flagStatus(stderr, "node", err)
	}
	if fl.NArg() > 0 {
		return fail(stderr, "node", usagef("unexpected argument %q", fl.Arg(0)))
	}
	cfg := cluster.DefaultConfig(*name)
	var err error
	if cfg.Mode, err = cluster.ParseMode(*mode); err != nil {
		return fail(stderr, "node", usagef("--mode: %v", err))
	}
	if cfg.Profile, err = cluster.ProfileByName(*profile); err != nil {
		return fail(stderr, "node", usagef("--profile: %v", err))
	}
	if cfg.Key, err = nodeKey(*keyFile, os.Getenv("VEIL_KEY"), *allowOpenKey); err != nil {
		return fail(stderr, "node", err)
	}
	cfg.GossipAddr, cfg.APIAddr, cfg.Advertise = *gossip, *api, *advertise
	cfg.RaftAddr, cfg.BootstrapExpect = *raftAddr, *expect
	if *join != "" {
		cfg.Join = strings.Split(*join, ",")
	}
	cfg.DataDir = *dataDir
	if cfg.DataDir == "" {
		cfg.DataDir = "veil-data-" + *name
	}
	if *failures != "" {
		if cfg.Failures, err = parseFailureSim(*failures); err != nil {
			return fail(stderr, "node", usagef("--simulate-failures: %v", err))
		}
	}
	cfg.Workers, cfg.QueuePerWorker, cfg.MaxBodyBytes, cfg.MaxSecretBytes, cfg.Pprof = *workers, *queue, *maxBody, *maxSecret, *pprofOn
	cfg.PeerTTL, cfg.StatementTTL, cfg.LeaseTTL = *peerTTL, *statementTTL, *leaseTTL
	cfg.DecodeBudget, cfg.SnapshotThreshold, cfg.TrailingLogs = *decodeBudget, *snapThreshold, *trailing
	cfg.InsecureHTTP, cfg.RequireClientCert = *insecureHTTP, *requireClientCert
	switch {
	case *tlsCert != "" && *tlsKey != "" && *tlsCA != "":
		if cfg.TLS, err = certs.LoadIdentity(*tlsCert, *tlsKey, *tlsCA); err != nil {
			return fail(stderr, "node", err)
		}
	case *tlsCert != "" || *tlsKey != "" || *tlsCA != "":
		return fail(stderr, "node", usagef("TLS needs all of --tls-cert, --tls-key and --tls-ca"))
	}
	level := hclog.LevelFromString(*logLevel)
	if level == hclog.NoLevel {
		return fail(stderr, "node", usagef("--log-level %q: want trace, debug, info, warn or error", *logLevel))
	}
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "veil", Level: level, Output: stderr})
	cfg.Logger.Info("starting", "build", version.Get().String())
	if err := cfg.Validate(); err != nil {
		return fail(stderr, "node", usagef("%v", err))
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fail(stderr, "node", fmt.Errorf("data dir: %w", err))
	}

	node, err := cluster.Start(cfg)
	if err != nil {
		return fail(stderr, "node", err)
	}
	fmt.Fprintf(stdout, "veil node %s (%s mode): gossip %s, API %s, profile %s\n", cfg.Name, cfg.Mode, node.GossipAddr(), node.APIURL(), cfg.Profile.Name)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	var s os.Signal
	select {
	case s = <-sig:
	case <-node.Refused():
		// Another node holds the name: this one took no part, and must
		// not announce a leave in that name (Close, not Leave).
		node.Close()
		return fail(stderr, "node", node.RefusedErr())
	}
	cfg.Logger.Info("leaving the cluster", "signal", s.String())
	if err := node.Leave(5 * time.Second); err != nil {
		return fail(stderr, "node", fmt.Errorf("leave: %w", err))
	}
	return exitOK
}

// masterKey reads a key file as written by 'veil keygen' and returns the
// raw 32 bytes the cluster derives its own keys from.
func masterKey(path string) ([]byte, error) {
	key, err := stego.LoadKey(path)
	if err != nil {
		return nil, err
	}
	text, err := key.MarshalText()
	if err != nil {
		return nil, err
	}
	return hex.DecodeString(string(text))
}

// nodeKey returns the master key from the key file or, when there is none,
// from env, the key itself as a key file holds it (VEIL_KEY). The variable
// is for containers, which are given secrets in their environment; there is
// no flag for it, since a command line is visible to every local user.
//
// A key file that other users of the machine may read is refused, as the
// peer refuses such a device key, unless allowOpen says the operator means
// it (a file system with no modes, say).
func nodeKey(keyFile, env string, allowOpen bool) ([]byte, error) {
	switch {
	case keyFile != "":
		if fi, err := os.Stat(keyFile); err == nil && fi.Mode().Perm()&0o077 != 0 && !allowOpen {
			return nil, fmt.Errorf("master key %s is readable by other users of this machine (mode %v): chmod 600 it, or pass --allow-open-key", keyFile, fi.Mode().Perm())
		}
		return masterKey(keyFile)
	case env != "":
		key, err := stego.ParseKey([]byte(env))
		if err != nil {
			return nil, fmt.Errorf("VEIL_KEY: %w", err)
		}
		text, err := key.MarshalText()
		if err != nil {
			return nil, err
		}
		return hex.DecodeString(string(text))
	}
	return nil, usagef("--key-file is required (make one with 'veil keygen -o KEYFILE'), or the key itself in VEIL_KEY")
}

// parseFailureSim reads "every=30s,down=10s-20s" (down may be one value).
func parseFailureSim(s string) (*cluster.FailureSim, error) {
	f := &cluster.FailureSim{Every: 30 * time.Second, DownMin: 10 * time.Second, DownMax: 20 * time.Second}
	for _, item := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			return nil, fmt.Errorf("%q: want key=value (every=30s, down=10s-20s)", item)
		}
		var err error
		switch k {
		case "every":
			f.Every, err = time.ParseDuration(v)
		case "down":
			lo, hi, isRange := strings.Cut(v, "-")
			if f.DownMin, err = time.ParseDuration(lo); err == nil {
				f.DownMax = f.DownMin
				if isRange {
					f.DownMax, err = time.ParseDuration(hi)
				}
			}
		default:
			return nil, fmt.Errorf("unknown key %q (want every or down)", k)
		}
		if err != nil {
			return nil, fmt.Errorf("%s=%s: %v", k, v, err)
		}
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return f, nil
}

var adminTokenCommand = command{
	name:    "admin-token",
	summary: "print the admin bearer token of a cluster's key",
	run: func(args []string, stdout, stderr io.Writer) int {
		fl := newFlags("admin-token", "--key-file K", stderr)
		keyFile := fl.String("key-file", "", "the cluster's master key (required)")
		if err := parseFlags(fl, args); err != nil {
			return flagStatus(stderr, "admin-token", err)
		}
		if *keyFile == "" {
			return fail(stderr, "admin-token", usagef("--key-file is required"))
		}
		key, err := masterKey(*keyFile)
		if err != nil {
			return fail(stderr, "admin-token", err)
		}
		fmt.Fprintln(stdout, cluster.AdminToken(key))
		return exitOK
	},
}

var errNoAPI = errors.New("--api is required: the API address of any node, e.g. 127.0.0.1:8080")
