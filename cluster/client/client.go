// Package client is the Go client of a Veil cluster, shared by the veil
// command, the bench and users' programs.
//
// A Client knows a list of node API addresses. It learns the coordinator
// from the headers of any reply and sends the next request straight there;
// it retries connection errors, timeouts and 502/503/504 answers with
// exponential backoff and jitter within a per-call deadline; and it puts an
// idempotency key on every write, so that a retry that reaches the cluster
// twice is carried out once.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"veil/cluster/api"
)

// Route says where a request goes first.
type Route int

const (
	// RouteCoordinator sends to the coordinator once it is known (the
	// default); until then to any node, which forwards.
	RouteCoordinator Route = iota
	// RouteAny sends to the nodes in turn; they forward to the coordinator.
	RouteAny
	// RouteMulticast sends every request to every node at once, as the
	// original assignment does; the first success wins, and the shared
	// idempotency key makes exactly one node do the work.
	RouteMulticast
	// RouteSpread sends to the nodes in turn, passing over the coordinator
	// once it is known and another node is there: a node works a put or a
	// view where it arrives and only commits at the coordinator, so
	// spreading the requests spreads the image work and leaves the
	// coordinator to decide.
	RouteSpread
)

// ParseRoute reads a route name: coordinator, any, multicast or spread.
func ParseRoute(s string) (Route, error) {
	switch s {
	case "coordinator", "":
		return RouteCoordinator, nil
	case "any":
		return RouteAny, nil
	case "multicast":
		return RouteMulticast, nil
	case "spread":
		return RouteSpread, nil
	}
	return 0, fmt.Errorf("unknown route %q: want coordinator, any, multicast or spread", s)
}

// Config configures a Client.
type Config struct {
	// Nodes are API addresses (host:port, http://host:port or
	// https://host:port) of some nodes. An address without a scheme is
	// https when TLS is set or another address says https, http
	// otherwise; so is the coordinator's address the nodes name.
	Nodes []string
	Route Route
	// Timeout bounds one call, retries included. Default 30 s.
	Timeout time.Duration
	// AttemptTimeout bounds one attempt at one node: a node that stops
	// answering in the middle of a call (cut off by a partition, its
	// connection left open) is given up after it, and the call retries
	// elsewhere. Default 10 s, and never more than Timeout.
	AttemptTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between retries. Defaults
	// 50 ms and 1 s.
	MinBackoff, MaxBackoff time.Duration
	// HTTP is the HTTP client to use; a pooled one by default.
	HTTP *http.Client
	// TLS is the default HTTP client's TLS configuration: for a cluster
	// that runs TLS, one whose RootCAs holds the cluster's authority
	// (veil --ca; certs.ClientConfig makes one). Nil trusts the system's
	// authorities. A given HTTP client's own transport is used as it is.
	TLS *tls.Config
	// User and Password, when set, make the client log in before its
	// first call and again when its token expires.
	User, Password string
	// ShedIsFinal makes a 429 (the cluster shed the attempt as
	// overloaded) end the call with that error. By default the client
	// waits the Retry-After the answer names, within Timeout, and tries
	// again, as a patient user would: a shed attempt was refused at the
	// door and did nothing. An open-loop load sets it, so that what the
	// cluster shed is counted as shed.
	ShedIsFinal bool
	// NoRetry sends each call once, as a plain HTTP client (curl, a
	// browser, a load generator without retries) does: any error ends
	// it. The bench uses it to show what such a client sees.
	NoRetry bool
}

// Client talks to a Veil cluster. It is safe for concurrent use.
type Client struct {
	cfg    Config
	nodes  []string // base URLs
	scheme string   // of addresses given without one, as the coordinator's

	mu    sync.Mutex
	coord string // base URL of the coordinator, "" if unknown
	next  int    // round robin over nodes
	token string // bearer token from Login, sent on every request
}

// New returns a client for the given nodes.
func New(cfg Config) (*Client, error) {
	if len(cfg.Nodes) == 0 {
		return nil, errors.New("client: no node addresses")
	}
	c := &Client{cfg: cfg, scheme: "http"}
	for _, n := range cfg.Nodes {
		if cfg.TLS != nil || strings.HasPrefix(n, "https://") {
			c.scheme = "https"
		}
	}
	for _, n := range cfg.Nodes {
		u, err := c.baseURL(n)
		if err != nil {
			return nil, err
		}
		c.nodes = append(c.nodes, u)
	}
	if c.cfg.Timeout <= 0 {
		c.cfg.Timeout = 30 * time.Second
	}
	if c.cfg.AttemptTimeout <= 0 {
		c.cfg.AttemptTimeout = 10 * time.Second
	}
	c.cfg.AttemptTimeout = min(c.cfg.AttemptTimeout, c.cfg.Timeout)
	if c.cfg.MinBackoff <= 0 {
		c.cfg.MinBackoff = 50 * time.Millisecond
	}
	if c.cfg.MaxBackoff < c.cfg.MinBackoff {
		c.cfg.MaxBackoff = max(time.Second, c.cfg.MinBackoff)
	}
	if c.cfg.HTTP == nil {
		c.cfg.HTTP = &http.Client{Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
			TLSClientConfig:     cfg.TLS,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     30 * time.Second,
		}}
	}
	return c, nil
}

func (c *Client) baseURL(addr string) (string, error) {
	if !strings.Contains(addr, "://") {
		addr = c.scheme + "://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("client: bad node address %q", addr)
	}
	return u.Scheme + "://" + u.Host, nil
}

// Error is an error answer from the cluster.
type Error struct {
	Status  int    // HTTP status
	Code    string // stable error code, e.g. "no_coordinator"
	Message string
	Node    string // the node that answered
	// Attempts is how many times the call was sent. A final answer to
	// the last attempt speaks for that attempt: after a retry, an earlier
	// one may have been carried out (a 429 sheds the attempt at the door,
	// before the cluster looks up its idempotency key).
	Attempts int
	// RetryAfter is the wait the answer's Retry-After asked for, zero when
	// it named none.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (%d %s, from %s)", e.Message, e.Status, e.Code, e.Node)
}

// retryable reports whether a request may succeed if tried again.
func (e *Error) retryable() bool {
	return e.Status == http.StatusServiceUnavailable || e.Status == http.StatusBadGateway ||
		e.Status == http.StatusGatewayTimeout
}

// HideRequest is what to hide and for whom.
type HideRequest struct {
	Secret  []byte         // a PNG, JPEG or GIF file
	Cover   []byte         // optional cover image; nil lets the cluster make one
	Viewers map[string]int // viewer → views
	// Stealth is the stealth level ("compact", "balanced" or "stealthy");
	// "" leaves it to the cluster's default.
	Stealth string
}

// HideResult is a veiled image and who made it.
type HideResult struct {
	PNG         []byte
	ImageID     string
	Coordinator string
	Worker      string
	Epoch       uint64
	Attempts    int
}

// Hide is Put with its arguments in one struct, and a stealth level.
func (c *Client) Hide(ctx context.Context, req HideRequest) (*HideResult, error) {
	fields := map[string]string{"viewers": formatViewers(req.Viewers)}
	if req.Stealth != "" {
		fields["stealth"] = req.Stealth
	}
	return c.sendImage(ctx, "/v1/images", req.Secret, req.Cover, fields)
}

// sendImage posts a secret (and an optional cover) as a multipart form with
// the given fields to an image route and returns the veiled PNG.
func (c *Client) sendImage(ctx context.Context, path string, secret, cover []byte, fields map[string]string) (*HideResult, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if err := writeFile(mw, "secret", secret); err != nil {
		return nil, err
	}
	if cover != nil {
		if err := writeFile(mw, "cover", cover); err != nil {
			return nil, err
		}
	}
	for k, v := range fields {
		_ = mw.WriteField(k, v) // writes to a bytes.Buffer cannot fail
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	resp, attempts, err := c.do(ctx, http.MethodPost, path, mw.FormDataContentType(), body.Bytes(), true)
	if err != nil {
		return nil, err
	}
	epoch, _ := strconv.ParseUint(resp.header.Get("Veil-Epoch"), 10, 64)
	return &HideResult{
		PNG: resp.body, ImageID: resp.header.Get("Veil-Image-Id"),
		Coordinator: resp.header.Get("Veil-Coordinator"), Worker: resp.header.Get("Veil-Worker"),
		Epoch: epoch, Attempts: attempts,
	}, nil
}

func writeFile(mw *multipart.Writer, name string, b []byte) error {
	w, err := mw.CreateFormFile(name, name)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func formatViewers(v map[string]int) string {
	names := make([]string, 0, len(v))
	for name := range v {
		names = append(names, name)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = name + "=" + strconv.Itoa(v[name])
	}
	return strings.Join(parts, ",")
}

// Members returns the status table of the node that answers.
func (c *Client) Members(ctx context.Context) ([]api.MemberReply, error) {
	var out []api.MemberReply
	return out, c.getJSON(ctx, "/v1/members", &out)
}

// Status returns the status of the node that answers.
func (c *Client) Status(ctx context.Context) (api.StatusReply, error) {
	var out api.StatusReply
	return out, c.getJSON(ctx, "/v1/status", &out)
}

// Coordinator asks who coordinates.
func (c *Client) Coordinator(ctx context.Context) (api.CoordinatorReply, error) {
	var out api.CoordinatorReply
	return out, c.getJSON(ctx, "/v1/coordinator", &out)
}

// HandOff asks the cluster's coordinator to hand its role to the member
// named to, or to the least-loaded one when to is "" (POST
// /v1/admin/handoff, with the admin token set by SetToken).
func (c *Client) HandOff(ctx context.Context, to string) (api.HandOffReply, error) {
	path := "/v1/admin/handoff"
	if to != "" {
		path += "?" + url.Values{"to": {to}}.Encode()
	}
	var out api.HandOffReply
	resp, _, err := c.do(ctx, http.MethodPost, path, "", nil, true)
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(resp.body, &out); err != nil {
		return out, fmt.Errorf("client: %s: reply is not the JSON expected: %w", path, err)
	}
	return out, nil
}

func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	resp, _, err := c.do(ctx, http.MethodGet, path, "", nil, false)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(resp.body, v); err != nil {
		return fmt.Errorf("client: %s: reply is not the JSON expected: %w", path, err)
	}
	return nil
}

type response struct {
	status int
	header http.Header
	body   []byte
	node   string
}

// do sends a request with retries until it succeeds, fails for good, or the
// call's deadline passes. Writes carry one idempotency key for all tries.
func (c *Client) do(ctx context.Context, method, path, contentType string, body []byte, write bool) (*response, int, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	if err := c.ensureLogin(ctx, path); err != nil {
		return nil, 0, err
	}
	key := ""
	if write {
		key = newKey()
		if k, ok := ctx.Value(idemKeyCtx{}).(string); ok {
			key = k
		}
	}
	backoff := c.cfg.MinBackoff
	var lastErr error
	for attempt := 1; ; attempt++ {
		var resp *response
		var err error
		if c.cfg.Route == RouteMulticast {
			resp, err = c.multicast(ctx, method, path, contentType, body, key)
		} else {
			resp, err = c.once(ctx, c.target(), method, path, contentType, body, key)
		}
		if err == nil {
			return resp, attempt, nil
		}
		var apiErr *Error
		if errors.As(err, &apiErr) && apiErr.Code == "token_expired" && c.cfg.User != "" && path != "/v1/login" {
			c.SetToken("")
			if err := c.ensureLogin(ctx, path); err != nil {
				return nil, attempt, err
			}
			continue
		}
		// A throttled login (too_many_attempts) is not load shed: waiting
		// it out and sending the same password again only lengthens the
		// wait. The caller is told at once.
		shed := errors.As(err, &apiErr) && apiErr.Status == http.StatusTooManyRequests && apiErr.Code != "too_many_attempts" && !c.cfg.ShedIsFinal
		if errors.As(err, &apiErr) && !apiErr.retryable() && !shed {
			apiErr.Attempts = attempt
			return nil, attempt, err
		}
		lastErr = err
		if c.cfg.NoRetry {
			if apiErr != nil {
				apiErr.Attempts = attempt
			}
			return nil, attempt, fmt.Errorf("client: %s %s: one attempt, no retry: %w", method, path, err)
		}
		wait := time.Duration(float64(backoff) * (0.5 + mrand.Float64()))
		if shed {
			// The node asked for a pause; spread the returns over half as
			// long again, so that the clients it shed together do not all
			// come back at the same instant.
			wait = max(wait, apiErr.RetryAfter) + time.Duration(float64(apiErr.RetryAfter)*0.5*mrand.Float64())
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
				apiErr.Attempts = attempt
				return nil, attempt, err
			}
		}
		select {
		case <-ctx.Done():
			return nil, attempt, fmt.Errorf("client: %s %s: gave up after %d attempts: %w", method, path, attempt, lastErr)
		case <-time.After(wait):
		}
		backoff = min(2*backoff, c.cfg.MaxBackoff)
	}
}

// ensureLogin logs in with the configured user when the client has no
// token yet (not for the login and register calls themselves).
func (c *Client) ensureLogin(ctx context.Context, path string) error {
	if c.cfg.User == "" || path == "/v1/login" || path == "/v1/users" {
		return nil
	}
	c.mu.Lock()
	have := c.token != ""
	c.mu.Unlock()
	if have {
		return nil
	}
	_, err := c.Login(ctx, c.cfg.User, c.cfg.Password)
	return err
}

// target picks the node for the next try: the coordinator when known and
// routing to it, else the next node in turn.
func (c *Client) target() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cfg.Route == RouteCoordinator && c.coord != "" {
		return c.coord
	}
	t := c.nodes[c.next%len(c.nodes)]
	c.next++
	if c.cfg.Route == RouteSpread && t == c.coord && len(c.nodes) > 1 {
		t = c.nodes[c.next%len(c.nodes)]
		c.next++
	}
	return t
}

func (c *Client) once(ctx context.Context, base, method, path, contentType string, body []byte, key string) (*response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	if h, ok := ctx.Value(headerCtx{}).(http.Header); ok {
		for k, vs := range h {
			req.Header[k] = vs
		}
	}
	c.mu.Lock()
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	c.mu.Unlock()
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		c.forgetCoordinator(base)
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.forgetCoordinator(base)
		return nil, err
	}
	c.learn(resp.Header)
	r := &response{status: resp.StatusCode, header: resp.Header, body: b, node: resp.Header.Get("Veil-Node")}
	if resp.StatusCode >= 300 {
		e := &Error{Status: resp.StatusCode, Node: r.node}
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
			e.RetryAfter = time.Duration(min(secs, 3600)) * time.Second
		}
		var body struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(b, &body) == nil && body.Error.Code != "" {
			e.Code, e.Message = body.Error.Code, body.Error.Message
		} else {
			e.Code, e.Message = "http_"+strconv.Itoa(resp.StatusCode), strings.TrimSpace(string(b))
		}
		if e.retryable() {
			c.forgetCoordinator(base)
		}
		return nil, e
	}
	return r, nil
}

// multicast sends to every node at once and returns the first success.
func (c *Client) multicast(ctx context.Context, method, path, contentType string, body []byte, key string) (*response, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		r   *response
		err error
	}
	results := make(chan result, len(c.nodes))
	for _, base := range c.nodes {
		go func() {
			r, err := c.once(ctx, base, method, path, contentType, body, key)
			results <- result{r, err}
		}()
	}
	var errs []error
	for range c.nodes {
		res := <-results
		if res.err == nil {
			return res.r, nil
		}
		errs = append(errs, res.err)
	}
	// Prefer a final answer (a 4xx) over transient ones.
	for _, err := range errs {
		var apiErr *Error
		if errors.As(err, &apiErr) && !apiErr.retryable() {
			return nil, err
		}
	}
	return nil, errors.Join(errs...)
}

func (c *Client) learn(h http.Header) {
	api := h.Get("Veil-Coordinator-Api")
	if api == "" {
		return
	}
	u, err := c.baseURL(api)
	if err != nil {
		return
	}
	c.mu.Lock()
	c.coord = u
	c.mu.Unlock()
}

func (c *Client) forgetCoordinator(base string) {
	c.mu.Lock()
	if c.coord == base {
		c.coord = ""
	}
	c.mu.Unlock()
}

type idemKeyCtx struct{}
type headerCtx struct{}

// WithIdempotencyKey makes the write a call with ctx sends carry key, instead
// of a key of its own: a caller that keeps a write to send again later (a
// change queued while the cloud was away) sends it with the same key, and
// the cluster carries it out once.
func WithIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idemKeyCtx{}, key)
}

// withHeader adds a header to the requests a call with ctx sends.
func withHeader(ctx context.Context, name, value string) context.Context {
	h := http.Header{}
	if old, ok := ctx.Value(headerCtx{}).(http.Header); ok {
		h = old.Clone()
	}
	h.Set(name, value)
	return context.WithValue(ctx, headerCtx{}, h)
}

func newKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
