package peer

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"veil/cluster/api"
	"veil/cluster/client"
	"veil/internal/throttle"
)

// Peer is a user's running peer. Make one with New and run it with Run.
type Peer struct {
	cfg    Config
	log    hclog.Logger
	id     Identity
	cert   tls.Certificate
	store  *Store
	leases *leases
	cloud  *client.Client // the peer's own calls: heartbeats, the directory
	ops    *client.Client // the user's puts, views and shares, with a longer deadline

	p2pLn, localLn net.Listener
	kick           chan struct{} // asks the cloud loop to contact the cloud now
	stateMu        sync.Mutex    // serialises changes of state and their writes to disk
	sessions       sessions      // the web app's signed-in browsers
	shown          shownImages   // originals the web app has just opened
	logins         *throttle.Limiter
	clock          func() time.Time // the logins' clock: time.Now, or a test's
	leaseMu        sync.Mutex       // a lease taken and a sync with the cloud's leases, one at a time

	mu       sync.Mutex
	state    cloudState
	viewers  map[string]map[string]int // own image → viewer → views left, from the directory
	online   bool                      // the last contact with the cloud succeeded
	since    time.Time                 // online since
	lastErr  string                    // why the last contact failed
	ttl      time.Duration             // the cloud's peer TTL, from the last heartbeat
	queueErr string                    // why the cloud refused the last queued change
}

// New opens the peer's data directory (its device key, store and state) and
// binds its two listeners; Run serves them.
func New(cfg Config) (*Peer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("peer: data directory: %w", err)
	}
	p := &Peer{cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1), viewers: map[string]map[string]int{}, clock: time.Now}
	var err error
	if p.logins, err = throttle.New(cfg.Logins); err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	if p.id, err = LoadIdentity(cfg.DataDir); err != nil {
		return nil, err
	}
	if p.cert, err = p.id.certificate(); err != nil {
		return nil, err
	}
	if p.store, err = OpenStore(cfg.DataDir); err != nil {
		return nil, err
	}
	if p.leases, err = openLeases(cfg.DataDir, p.id); err != nil {
		return nil, fmt.Errorf("peer: leases: %w", err)
	}
	if p.state, err = loadState(cfg.DataDir); err != nil {
		return nil, err
	}
	p.learnDirectory(p.state.Directory)
	if p.cloud, err = client.New(client.Config{
		Nodes: cfg.API, Route: cfg.Route, User: cfg.User, Password: cfg.Password, Timeout: cfg.CloudTimeout,
		AttemptTimeout: cfg.CloudTimeout / 2, TLS: cfg.CloudTLS,
	}); err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	if p.ops, err = client.New(client.Config{
		Nodes: cfg.API, Route: cfg.Route, User: cfg.User, Password: cfg.Password, Timeout: cfg.RequestTimeout,
		TLS: cfg.CloudTLS,
	}); err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	if p.p2pLn, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("peer: listen: %w", err)
	}
	if p.localLn, err = net.Listen("tcp", cfg.Local); err != nil {
		p.p2pLn.Close()
		return nil, fmt.Errorf("peer: local: %w", err)
	}
	if cfg.Advertise == cfg.Listen {
		// With port 0 the kernel chose one; the cloud must list the real one.
		p.cfg.Advertise = p.p2pLn.Addr().String()
	}
	return p, nil
}

// Device returns the device id.
func (p *Peer) Device() string { return p.id.Device() }

// ListenAddr is the address other peers reach this one at.
func (p *Peer) ListenAddr() string { return p.p2pLn.Addr().String() }

// LocalAddr is the control API's address.
func (p *Peer) LocalAddr() string { return p.localLn.Addr().String() }

// Store is the peer's image store.
func (p *Peer) Store() *Store { return p.store }

// Run serves other peers and the control API and keeps the peer in the
// cloud's directory until ctx ends; then it leaves the directory (a clean
// stop marks it offline at once) and returns.
func (p *Peer) Run(ctx context.Context) error {
	p2p, local := p.p2pServer(), p.localServer()
	errc := make(chan error, 2)
	go func() { errc <- p2p.ServeTLS(p.p2pLn, "", "") }()
	go func() { errc <- local.Serve(p.localLn) }()
	var wg sync.WaitGroup
	loopCtx, stopLoop := context.WithCancel(ctx)
	wg.Add(1)
	go func() { defer wg.Done(); p.cloudLoop(loopCtx) }()
	p.log.Info("peer started", "user", p.cfg.User, "device", p.Device(), "listen", p.ListenAddr(), "local", p.LocalAddr())

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	stopLoop()
	wg.Wait()
	dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if p.isOnline() {
		if derr := p.cloud.Depart(dctx, p.Device()); derr != nil {
			p.log.Warn("could not leave the directory; the cloud will time this peer out", "err", derr)
		}
	}
	p2p.Shutdown(dctx)
	local.Shutdown(dctx)
	p.log.Info("peer stopped", "user", p.cfg.User, "device", p.Device())
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// p2pServer serves other peers. A peer's request is headers only, so the
// whole of it is read within HeaderTimeout. An answer must be written
// within StallTimeout of the request; an image's deadline moves forward at
// each write (serveMoving), so that a 150 MB PNG goes to a slow peer for
// as long as the transfer moves, and a reader that stops reading is cut.
// A connection is closed after IdleTimeout without a request, in HTTP/1.1
// and HTTP/2 alike.
func (p *Peer) p2pServer() *http.Server {
	return &http.Server{
		Handler:           p.p2pHandler(),
		TLSConfig:         serverTLS(p.cert),
		ReadHeaderTimeout: p.cfg.HeaderTimeout,
		ReadTimeout:       p.cfg.HeaderTimeout,
		WriteTimeout:      p.cfg.StallTimeout,
		IdleTimeout:       p.cfg.IdleTimeout,
		ErrorLog:          p.log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}),
	}
}

// localServer serves the control API and the app, on loopback. A request
// may carry a put of up to 64 MiB, read within HeaderTimeout+StallTimeout
// (loopback reads it in well under a second). Its answer may come only
// after the longest wait a handler has (a fetch, fetchTimeout; a put, the
// cloud's RequestTimeout and the offer that follows), so the write bound
// is that wait plus the read and StallTimeout: generous, but a client
// that stops reading does not hold a connection for ever.
func (p *Peer) localServer() *http.Server {
	read := p.cfg.HeaderTimeout + p.cfg.StallTimeout
	return &http.Server{
		Handler:           p.localHandler(),
		ReadHeaderTimeout: p.cfg.HeaderTimeout,
		ReadTimeout:       read,
		WriteTimeout:      read + max(fetchTimeout, p.cfg.RequestTimeout+offerWait) + p.cfg.StallTimeout,
		IdleTimeout:       p.cfg.IdleTimeout,
		ErrorLog:          p.log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}),
	}
}

// cloudLoop keeps the peer in the directory: it logs in, has the device
// vouched for, heartbeats, and refreshes what it knows of the directory.
func (p *Peer) cloudLoop(ctx context.Context) {
	for {
		err := p.contact(ctx)
		wait := p.cfg.RetryInterval
		if err == nil {
			wait = p.heartbeatInterval()
		} else if ctx.Err() == nil {
			p.log.Debug("cloud unreachable", "err", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-p.kick:
		case <-t.C:
		}
		t.Stop()
	}
}

// heartbeatInterval is a third of the cloud's TTL: two heartbeats may be
// lost before the peer is taken for offline.
func (p *Peer) heartbeatInterval() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ttl <= 0 {
		return 10 * time.Second
	}
	return max(p.ttl/3, 100*time.Millisecond)
}

// offerNow tells the cloud at once what the peer holds, so that when a put
// or a fetch returns the directory lists this peer as a holder. With the
// cloud away, the next heartbeat does it.
func (p *Peer) offerNow(ctx context.Context) {
	if !p.isOnline() {
		p.Kick()
		return
	}
	ctx, cancel := context.WithTimeout(ctx, offerWait)
	defer cancel()
	if err := p.contact(ctx); err != nil {
		p.log.Warn("could not offer the images held yet", "err", err)
	}
}

// offerWait bounds offerNow.
const offerWait = 2 * time.Second

// Kick asks the peer to contact the cloud now rather than at its next
// heartbeat.
func (p *Peer) Kick() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// contact is one round with the cloud.
func (p *Peer) contact(ctx context.Context) error {
	err := p.contactOnce(ctx)
	if err != nil {
		var ce *client.Error
		if errors.As(err, &ce) {
			// The cloud answered but refused: the peer is not in the
			// directory, so it is not online either.
			err = fmt.Errorf("the cloud refused this peer: %w", err)
			p.mu.Lock()
			p.online, p.lastErr = false, err.Error()
			p.mu.Unlock()
			return err
		}
		p.cloudFailed(err)
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.online {
		p.log.Info("online", "user", p.cfg.User, "device", p.Device(), "address", p.cfg.Advertise)
	}
	p.online, p.lastErr = true, ""
	return nil
}

func (p *Peer) contactOnce(ctx context.Context) error {
	p.mu.Lock()
	st := p.state
	p.mu.Unlock()
	now := time.Now()
	if st.cloudKey() == nil {
		k, err := p.cloud.CloudKey(ctx)
		if err != nil {
			return err
		}
		st.CloudKey = client.EncodeKey(k)
	}
	// A statement is renewed once half of its life has passed.
	if st.Statement == "" || now.After(st.Expires.Add(-statementLeft(st.Expires, now))) {
		v, err := p.cloud.Vouch(ctx, p.id.Key)
		if err != nil {
			return err
		}
		st.Statement, st.Expires = v.Statement, v.Expires
		if v.CloudKey != "" && v.CloudKey != st.CloudKey {
			// The cloud's key changed (a new master key): what it signed
			// before is void.
			st.CloudKey = v.CloudKey
		}
	}
	p.update(func(s *cloudState) { s.CloudKey, s.Statement, s.Expires = st.CloudKey, st.Statement, st.Expires })
	hb, err := p.cloud.Heartbeat(ctx, p.Device(), api.PeerRequest{Statement: st.Statement, Address: p.cfg.Advertise, Holds: p.store.Holds()})
	var ce *client.Error
	if errors.As(err, &ce) && ce.Code == "bad_statement" {
		// Expired or from another cloud key: ask for a new one next time.
		p.update(func(s *cloudState) { s.Statement = "" })
		return err
	}
	if err != nil {
		return err
	}
	if err := p.flushQueue(ctx); err != nil {
		return err
	}
	dir, err := p.cloud.Directory(ctx)
	if err != nil {
		return err
	}
	online, err := p.cloud.Online(ctx)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.ttl = time.Duration(hb.TTL)
	if p.since.IsZero() || !p.online {
		p.since = hb.Since
	}
	p.mu.Unlock()
	p.heardDirectory(dir, online)
	p.syncLeases(ctx, dir)
	return nil
}

// statementLeft is how long before expiry a statement is renewed: half of
// its remaining life at most, so that a peer renews while it can.
func statementLeft(expires, now time.Time) time.Duration {
	return max(expires.Sub(now)/2, 0) + time.Minute
}

// update changes the state with fn and writes it to disk, one change at a
// time, so that no change is lost to another made at once; it says if the
// write failed (the change stands in memory).
func (p *Peer) update(fn func(*cloudState)) error {
	p.stateMu.Lock()
	defer p.stateMu.Unlock()
	p.mu.Lock()
	st := p.state
	fn(&st)
	p.state = st
	p.mu.Unlock()
	err := saveState(p.cfg.DataDir, st)
	if err != nil {
		p.log.Warn("could not save the peer's state", "err", err)
	}
	return err
}

// heardDirectory keeps a directory the cloud just gave, for use while it
// is away.
func (p *Peer) heardDirectory(dir api.DirectoryReply, online []api.OnlineReply) {
	p.learnDirectory(dir)
	p.update(func(s *cloudState) {
		s.Directory, s.Heard = dir, time.Now().UTC()
		if online != nil {
			s.Online = online
		}
	})
}

func (p *Peer) learnDirectory(dir api.DirectoryReply) {
	v := map[string]map[string]int{}
	for _, e := range dir.Images {
		if e.Owner == p.cfg.User {
			v[e.ID] = e.Viewers
		}
	}
	p.mu.Lock()
	p.viewers = v
	p.mu.Unlock()
}

// cloudFailed notes a call to the cloud that got no answer: the peer is
// offline until its next contact succeeds. An answer, even an error, is
// not a failure to reach the cloud.
func (p *Peer) cloudFailed(err error) {
	var ce *client.Error
	if err == nil || errors.As(err, &ce) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.online {
		p.log.Warn("lost the cloud; working on without it", "err", err)
	}
	p.online, p.lastErr = false, err.Error()
}

func (p *Peer) isOnline() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.online
}

func (p *Peer) snapshot() cloudState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// mayFetch says whether user may fetch image e from this peer: a ticket
// for it, or, at the owner's peer, a place among its viewers (as the
// directory last said) or being the owner on another device.
func (p *Peer) mayFetch(rq request, e Entry) bool {
	if ticketFits(rq.Ticket, e) {
		return true
	}
	if !e.Own {
		return false
	}
	if rq.From.User == p.cfg.User {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.viewers[e.ID][rq.From.User]
	return ok
}

// p2pHandler serves other peers.
func (p *Peer) p2pHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /p2p/v1/images/{id}", p.serveImage)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such peer route %s %s (this peer speaks version %d)", r.Method, r.URL.Path, WireVersion)
	})
	return mux
}

func (p *Peer) serveImage(w http.ResponseWriter, r *http.Request) {
	st := p.snapshot()
	cloud := st.cloudKey()
	if cloud == nil || st.Statement == "" {
		writeError(w, http.StatusServiceUnavailable, "not_ready", "this peer has not reached the cloud yet; try again later")
		return
	}
	w.Header().Set(hdrDevice, st.Statement)
	rq, err := readRequest(cloud, r.Header, r.TLS, time.Now())
	if err != nil {
		writeError(w, http.StatusUnauthorized, "bad_statement", "%v", err)
		return
	}
	id := r.PathValue("id")
	if err := checkID(id); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "%v", err)
		return
	}
	e, held := p.store.Get(id)
	if !held || !p.mayFetch(rq, e) {
		if held && e.Own && p.cfg.Policy == PolicyRequests {
			p.addRequest(rq.From.User, id)
			writeError(w, http.StatusForbidden, "request_queued", "you are not among the viewers of %s; %s has been asked to approve", id, p.cfg.User)
			return
		}
		// The same answer for an image that is not here and one the
		// caller may not see: a non-viewer learns nothing.
		writeError(w, http.StatusNotFound, "not_found", "no image %s here that %s may fetch", id, rq.From.User)
		return
	}
	f, e, err := p.store.openVeiled(id)
	if err != nil {
		writeError(w, http.StatusNotFound, "not_found", "no image %s here that %s may fetch", id, rq.From.User)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("ETag", `"`+e.Digest+`"`)
	w.Header().Set(hdrDigest, e.Digest)
	p.log.Debug("serving an image", "image", id, "to", rq.From.User, "range", r.Header.Get("Range"))
	serveMoving(w, r, p.cfg.StallTimeout, e.Stored, f)
}

// serveMoving is http.ServeContent (ranges, If-Range) with the write
// deadline pushed stall forward before each write: a transfer is cut when
// it stops moving, never for being long. ServeContent writes in pieces of
// 32 KiB, so a reader slower than about 32 KiB per stall is cut too.
func serveMoving(w http.ResponseWriter, r *http.Request, stall time.Duration, modtime time.Time, content io.ReadSeeker) {
	http.ServeContent(movingWriter{w, http.NewResponseController(w), stall}, r, "", modtime, content)
}

type movingWriter struct {
	http.ResponseWriter
	rc    *http.ResponseController
	stall time.Duration
}

func (m movingWriter) Write(b []byte) (int, error) {
	// A writer that takes no deadline (a recorder in a test) just writes.
	_ = m.rc.SetWriteDeadline(time.Now().Add(m.stall))
	return m.ResponseWriter.Write(b)
}

// addRequest queues a non-viewer's request for one of the owner's images;
// a repeated request is kept once.
func (p *Peer) addRequest(user, image string) {
	added := false
	p.update(func(s *cloudState) {
		if len(s.Requests) >= maxRequests || slices.ContainsFunc(s.Requests, func(q Request) bool { return q.User == user && q.Image == image }) {
			return
		}
		s.Requests = append(slices.Clone(s.Requests), Request{User: user, Image: image, At: time.Now().UTC()})
		added = true
	})
	if !added {
		return
	}
	p.log.Info("request to see an image", "from", user, "image", image)
}

// maxRequests bounds the queue of requests, so that strangers cannot fill
// the owner's disk.
const maxRequests = 1000

// Requests returns the requests waiting for the owner.
func (p *Peer) Requests() []Request {
	return slices.Clone(p.snapshot().Requests)
}

func (p *Peer) dropRequest(user, image string) bool {
	found := false
	p.update(func(s *cloudState) {
		i := slices.IndexFunc(s.Requests, func(q Request) bool { return q.User == user && q.Image == image })
		if i >= 0 {
			s.Requests, found = slices.Delete(slices.Clone(s.Requests), i, i+1), true
		}
	})
	return found
}

// holderKey reads a holder's key from the directory.
func holderKey(h api.Holder) (ed25519.PublicKey, error) { return client.DecodeKey(h.Key) }
