package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"
	"net/url"
	"strconv"
	"time"
	"veil/cluster/api"
	"veil/cluster/registry"
	"veil/internal/version"
)

// Headers every reply carries, so that a client learns the coordinator from
// any answer and can go straight there next time.
const (
	hdrNode           = "Veil-Node"
	hdrCoordinator    = "Veil-Coordinator"
	hdrCoordinatorAPI = "Veil-Coordinator-Api"
	hdrEpoch          = "Veil-Epoch"
	hdrWorker         = "Veil-Worker"
	hdrImageID        = "Veil-Image-Id"
	hdrForwardedBy    = "Veil-Forwarded-By"
	hdrIdempotencyKey = "Idempotency-Key"
)

func (n *Node) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern, route string, h func(http.ResponseWriter, *http.Request) error) {
		mux.Handle(pattern, n.wrap(route, h))
	}
	// /v1/hide is the node's original name for a put; it is a put.
	handle("POST /v1/hide", "put", n.handlePut)
	handle("POST /v1/internal/hide", "internal_hide", n.handleInternalWork)
	handle("POST /v1/internal/reveal", "internal_reveal", n.handleInternalWork)
	handle("POST /v1/internal/commit", "internal_commit", n.handleInternalCommit)
	handle("POST /v1/users", "register", n.handleRegister)
	handle("POST /v1/login", "login", n.handleLogin)
	handle("POST /v1/images", "put", n.handlePut)
	handle("GET /v1/images", "images", n.handleImages)
	handle("PATCH /v1/images/{id}", "share", n.handleShare)
	handle("GET /v1/shared", "shared", n.handleShared)
	handle("POST /v1/view", "view", n.handleView)
	handle("GET /v1/cloud-key", "cloud_key", n.handleCloudKey)
	handle("POST /v1/peers/vouch", "vouch", n.handleVouch)
	handle("PUT /v1/peers/{device}", "peer_up", n.handlePeerUp)
	handle("DELETE /v1/peers/{device}", "peer_down", n.handlePeerDown)
	handle("GET /v1/online", "online", n.handleOnline)
	handle("GET /v1/directory", "directory", n.handleDirectory)
	handle("POST /v1/leases", "lease", n.handleTakeLease)
	handle("POST /v1/leases/{id}/return", "lease_return", n.handleReturnLease)
	if rep, ok := n.repl.(*replicator); ok { // Bully mode's replication
		handle("POST /v1/internal/prepare", "internal_prepare", rep.handlePrepare)
		handle("POST /v1/internal/append", "internal_append", rep.handleAppend)
		handle("GET /v1/internal/entries", "internal_entries", rep.handleEntries)
		handle("POST /v1/internal/snapshot", "internal_snapshot", rep.handleSnapshotChunk)
		handle("GET /v1/internal/snapshot", "internal_snapshot_read", rep.handleSnapshotRead)
		// The watch is held for seconds on purpose: outside wrap, so that
		// it does not count as a slow request in the metrics.
		mux.HandleFunc("GET /v1/internal/watch", func(w http.ResponseWriter, r *http.Request) {
			if err := n.handleWatch(w, r); err != nil && !errors.Is(err, context.Canceled) {
				writeError(w, err)
			}
		})
	}
	handle("GET /v1/status", "status", n.handleStatus)
	handle("GET /v1/members", "members", n.handleMembers)
	handle("GET /v1/coordinator", "coordinator", n.handleCoordinator)
	handle("POST /v1/admin/fail", "admin_fail", n.handleAdminFail)
	handle("POST /v1/admin/handoff", "admin_handoff", n.handleAdminHandoff)
	handle("POST /v1/admin/fill", "admin_fill", n.handleAdminFill)
	mux.Handle("GET "+RouteSnapshot, n.longRoute("admin_snapshot", n.handleAdminSnapshot))
	mux.Handle("POST "+RouteRestore, n.longRoute("admin_restore", n.handleAdminRestore))
	// The event stream lives as long as its page: no request deadline.
	mux.HandleFunc("GET /v1/events", func(w http.ResponseWriter, r *http.Request) {
		if err := n.handleEvents(w, r); err != nil {
			n.log.Debug("event stream ended", "error", err)
		}
	})
	mux.Handle("GET /ui/", n.dashboard())
	mux.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently))
	handle("/", "not_found", func(w http.ResponseWriter, r *http.Request) error {
		return fmt.Errorf("%w: no route %s %s", errNotFound, r.Method, r.URL.Path)
	})
	mux.Handle("GET /metrics", n.metrics.handler())
	if n.cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return n.silenceGuard(mux)
}

// silenceGuard cuts every API connection while the node is silenced by the
// failure simulation: to a client it looks like a dead node.
func (n *Node) silenceGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.gate.Silenced() {
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
			panic(http.ErrAbortHandler)
		}
		next.ServeHTTP(w, r)
	})
}

// statusWriter remembers the status code for metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// wrap gives a handler its deadline, the leadership headers, error
// rendering, panic recovery and metrics.
func (n *Node) wrap(route string, h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		ctx, cancel := context.WithTimeout(r.Context(), n.cfg.RequestTimeout)
		defer cancel()
		r = r.WithContext(ctx)
		n.leadershipHeaders(sw.Header())
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				n.log.Error("handler panicked", "route", route, "panic", p)
				if sw.code == 0 {
					writeError(sw, fmt.Errorf("internal error in %s", route))
				}
			}
			code := sw.code
			if code == 0 {
				code = http.StatusOK
			}
			n.metrics.observe(route, code, time.Since(start))
			if code == http.StatusTooManyRequests {
				n.metrics.shed.WithLabelValues(route).Inc()
			}
			n.traffic.add(time.Since(start))
		}()
		if err := h(sw, r); err != nil {
			if sw.code == 0 {
				writeError(sw, err)
			} else {
				n.log.Debug("error after the reply started", "route", route, "error", err)
			}
		}
	})
}

func (n *Node) leadershipHeaders(h http.Header) {
	h.Set(hdrNode, n.cfg.Name)
	l := n.elector.Leadership()
	if !l.Known() {
		return
	}
	h.Set(hdrCoordinator, l.Coordinator)
	h.Set(hdrEpoch, strconv.FormatUint(l.Epoch.Term, 10))
	if m, ok := n.mship.member(l.Coordinator); ok && m.Meta.API != "" {
		h.Set(hdrCoordinatorAPI, m.Meta.API)
	}
}

// serving returns nil when the node takes requests, and why not otherwise.
func (n *Node) serving() error {
	switch s := n.State(); s {
	case StateActive:
		return nil
	default:
		return fmt.Errorf("%w: node %s is %s", ErrUnavailable, n.cfg.Name, s)
	}
}

// servingSoon is serving for a client's request: a node that is
// recovering (a new coordinator syncing the registry, a node catching up)
// holds the request up to holdFor rather than answer 503 at once.
func (n *Node) servingSoon(ctx context.Context) error {
	if n.State() != StateRecovering || n.failing.Load() {
		return n.serving()
	}
	hold, cancel := context.WithTimeout(ctx, n.holdFor())
	defer cancel()
	t := time.NewTicker(n.cfg.Profile.Tick)
	defer t.Stop()
	for n.State() == StateRecovering && !n.failing.Load() {
		select {
		case <-hold.Done():
			return n.serving()
		case <-t.C:
		}
	}
	return n.serving()
}

// StatusReply is api.StatusReply, as this package has always named it.
type StatusReply = api.StatusReply

func (n *Node) handleStatus(w http.ResponseWriter, r *http.Request) error {
	l := n.elector.Leadership()
	me := n.localMeta(l)
	writeJSON(w, http.StatusOK, StatusReply{
		Name: n.cfg.Name, Mode: n.cfg.Mode.String(), State: me.State.String(), Role: me.Role.String(),
		Coordinator: l.Coordinator, Epoch: l.Epoch.Term, EpochNode: l.Epoch.Node,
		Load: n.pool.load(), Gossip: n.GossipAddr(), API: n.APIAddr(), Profile: n.cfg.Profile.Name,
		Members: len(n.mship.members()), JobsDone: n.pool.done.Load(),
		Elections: n.elector.Stats().Elections, Failures: n.cfg.Failures != nil, Build: version.Get().Short(),
		Raft: n.raftStatus(), Limits: n.cfg.limits(), Registry: n.registryStatus(),
	})
	return nil
}

// registryStatus is where this node's copy of the registry stands.
func (n *Node) registryStatus() *api.RegistryStatus {
	var rs api.RegistryStatus
	n.repl.readLocal(func(s *registry.State) { rs.Users, rs.Images, _ = s.Counts() })
	switch {
	case n.store != nil:
		st := n.store.Status()
		rs.CommitIndex, rs.SnapshotIndex = st.Commit, st.SnapshotIndex
		rs.LogEntries = st.LastIndex + 1 - min(st.FirstIndex, st.LastIndex+1)
		if rep, ok := n.repl.(*replicator); ok {
			rs.Refusing = rep.refusals()
		}
	case n.raft != nil:
		first, last, snap := n.raft.LogBounds()
		rs.CommitIndex, rs.SnapshotIndex = n.raft.Status().CommitIndex, snap
		if last >= first && last > 0 {
			rs.LogEntries = last - first + 1
		}
	}
	return &rs
}

// MemberReply is api.MemberReply, as this package has always named it.
type MemberReply = api.MemberReply

// RaftMember is api.RaftMember, as this package has always named it.
type RaftMember = api.RaftMember

func (n *Node) handleMembers(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, n.memberRows())
	return nil
}

// memberRows is the members table as GET /v1/members and the dashboard show
// it.
func (n *Node) memberRows() []MemberReply {
	rows := n.mship.members()
	out := make([]MemberReply, 0, len(rows))
	for _, m := range rows {
		out = append(out, MemberReply{
			Name: m.Name, Address: m.Gossip, API: m.Meta.API, Status: m.Status.String(),
			Role: m.Meta.Role.String(), Load: m.Meta.Load, Epoch: m.Meta.Epoch,
			Mode: m.Meta.Mode.String(), State: m.Meta.State.String(),
		})
		if m.Meta.Mode == ModeRaft {
			meta := m.Meta
			if m.Name == n.cfg.Name {
				n.raftMeta(&meta) // our own, fresh
			}
			out[len(out)-1].Raft = &RaftMember{
				Address: meta.Raft, State: meta.RaftState.String(), Voter: meta.Voter,
				CommitIndex: meta.Commit, LastContactMs: meta.ContactAge,
			}
		}
	}
	return out
}

// CoordinatorReply is api.CoordinatorReply, as this package has always named it.
type CoordinatorReply = api.CoordinatorReply

func (n *Node) handleCoordinator(w http.ResponseWriter, r *http.Request) error {
	l := n.elector.Leadership()
	if !l.Known() {
		return ErrNoCoordinator
	}
	reply := CoordinatorReply{Coordinator: l.Coordinator, Epoch: l.Epoch.Term, EpochNode: l.Epoch.Node, Node: n.cfg.Name}
	if m, ok := n.mship.member(l.Coordinator); ok {
		reply.API = m.Meta.API
	}
	writeJSON(w, http.StatusOK, reply)
	return nil
}

// handleAdminFail makes this node fail as the simulation would:
// POST /v1/admin/fail?for=15s with the admin token; with node=NAME, the
// member NAME instead (the dashboard's button, served by any node).
func (n *Node) handleAdminFail(w http.ResponseWriter, r *http.Request) error {
	if err := n.adminOnly(r); err != nil {
		return err
	}
	d, err := time.ParseDuration(r.URL.Query().Get("for"))
	if err != nil || d <= 0 || d > MaxSimulatedDown {
		return badRequest("for=%q: want a duration from 1ms to %s, e.g. for=15s", r.URL.Query().Get("for"), MaxSimulatedDown)
	}
	if target := r.URL.Query().Get("node"); target != "" && target != n.cfg.Name {
		q := r.URL.Query()
		q.Del("node")
		return n.forwardAdmin(w, r, target, q)
	}
	if err := n.mayFail(); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"node": n.cfg.Name, "failing_for": d.String()})
	_ = http.NewResponseController(w).Flush() // the reply goes out before the node goes silent
	n.goRun(func() { n.fail(d, "admin") })
	return nil
}

// adminOnly refuses a request that does not carry the admin token.
func (n *Node) adminOnly(r *http.Request) error {
	if !bearerIs(r.Header.Get("Authorization"), n.admin) {
		return fmt.Errorf("%w: admin calls need 'Authorization: Bearer <admin token>' (see 'veil admin-token')", ErrUnauthorized)
	}
	return nil
}

// forwardAdmin passes an admin order (r's route, with query q) on to the
// member named, and its answer back.
func (n *Node) forwardAdmin(w http.ResponseWriter, r *http.Request, target string, q url.Values) error {
	m, ok := n.mship.member(target)
	if !ok || m.Meta.API == "" {
		return badRequest("node=%q: no such member", target)
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, n.apiURL(m.Meta.API)+r.URL.Path+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	for _, h := range []string{"Authorization", hdrForwardedBy} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s did not answer: %v", ErrUnavailable, target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
	return nil
}
