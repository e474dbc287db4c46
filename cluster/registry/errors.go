package registry

import "errors"

// Errors a caller can act on. They are wrapped with detail; test them with
// errors.Is. The comment on each says what an HTTP layer would answer.
var (
	// ErrMalformed reports bytes that do not decode: a command, a snapshot
	// or a stored entry with an unknown version or type, a truncated or
	// oversize input, trailing bytes, or a field that breaks a rule. 400.
	ErrMalformed = errors.New("registry: malformed input")

	// ErrInvalid reports a command whose fields break a rule: a bad name,
	// image id or idempotency key, views out of range, too many viewers.
	// The message says which field and why. 400.
	ErrInvalid = errors.New("registry: invalid command")

	// ErrUserExists reports a registration under a name already taken. 409.
	ErrUserExists = errors.New("registry: user name is taken")

	// ErrUnknownUser reports a user that is not registered: the owner of
	// a put, or a viewer a put lists or a share sets (the coordinator
	// checks those before it proposes the command). 401 at login (say
	// nothing more than for a bad password), 404 "unknown_user" elsewhere.
	ErrUnknownUser = errors.New("registry: unknown user")

	// ErrBadPassword reports a password that does not match the stored
	// hash. 401.
	ErrBadPassword = errors.New("registry: wrong password")

	// ErrWeakPassword reports a password that breaks the length rules
	// (MinPasswordLen to MaxPasswordLen bytes of UTF-8). 400.
	ErrWeakPassword = errors.New("registry: password does not meet the rules")

	// ErrBadHash reports a stored password hash that is not an argon2id
	// hash this package can check, or whose cost is out of bounds. 400 in
	// a command; 500 if found in the state, which cannot happen because
	// commands carrying one are refused.
	ErrBadHash = errors.New("registry: unusable password hash")

	// ErrImageExists reports a put of an image id already in the registry.
	// 409.
	ErrImageExists = errors.New("registry: image already registered")

	// ErrUnknownImage reports an image id the registry does not hold. 404
	// "unknown_image". A node tells a caller who may not see an image (not
	// its owner, not a listed viewer) the same of any refusal about it, so
	// that such an image and one that does not exist look alike.
	ErrUnknownImage = errors.New("registry: unknown image")

	// ErrNotOwner reports a change to an image by someone other than its
	// owner. 403 to a listed viewer; anyone else is told ErrUnknownImage.
	ErrNotOwner = errors.New("registry: not the owner of the image")

	// ErrNotAllowed reports a view by someone neither the owner nor a
	// listed viewer; a lease taken by the owner (who views without one) or
	// by someone not listed; a lease returned by another than its viewer.
	// 403 "not_allowed" to the owner; a caller who may not see the image
	// is told ErrUnknownImage.
	ErrNotAllowed = errors.New("registry: viewer not allowed")

	// ErrNoViewsLeft reports a view by a listed viewer who has spent every
	// view. 403 "no_views_left".
	ErrNoViewsLeft = errors.New("registry: no views left")

	// ErrUnknownLease reports a lease id the registry does not hold: never
	// taken, or already returned. 404.
	ErrUnknownLease = errors.New("registry: unknown lease")

	// ErrKeyReused reports an idempotency key already used by the same user
	// for a different command. The first command's outcome stands and the
	// new one is not applied. 422.
	ErrKeyReused = errors.New("registry: idempotency key reused for a different command")

	// ErrAlreadyApplied reports a command applied at an index at or below
	// the last applied one. The state is unchanged; the host replayed an
	// entry it had already applied.
	ErrAlreadyApplied = errors.New("registry: index already applied")

	// ErrStaleEpoch reports a change, a promise or a snapshot from an epoch
	// older than the newest this store has promised. The sender is a former
	// coordinator; it must step down.
	ErrStaleEpoch = errors.New("registry: stale epoch")

	// ErrLogMismatch reports an AppendEntries whose previous entry this log
	// does not hold (too short, or another epoch at that index). The
	// coordinator retries from an earlier index.
	ErrLogMismatch = errors.New("registry: log does not match at the previous entry")

	// ErrCommittedConflict reports an AppendEntries or snapshot that would
	// overwrite a committed entry. It cannot happen while a majority
	// of the cluster keeps its disk; if it does, stop the node.
	ErrCommittedConflict = errors.New("registry: change conflicts with a committed entry")

	// ErrCompacted reports a request for log entries that have been folded
	// into the snapshot. Send the snapshot instead.
	ErrCompacted = errors.New("registry: entries compacted into the snapshot")

	// ErrOutOfRange reports an index beyond the end of the log.
	ErrOutOfRange = errors.New("registry: index beyond the end of the log")

	// ErrCorrupt reports a data directory whose contents break the store's
	// invariants. Stop the node; do not serve from it.
	ErrCorrupt = errors.New("registry: store is corrupt")

	// ErrTokenMalformed reports a bearer token that is not one this package
	// issues (bad base64, length or version). 401.
	ErrTokenMalformed = errors.New("registry: malformed token")

	// ErrTokenForged reports a token whose signature does not match: made
	// or altered without the key, or signed with another key. 401.
	ErrTokenForged = errors.New("registry: token signature does not match")

	// ErrTokenExpired reports a genuine token past its expiry. 401; log in
	// again.
	ErrTokenExpired = errors.New("registry: token expired")
)

// Reason returns the machine-readable reason a view was denied:
// "unknown_image", "not_allowed" or "no_views_left"; "" for any other
// error. It is the registry's reason; what a caller is told also depends
// on whether the caller may see the image (see ErrUnknownImage).
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrUnknownImage):
		return "unknown_image"
	case errors.Is(err, ErrNotAllowed):
		return "not_allowed"
	case errors.Is(err, ErrNoViewsLeft):
		return "no_views_left"
	}
	return ""
}
