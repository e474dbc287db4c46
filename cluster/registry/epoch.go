package registry

import "strconv"

// Epoch names one coordinatorship: the term it was won at and the node that
// won it, ordered by Term, then Node. It has the shape of bully.Epoch, so a
// host converts one to the other with a plain conversion; in Raft mode Term
// is the Raft term and Node the leader's id. The zero Epoch is below every
// other. Every log entry carries the epoch of the coordinator that created
// it.
type Epoch struct {
	Term uint64
	Node string
}

// MaxEpochNode is the longest node name an Epoch may carry.
const MaxEpochNode = 255

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

// valid reports whether e is the zero Epoch, or a term above zero with a
// node name that fits its one-byte length.
func (e Epoch) valid() bool {
	if e.Term == 0 {
		return e.Node == ""
	}
	return len(e.Node) <= MaxEpochNode
}

func appendEpoch(b []byte, e Epoch) []byte {
	b = appendU64(b, e.Term)
	b = append(b, byte(len(e.Node)))
	return append(b, e.Node...)
}

func (r *reader) epoch() Epoch {
	e := Epoch{Term: r.u64()}
	e.Node = string(r.bytes(int(r.u8())))
	if r.err == nil && !e.valid() {
		r.fail("epoch %v: term 0 must have no node", e)
	}
	return e
}
