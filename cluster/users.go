package cluster

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"veil/cluster/api"

	"veil/cluster/registry"
	"veil/internal/throttle"
)

// Users, sessions and the authenticated image routes.
//
// A user registers with a name and a password; the coordinator stores an
// argon2id hash through the replicated registry. Logging in returns a bearer
// token signed with a key derived from the master key, so that every node
// checks a token with one HMAC and no round trip. Failed logins are
// throttled by the node that receives them, per user and address and per
// address (internal/throttle), before any hash is computed.

// TokenTTL is how long a login token stays valid.
const TokenTTL = time.Hour

type credentials struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// LoginReply is api.LoginReply, as this package has always named it.
type LoginReply = api.LoginReply

// authUser returns the user a request's bearer token names.
func (n *Node) authUser(r *http.Request) (string, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return "", fmt.Errorf("%w: this route needs 'Authorization: Bearer <token>' (POST /v1/login gives one)", ErrUnauthorized)
	}
	user, err := registry.VerifyToken(n.userKey, tok, time.Now())
	if err != nil {
		return "", err
	}
	return user, nil
}

// admit takes a write request in: it authenticates the caller (when user
// is true), checks that this node serves, and reads the body.
func (n *Node) admit(w http.ResponseWriter, r *http.Request, user bool) (name string, body []byte, err error) {
	if user {
		if name, err = n.authUser(r); err != nil {
			return "", nil, err
		}
	}
	if err := n.servingSoon(r.Context()); err != nil {
		return "", nil, err
	}
	body, err = n.readBody(w, r)
	return name, body, err
}

// seeded returns a deterministic random stream for a request that carries
// an idempotency key, so that a retry, even on another coordinator,
// produces the same bytes (salts, ids, cover seeds) as the first attempt;
// and crypto/rand otherwise. The seed is secret: it is keyed by a key
// derived from the master key.
func (n *Node) seeded(purpose, actor, key string) io.Reader {
	if key == "" {
		return rand.Reader
	}
	mac := hmac.New(sha256.New, n.seedKey)
	fmt.Fprintf(mac, "%s\x00%s\x00%s", purpose, actor, key)
	var seed [32]byte
	copy(seed[:], mac.Sum(nil))
	return mrand.NewChaCha8(seed)
}

// handleRegister is POST /v1/users {"name", "password"}. The name is
// stored in its canonical form (registry.CanonicalName), which the reply
// gives: "Alice" registers "alice", and "ALICE" is then taken.
func (n *Node) handleRegister(w http.ResponseWriter, r *http.Request) error {
	_, body, err := n.admit(w, r, false)
	if err != nil {
		return err
	}
	var c credentials
	if err := decodeStrict(body, &c); err != nil {
		return err
	}
	name, err := registry.CanonicalName(c.Name)
	if err != nil {
		return badRequest("%v", err)
	}
	if err := registry.CheckPasswordRules(c.Password); err != nil {
		return err
	}
	return n.atCoordinator(w, r, body, func() *outcome {
		// A name registered before names were canonical ("Bob" beside
		// no "bob") is taken under its own spelling too.
		if c.Name != name {
			var taken bool
			if err := n.repl.read(r.Context(), func(s *registry.State) { _, taken = s.User(c.Name) }); err != nil {
				return errorOutcome(err)
			}
			if taken {
				return errorOutcome(fmt.Errorf("%w: %q", registry.ErrUserExists, c.Name))
			}
		}
		key := r.Header.Get(hdrIdempotencyKey)
		var hash string
		err := n.passwords.do(r.Context(), func() (err error) {
			hash, err = registry.HashPassword(registry.DefaultArgon2, n.seeded("password-salt", name, key), c.Password)
			return err
		})
		if err != nil {
			return errorOutcome(err)
		}
		if _, err := n.commit(r.Context(), registry.RegisterUser{Name: name, PasswordHash: hash, IdemKey: key}); err != nil {
			return errorOutcome(err)
		}
		return jsonOutcome(http.StatusCreated, map[string]string{"name": name})
	})
}

// dummyHash is checked against when a login names no user, so that the
// time taken does not tell which names exist.
var dummyHash, _ = registry.HashPassword(registry.DefaultArgon2, rand.Reader, "not a password of anyone")

// findUser returns the user a login names: the name exactly as typed if a
// user has it (a name registered before names were canonical, such as
// "Alice", keeps its spelling), else its canonical form.
func findUser(s *registry.State, typed, canonical string) (registry.User, bool) {
	if u, ok := s.User(typed); ok {
		return u, true
	}
	return s.User(canonical)
}

// handleLogin is POST /v1/login {"name", "password"}.
//
// The node that receives a login checks its throttle (logins) first, and
// answers 429 too_many_attempts with a Retry-After while the client's
// address must wait: no password is hashed and nothing is forwarded. It
// then counts what the coordinator answered: a 401 is a failure, a 200 a
// success. A coordinator does not count again a login another node
// forwarded to it (forwardedByMember).
func (n *Node) handleLogin(w http.ResponseWriter, r *http.Request) error {
	_, body, err := n.admit(w, r, false)
	if err != nil {
		return err
	}
	var c credentials
	if err := decodeStrict(body, &c); err != nil {
		return err
	}
	name, err := registry.CanonicalName(c.Name)
	if err != nil {
		return badRequest("%v", err)
	}
	guarded := !n.forwardedByMember(r)
	var key throttle.Key
	if guarded {
		key = throttle.Key{Source: loginSource(r)}
		n.repl.readLocal(func(s *registry.State) {
			// Positive only: this node's copy may lag, and a user it does
			// not know yet counts against the address alone.
			if u, ok := findUser(s, c.Name, name); ok {
				key.User = u.Name
			}
		})
		if wait, ok := n.logins.check(key); !ok {
			return &waitError{ErrTooManyAttempts, wait}
		}
	}
	if len(c.Password) > registry.MaxPasswordLen {
		// No password that long was ever registered: wrong, without a
		// hash or a hop.
		if guarded {
			n.logins.fail(key)
		}
		return fmt.Errorf("%w: wrong name or password", registry.ErrBadPassword)
	}
	sw := &statusWriter{ResponseWriter: w}
	err = n.atCoordinator(sw, r, body, func() *outcome {
		var user registry.User
		var found bool
		if err := n.repl.read(r.Context(), func(s *registry.State) { user, found = findUser(s, c.Name, name) }); err != nil {
			return errorOutcome(err)
		}
		hash := user.PasswordHash
		if !found {
			hash = dummyHash
		}
		err := n.passwords.do(r.Context(), func() error { return registry.CheckPassword(hash, c.Password) })
		if errors.Is(err, ErrOverloaded) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return errorOutcome(err)
		}
		if !found {
			return errorOutcome(fmt.Errorf("%w: wrong name or password", registry.ErrBadPassword))
		}
		if err != nil {
			if errors.Is(err, registry.ErrBadPassword) {
				err = fmt.Errorf("%w: wrong name or password", registry.ErrBadPassword)
			}
			return errorOutcome(err)
		}
		now := time.Now()
		return jsonOutcome(http.StatusOK, LoginReply{
			Token:   registry.IssueToken(n.userKey, user.Name, now, TokenTTL),
			Expires: now.Add(TokenTTL).UTC(),
		})
	})
	if guarded && err == nil {
		switch sw.code {
		case http.StatusOK:
			n.logins.succeed(key)
		case http.StatusUnauthorized:
			n.logins.fail(key)
		}
	}
	return err
}

// loginThrottle is a node's throttle of failed logins (internal/throttle),
// made on first use with throttle.DefaultConfig and the wall clock.
type loginThrottle struct {
	mu  sync.Mutex        // guards the fields below
	lim *throttle.Limiter // nil until first used
	now func() time.Time  // nil: time.Now; a test's clock otherwise
}

// limiter returns the limiter and the time now.
func (t *loginThrottle) limiter() (*throttle.Limiter, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lim == nil {
		lim, err := throttle.New(throttle.DefaultConfig())
		if err != nil {
			panic("cluster: the default login throttle is invalid: " + err.Error())
		}
		t.lim = lim
	}
	if t.now != nil {
		return t.lim, t.now()
	}
	return t.lim, time.Now()
}

func (t *loginThrottle) check(k throttle.Key) (time.Duration, bool) {
	lim, now := t.limiter()
	return lim.Check(k, now)
}

func (t *loginThrottle) fail(k throttle.Key) {
	lim, now := t.limiter()
	lim.Fail(k, now)
}

func (t *loginThrottle) succeed(k throttle.Key) {
	lim, now := t.limiter()
	lim.Succeed(k, now)
}

// loginSource is where a login came from, as the throttle counts it: the
// IP address of the connection (not a header the client could write), or
// for IPv6 its /64 network, which one host commonly holds whole.
func loginSource(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	switch {
	case err != nil && host == "":
		return "unknown"
	case err != nil:
		return host
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		if p, err := ip.Prefix(64); err == nil {
			return p.String()
		}
	}
	return ip.String()
}

// forwardedByMember reports whether r is a client's request that another
// node of the cluster passed on (atCoordinator): it names the member in
// Veil-Forwarded-By and comes from that member's address. That node
// counted the attempt against the client's own address; counting it here
// too would charge every client of that node to the node's address. A
// client that writes the header itself comes from its own address and is
// counted as any other.
func (n *Node) forwardedByMember(r *http.Request) bool {
	name := r.Header.Get(hdrForwardedBy)
	if name == "" || name == n.cfg.Name {
		return false
	}
	m, ok := n.mship.member(name)
	if !ok {
		return false
	}
	from := hostIP(r.RemoteAddr)
	if !from.IsValid() {
		return false
	}
	return from == hostIP(m.Meta.API) || from == hostIP(m.Gossip)
}

// hostIP is the IP address of host:port, or the zero Addr if it is none
// (a name, or no address).
func hostIP(hostport string) netip.Addr {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return netip.Addr{}
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap().WithZone("")
}

// Names from clients. Every user name a client sends (a registration, a
// login, a put's viewers and owner field, a share's viewers) goes through
// registry.CanonicalName, so that a user has one name whatever its case or
// width. Names in tokens, and so owners and callers, come from the
// registry and are used as they are.

// parseViewerNames is ParseViewers with each name in its canonical form.
// A name that has none is kept as sent, for the image's rules to refuse
// (invalid_meta); two names of one user ("bob" and "Bob") are refused.
func parseViewerNames(list string, defaultViews int) (map[string]int, error) {
	m, err := ParseViewers(list, defaultViews)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(m))
	by := make(map[string]string, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		c, err := registry.CanonicalName(name)
		if err != nil {
			c = name
		}
		if first, dup := by[c]; dup {
			return nil, fmt.Errorf("viewers %q and %q are one user, %q", first, name, c)
		}
		out[c], by[c] = m[name], name
	}
	return out, nil
}

// sameUser reports whether a name a client typed names user.
func sameUser(typed, user string) bool {
	if typed == user {
		return true
	}
	c, err := registry.CanonicalName(typed)
	return err == nil && c == user
}

// canonicalShare maps the names of a share's body to their canonical
// forms, refusing a name that has none and two names of one user.
func canonicalShare(s *shareRequest) error {
	by := make(map[string]string, len(s.Set)+len(s.Remove))
	canon := func(name string) (string, error) {
		c, err := registry.CanonicalName(name)
		if err != nil {
			return "", badRequest("%v", err)
		}
		if first, dup := by[c]; dup {
			return "", badRequest("%q and %q are one user, %q", first, name, c)
		}
		by[c] = name
		return c, nil
	}
	if s.Set != nil {
		set := make(map[string]int, len(s.Set))
		for _, name := range slices.Sorted(maps.Keys(s.Set)) {
			c, err := canon(name)
			if err != nil {
				return err
			}
			set[c] = s.Set[name]
		}
		s.Set = set
	}
	for i, name := range s.Remove {
		c, err := canon(name)
		if err != nil {
			return err
		}
		s.Remove[i] = c
	}
	return nil
}

// admitCommand is the coordinator's check of a command it is about to
// propose, beyond the command's own Validate: the names it introduces are
// canonical (registry.ValidateNew), and the viewers a put lists or a share
// sets are registered users (registry.ErrUnknownUser, 404 unknown_user).
// Users are never deleted, so a user found registered stays so until the
// command applies. The registry's apply rules are not changed: a log
// written before these checks replays as it was written.
func (n *Node) admitCommand(ctx context.Context, cmd registry.Command) error {
	if err := registry.ValidateNew(cmd); err != nil {
		return err
	}
	var names []string
	switch c := cmd.(type) {
	case registry.PutImage:
		names = slices.Sorted(maps.Keys(c.Viewers))
	case registry.Share:
		names = slices.Sorted(maps.Keys(c.Set))
	}
	if len(names) == 0 {
		return nil
	}
	unknown := func(s *registry.State) (out []string) {
		for _, name := range names {
			if _, ok := s.User(name); !ok {
				out = append(out, name)
			}
		}
		return out
	}
	// This node's own copy first: a user found there is registered. One
	// it lacks may be newer than the copy (Raft mode applies behind the
	// commit); the committed state decides.
	var missing []string
	n.repl.readLocal(func(s *registry.State) { missing = unknown(s) })
	if len(missing) > 0 {
		names = missing
		if err := n.repl.read(ctx, func(s *registry.State) { missing = unknown(s) }); err != nil {
			return err
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s not registered; a user registers (POST /v1/users) before an image is shared with them",
			registry.ErrUnknownUser, quoteNames(missing))
	}
	return nil
}

// quoteNames lists names for a message: "bob", or "bob", "cy" and "dee".
func quoteNames(names []string) string {
	q := make([]string, len(names))
	for i, name := range names {
		q[i] = strconv.Quote(name)
	}
	if len(q) == 1 {
		return q[0] + " is"
	}
	return strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1] + " are"
}

// jsonOutcome renders v as a JSON reply.
func jsonOutcome(status int, v any) *outcome {
	rec := &recorder{header: http.Header{}}
	writeJSON(rec, status, v)
	return &outcome{status: rec.status, header: rec.header, body: rec.body.Bytes()}
}
