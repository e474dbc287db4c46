package bully

import (
	"fmt"
	"math"
)

// MaxIDLength is the longest node name the wire encoding carries.
const MaxIDLength = 255

// Config holds the parameters of one Node. Timeouts count ticks; the host
// decides how long a tick is and must keep it longer than the one-way delay
// of a message, so that an ELECTION and its ANSWER fit in ElectionTimeout.
type Config struct {
	// ID is this node's name, unique in the cluster. It breaks ties between
	// equal loads and names the coordinator in epochs.
	ID string

	// HeartbeatInterval is how often, in ticks, the coordinator repeats its
	// COORDINATOR message.
	HeartbeatInterval int

	// ElectionTimeout is how long a candidate waits for an ANSWER before it
	// declares itself coordinator. It must cover a round trip.
	ElectionTimeout int

	// CoordinatorTimeout is how long a node waits to hear a coordinator: a
	// follower that hears no heartbeat for this long gives up on its
	// coordinator; a node that was answered waits this long for the winner's
	// announcement; a node that starts or rejoins listens this long before it
	// campaigns.
	CoordinatorTimeout int

	// ReelectInterval is the least number of ticks between two periodic
	// re-elections started by one node, counted from when it adopted the
	// current coordinator. Zero disables periodic re-election.
	ReelectInterval int

	// LoadGap is how far, in the host's load unit, a node's load must be
	// below the coordinator's before it starts a periodic re-election. Zero
	// means any lower load.
	LoadGap float64

	// ReelectBelow, when above zero, is the load at or above which a node
	// starts no periodic re-election, whatever the gap: when every node is
	// saturated, moving the role moves the saturation with it and only
	// costs an election. Zero means no such bound.
	ReelectBelow float64
}

// DefaultConfig returns the defaults for a node named id. They suit a tick of
// about 100 ms on a LAN: a heartbeat every 200 ms, failover after one second
// of silence, and re-election at most every 10 s when some node's load is
// lower than the coordinator's by more than one unit.
func DefaultConfig(id string) Config {
	return Config{
		ID:                 id,
		HeartbeatInterval:  2,
		ElectionTimeout:    4,
		CoordinatorTimeout: 10,
		ReelectInterval:    100,
		LoadGap:            1,
	}
}

// Validate reports whether c is usable. The errors wrap ErrInvalidConfig.
//
// The invariants, and why:
//
//   - ID is 1 to MaxIDLength bytes of UTF-8, so that it fits the wire.
//   - HeartbeatInterval >= 1.
//   - ElectionTimeout >= 3: an ELECTION and its ANSWER each take up to a
//     tick, and the candidate may have campaigned just before a tick. More
//     generally ElectionTimeout must exceed twice the delay in ticks.
//   - CoordinatorTimeout > 2*HeartbeatInterval: one lost heartbeat must not
//     start an election.
//   - CoordinatorTimeout > ElectionTimeout: a node that was answered must
//     outlast the answerer's own election before it gives up on it.
//   - ReelectInterval == 0 or ReelectInterval >= CoordinatorTimeout: a
//     re-election sooner than a failover could complete would only churn.
//   - LoadGap >= 0 and finite; ReelectBelow >= 0 and finite.
func (c Config) Validate() error {
	switch {
	case !validID(c.ID):
		return fmt.Errorf("%w: ID %q must be 1 to %d bytes of UTF-8", ErrInvalidConfig, c.ID, MaxIDLength)
	case c.HeartbeatInterval < 1:
		return fmt.Errorf("%w: HeartbeatInterval is %d ticks, must be at least 1", ErrInvalidConfig, c.HeartbeatInterval)
	case c.ElectionTimeout < 3:
		return fmt.Errorf("%w: ElectionTimeout is %d ticks, must be at least 3 (a round trip and the tick it started in)", ErrInvalidConfig, c.ElectionTimeout)
	case c.CoordinatorTimeout <= 2*c.HeartbeatInterval:
		return fmt.Errorf("%w: CoordinatorTimeout (%d) must exceed twice HeartbeatInterval (%d) so that one lost heartbeat does not start an election",
			ErrInvalidConfig, c.CoordinatorTimeout, c.HeartbeatInterval)
	case c.CoordinatorTimeout <= c.ElectionTimeout:
		return fmt.Errorf("%w: CoordinatorTimeout (%d) must exceed ElectionTimeout (%d) so that a node that was answered outlasts the answerer's election",
			ErrInvalidConfig, c.CoordinatorTimeout, c.ElectionTimeout)
	case c.ReelectInterval < 0:
		return fmt.Errorf("%w: ReelectInterval is %d, must be 0 (off) or positive", ErrInvalidConfig, c.ReelectInterval)
	case c.ReelectInterval > 0 && c.ReelectInterval < c.CoordinatorTimeout:
		return fmt.Errorf("%w: ReelectInterval (%d) must be 0 (off) or at least CoordinatorTimeout (%d)",
			ErrInvalidConfig, c.ReelectInterval, c.CoordinatorTimeout)
	case c.LoadGap < 0 || math.IsNaN(c.LoadGap) || math.IsInf(c.LoadGap, 0):
		return fmt.Errorf("%w: LoadGap is %v, must be finite and not negative", ErrInvalidConfig, c.LoadGap)
	case c.ReelectBelow < 0 || math.IsNaN(c.ReelectBelow) || math.IsInf(c.ReelectBelow, 0):
		return fmt.Errorf("%w: ReelectBelow is %v, must be finite and not negative (0: no bound)", ErrInvalidConfig, c.ReelectBelow)
	}
	return nil
}

// AgreementBound returns the number of ticks within which every live node
// names the same coordinator at the same epoch once faults stop, when no
// message takes longer than delay ticks. See the package documentation for
// the formula and its parts.
func (c Config) AgreementBound(delay int) int {
	if delay < 1 {
		delay = 1
	}
	d := delay
	round := c.CoordinatorTimeout + c.ElectionTimeout + 3*d
	spread := c.HeartbeatInterval + d
	reelect := 0
	if c.ReelectInterval > 0 {
		reelect = c.ReelectInterval + spread + c.ElectionTimeout + 3*d
	}
	return 2*round + spread + reelect
}
