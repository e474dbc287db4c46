package cluster

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"veil/cluster/api"
	"veil/election"
)

// metrics are the node's Prometheus metrics, on a registry of its own so
// that several nodes can live in one process (as they do in tests).
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	durations *prometheus.HistogramVec
	failures  prometheus.Counter
	jobs      *prometheus.CounterVec
	shed      *prometheus.CounterVec
}

// gauges are read from the node when Prometheus scrapes.
type gauges struct {
	epoch         func() float64
	isCoordinator func() float64
	load          func() float64
	elections     func() float64
	changes       func() float64
	handoffs      func() float64
	since         func() float64 // unix time of the last leadership change seen
	messages      func() map[string]uint64
	raft          func() *election.RaftStatus // nil in Bully mode
	registry      func() *api.RegistryStatus
	// tlsAccepted and tlsDialled count the TLS handshakes of the API and
	// of the calls to other nodes; nil without TLS.
	tlsAccepted, tlsDialled func() float64
}

func newMetrics(node string, g gauges) *metrics {
	reg := prometheus.NewRegistry()
	labels := prometheus.Labels{"node": node}
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "veil_http_requests_total", Help: "API requests by route and status code.", ConstLabels: labels,
		}, []string{"route", "code"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "veil_http_request_duration_seconds", Help: "API request durations by route.", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"route"}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "veil_simulated_failures_total", Help: "Simulated failures this node went through.", ConstLabels: labels,
		}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "veil_jobs_total", Help: "Image jobs this node ran as a worker, by kind and result.", ConstLabels: labels,
		}, []string{"kind", "result"}),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "veil_shed_total", Help: "API requests this node answered 429 (overloaded), by route.", ConstLabels: labels,
		}, []string{"route"}),
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, f)
	}
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels}, f)
	}
	reg.MustRegister(
		m.requests, m.durations, m.failures, m.jobs, m.shed,
		gauge("veil_epoch", "Term of the newest coordinator epoch this node knows.", g.epoch),
		gauge("veil_is_coordinator", "1 when this node is the coordinator.", g.isCoordinator),
		gauge("veil_load", "Smoothed jobs queued and running per worker slot.", g.load),
		counter("veil_elections_total", "Elections this node started.", g.elections),
		counter("veil_coordinator_changes_total", "Coordinator changes this node saw.", g.changes),
		counter("veil_handoffs_total", "Hand-offs of the coordinator's role this node made while it coordinated.", g.handoffs),
		gauge("veil_coordinator_since_seconds", "Unix time at which this node learnt of the current coordinator state.", g.since),
		&messageCollector{
			desc: prometheus.NewDesc("veil_election_messages_sent_total", "Election messages sent, by type.",
				[]string{"type"}, labels),
			read: g.messages,
		},
		collectors.NewGoCollector(),
	)
	registryGauge := func(name, help string, f func(s *api.RegistryStatus) float64) prometheus.Collector {
		return gauge(name, help, func() float64 { return f(g.registry()) })
	}
	reg.MustRegister(
		registryGauge("veil_registry_commit_index", "The last index committed to this node's registry.", func(s *api.RegistryStatus) float64 { return float64(s.CommitIndex) }),
		registryGauge("veil_registry_snapshot_index", "The index this node's latest registry snapshot holds.", func(s *api.RegistryStatus) float64 { return float64(s.SnapshotIndex) }),
		registryGauge("veil_registry_log_entries", "The entries this node's log keeps.", func(s *api.RegistryStatus) float64 { return float64(s.LogEntries) }),
		registryGauge("veil_registry_images", "The images the registry holds.", func(s *api.RegistryStatus) float64 { return float64(s.Images) }),
		registryGauge("veil_registry_users", "The users the registry holds.", func(s *api.RegistryStatus) float64 { return float64(s.Users) }),
		registryGauge("veil_replication_followers_refusing", "Followers that refuse this coordinator's appends for a reason of their own (GET /v1/status says who and why).", func(s *api.RegistryStatus) float64 { return float64(len(s.Refusing)) }),
	)
	if g.tlsAccepted != nil {
		side := func(name string, f func() float64) prometheus.Collector {
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "veil_tls_handshakes_total",
				Help:        "TLS handshakes: side=server those of the API's clients (users and nodes), side=client those of this node's calls to other nodes' APIs.",
				ConstLabels: prometheus.Labels{"node": node, "side": name}}, f)
		}
		reg.MustRegister(side("server", g.tlsAccepted), side("client", g.tlsDialled))
	}
	if g.raft() != nil {
		raftGauge := func(name, help string, f func(s *election.RaftStatus) float64) prometheus.Collector {
			return gauge(name, help, func() float64 {
				if s := g.raft(); s != nil {
					return f(s)
				}
				return 0
			})
		}
		reg.MustRegister(
			raftGauge("veil_raft_commit_index", "Raft commit index.", func(s *election.RaftStatus) float64 { return float64(s.CommitIndex) }),
			raftGauge("veil_raft_applied_index", "Raft index applied to the registry.", func(s *election.RaftStatus) float64 { return float64(s.AppliedIndex) }),
			raftGauge("veil_raft_is_voter", "1 when this node is a voter in its latest Raft configuration.", func(s *election.RaftStatus) float64 {
				if s.Voter {
					return 1
				}
				return 0
			}),
			raftGauge("veil_raft_last_contact_seconds", "Seconds since this follower last heard the leader (0 on the leader or before any contact).", func(s *election.RaftStatus) float64 {
				if s.LastContact.IsZero() {
					return 0
				}
				return time.Since(s.LastContact).Seconds()
			}),
		)
	}
	return m
}

// messageCollector exports the elector's per-type message counters.
type messageCollector struct {
	desc *prometheus.Desc
	read func() map[string]uint64
}

func (c *messageCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *messageCollector) Collect(ch chan<- prometheus.Metric) {
	for typ, n := range c.read() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n), typ)
	}
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// observe records one finished request.
func (m *metrics) observe(route string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.durations.WithLabelValues(route).Observe(d.Seconds())
}

// gauges reads the node's state for the metrics.
func (n *Node) gauges() gauges {
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	g := gauges{
		epoch:         func() float64 { return float64(n.elector.Leadership().Epoch.Term) },
		isCoordinator: func() float64 { return b2f(n.elector.Leadership().Self) },
		load:          func() float64 { return n.pool.load() },
		elections:     func() float64 { return float64(n.elector.Stats().Elections) },
		changes:       func() float64 { return float64(n.elector.Stats().CoordinatorChanges) },
		handoffs:      func() float64 { return float64(n.handoffs.Load()) },
		since: func() float64 {
			if t := n.elector.Leadership().Since; !t.IsZero() {
				return float64(t.UnixNano()) / 1e9
			}
			return 0
		},
		messages: func() map[string]uint64 { return n.elector.Stats().MessagesSent },
		raft:     n.raftStatus,
		registry: n.registryStatus,
	}
	if n.cfg.TLS != nil {
		g.tlsAccepted = func() float64 { return float64(n.tlsAccepted.Load()) }
		g.tlsDialled = func() float64 { return float64(n.tlsDialled.Load()) }
	}
	return g
}
