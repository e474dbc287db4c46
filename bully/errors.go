package bully

import "errors"

// Errors a caller can act on. They are wrapped with detail; test them with
// errors.Is.
var (
	// ErrInvalidConfig reports a Config that breaks one of the invariants
	// listed on Config.Validate.
	ErrInvalidConfig = errors.New("bully: invalid config")

	// ErrMalformed reports a message that cannot be decoded or makes no
	// sense (unknown version or type, truncated, bad field). Drop it.
	ErrMalformed = errors.New("bully: malformed message")

	// ErrStaleEpoch reports a message ignored because it carries an epoch
	// lower than the receiver's. It is normal after a partition or a pause;
	// the host may count it but need not log it.
	ErrStaleEpoch = errors.New("bully: stale epoch")

	// ErrMisaddressed reports a message addressed to another node, or sent
	// by this node to itself. The host's routing is wrong.
	ErrMisaddressed = errors.New("bully: misaddressed message")

	// ErrNoHandoff reports a Transfer the node cannot make: it does not
	// coordinate (any more), or the successor is this node or no live
	// member. Nothing changed.
	ErrNoHandoff = errors.New("bully: no hand-off")
)
