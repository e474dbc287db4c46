package check

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

func msec(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// put is an acknowledged put of image id, tagged tag, quota 2 for bob.
func put(client int, tag, id string, call, ret int) Op {
	return Op{Client: client, Kind: Put, Image: id, Tag: tag, Quota: map[string]int{"bob": 2},
		Call: msec(call), Return: msec(ret), Result: OK, Coordinator: "node-1", Epoch: 1}
}

// view is a view of image id by bob (quota 2) with the given result.
func view(client int, id string, call, ret int, res Result, left int) Op {
	o := Op{Client: client, Kind: View, Image: id, Viewer: "bob", Quota: map[string]int{"bob": 2},
		Call: msec(call), Return: msec(ret), Result: res, ViewsLeft: left}
	if res != Unknown {
		o.Coordinator, o.Epoch = "node-1", 1
	}
	return o
}

func hist(ops ...Op) History {
	h := History{Ops: ops}
	for _, o := range ops {
		h.End = max(h.End, o.Return)
	}
	return h
}

// img is a final image with bob's views left and the put's tag.
func img(id, tag string, bobLeft int) Image {
	return Image{ID: id, Viewers: map[string]int{"bob": bobLeft, tag: 1}}
}

func TestRegistry(t *testing.T) {
	tests := []struct {
		name                 string
		h                    History
		final                []Image
		lost, dup, overQuota int
	}{
		{
			name:  "every acknowledged put and view accounted for passes",
			h:     hist(put(0, "tag-0-1", "A", 0, 10), view(1, "A", 11, 20, OK, 1), view(1, "A", 21, 30, OK, 0), view(1, "A", 31, 40, Denied, 0)),
			final: []Image{img("A", "tag-0-1", 0)},
		},
		{
			name: "an acknowledged put missing from the registry is lost",
			h:    hist(put(0, "tag-0-1", "A", 0, 10)),
			lost: 1,
		},
		{
			name:  "an acknowledged put whose id is not the one in the registry is lost",
			h:     hist(put(0, "tag-0-1", "A", 0, 10)),
			final: []Image{img("B", "tag-0-1", 2)},
			lost:  1,
		},
		{
			name:  "a put found twice was applied twice",
			h:     hist(put(0, "tag-0-1", "A", 0, 10)),
			final: []Image{img("A", "tag-0-1", 2), img("B", "tag-0-1", 2)},
			dup:   1,
		},
		{
			name:  "a put of unknown outcome may be there once",
			h:     hist(Op{Kind: Put, Tag: "tag-0-1", Quota: map[string]int{"bob": 2}, Call: msec(0), Return: msec(10), Result: Unknown}),
			final: []Image{img("A", "tag-0-1", 2)},
		},
		{
			name: "a put of unknown outcome may be missing",
			h:    hist(Op{Kind: Put, Tag: "tag-0-1", Quota: map[string]int{"bob": 2}, Call: msec(0), Return: msec(10), Result: Unknown}),
		},
		{
			name:  "a put told it failed must not be there",
			h:     hist(Op{Kind: Put, Tag: "tag-0-1", Quota: map[string]int{"bob": 2}, Call: msec(0), Return: msec(10), Result: Failed}),
			final: []Image{img("A", "tag-0-1", 2)},
			dup:   1,
		},
		{
			name:  "an image no put asked for is counted as applied twice",
			h:     hist(put(0, "tag-0-1", "A", 0, 10)),
			final: []Image{img("A", "tag-0-1", 2), {ID: "Z", Viewers: map[string]int{"bob": 1}}},
			dup:   1,
		},
		{
			name:  "an acknowledged view the registry did not count is lost",
			h:     hist(put(0, "tag-0-1", "A", 0, 10), view(1, "A", 11, 20, OK, 1), view(1, "A", 21, 30, OK, 0)),
			final: []Image{img("A", "tag-0-1", 1)},
			lost:  1,
		},
		{
			name:  "a view spent twice is applied twice",
			h:     hist(put(0, "tag-0-1", "A", 0, 10), view(1, "A", 11, 20, OK, 1)),
			final: []Image{img("A", "tag-0-1", 0)},
			dup:   1,
		},
		{
			name:  "a view of unknown outcome may have been spent",
			h:     hist(put(0, "tag-0-1", "A", 0, 10), view(1, "A", 11, 20, OK, 1), view(1, "A", 21, 30, Unknown, 0)),
			final: []Image{img("A", "tag-0-1", 0)},
		},
		{
			name:  "a view of unknown outcome may not have been spent",
			h:     hist(put(0, "tag-0-1", "A", 0, 10), view(1, "A", 11, 20, OK, 1), view(1, "A", 21, 30, Unknown, 0)),
			final: []Image{img("A", "tag-0-1", 1)},
		},
		{
			name: "views acknowledged beyond the quota are over quota",
			h: hist(put(0, "tag-0-1", "A", 0, 10), view(1, "A", 11, 20, OK, 1), view(1, "A", 21, 30, OK, 0),
				view(1, "A", 31, 40, OK, 0)),
			final:     []Image{img("A", "tag-0-1", 0)},
			overQuota: 1,
			lost:      1, // three granted, two counted
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Registry(tc.h, tc.final)
			if got.Lost != tc.lost || got.Duplicated != tc.dup || got.OverQuota != tc.overQuota {
				t.Errorf("lost %d, duplicated %d, over quota %d; want %d, %d, %d\nproblems: %s",
					got.Lost, got.Duplicated, got.OverQuota, tc.lost, tc.dup, tc.overQuota, strings.Join(got.Problems, "\n"))
			}
		})
	}
}

func TestLinear(t *testing.T) {
	tests := []struct {
		name string
		h    History
		want Verdict
	}{
		{
			name: "views one after another, counting down, then a denial",
			h:    hist(view(0, "A", 0, 10, OK, 1), view(1, "A", 11, 20, OK, 0), view(0, "A", 21, 30, Denied, 0)),
			want: Linearizable,
		},
		{
			name: "two concurrent views may report in either order",
			h:    hist(view(0, "A", 0, 10, OK, 0), view(1, "A", 1, 9, OK, 1)),
			want: Linearizable,
		},
		{
			name: "two views one after the other that both report one left",
			h:    hist(view(0, "A", 0, 10, OK, 1), view(1, "A", 11, 20, OK, 1)),
			want: NotLinearizable,
		},
		{
			name: "a denial before any view was spent",
			h:    hist(view(0, "A", 0, 10, Denied, 0), view(1, "A", 11, 20, OK, 1)),
			want: NotLinearizable,
		},
		{
			name: "a view of unknown outcome may take effect before a later view",
			h:    hist(view(0, "A", 0, 10, OK, 1), view(1, "A", 11, 15, Unknown, 0), view(0, "A", 20, 30, OK, 0), view(0, "A", 31, 40, Denied, 0)),
			want: Linearizable,
		},
		{
			name: "a view of unknown outcome may never take effect",
			h:    hist(view(0, "A", 0, 10, OK, 1), view(1, "A", 11, 15, Unknown, 0), view(0, "A", 20, 30, OK, 0)),
			want: Linearizable,
		},
		{
			name: "a view of unknown outcome cannot take effect before its call",
			h:    hist(view(0, "A", 0, 10, OK, 1), view(0, "A", 11, 20, Denied, 0), view(1, "A", 21, 25, Unknown, 0)),
			want: NotLinearizable,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			got, err := Linear(tc.h, 10*time.Second, dir)
			if err != nil {
				t.Fatal(err)
			}
			if got.Verdict != tc.want {
				t.Fatalf("verdict %s, want %s", got.Verdict, tc.want)
			}
			if tc.want == NotLinearizable {
				if len(got.Visualizations) != 1 {
					t.Fatalf("visualizations %v, want one", got.Visualizations)
				}
				if b, err := os.ReadFile(got.Visualizations[0]); err != nil || !bytes.Contains(b, []byte("<html")) {
					t.Errorf("visualization %s is not HTML (%v)", got.Visualizations[0], err)
				}
			}
		})
	}
}

func TestEpochs(t *testing.T) {
	at := func(call, ret int, coord string, epoch uint64) Op {
		o := put(0, "tag-0-1", "A", call, ret)
		o.Coordinator, o.Epoch = coord, epoch
		return o
	}
	tests := []struct {
		name string
		h    History
		want int
	}{
		{"epochs that only grow", hist(at(0, 10, "node-1", 1), at(11, 20, "node-2", 2), at(21, 30, "node-2", 2)), 0},
		{"an old epoch acknowledging after a new one did", hist(at(0, 10, "node-2", 2), at(11, 20, "node-1", 1)), 1},
		{"an old epoch acknowledging what was called before the new one acknowledged", hist(at(0, 10, "node-2", 2), at(5, 20, "node-1", 1)), 0},
		{"a denial is no acknowledgement", hist(at(0, 10, "node-2", 2), func() Op { o := at(11, 20, "node-1", 1); o.Result = Denied; return o }()), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Epochs(tc.h); len(got) != tc.want {
				t.Errorf("%d violations, want %d: %v", len(got), tc.want, got)
			}
		})
	}
}

func TestDualCoordinators(t *testing.T) {
	at := func(ret int, coord string, epoch uint64) Op {
		o := put(0, "tag-0-1", "A", 0, ret)
		o.Coordinator, o.Epoch = coord, epoch
		return o
	}
	tests := []struct {
		name string
		h    History
		want time.Duration
	}{
		{"one coordinator after the other", hist(at(0, "node-1", 1), at(10, "node-1", 1), at(11, "node-2", 2), at(20, "node-2", 2)), 0},
		{"two coordinators acknowledging for 5 ms at once", hist(at(0, "node-1", 1), at(10, "node-1", 1), at(5, "node-2", 2), at(20, "node-2", 2)), msec(5)},
		{"one coordinator in two epochs", hist(at(0, "node-1", 1), at(10, "node-1", 1), at(5, "node-1", 3), at(20, "node-1", 3)), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := DualCoordinators(tc.h); got != tc.want {
				t.Errorf("%s, want %s", got, tc.want)
			}
		})
	}
}

func TestLongestUnavailabilityCountsOnlyDefiniteAnswers(t *testing.T) {
	h := hist(view(0, "A", 0, 10, OK, 1), view(1, "A", 5, 50, Unknown, 0), view(0, "A", 11, 40, Denied, 0))
	h.End = msec(45)
	g := LongestUnavailability(h)
	if g.From != msec(10) || g.To != msec(40) {
		t.Errorf("longest gap %s to %s, want 10ms to 40ms", g.From, g.To)
	}
}

func TestJudgePassesACleanHistoryAndFailsABrokenOne(t *testing.T) {
	h := hist(put(0, "tag-0-1", "A", 0, 10), view(1, "A", 11, 20, OK, 1), view(1, "A", 21, 30, OK, 0))
	r, err := Judge(h, []Image{img("A", "tag-0-1", 0)}, time.Second, "")
	if err != nil || !r.OK() {
		t.Fatalf("a clean history fails: %v %+v", err, r)
	}
	if r.Ops != 3 || r.Acknowledged != 3 || r.Images != 1 {
		t.Errorf("counts %+v", r)
	}
	r, err = Judge(h, []Image{img("A", "tag-0-1", 1)}, time.Second, "")
	if err != nil || r.OK() || r.Lost != 1 {
		t.Fatalf("a lost view passes: %v %+v", err, r)
	}
}

func TestDecodeReadsWhatEncodeWrote(t *testing.T) {
	h := hist(put(0, "tag-0-1", "A", 0, 10), view(1, "A", 11, 20, OK, 1))
	var b bytes.Buffer
	if err := h.Encode(&b); err != nil {
		t.Fatal(err)
	}
	got, err := Decode(&b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Ops) != 2 || got.Ops[1].ViewsLeft != 1 || got.Ops[0].Quota["bob"] != 2 || got.End != h.End {
		t.Errorf("round trip: %+v", got)
	}
}

func TestDecodeRefusesWhatDoesNotHoldTogether(t *testing.T) {
	for name, in := range map[string]string{
		"unknown field":        `{"end":10,"ops":[],"extra":1}`,
		"unknown kind":         `{"end":10,"ops":[{"kind":"delete","result":"ok","call":0,"return":1}]}`,
		"unknown result":       `{"end":10,"ops":[{"kind":"put","result":"maybe","call":0,"return":1}]}`,
		"return before call":   `{"end":10,"ops":[{"kind":"put","result":"ok","call":5,"return":1}]}`,
		"return after the end": `{"end":10,"ops":[{"kind":"put","result":"ok","call":5,"return":11}]}`,
		"negative quota":       `{"end":10,"ops":[{"kind":"put","result":"ok","call":0,"return":1,"quota":{"bob":-1}}]}`,
		"not JSON":             `{"end":`,
		"negative client":      `{"end":10,"ops":[{"client":-1,"kind":"put","result":"ok","call":0,"return":1}]}`,
		"negative end":         `{"end":-1,"ops":[]}`,
		"negative views left":  `{"end":10,"ops":[{"kind":"view","result":"ok","call":0,"return":1,"views_left":-2}]}`,
	} {
		if _, err := Decode(strings.NewReader(in)); err == nil {
			t.Errorf("%s: accepted %s", name, in)
		}
	}
}

// Whatever bytes come in, Decode either refuses them or returns a history
// that every check can run on without panicking.
func FuzzDecode(f *testing.F) {
	var b bytes.Buffer
	_ = hist(put(0, "tag-0-1", "A", 0, 10), view(1, "A", 11, 20, OK, 1), view(2, "A", 12, 20, Unknown, 0)).Encode(&b)
	f.Add(b.Bytes())
	f.Add([]byte(`{"end":10,"ops":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := Decode(bytes.NewReader(data))
		if err != nil {
			return
		}
		if len(h.Ops) > 64 {
			return // the linearizability check is exponential in the worst case
		}
		_, _ = Judge(h, nil, 100*time.Millisecond, "")
	})
}
