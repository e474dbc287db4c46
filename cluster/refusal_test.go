package cluster

import (
	"errors"
	"testing"

	"github.com/hashicorp/go-hclog"

	"veil/cluster/api"
)

// TestTheCoordinatorSaysWhichFollowerRefusesAndWhy feeds the coordinator's
// record of refusals the answers a send loop gets: a refusal of the
// follower's own is listed with its code until an append is taken again;
// the protocol's own answers and a follower out of reach are not
// refusals.
func TestTheCoordinatorSaysWhichFollowerRefusesAndWhy(t *testing.T) {
	r := &replicator{log: hclog.NewNullLogger(), refusing: map[string]api.Refusal{}}
	damaged := &peerError{status: 500, code: "internal", msg: "registry: store is corrupt: log entry 7 fails its checksum"}
	r.noteRefusal("n2", &peerError{status: 409, code: "log_mismatch"}, "log_mismatch")
	r.noteRefusal("n3", errors.New("dial tcp: connection refused"), "")
	if got := r.refusals(); len(got) != 0 {
		t.Fatalf("refusals after a mismatch and a follower out of reach: %+v", got)
	}
	r.noteRefusal("n2", damaged, damaged.code)
	got := r.refusals()
	if len(got) != 1 || got[0].Peer != "n2" || got[0].Code != "internal" || got[0].Message != damaged.msg || got[0].Since.IsZero() {
		t.Fatalf("refusals = %+v, want n2's", got)
	}
	since := got[0].Since
	r.noteRefusal("n2", damaged, damaged.code)
	if got := r.refusals(); got[0].Since != since {
		t.Fatal("a refusal that goes on was recorded anew")
	}
	r.noteRefusal("n2", errors.New("timeout"), "")
	if len(r.refusals()) != 1 {
		t.Fatal("a follower out of reach for a moment was taken off the list of those refusing")
	}
	r.noteRefusal("n2", nil, "")
	if got := r.refusals(); len(got) != 0 {
		t.Fatalf("refusals after n2 took an append: %+v", got)
	}
}
