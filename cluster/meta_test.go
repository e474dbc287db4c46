package cluster

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestMetaRoundTrip(t *testing.T) {
	cases := []Meta{
		{Mode: ModeBully, Role: RoleWorker, State: StateActive, Load: 0, Epoch: 0, API: ""},
		{Mode: ModeRaft, Role: RoleCoordinator, State: StateRecovering, Load: 3.25, Epoch: math.MaxUint64, API: "127.0.0.1:7001"},
		{Mode: ModeBully, Role: RoleWorker, State: StateLeaving, Load: 1e9, Epoch: 42, API: strings.Repeat("a", MaxAPIAddrLen)},
		{Mode: ModeRaft, Role: RoleWorker, State: StateActive, API: strings.Repeat("a", MaxAPIAddrLen), Raft: strings.Repeat("r", MaxAPIAddrLen),
			RaftState: RaftLeader, Voter: true, Commit: math.MaxUint64, ContactAge: math.MaxUint32},
		{Mode: ModeRaft, Role: RoleWorker, State: StateActive, API: "127.0.0.1:7001", Raft: "127.0.0.1:8300", RaftState: RaftCandidate},
	}
	for _, want := range cases {
		b, err := want.MarshalBinary()
		if err != nil {
			t.Fatalf("marshal %+v: %v", want, err)
		}
		if len(b) > 512 {
			t.Fatalf("encoding of %d bytes passes memberlist's 512-byte limit", len(b))
		}
		var got Meta
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("unmarshal %+v: %v", want, err)
		}
		if got != want {
			t.Fatalf("round trip: got %+v, want %+v", got, want)
		}
	}
}

func TestMetaRejectsWhatItCannotEncode(t *testing.T) {
	good := Meta{Mode: ModeBully, Role: RoleWorker, State: StateActive, API: "x:1"}
	bad := map[string]func(m *Meta){
		"unknown mode":       func(m *Meta) { m.Mode = 9 },
		"unknown role":       func(m *Meta) { m.Role = 0 },
		"unknown state":      func(m *Meta) { m.State = 77 },
		"negative load":      func(m *Meta) { m.Load = -1 },
		"NaN load":           func(m *Meta) { m.Load = math.NaN() },
		"infinite load":      func(m *Meta) { m.Load = math.Inf(1) },
		"long API address":   func(m *Meta) { m.API = strings.Repeat("a", MaxAPIAddrLen+1) },
		"non-UTF-8 API":      func(m *Meta) { m.API = "\xff" },
		"long Raft address":  func(m *Meta) { m.Raft = strings.Repeat("a", MaxAPIAddrLen+1) },
		"non-UTF-8 Raft":     func(m *Meta) { m.Raft = "\xff" },
		"unknown Raft state": func(m *Meta) { m.RaftState = 9 },
	}
	for name, mutate := range bad {
		m := good
		mutate(&m)
		if _, err := m.MarshalBinary(); !errors.Is(err, ErrBadMeta) {
			t.Errorf("%s: err = %v, want ErrBadMeta", name, err)
		}
	}
}

func TestMetaDecoderRejectsMalformedBytes(t *testing.T) {
	good, err := Meta{Mode: ModeBully, Role: RoleWorker, State: StateActive, API: "h:1"}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"empty":          nil,
		"truncated":      good[:len(good)-2],
		"trailing byte":  append(append([]byte{}, good...), 0),
		"other version":  append([]byte{1}, good[1:]...),
		"no API length":  good[:metaFixedLen],
		"no Raft length": good[:len(good)-1],
	}
	for name, b := range cases {
		var m Meta
		if err := m.UnmarshalBinary(b); !errors.Is(err, ErrBadMeta) {
			t.Errorf("%s: err = %v, want ErrBadMeta", name, err)
		}
	}
}

func FuzzMetaDecode(f *testing.F) {
	for _, m := range []Meta{
		{Mode: ModeBully, Role: RoleWorker, State: StateActive, API: "127.0.0.1:7001"},
		{Mode: ModeRaft, Role: RoleCoordinator, State: StateLeaving, Load: 2.5, Epoch: 1 << 40},
		{Mode: ModeRaft, Role: RoleWorker, State: StateActive, API: "h:1", Raft: "h:2", RaftState: RaftFollower, Voter: true, Commit: 9, ContactAge: 120},
	} {
		b, _ := m.MarshalBinary()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Meta
		if err := m.UnmarshalBinary(b); err != nil {
			return
		}
		// Whatever decodes must encode back to the same bytes.
		again, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", m, err)
		}
		if string(again) != string(b) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, again)
		}
	})
}
