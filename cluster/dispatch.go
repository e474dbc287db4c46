package cluster

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"veil/cluster/api"

	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"veil/election"
	"veil/stego"
)

// hideRequest is a parsed put (POST /v1/images, or its older name
// POST /v1/hide).
type hideRequest struct {
	secret []byte
	cover  []byte // nil: the worker generates one
	meta   stego.Meta
	level  stego.Level
}

// The body of a put is either the secret image itself, with viewers, views
// and optionally owner in the query string, or multipart/form-data with the
// files "secret" and, optionally, "cover" and the same fields.
//
// owner is the logged-in user, and an owner field, if given, must name
// them. (Only the fuzz target parses without one, with owner "": then the
// owner field is required.)
func parseHide(contentType string, query url.Values, body []byte, owner string) (hideRequest, error) {
	var req hideRequest
	fields := query
	mt, params, _ := mime.ParseMediaType(contentType)
	if mt == "multipart/form-data" {
		form, err := multipart.NewReader(bytes.NewReader(body), params["boundary"]).ReadForm(int64(len(body)) + 1)
		if err != nil {
			return req, badRequest("multipart body: %v", err)
		}
		defer form.RemoveAll()
		fields = url.Values(form.Value)
		if req.secret, err = formFile(form, "secret"); err != nil {
			return req, err
		}
		if req.secret == nil {
			return req, badRequest("multipart body has no file named \"secret\"")
		}
		if req.cover, err = formFile(form, "cover"); err != nil {
			return req, err
		}
	} else {
		req.secret = body
	}
	if len(req.secret) == 0 {
		return req, badRequest("no secret image: send it as the body, or as the file \"secret\" of a multipart form")
	}
	views := 1
	if v := fields.Get("views"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return req, badRequest("views=%q is not a number", v)
		}
		views = n
	}
	viewers, err := parseViewerNames(fields.Get("viewers"), views)
	if err != nil {
		return req, badRequest("%v", err)
	}
	if req.level, err = stego.ParseLevel(fields.Get("stealth")); err != nil {
		return req, badRequest("%v", err)
	}
	req.meta = stego.Meta{Owner: fields.Get("owner"), Viewers: viewers}
	if owner != "" {
		if req.meta.Owner != "" && !sameUser(req.meta.Owner, owner) {
			return req, badRequest("owner %q is not the logged-in user %q", req.meta.Owner, owner)
		}
		req.meta.Owner = owner
	}
	if err := req.meta.Validate(); err != nil {
		return req, err
	}
	return req, nil
}

func formFile(form *multipart.Form, name string) ([]byte, error) {
	files := form.File[name]
	if len(files) == 0 {
		return nil, nil
	}
	if len(files) > 1 {
		return nil, badRequest("multipart body has %d files named %q, want one", len(files), name)
	}
	f, err := files[0].Open()
	if err != nil {
		return nil, badRequest("file %q: %v", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, badRequest("file %q: %v", name, err)
	}
	return b, nil
}

// ParseViewers reads a viewer list (see api.ParseViewers).
// ParseViewers is api.ParseViewers, as this package has always named it.
var ParseViewers = api.ParseViewers

// readBody reads a request body up to the route's limit (bodyLimit). A
// body that says in advance it is larger is refused before a byte of it is
// read.
func (n *Node) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	limit, what := n.bodyLimit(r)
	if r.ContentLength > limit {
		return nil, fmt.Errorf("%w: %s bytes, over the limit of %s bytes for %s", ErrBodyTooLarge, commas(r.ContentLength), commas(limit), what)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, fmt.Errorf("%w: over the limit of %s bytes for %s", ErrBodyTooLarge, commas(limit), what)
		}
		return nil, badRequest("reading the body: %v", err)
	}
	return body, nil
}

// bodyLimit is the largest body the request's route takes, and what that
// body is, for the error. A view, a lease and a worker's reveal carry a
// veiled image, which may be far larger than any put: MaxImageBytes is at
// least the largest the node writes. A login or a registration is a name
// and a password, read before anyone is known: a few KiB at most, so that
// an anonymous client cannot make the node hold a put's worth of bytes.
func (n *Node) bodyLimit(r *http.Request) (int64, string) {
	switch {
	case r.Method != http.MethodPost:
	case r.URL.Path == "/v1/view", r.URL.Path == "/v1/leases", r.URL.Path == "/v1/internal/reveal":
		return n.cfg.MaxImageBytes, "a veiled image"
	case r.URL.Path == "/v1/login", r.URL.Path == "/v1/users":
		return maxCredentialsBody, "a name and a password"
	}
	return n.cfg.MaxBodyBytes, "a request"
}

// maxCredentialsBody bounds the body of a login or a registration: JSON
// with a name (at most 64 bytes) and a password (at most 256 characters,
// 1 KiB of UTF-8), escaped, with room to spare.
const maxCredentialsBody = 8 << 10

// commas formats n with thousands separators, as error messages show sizes.
func commas(n int64) string { return message.NewPrinter(language.English).Sprintf("%d", n) }

// atCoordinator runs do on the coordinator: here when this node is it, or
// by forwarding the request to the node that is. body is the request's
// body, already read.
//
// The cloud absorbs its own churn: while no coordinator is known (an
// election), or the one known surely did not take the request (it could
// not be dialled, or answered that it does not coordinate or is still
// syncing), the request waits here, up to holdFor, and goes to the next
// coordinator; the client sees a slower answer, not a 503. A request that
// reached a coordinator and got no answer is not sent again: it may have
// been carried out.
func (n *Node) atCoordinator(w http.ResponseWriter, r *http.Request, body []byte, do func() *outcome) error {
	hold, cancel := context.WithTimeout(r.Context(), n.holdFor())
	defer cancel()
	var last error = ErrNoCoordinator
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 40*time.Millisecond) {
		changed := n.leadershipChanged()
		lead := n.elector.Leadership()
		switch {
		case lead.Self:
			o := do()
			moving := !n.elector.Leadership().Self || n.handingOff.Load()
			if !notTaken(o) || !moving || r.Header.Get(hdrForwardedBy) != "" {
				// Done, or refused for a reason that holding would not
				// cure (a coordinator cut off from its majority says so
				// now, and the client may try another node).
				o.write(w)
				return nil
			}
			// This node stopped coordinating, or is handing its role
			// over, and did not carry the request out: hold it for the
			// next coordinator, as a forwarded one would be.
			last = fmt.Errorf("%w: %s did not take the request (%s)", ErrNoCoordinator, n.cfg.Name, replyCode(o.body))
		case lead.Known() && r.Header.Get(hdrForwardedBy) != "":
			// One hop only: the sender's view of the coordinator is stale;
			// it holds and retries.
			return fmt.Errorf("%w (forwarded by %s); the coordinator is %s", ErrNotCoordinator, r.Header.Get(hdrForwardedBy), lead.Coordinator)
		case lead.Known():
			o, err := n.forward(r.Context(), lead, r, body)
			moved := errors.Is(err, errCoordinatorChanged)
			switch {
			case moved && r.Method == http.MethodGet:
				last = fmt.Errorf("%w: %s stopped coordinating while it had the request", ErrNoCoordinator, lead.Coordinator)
			case moved:
				return fmt.Errorf("%w: %s stopped coordinating while it had the request", ErrUnknownOutcome, lead.Coordinator)
			case err == nil && !notTaken(o):
				o.write(w)
				return nil
			case err == nil:
				last = fmt.Errorf("%w: %s did not take the request (%s)", ErrNoCoordinator, lead.Coordinator, replyCode(o.body))
			case !errors.Is(err, errNotDialled):
				return err
			default:
				last = err
			}
		}
		select {
		case <-hold.Done():
			if r.Context().Err() != nil {
				return r.Context().Err()
			}
			return last
		case <-changed:
		case <-time.After(wait):
		}
	}
}

// notTaken reports whether o is a coordinator's refusal that says the
// request was not carried out: it does not coordinate (any more), or it is
// still syncing after its election.
func notTaken(o *outcome) bool {
	if o.status != http.StatusServiceUnavailable {
		return false
	}
	switch replyCode(o.body) {
	case "not_coordinator", "no_coordinator", "unavailable":
		return true
	}
	return false
}

// errNotDialled marks a forward that never reached the coordinator.
var errNotDialled = errors.New("not dialled")

// job is one piece of image work as the coordinator sends it to a worker:
// the client's request as it came, and what the coordinator decided for it.
type job struct {
	path        string // the worker route: /v1/internal/hide or /v1/internal/reveal
	contentType string
	query       url.Values
	body        []byte
	put         *putPlan // for a registered put: the id, time and seed to use
}

// putPlan fixes what a registered put seals, so that a retry produces the
// same bytes.
type putPlan struct {
	owner   string
	id      stego.ImageID
	created time.Time
	seed    [32]byte
}

// onWorker runs j on the best worker (this node included), trying the next
// best when one cannot be reached or fails, and returns its outcome.
func (n *Node) onWorker(ctx context.Context, j job) *outcome {
	var lastErr error
	workers := n.pickWorkers(3)
	for i, worker := range workers {
		counter := n.assignedTo(worker.Name)
		counter.Add(1)
		var o *outcome
		var err error
		if worker.Name == n.cfg.Name {
			o = n.runJob(ctx, j)
		} else {
			o, err = n.sendWatched(ctx, worker, j, true)
		}
		counter.Add(-1)
		if errors.Is(err, errCutOff) {
			return errorOutcome(errCutOff)
		}
		if err == nil && o.status == http.StatusTooManyRequests {
			// That worker's queue is full: the next may have room; when
			// none has, the client is told to come back later.
			if i == len(workers)-1 {
				return o
			}
			continue
		}
		if err == nil && o.status < 500 {
			return o
		}
		if err == nil {
			err = fmt.Errorf("worker %s answered %d", worker.Name, o.status)
		} else {
			// Unreachable: gossip may hold it alive for a while yet (a
			// crash takes a probe round and a suspicion to be seen); pass
			// it over meanwhile.
			n.unreachable.Store(worker.Name, time.Now())
		}
		lastErr = err
		n.log.Warn("worker failed; trying another", "worker", worker.Name, "attempt", i+1, "error", err)
		if ctx.Err() != nil {
			break
		}
	}
	if lastErr == nil {
		lastErr = errors.New("no healthy node")
	}
	return errorOutcome(fmt.Errorf("%w: %v", ErrNoWorker, lastErr))
}

// unreachableFor is how long a worker that could not be reached is passed
// over: about as long as gossip takes to declare a crashed node dead.
const unreachableFor = 2 * time.Second

func (n *Node) assignedTo(name string) *atomic.Int64 {
	c, _ := n.assigned.LoadOrStore(name, new(atomic.Int64))
	return c.(*atomic.Int64)
}

// coordinatorHandicap is added to the coordinator's own score when it hands
// out work: half a node's queue. The coordinator also parses, forwards,
// commits and replicates every request, so a job costs it more than it
// costs another node; if it took an equal share, its load would sit above
// the others' by about the election's gap under heavy load, and the
// load-driven re-election would move the role to a node that then fills up
// the same way. With the handicap it works only when the others have a
// queue; under overload it works like any node.
func (n *Node) coordinatorHandicap() float64 {
	return float64(n.cfg.Workers*n.cfg.QueuePerWorker) / 2
}

// pickWorkers returns up to k healthy members, best first: fewest jobs this
// coordinator has in flight on them plus the load they last gossiped, ties
// broken at random. The in-flight count is the freshest thing the
// coordinator knows; the gossiped load catches the rest. Ties are the rule
// at light load (nothing in flight, every load near zero), and breaking
// them by name sent most of the work to the first name.
func (n *Node) pickWorkers(k int) []Member {
	type scored struct {
		m     Member
		score float64
	}
	var c []scored
	for _, m := range n.mship.members() {
		if m.Name == n.cfg.Name {
			m.Meta = n.localMeta(n.elector.Leadership())
			m.Status = StatusAlive
		}
		if !m.Healthy() {
			continue
		}
		if at, ok := n.unreachable.Load(m.Name); ok && time.Since(at.(time.Time)) < unreachableFor {
			continue
		}
		score := float64(n.assignedTo(m.Name).Load()) + m.Meta.Load
		if m.Name == n.cfg.Name && m.Meta.Role == RoleCoordinator {
			score += n.coordinatorHandicap()
		}
		c = append(c, scored{m, score})
	}
	mrand.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
	sort.SliceStable(c, func(i, j int) bool { return c[i].score < c[j].score })
	out := make([]Member, 0, k)
	for i := 0; i < len(c) && i < k; i++ {
		out = append(out, c[i].m)
	}
	return out
}

// runJob runs a job on this node's worker pool.
func (n *Node) runJob(ctx context.Context, j job) *outcome {
	if j.path == "/v1/internal/reveal" {
		return n.revealHere(ctx, j.body)
	}
	return n.hideHere(ctx, j)
}

// hideHere runs a hide on this node's worker pool, once what it will
// take fits in the node's decoding budget.
func (n *Node) hideHere(ctx context.Context, j job) *outcome {
	var png []byte
	var meta stego.Meta
	owner := ""
	if j.put != nil {
		owner = j.put.owner
	}
	req, err := parseHide(j.contentType, j.query, j.body, owner)
	if err != nil {
		return n.jobOutcome("hide", "image/png", meta.ID, nil, err)
	}
	opts := stego.Options{Level: req.level}
	if p := j.put; p != nil {
		req.meta.ID, req.meta.Created = p.id, p.created
		opts.Rand = mrand.NewChaCha8(p.seed)
	}
	cost, revealCost, err := stego.HideCost(req.secret, req.cover, opts)
	if err != nil {
		return n.jobOutcome("hide", "image/png", meta.ID, nil, err)
	}
	if revealCost > n.budget.total {
		// Whatever the cloud veils must be viewable.
		return n.jobOutcome("hide", "image/png", meta.ID, nil, fmt.Errorf("%w: its veiled image would take about %s bytes to open, more than this node's decoding budget of %s (--decode-budget); use a smaller cover, or none",
			stego.ErrImageTooLarge, commas(revealCost), commas(n.budget.total)))
	}
	release, err := n.budget.reserve(cost)
	if err != nil {
		return n.jobOutcome("hide", "image/png", meta.ID, nil, err)
	}
	defer release()
	err = n.pool.do(ctx, func() error {
		png, meta, err = stego.Hide(req.secret, req.meta, req.cover, n.key, opts)
		if err == nil && int64(len(png)) > n.cfg.MaxImageBytes {
			// Only a cover of the caller's can do this (a generated one
			// stays under stego.MaxVeiledBytes): refuse what no view
			// could carry back.
			return fmt.Errorf("%w: the veiled image is %s bytes, more than a view takes (%s); use a smaller cover, or none",
				stego.ErrPayloadTooLarge, commas(int64(len(png))), commas(n.cfg.MaxImageBytes))
		}
		return err
	})
	return n.jobOutcome("hide", "image/png", meta.ID, png, err)
}

// revealHere opens a veiled image on this node's worker pool, once what it
// will take fits in the node's decoding budget. The secret goes back to
// the coordinator only, which decides whether the viewer gets it.
func (n *Node) revealHere(ctx context.Context, veiled []byte) *outcome {
	var secret []byte
	var meta stego.Meta
	cost, err := stego.RevealCost(veiled, stego.Options{})
	if err != nil {
		return n.jobOutcome("reveal", "", meta.ID, nil, err)
	}
	release, err := n.budget.reserve(cost)
	if err != nil {
		return n.jobOutcome("reveal", "", meta.ID, nil, err)
	}
	defer release()
	err = n.pool.do(ctx, func() error {
		var err error
		secret, meta, err = stego.Reveal(veiled, n.key, stego.Options{})
		return err
	})
	return n.jobOutcome("reveal", http.DetectContentType(secret), meta.ID, secret, err)
}

// jobOutcome counts a finished job and turns it into the worker's reply:
// the image with the id it carries, or the error.
func (n *Node) jobOutcome(kind, contentType string, id stego.ImageID, body []byte, err error) *outcome {
	if err != nil {
		if !errors.Is(err, ErrOverloaded) { // shed: never run
			n.metrics.jobs.WithLabelValues(kind, "error").Inc()
		}
		return errorOutcome(err)
	}
	n.metrics.jobs.WithLabelValues(kind, "ok").Inc()
	h := http.Header{}
	h.Set("Content-Type", contentType)
	h.Set(hdrImageID, id.String())
	h.Set(hdrWorker, n.cfg.Name)
	return &outcome{status: http.StatusOK, header: h, body: body}
}

// The headers that carry a put plan from the coordinator to a worker.
const (
	hdrPutOwner   = "Veil-Put-Owner"
	hdrPutID      = "Veil-Put-Id"
	hdrPutCreated = "Veil-Put-Created"
	hdrPutSeed    = "Veil-Put-Seed"
)

// handleInternalWork is the worker side of /v1/internal/hide and
// /v1/internal/reveal: the coordinator sends the request as it came,
// authorised by the cluster's internal token.
func (n *Node) handleInternalWork(w http.ResponseWriter, r *http.Request) error {
	body, err := n.admitPeer(w, r)
	if err != nil {
		return err
	}
	j := job{path: r.URL.Path, contentType: r.Header.Get("Content-Type"), query: r.URL.Query(), body: body}
	if owner := r.Header.Get(hdrPutOwner); owner != "" {
		p := &putPlan{owner: owner}
		created, err1 := time.Parse(time.RFC3339Nano, r.Header.Get(hdrPutCreated))
		err2 := p.id.UnmarshalText([]byte(r.Header.Get(hdrPutID)))
		seed, err3 := hex.DecodeString(r.Header.Get(hdrPutSeed))
		if err1 != nil || err2 != nil || err3 != nil || len(seed) != len(p.seed) {
			return badRequest("malformed put plan")
		}
		p.created = created
		copy(p.seed[:], seed)
		j.put = p
	}
	n.runJob(r.Context(), j).write(w)
	return nil
}

// admitPeer takes a node-to-node request in: it checks the cluster's
// internal token, that this node serves, and reads the body.
func (n *Node) admitPeer(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if err := n.fromPeer(r); err != nil {
		return nil, err
	}
	if l := n.elector.Leadership(); l.Known() && r.Header.Get(hdrPeer) == l.Coordinator {
		// Work handed out by the coordinator: it is alive.
		n.heardFrom(l.Coordinator, l.Epoch)
	}
	if err := n.serving(); err != nil {
		return nil, err
	}
	return n.readBody(w, r)
}

// sendWork sends a job to another node's worker route.
func (n *Node) sendWork(ctx context.Context, worker Member, j job) (*outcome, error) {
	u := url.URL{Scheme: n.scheme, Host: worker.Meta.API, Path: j.path, RawQuery: j.query.Encode()}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(j.body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", j.contentType)
	req.Header.Set("Authorization", "Bearer "+n.peerTok)
	req.Header.Set(hdrPeer, n.cfg.Name)
	if p := j.put; p != nil {
		req.Header.Set(hdrPutOwner, p.owner)
		req.Header.Set(hdrPutID, p.id.String())
		req.Header.Set(hdrPutCreated, p.created.Format(time.RFC3339Nano))
		req.Header.Set(hdrPutSeed, hex.EncodeToString(p.seed[:]))
	}
	o, err := n.roundTrip(req)
	if err != nil {
		return nil, err
	}
	// Who coordinates is the coordinator's to say: a worker's view may be
	// stale (it may not have heard of a newer epoch yet), and a client
	// told of an old coordinator goes back to it.
	for _, h := range []string{hdrCoordinator, hdrCoordinatorAPI, hdrEpoch} {
		o.header.Del(h)
	}
	return o, nil
}

// forward sends a client's request to the coordinator and returns its
// answer as it is.
//
// A coordinator the network silently cut off would hold the request until
// the client gives up; once another takes over, the wait ends with
// errCoordinatorChanged.
func (n *Node) forward(ctx context.Context, lead election.Leadership, r *http.Request, body []byte) (*outcome, error) {
	coordinator := lead.Coordinator
	ctx, stop := n.watchCoordinator(ctx, lead)
	defer stop()
	m, ok := n.mship.member(coordinator)
	if !ok || m.Meta.API == "" {
		return nil, fmt.Errorf("%w: the coordinator %s has no known API address yet (%w)", ErrNoCoordinator, coordinator, errNotDialled)
	}
	u := url.URL{Scheme: n.scheme, Host: m.Meta.API, Path: r.URL.Path, RawQuery: r.URL.RawQuery}
	req, err := http.NewRequestWithContext(ctx, r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for _, h := range []string{"Content-Type", "Authorization", hdrIdempotencyKey} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	req.Header.Set(hdrForwardedBy, n.cfg.Name)
	o, err := n.roundTrip(req)
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, errCoordinatorChanged) {
			return nil, fmt.Errorf("%w (%v)", cause, err)
		}
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return nil, fmt.Errorf("%w: coordinator %s could not be reached: %v (%w)", ErrNoCoordinator, coordinator, err, errNotDialled)
		}
		return nil, fmt.Errorf("%w: coordinator %s did not answer: %v", ErrNoCoordinator, coordinator, err)
	}
	return o, nil
}

// maxReply bounds what a node reads back from another.
const maxReply = 256 << 20

func (n *Node) roundTrip(req *http.Request) (*outcome, error) {
	resp, err := n.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	for k, vs := range resp.Header {
		if k == "Content-Type" || k == "Retry-After" || strings.HasPrefix(k, "Veil-") {
			h[k] = vs
		}
	}
	return &outcome{status: resp.StatusCode, header: h, body: b}, nil
}

// outcome is a finished response: what a worker or the coordinator
// answered, to be written back as it is.
type outcome struct {
	status int
	header http.Header
	body   []byte
}

// errorOutcome renders err as the JSON error reply it maps to.
func errorOutcome(err error) *outcome {
	rec := &recorder{header: http.Header{}}
	writeError(rec, err)
	return &outcome{status: rec.status, header: rec.header, body: rec.body.Bytes()}
}

// write sends the outcome; leadership headers already set on w stay unless
// the outcome carries its own.
func (o *outcome) write(w http.ResponseWriter) {
	for k, vs := range o.header {
		if k == hdrNode {
			continue // the node that answers the client names itself
		}
		w.Header()[k] = vs
	}
	w.WriteHeader(o.status)
	_, _ = w.Write(o.body)
}

// recorder is a minimal ResponseWriter that keeps what is written.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(code int)        { r.status = code }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }

// jitter returns d scaled by a random factor in [1-f, 1+f].
func jitter(d float64, f float64) float64 { return d * (1 - f + 2*f*mrand.Float64()) }
