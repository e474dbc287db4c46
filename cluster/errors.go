package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"veil/cluster/registry"
	"veil/stego"
)

// Errors a client of the API can act on. The HTTP layer maps each to a
// status and a stable code in one place, statusOf.
var (
	// ErrNoCoordinator: no coordinator is known yet (start-up, or an
	// election is running). Retry after a moment.
	ErrNoCoordinator = errors.New("no coordinator is known yet; retry shortly")
	// ErrNotCoordinator: a forwarded request reached a node that is no
	// longer the coordinator. Retry; the reply names the coordinator.
	ErrNotCoordinator = errors.New("this node is not the coordinator")
	// ErrUnavailable: the node is recovering or leaving and does not serve.
	ErrUnavailable = errors.New("node is not serving right now")
	// ErrBadRequest: the request is malformed; the message says how.
	ErrBadRequest = errors.New("bad request")
	// ErrBodyTooLarge: the body is over the configured limit.
	ErrBodyTooLarge = errors.New("request body too large")
	// ErrSecretTooLarge: a put's secret is larger than the node takes at
	// the stealth level asked for; the message names the limit at every
	// level. Nothing was done.
	ErrSecretTooLarge = errors.New("secret too large")
	// ErrUnauthorized: a token is missing or wrong.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrBusy: another simulated failure is already under way.
	ErrBusy = errors.New("busy")
	// errNotFound: no such route.
	errNotFound = errors.New("not found")
	// ErrNoWorker: the coordinator could not get the work done by any node.
	ErrNoWorker = errors.New("no node could do the work")
	// ErrOverloaded: the node's queue of image work is full. The request
	// was not carried out; retry after the Retry-After the reply gives.
	ErrOverloaded = errors.New("overloaded: the image work queue is full; retry after a moment")
	// ErrTooManyAttempts: too many logins failed from the client's
	// address, for the name given or for any (users.go). Nothing was
	// checked; retry after the Retry-After the reply gives.
	ErrTooManyAttempts = errors.New("too many failed logins from this address")
)

// waitError is an error with a Retry-After of its own, which writeError
// sends in place of its class's.
type waitError struct {
	err  error
	wait time.Duration
}

func (e *waitError) Error() string {
	return fmt.Sprintf("%v; retry in %s", e.err, retryAfterSeconds(e.wait))
}

func (e *waitError) Unwrap() error { return e.err }

// retryAfterSeconds is d as a Retry-After: whole seconds, rounded up, at
// least one.
func retryAfterSeconds(d time.Duration) string {
	return strconv.FormatInt(max(1, int64((d+time.Second-1)/time.Second)), 10) + " s"
}

// apiError is the JSON body of every error the API returns:
//
//	{"error": {"code": "no_coordinator", "message": "..."}}
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// errorClass is the HTTP face of one kind of error.
type errorClass struct {
	status     int
	code       string
	retryAfter time.Duration // sent as Retry-After when > 0
}

// classes lists the sentinel errors with their status and code; statusOf
// walks it with errors.Is. This is the one place where errors meet HTTP.
var classes = []struct {
	err   error
	class errorClass
}{
	{ErrNoCoordinator, errorClass{http.StatusServiceUnavailable, "no_coordinator", time.Second}},
	{ErrNotCoordinator, errorClass{http.StatusServiceUnavailable, "not_coordinator", time.Second}},
	{ErrUnavailable, errorClass{http.StatusServiceUnavailable, "unavailable", time.Second}},
	{ErrNoWorker, errorClass{http.StatusServiceUnavailable, "no_worker", time.Second}},
	{ErrOverloaded, errorClass{http.StatusTooManyRequests, "overloaded", time.Second}},
	{ErrTooManyAttempts, errorClass{http.StatusTooManyRequests, "too_many_attempts", time.Second}},
	{errNotFound, errorClass{http.StatusNotFound, "not_found", 0}},
	{ErrBadRequest, errorClass{http.StatusBadRequest, "bad_request", 0}},
	{ErrBodyTooLarge, errorClass{http.StatusRequestEntityTooLarge, "body_too_large", 0}},
	{ErrSecretTooLarge, errorClass{http.StatusRequestEntityTooLarge, "secret_too_large", 0}},
	{ErrUnauthorized, errorClass{http.StatusUnauthorized, "unauthorized", 0}},
	{ErrBusy, errorClass{http.StatusConflict, "busy", 0}},
	{ErrNoHandoff, errorClass{http.StatusConflict, "no_handoff", 0}},
	{stego.ErrInvalidMeta, errorClass{http.StatusBadRequest, "invalid_meta", 0}},
	{stego.ErrPayloadTooLarge, errorClass{http.StatusUnprocessableEntity, "payload_too_large", 0}},
	{stego.ErrImageTooLarge, errorClass{http.StatusUnprocessableEntity, "image_too_large", 0}},
	{stego.ErrUnsupportedImage, errorClass{http.StatusUnprocessableEntity, "unsupported_image", 0}},
	{stego.ErrNoPayload, errorClass{http.StatusUnprocessableEntity, "no_payload", 0}},
	{stego.ErrTampered, errorClass{http.StatusUnprocessableEntity, "tampered", 0}},
	{errStaleEpoch, errorClass{http.StatusConflict, "stale_epoch", 0}},
	{ErrBadStatement, errorClass{http.StatusUnauthorized, "bad_statement", 0}},
	{ErrNotYourDevice, errorClass{http.StatusForbidden, "not_your_device", 0}},
	{ErrUnknownDevice, errorClass{http.StatusNotFound, "unknown_device", 0}},
	{ErrUnknownOutcome, errorClass{http.StatusServiceUnavailable, "unknown_outcome", time.Second}},
	{registry.ErrWeakPassword, errorClass{http.StatusBadRequest, "weak_password", 0}},
	{registry.ErrMalformed, errorClass{http.StatusBadRequest, "bad_request", 0}},
	{registry.ErrInvalid, errorClass{http.StatusBadRequest, "invalid", 0}},
	{registry.ErrUserExists, errorClass{http.StatusConflict, "user_exists", 0}},
	{registry.ErrImageExists, errorClass{http.StatusConflict, "image_exists", 0}},
	{registry.ErrKeyReused, errorClass{http.StatusConflict, "key_reused", 0}},
	{registry.ErrUnknownUser, errorClass{http.StatusNotFound, "unknown_user", 0}},
	{registry.ErrBadPassword, errorClass{http.StatusUnauthorized, "bad_credentials", 0}},
	{registry.ErrTokenExpired, errorClass{http.StatusUnauthorized, "token_expired", 0}},
	{registry.ErrTokenForged, errorClass{http.StatusUnauthorized, "bad_token", 0}},
	{registry.ErrTokenMalformed, errorClass{http.StatusUnauthorized, "bad_token", 0}},
	{registry.ErrNotOwner, errorClass{http.StatusForbidden, "not_owner", 0}},
	{registry.ErrNotAllowed, errorClass{http.StatusForbidden, "not_allowed", 0}},
	{registry.ErrNoViewsLeft, errorClass{http.StatusForbidden, "no_views_left", 0}},
	{registry.ErrUnknownImage, errorClass{http.StatusNotFound, "unknown_image", 0}},
	{registry.ErrUnknownLease, errorClass{http.StatusNotFound, "unknown_lease", 0}},
	{context.DeadlineExceeded, errorClass{http.StatusGatewayTimeout, "timeout", 0}},
}

func statusOf(err error) errorClass {
	for _, c := range classes {
		if errors.Is(err, c.err) {
			return c.class
		}
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errorClass{http.StatusRequestEntityTooLarge, "body_too_large", 0}
	}
	return errorClass{http.StatusInternalServerError, "internal", 0}
}

// writeError sends err as a JSON error with its status and code.
func writeError(w http.ResponseWriter, err error) {
	c := statusOf(err)
	if we := (*waitError)(nil); errors.As(err, &we) {
		c.retryAfter = max(we.wait, time.Second)
	}
	if c.retryAfter > 0 {
		secs := (c.retryAfter + time.Second - 1) / time.Second
		w.Header().Set("Retry-After", strconv.FormatInt(int64(secs), 10))
	}
	writeJSON(w, c.status, map[string]apiError{"error": {Code: c.code, Message: err.Error()}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"reply not encodable"}}`)
	}
	b = append(b, '\n')
	// With its length set, a reply flushed just before the node goes
	// silent (the admin failure order) is whole on the wire: the client
	// does not need the end of a chunked body that never comes.
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b) // the client may be gone; nothing to do about it
}

// badRequest wraps ErrBadRequest with what was wrong.
func badRequest(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, a...))
}

// errUnseen is what a caller who may not see an image is told of any
// refusal about it: the answer for an image that does not exist, to the
// byte, whatever the registry's reason was.
var errUnseen = fmt.Errorf("%w: no image of that id is shared with you", registry.ErrUnknownImage)

// asSeenBy rewrites a refusal about an image for the caller it answers. A
// caller who may not see the image (maySee: its owner or a listed viewer,
// with or without views left) learns nothing of it, not even that it
// exists: an unknown image, a view or lease by a non-viewer (not_allowed)
// and a share by a non-owner (not_owner) all become errUnseen, 404
// unknown_image. A caller who may see it is told the registry's reason:
// no_views_left, not_owner to a viewer who tries to share, not_allowed to
// the owner who takes a lease. Other errors pass unchanged.
func asSeenBy(err error, maySee bool) error {
	switch {
	case errors.Is(err, registry.ErrUnknownImage):
		return errUnseen
	case !maySee && (errors.Is(err, registry.ErrNotAllowed) || errors.Is(err, registry.ErrNotOwner)):
		return errUnseen
	}
	return err
}

// refusalFor is asSeenBy for the refusal of a command the coordinator
// committed: the caller is the command's actor (a view's or a lease's
// viewer, a share's caller), and whether it may see the image is read
// from the state that refused it.
func (n *Node) refusalFor(cmd registry.Command, err error) error {
	if !errors.Is(err, registry.ErrUnknownImage) && !errors.Is(err, registry.ErrNotAllowed) && !errors.Is(err, registry.ErrNotOwner) {
		return err
	}
	var actor, id string
	switch c := cmd.(type) {
	case registry.View:
		actor, id = c.Viewer, c.ID
	case registry.Share:
		actor, id = c.Caller, c.ID
	case registry.TakeLease:
		actor, id = c.Viewer, c.Image
	default:
		return err
	}
	maySee := false
	n.repl.readLocal(func(s *registry.State) { maySee = s.MaySee(actor, id) })
	return asSeenBy(err, maySee)
}
