package registry

import "veil/bully"

// Epoch names one coordinatorship: the term it was won at and the node that
// won it, ordered by Term, then Node. It is the Bully election's epoch; in
// Raft mode Term is the Raft term and Node the leader's id. The zero Epoch
// is below every other. Every log entry carries the epoch of the
// coordinator that created it.
type Epoch = bully.Epoch

// MaxEpochNode is the longest node name an Epoch may carry.
const MaxEpochNode = 255

// validEpoch reports whether e is the zero Epoch, or a term above zero with
// a node name that fits its one-byte length.
func validEpoch(e Epoch) bool {
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
	if r.err == nil && !validEpoch(e) {
		r.fail("epoch %v: term 0 must have no node", e)
	}
	return e
}
