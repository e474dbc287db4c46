package load

import (
	"strings"
	"testing"

	"veil/cluster"
)

// history is a small run: two puts for viewer v with 3 views each, two
// views of the first.
func history() ([]Op, []cluster.ImageReply) {
	ops := []Op{
		{Worker: 0, Kind: OpPut, Outcome: OutcomeOK, Image: "a", Viewer: "v", Quota: 3},
		{Worker: 1, Kind: OpPut, Outcome: OutcomeOK, Image: "b", Viewer: "v", Quota: 3},
		{Worker: 0, Kind: OpView, Outcome: OutcomeOK, Image: "a", Viewer: "v"},
		{Worker: 0, Kind: OpView, Outcome: OutcomeOK, Image: "a", Viewer: "v"},
	}
	reg := []cluster.ImageReply{
		{ID: "a", Owner: "o", Viewers: map[string]int{"v": 1}},
		{ID: "b", Owner: "o", Viewers: map[string]int{"v": 3}},
	}
	return ops, reg
}

func TestBooksOfAFaithfulRegistryBalance(t *testing.T) {
	ops, reg := history()
	b := CheckBooks(ops, reg)
	if !b.OK() {
		t.Fatalf("problems: %v", b.Problems)
	}
	if b.PutsAcked != 2 || b.ViewsAcked != 2 || b.InRegistry != 2 {
		t.Fatalf("counted %d puts, %d views, %d in the registry; want 2, 2, 2", b.PutsAcked, b.ViewsAcked, b.InRegistry)
	}
}

func TestBooksCatchWhatTheRegistryGotWrong(t *testing.T) {
	cases := []struct {
		name   string
		change func(ops []Op, reg []cluster.ImageReply) ([]Op, []cluster.ImageReply)
		want   string
	}{
		{"an acknowledged put is lost", func(ops []Op, reg []cluster.ImageReply) ([]Op, []cluster.ImageReply) {
			return ops, reg[:1]
		}, "not in the registry: lost"},
		{"a put is applied twice", func(ops []Op, reg []cluster.ImageReply) ([]Op, []cluster.ImageReply) {
			return ops, append(reg, cluster.ImageReply{ID: "b2", Owner: "o", Viewers: map[string]int{"v": 3}})
		}, "a put was applied twice"},
		{"two puts are acknowledged with one image", func(ops []Op, reg []cluster.ImageReply) ([]Op, []cluster.ImageReply) {
			return append(ops, Op{Worker: 2, Kind: OpPut, Outcome: OutcomeOK, Image: "b", Viewer: "v", Quota: 3}), reg
		}, "applied twice"},
		{"a view is applied twice", func(ops []Op, reg []cluster.ImageReply) ([]Op, []cluster.ImageReply) {
			reg[0].Viewers["v"] = 0
			return ops, reg
		}, "counted twice"},
		{"an acknowledged view is not counted", func(ops []Op, reg []cluster.ImageReply) ([]Op, []cluster.ImageReply) {
			reg[0].Viewers["v"] = 2
			return ops, reg
		}, "were not counted"},
		{"the viewer is missing", func(ops []Op, reg []cluster.ImageReply) ([]Op, []cluster.ImageReply) {
			reg[1].Viewers = map[string]int{}
			return ops, reg
		}, "no viewer v"},
		{"a view of an image never put", func(ops []Op, reg []cluster.ImageReply) ([]Op, []cluster.ImageReply) {
			return append(ops, Op{Kind: OpView, Outcome: OutcomeOK, Image: "z", Viewer: "v"}), reg
		}, "no put of it was"},
		{"a view gives back bytes that are not the secret put", func(ops []Op, reg []cluster.ImageReply) ([]Op, []cluster.ImageReply) {
			ops[3].WrongSecret = true
			return ops, reg
		}, "not the secret put"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ops, reg := tc.change(history())
			b := CheckBooks(ops, reg)
			if b.OK() {
				t.Fatal("the books balance; want a problem")
			}
			if !strings.Contains(strings.Join(b.Problems, "\n"), tc.want) {
				t.Fatalf("problems %q do not say %q", b.Problems, tc.want)
			}
		})
	}
}

func TestBooksAccountForOperationsOfUnknownOutcome(t *testing.T) {
	ops, reg := history()
	// A put that timed out and did happen, and one that did not; a view
	// that timed out and was counted.
	ops = append(ops,
		Op{Kind: OpPut, Outcome: OutcomeUnknown, Viewer: "v", Quota: 3},
		Op{Kind: OpPut, Outcome: OutcomeUnknown, Viewer: "v", Quota: 3},
		Op{Kind: OpView, Outcome: OutcomeUnknown, Image: "b", Viewer: "v"},
	)
	reg = append(reg, cluster.ImageReply{ID: "c", Owner: "o", Viewers: map[string]int{"v": 3}})
	reg[1].Viewers["v"] = 2
	b := CheckBooks(ops, reg)
	if !b.OK() {
		t.Fatalf("problems: %v", b.Problems)
	}
	if b.UnknownPutsApplied != 1 || b.UnknownViewsApplied != 1 {
		t.Fatalf("unknown puts applied %d, views %d; want 1 and 1", b.UnknownPutsApplied, b.UnknownViewsApplied)
	}
}
