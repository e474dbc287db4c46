package cluster

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"time"
	"veil/cluster/api"

	"veil/cluster/registry"
)

// Users, sessions and the authenticated image routes.
//
// A user registers with a name and a password; the coordinator stores an
// argon2id hash through the replicated registry. Logging in returns a bearer
// token signed with a key derived from the master key, so that every node
// checks a token with one HMAC and no round trip.

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

// handleRegister is POST /v1/users {"name", "password"}.
func (n *Node) handleRegister(w http.ResponseWriter, r *http.Request) error {
	_, body, err := n.admit(w, r, false)
	if err != nil {
		return err
	}
	var c credentials
	if err := decodeStrict(body, &c); err != nil {
		return err
	}
	if err := registry.ValidName(c.Name); err != nil {
		return badRequest("%v", err)
	}
	if err := registry.CheckPasswordRules(c.Password); err != nil {
		return err
	}
	return n.atCoordinator(w, r, body, func() *outcome {
		key := r.Header.Get(hdrIdempotencyKey)
		var hash string
		err := n.passwords.do(r.Context(), func() (err error) {
			hash, err = registry.HashPassword(registry.DefaultArgon2, n.seeded("password-salt", c.Name, key), c.Password)
			return err
		})
		if err != nil {
			return errorOutcome(err)
		}
		if _, err := n.commit(r.Context(), registry.RegisterUser{Name: c.Name, PasswordHash: hash, IdemKey: key}); err != nil {
			return errorOutcome(err)
		}
		return jsonOutcome(http.StatusCreated, map[string]string{"name": c.Name})
	})
}

// dummyHash is checked against when a login names no user, so that the
// time taken does not tell which names exist.
var dummyHash, _ = registry.HashPassword(registry.DefaultArgon2, rand.Reader, "not a password of anyone")

// handleLogin is POST /v1/login {"name", "password"}.
func (n *Node) handleLogin(w http.ResponseWriter, r *http.Request) error {
	_, body, err := n.admit(w, r, false)
	if err != nil {
		return err
	}
	var c credentials
	if err := decodeStrict(body, &c); err != nil {
		return err
	}
	return n.atCoordinator(w, r, body, func() *outcome {
		var user registry.User
		var found bool
		if err := n.repl.read(r.Context(), func(s *registry.State) { user, found = s.User(c.Name) }); err != nil {
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
			Token:   registry.IssueToken(n.userKey, c.Name, now, TokenTTL),
			Expires: now.Add(TokenTTL).UTC(),
		})
	})
}

// jsonOutcome renders v as a JSON reply.
func jsonOutcome(status int, v any) *outcome {
	rec := &recorder{header: http.Header{}}
	writeJSON(rec, status, v)
	return &outcome{status: rec.status, header: rec.header, body: rec.body.Bytes()}
}
