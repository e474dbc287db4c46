package bully

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// Epoch names one coordinatorship: the term it was won at and the node that
// won it. Epochs are totally ordered by Term, then Node. A winner takes a term
// above every term it knows, paired with its own name, so two different
// coordinators never hold the same epoch, even when two sides of a partition
// elect at the same term. The zero Epoch is below every other and means "no
// coordinator yet".
type Epoch struct {
	Term uint64
	Node string
}

// Compare returns -1, 0 or +1 as e is below, equal to or above o.
func (e Epoch) Compare(o Epoch) int {
	switch {
	case e.Term < o.Term:
		return -1
	case e.Term > o.Term:
		return 1
	case e.Node < o.Node:
		return -1
	case e.Node > o.Node:
		return 1
	}
	return 0
}

// Less reports whether e is below o.
func (e Epoch) Less(o Epoch) bool { return e.Compare(o) < 0 }

// IsZero reports whether e is the zero Epoch.
func (e Epoch) IsZero() bool { return e.Term == 0 && e.Node == "" }

// String returns "term/node", or "0" for the zero Epoch.
func (e Epoch) String() string {
	if e.IsZero() {
		return "0"
	}
	return strconv.FormatUint(e.Term, 10) + "/" + e.Node
}

// valid reports whether e is the zero Epoch or a term above zero with a
// node name that fits the wire.
func (e Epoch) valid() bool {
	if e.Term == 0 {
		return e.Node == ""
	}
	return validID(e.Node)
}

// MessageType is the kind of a Message.
type MessageType uint8

// The message types. The numbers are part of the wire encoding.
const (
	// Election opens or joins an election; To is empty (every live member).
	// Load is the sender's snapshot.
	Election MessageType = 1
	// Answer tells a candidate that the sender outranks it and takes over.
	// Load is the sender's snapshot.
	Answer MessageType = 2
	// Coordinator announces that the sender won at Epoch, and repeats as the
	// coordinator's heartbeat. Epoch.Node equals From. Load is the sender's
	// current load. To is empty, or names one node that sent a stale
	// message.
	Coordinator MessageType = 3
	// Refuse tells a candidate that the sender follows a coordinator it
	// heard within CoordinatorTimeout and will not help replace it (Raft's
	// pre-vote, refused). The candidate stands down and tries again
	// ElectionTimeout ticks later. Load is the sender's current load.
	Refuse MessageType = 4
	// Yield tells a candidate that the sender does not outrank it and
	// does not object: a candidate that has a YIELD from every live member
	// it must hear from wins at once, without waiting out ElectionTimeout.
	// Load is the sender's snapshot.
	Yield MessageType = 5
	// Offer, from a follower to its coordinator, asks for the role: the
	// sender's load (Load) is below the coordinator's last heartbeat load
	// by more than LoadGap (a load-driven re-election). The coordinator
	// then broadcasts an Offer of its own (To == "", Load its current
	// load): a call for offers, which every follower lighter than it by
	// the gap answers with its Offer. After ElectionTimeout ticks it hands
	// the role to the best offer.
	Offer MessageType = 6
	// Handoff tells the node named in To to take over at once, as Raft's
	// TimeoutNow does: the coordinator that holds Epoch (Epoch.Node ==
	// From) has stopped taking writes and brought the recipient up to
	// date. The recipient wins at the next term. Load is the sender's
	// current load.
	Handoff MessageType = 7
)

// String returns the name of t as it appears in traces.
func (t MessageType) String() string {
	switch t {
	case Election:
		return "ELECTION"
	case Answer:
		return "ANSWER"
	case Coordinator:
		return "COORDINATOR"
	case Refuse:
		return "REFUSE"
	case Yield:
		return "YIELD"
	case Offer:
		return "OFFER"
	case Handoff:
		return "HANDOFF"
	}
	return "MessageType(" + strconv.Itoa(int(t)) + ")"
}

// Message is what nodes exchange. To == "" means every live member but the
// sender; the host fans it out.
type Message struct {
	Type  MessageType
	From  string
	To    string
	Epoch Epoch   // the sender's epoch; for Coordinator, the epoch it holds
	Load  float64 // the sender's load: its snapshot in Election and Answer
}

// String renders m for traces: "ELECTION a->* e=3/b load=2".
func (m Message) String() string {
	to := m.To
	if to == "" {
		to = "*"
	}
	return fmt.Sprintf("%v %s->%s e=%v load=%v", m.Type, m.From, to, m.Epoch, m.Load)
}

// Version is the wire format version, the first byte of every encoded
// message.
const Version = 1

// MarshalBinary encodes m:
//
//	version  1 byte (Version)
//	type     1 byte
//	term     8 bytes, big endian
//	load     8 bytes, IEEE 754 bits, big endian
//	from, to, epoch node: each 1 byte of length then the bytes
//
// It refuses a message that Validate refuses.
func (m Message) MarshalBinary() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 2+8+8+3+len(m.From)+len(m.To)+len(m.Epoch.Node))
	b = append(b, Version, byte(m.Type))
	b = binary.BigEndian.AppendUint64(b, m.Epoch.Term)
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(m.Load))
	for _, s := range [...]string{m.From, m.To, m.Epoch.Node} {
		b = append(b, byte(len(s)))
		b = append(b, s...)
	}
	return b, nil
}

// UnmarshalBinary decodes b into m. Any malformed input (wrong version,
// unknown type, truncated or trailing bytes, a field Validate refuses) yields
// an error wrapping ErrMalformed and leaves m unchanged.
func (m *Message) UnmarshalBinary(b []byte) error {
	const fixed = 2 + 8 + 8
	if len(b) < fixed+3 {
		return fmt.Errorf("%w: %d bytes, at least %d needed", ErrMalformed, len(b), fixed+3)
	}
	if b[0] != Version {
		return fmt.Errorf("%w: version %d, want %d", ErrMalformed, b[0], Version)
	}
	var out Message
	out.Type = MessageType(b[1])
	out.Epoch.Term = binary.BigEndian.Uint64(b[2:])
	out.Load = math.Float64frombits(binary.BigEndian.Uint64(b[10:]))
	rest := b[fixed:]
	var fields [3]string
	for i := range fields {
		if len(rest) < 1 || len(rest) < 1+int(rest[0]) {
			return fmt.Errorf("%w: truncated string field %d", ErrMalformed, i)
		}
		n := int(rest[0])
		fields[i] = string(rest[1 : 1+n])
		rest = rest[1+n:]
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(rest))
	}
	out.From, out.To, out.Epoch.Node = fields[0], fields[1], fields[2]
	if err := out.Validate(); err != nil {
		return err
	}
	*m = out
	return nil
}

// Validate reports whether m makes sense on its own: a known type, a sender,
// names that fit the wire, a finite load, a well-formed epoch, and for a
// Coordinator an epoch won by its sender. Errors wrap ErrMalformed. Step
// applies the same checks, so messages that never went through the wire are
// held to the same rules.
func (m Message) Validate() error {
	switch {
	case m.Type < Election || m.Type > Handoff:
		return fmt.Errorf("%w: unknown type %d", ErrMalformed, uint8(m.Type))
	case !validID(m.From):
		return fmt.Errorf("%w: bad sender %q", ErrMalformed, m.From)
	case m.To != "" && !validID(m.To):
		return fmt.Errorf("%w: bad recipient %q", ErrMalformed, m.To)
	case m.To == m.From:
		return fmt.Errorf("%w: %v sent to its own sender", ErrMalformed, m.Type)
	case math.IsNaN(m.Load) || math.IsInf(m.Load, 0):
		return fmt.Errorf("%w: load %v", ErrMalformed, m.Load)
	case !m.Epoch.valid():
		return fmt.Errorf("%w: bad epoch %q", ErrMalformed, m.Epoch.String())
	case (m.Type == Coordinator || m.Type == Handoff) && m.Epoch.Node != m.From:
		return fmt.Errorf("%w: %v from %q claims epoch %v", ErrMalformed, m.Type, m.From, m.Epoch)
	case m.Type == Election && m.To != "":
		return fmt.Errorf("%w: ELECTION addressed to one node", ErrMalformed)
	case (m.Type == Answer || m.Type == Refuse || m.Type == Yield || m.Type == Handoff) && m.To == "":
		return fmt.Errorf("%w: %v addressed to everyone", ErrMalformed, m.Type)
	case m.Type == Offer && m.To == "" && m.Epoch.Node != m.From:
		return fmt.Errorf("%w: a call for offers from %q, which does not hold epoch %v", ErrMalformed, m.From, m.Epoch)
	}
	return nil
}

// validID reports whether s can name a node: not empty, valid UTF-8, and at
// most MaxIDLength bytes.
func validID(s string) bool {
	return s != "" && len(s) <= MaxIDLength && utf8.ValidString(s)
}
