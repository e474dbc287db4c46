package bully

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestEpochOrder(t *testing.T) {
	tests := []struct {
		name string
		a, b Epoch
		want int
	}{
		{"zero equals zero", Epoch{}, Epoch{}, 0},
		{"zero is below every won epoch", Epoch{}, Epoch{1, "a"}, -1},
		{"a higher term wins whatever the names", Epoch{2, "a"}, Epoch{1, "z"}, 1},
		{"equal terms: the larger name is higher", Epoch{3, "a"}, Epoch{3, "b"}, -1},
		{"same term and node is the same epoch", Epoch{3, "b"}, Epoch{3, "b"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Compare(tt.b); got != tt.want {
				t.Errorf("%v.Compare(%v) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := tt.b.Compare(tt.a); got != -tt.want {
				t.Errorf("%v.Compare(%v) = %d, want %d", tt.b, tt.a, got, -tt.want)
			}
			if got := tt.a.Less(tt.b); got != (tt.want < 0) {
				t.Errorf("%v.Less(%v) = %v", tt.a, tt.b, got)
			}
		})
	}
	if s := (Epoch{}).String(); s != "0" {
		t.Errorf("zero epoch prints %q", s)
	}
	if s := (Epoch{7, "n1"}).String(); s != "7/n1" {
		t.Errorf("epoch prints %q", s)
	}
}

func TestTypeAndStateNames(t *testing.T) {
	for v, want := range map[MessageType]string{Election: "ELECTION", Answer: "ANSWER", Coordinator: "COORDINATOR", 9: "MessageType(9)"} {
		if got := v.String(); got != want {
			t.Errorf("MessageType(%d) = %q, want %q", v, got, want)
		}
	}
	for v, want := range map[State]string{StateFollower: "follower", StateCandidate: "candidate", StateWaiting: "waiting", StateCoordinator: "coordinator", 9: "State(9)"} {
		if got := v.String(); got != want {
			t.Errorf("State(%d) = %q, want %q", v, got, want)
		}
	}
	if got := (Message{Type: Election, From: "a", Epoch: Epoch{2, "b"}, Load: 1.5}).String(); got != "ELECTION a->* e=2/b load=1.5" {
		t.Errorf("message prints %q", got)
	}
}

var validMessages = []Message{
	{Type: Election, From: "a", Epoch: Epoch{}, Load: 0},
	{Type: Election, From: "node-1", Epoch: Epoch{4, "node-3"}, Load: -2.5},
	{Type: Answer, From: "b", To: "a", Epoch: Epoch{1, "c"}, Load: 1e300},
	{Type: Coordinator, From: "c", Epoch: Epoch{9, "c"}, Load: 3},
	{Type: Coordinator, From: "c", To: "d", Epoch: Epoch{math.MaxUint32, "c"}, Load: 0.25},
	{Type: Coordinator, From: strings.Repeat("é", MaxIDLength/2), Epoch: Epoch{1, strings.Repeat("é", MaxIDLength/2)}},
}

func TestMessageRoundTrip(t *testing.T) {
	for _, m := range validMessages {
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("marshal %v: %v", m, err)
		}
		if b[0] != Version {
			t.Errorf("%v: first byte %d, want the version %d", m, b[0], Version)
		}
		var got Message
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("unmarshal %v: %v", m, err)
		}
		if got != m {
			t.Errorf("round trip: got %+v, want %+v", got, m)
		}
	}
}

func encode(t *testing.T, m Message) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUnmarshalRejectsMalformed(t *testing.T) {
	good := encode(t, Message{Type: Answer, From: "b", To: "a", Epoch: Epoch{1, "c"}, Load: 1})
	with := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	// raw builds an encoding by hand, bypassing MarshalBinary's checks.
	raw := func(typ byte, term uint64, load float64, from, to, node string) []byte {
		b := []byte{Version, typ}
		for i := 7; i >= 0; i-- {
			b = append(b, byte(term>>(8*i)))
		}
		bits := math.Float64bits(load)
		for i := 7; i >= 0; i-- {
			b = append(b, byte(bits>>(8*i)))
		}
		for _, s := range []string{from, to, node} {
			b = append(b, byte(len(s)))
			b = append(b, s...)
		}
		return b
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty input", nil},
		{"a single version byte", []byte{Version}},
		{"an unknown version", with(func(b []byte) []byte { b[0] = Version + 1; return b })},
		{"version zero", with(func(b []byte) []byte { b[0] = 0; return b })},
		{"type zero", with(func(b []byte) []byte { b[1] = 0; return b })},
		{"an unknown type", with(func(b []byte) []byte { b[1] = 8; return b })},
		{"truncated in a string", good[:len(good)-1]},
		{"trailing bytes", append(bytes.Clone(good), 0)},
		{"a string length past the end", with(func(b []byte) []byte { b[18] = 200; return b })},
		{"a NaN load", raw(byte(Election), 0, math.NaN(), "a", "", "")},
		{"an infinite load", raw(byte(Election), 0, math.Inf(1), "a", "", "")},
		{"no sender", raw(byte(Election), 0, 1, "", "", "")},
		{"sent to its own sender", raw(byte(Answer), 0, 1, "a", "a", "")},
		{"a sender that is not UTF-8", raw(byte(Election), 0, 1, "\xff", "", "")},
		{"a recipient that is not UTF-8", raw(byte(Answer), 0, 1, "a", "\xfe", "")},
		{"term zero with a node", raw(byte(Election), 0, 1, "a", "", "b")},
		{"a term without a node", raw(byte(Election), 3, 1, "a", "", "")},
		{"a COORDINATOR for someone else's epoch", raw(byte(Coordinator), 3, 1, "a", "", "b")},
		{"a COORDINATOR at the zero epoch", raw(byte(Coordinator), 0, 1, "a", "", "")},
		{"an ELECTION to one node", raw(byte(Election), 0, 1, "a", "b", "")},
		{"an ANSWER to everyone", raw(byte(Answer), 0, 1, "a", "", "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Message{Type: Coordinator, From: "keep", Epoch: Epoch{1, "keep"}}
			before := m
			err := m.UnmarshalBinary(tt.b)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
			if m != before {
				t.Errorf("a failed decode changed the message to %+v", m)
			}
		})
	}
}

func TestMarshalRefusesWhatDecodeWouldRefuse(t *testing.T) {
	for _, m := range []Message{
		{Type: Election},
		{Type: 8, From: "a"},
		{Type: Handoff, From: "a", To: "c", Epoch: Epoch{1, "b"}},
		{Type: Offer, From: "a", Epoch: Epoch{1, "b"}},
		{Type: Election, From: strings.Repeat("x", MaxIDLength+1)},
		{Type: Coordinator, From: "a", Epoch: Epoch{1, "b"}},
		{Type: Election, From: "a", Load: math.NaN()},
	} {
		if _, err := m.MarshalBinary(); !errors.Is(err, ErrMalformed) {
			t.Errorf("MarshalBinary(%+v) = %v, want ErrMalformed", m, err)
		}
	}
}

// FuzzUnmarshal: any input either decodes to a message that passes Validate
// and encodes back to the very same bytes, or fails with ErrMalformed and
// leaves the message alone. It never panics.
func FuzzUnmarshal(f *testing.F) {
	for _, m := range validMessages {
		b, _ := m.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{Version, byte(Coordinator)})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		if err := m.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if m != (Message{}) {
				t.Fatalf("failed decode changed the message: %+v", m)
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("decoded %+v fails Validate: %v", m, err)
		}
		again, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", m, err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("not canonical: %x decodes to %+v, which encodes to %x", b, m, again)
		}
	})
}
