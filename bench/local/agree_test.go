package local

import (
	"testing"
)

func TestAgreementNeedsTheSameCoordinatorAtTheSameEpochAmongThePolled(t *testing.T) {
	view := func(node, coord string, term uint64) View {
		v := View{Node: node}
		v.Reply.Coordinator, v.Reply.Epoch, v.Reply.EpochNode = coord, term, coord
		return v
	}
	cases := []struct {
		name  string
		views []View
		want  bool
	}{
		{"all name b at 2", []View{view("a", "b", 2), view("b", "b", 2), view("c", "b", 2)}, true},
		{"one names another", []View{view("a", "b", 2), view("b", "b", 2), view("c", "c", 2)}, false},
		{"one is an epoch behind", []View{view("a", "b", 1), view("b", "b", 2)}, false},
		{"they agree on a node not polled", []View{view("a", "x", 2), view("b", "x", 2)}, false},
		{"one does not answer", []View{view("a", "b", 2), {Node: "b", Err: errTest}}, false},
		{"nobody", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, got := agreed(tc.views); got != tc.want {
				t.Fatalf("agreed = %v, want %v", got, tc.want)
			}
		})
	}
}

var errTest = errorString("connection refused")

type errorString string

func (e errorString) Error() string { return string(e) }
