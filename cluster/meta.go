package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// Meta is what a node tells every other node about itself through gossip
// (memberlist's node metadata). memberlist refuses metadata over 512 bytes,
// so the encoding is a few fixed fields and two short strings: at most
// 4+8+8+1+8+4+2+2·MaxAPIAddrLen = 495 bytes.
type Meta struct {
	Mode  Mode
	Role  Role
	State State
	Load  float64 // smoothed work per worker slot, >= 0
	Epoch uint64  // the term of the newest coordinator epoch this node knows
	API   string  // host:port of the node's HTTP API

	// Raft mode only (zero in Bully mode).
	Raft       string    // host:port of the node's Raft transport
	RaftState  RaftState // the node's own Raft state
	Voter      bool      // a voter in the node's latest Raft configuration
	Commit     uint64    // the node's Raft commit index
	ContactAge uint32    // milliseconds since the node last heard the leader (0 on the leader)
}

// RaftState is a node's state in the Raft protocol.
type RaftState uint8

const (
	RaftNone RaftState = iota // Bully mode, or Raft not started
	RaftFollower
	RaftCandidate
	RaftLeader
)

func (s RaftState) String() string {
	switch s {
	case RaftNone:
		return ""
	case RaftFollower:
		return "follower"
	case RaftCandidate:
		return "candidate"
	case RaftLeader:
		return "leader"
	}
	return fmt.Sprintf("raft-state(%d)", uint8(s))
}

// Mode is the coordinator-selection mode a node runs.
type Mode uint8

const (
	ModeBully Mode = iota + 1
	ModeRaft
)

func (m Mode) String() string {
	switch m {
	case ModeBully:
		return "bully"
	case ModeRaft:
		return "raft"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// ParseMode reads a mode name as given on the command line.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "bully":
		return ModeBully, nil
	case "raft":
		return ModeRaft, nil
	}
	return 0, fmt.Errorf("unknown mode %q: want bully or raft", s)
}

// Role is whether a node coordinates the cluster or works for it.
type Role uint8

const (
	RoleWorker Role = iota + 1
	RoleCoordinator
)

func (r Role) String() string {
	switch r {
	case RoleWorker:
		return "worker"
	case RoleCoordinator:
		return "coordinator"
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// State is where a node stands in its own life cycle; it is what the node
// says of itself, as opposed to Status, which is what gossip says of it.
type State uint8

const (
	// StateActive: serving requests.
	StateActive State = iota + 1
	// StateFailed: silent on purpose (failure simulation). Others never see
	// this value in gossip, since a failed node sends nothing; it shows in
	// the node's own status.
	StateFailed
	// StateRecovering: back from a failure or a restart, catching up before
	// it serves.
	StateRecovering
	// StateLeaving: leaving the cluster on purpose. Others use it to tell a
	// graceful leave from a crash.
	StateLeaving
)

func (s State) String() string {
	switch s {
	case StateActive:
		return "active"
	case StateFailed:
		return "failed"
	case StateRecovering:
		return "recovering"
	case StateLeaving:
		return "leaving"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

const (
	metaVersion = 2
	// MaxAPIAddrLen bounds the API and Raft addresses carried in gossip.
	MaxAPIAddrLen = 230
	// metaFixedLen is the length of the fixed fields.
	metaFixedLen = 4 + 8 + 8 + 1 + 8 + 4
	// maxMetaLen is the largest encoding Marshal can produce.
	maxMetaLen = metaFixedLen + 2 + 2*MaxAPIAddrLen
)

// ErrBadMeta is returned for node metadata that cannot be decoded.
var ErrBadMeta = errors.New("cluster: malformed node metadata")

// MarshalBinary encodes m; the result is never longer than 512 bytes.
func (m Meta) MarshalBinary() ([]byte, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, maxMetaLen)
	b = append(b, metaVersion, byte(m.Mode), byte(m.Role), byte(m.State))
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(m.Load))
	b = binary.BigEndian.AppendUint64(b, m.Epoch)
	voter := byte(0)
	if m.Voter {
		voter = 1
	}
	b = append(b, byte(m.RaftState)|voter<<7)
	b = binary.BigEndian.AppendUint64(b, m.Commit)
	b = binary.BigEndian.AppendUint32(b, m.ContactAge)
	b = append(b, byte(len(m.API)))
	b = append(b, m.API...)
	b = append(b, byte(len(m.Raft)))
	b = append(b, m.Raft...)
	return b, nil
}

// UnmarshalBinary decodes metadata written by MarshalBinary and rejects
// anything else: another version, unknown enum values, a bad load, a
// truncated or over-long buffer.
func (m *Meta) UnmarshalBinary(b []byte) error {
	if len(b) < metaFixedLen+2 {
		return fmt.Errorf("%w: %d bytes is too short", ErrBadMeta, len(b))
	}
	if b[0] != metaVersion {
		return fmt.Errorf("%w: version %d, this node speaks %d", ErrBadMeta, b[0], metaVersion)
	}
	var out Meta
	out.Mode, out.Role, out.State = Mode(b[1]), Role(b[2]), State(b[3])
	out.Load = math.Float64frombits(binary.BigEndian.Uint64(b[4:12]))
	out.Epoch = binary.BigEndian.Uint64(b[12:20])
	if b[20]&0x80 != 0 {
		out.Voter = true
	}
	out.RaftState = RaftState(b[20] & 0x7f)
	out.Commit = binary.BigEndian.Uint64(b[21:29])
	out.ContactAge = binary.BigEndian.Uint32(b[29:33])
	rest := b[metaFixedLen:]
	n := int(rest[0])
	if len(rest) < 1+n+1 {
		return fmt.Errorf("%w: bad API address length", ErrBadMeta)
	}
	out.API = string(rest[1 : 1+n])
	rest = rest[1+n:]
	if len(rest)-1 != int(rest[0]) {
		return fmt.Errorf("%w: bad Raft address length", ErrBadMeta)
	}
	out.Raft = string(rest[1:])
	if err := out.validate(); err != nil {
		return err
	}
	*m = out
	return nil
}

func (m Meta) validate() error {
	switch {
	case m.Mode != ModeBully && m.Mode != ModeRaft:
		return fmt.Errorf("%w: unknown mode %d", ErrBadMeta, m.Mode)
	case m.Role != RoleWorker && m.Role != RoleCoordinator:
		return fmt.Errorf("%w: unknown role %d", ErrBadMeta, m.Role)
	case m.State < StateActive || m.State > StateLeaving:
		return fmt.Errorf("%w: unknown state %d", ErrBadMeta, m.State)
	case math.IsNaN(m.Load) || math.IsInf(m.Load, 0) || m.Load < 0:
		return fmt.Errorf("%w: load %v is not a finite number >= 0", ErrBadMeta, m.Load)
	case len(m.API) > MaxAPIAddrLen:
		return fmt.Errorf("%w: API address of %d bytes (at most %d)", ErrBadMeta, len(m.API), MaxAPIAddrLen)
	case !utf8.ValidString(m.API):
		return fmt.Errorf("%w: API address is not UTF-8", ErrBadMeta)
	case len(m.Raft) > MaxAPIAddrLen:
		return fmt.Errorf("%w: Raft address of %d bytes (at most %d)", ErrBadMeta, len(m.Raft), MaxAPIAddrLen)
	case !utf8.ValidString(m.Raft):
		return fmt.Errorf("%w: Raft address is not UTF-8", ErrBadMeta)
	case m.RaftState > RaftLeader:
		return fmt.Errorf("%w: unknown Raft state %d", ErrBadMeta, m.RaftState)
	}
	return nil
}
