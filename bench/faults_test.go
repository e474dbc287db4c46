package bench

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestFaultSchedulesAreRead(t *testing.T) {
	cases := []struct {
		in   string
		want []Fault
	}{
		{"", nil},
		{"kill@10s+5s", []Fault{{Kind: FaultKill, Target: TargetCoordinator, At: 10 * time.Second, For: 5 * time.Second}}},
		{"kill:node-2@1m", []Fault{{Kind: FaultKill, Target: "node-2", At: time.Minute}}},
		{"stop@20s+3s; fail@30s+8s", []Fault{
			{Kind: FaultStop, Target: TargetCoordinator, At: 20 * time.Second, For: 3 * time.Second},
			{Kind: FaultFail, Target: TargetCoordinator, At: 30 * time.Second, For: 8 * time.Second},
		}},
		{"handoff@5s handoff:node-3@10s", []Fault{
			{Kind: FaultHandoff, Target: TargetCoordinator, At: 5 * time.Second},
			{Kind: FaultHandoff, Target: "node-3", At: 10 * time.Second},
		}},
		{"simulate, kill@0s+500ms", []Fault{
			{Kind: FaultSimulate},
			{Kind: FaultKill, Target: TargetCoordinator, For: 500 * time.Millisecond},
		}},
	}
	for _, tc := range cases {
		got, err := ParseFaults(tc.in)
		if err != nil {
			t.Errorf("ParseFaults(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseFaults(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestBadFaultSchedulesAreRefusedWithTheReason(t *testing.T) {
	cases := []struct{ in, want string }{
		{"kill", "no @ time"},
		{"reboot@1s+1s", "unknown kind"},
		{"kill@soon", "bad time"},
		{"kill@-1s", "bad time"},
		{"stop@1s", "needs a duration"},
		{"fail@1s+0s", "bad duration"},
		{"kill:no/de@1s", "bad node name"},
		{"kill@1s+48h", "bad duration"},
		{"handoff@1s+2s", "takes no duration"},
	}
	for _, tc := range cases {
		_, err := ParseFaults(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseFaults(%q): %v, want an error saying %q", tc.in, err, tc.want)
		}
	}
}

func TestSizesModesAndDimensionsAreRead(t *testing.T) {
	if s, err := ParseSizes("3,5,7"); err != nil || !reflect.DeepEqual(s, []int{3, 5, 7}) {
		t.Errorf("ParseSizes(3,5,7) = %v, %v", s, err)
	}
	if m, err := ParseModes("both"); err != nil || !reflect.DeepEqual(m, []string{"bully", "raft"}) {
		t.Errorf("ParseModes(both) = %v, %v", m, err)
	}
	if w, h, err := ParseDims("640x480"); err != nil || w != 640 || h != 480 {
		t.Errorf("ParseDims(640x480) = %d, %d, %v", w, h, err)
	}
	for _, bad := range []string{"", "0", "3,,5", "65", "x"} {
		if _, err := ParseSizes(bad); err == nil {
			t.Errorf("ParseSizes(%q) took it", bad)
		}
	}
	for _, bad := range []string{"", "64", "0x10", "10x", "x10", "99999x2"} {
		if _, _, err := ParseDims(bad); err == nil {
			t.Errorf("ParseDims(%q) took it", bad)
		}
	}
}

// Whatever the schedule, the parser does not panic, and a schedule it
// takes reads back the same from its own printing.
func FuzzParseFaults(f *testing.F) {
	for _, s := range []string{"kill@10s+5s", "kill:node-2@1m", "stop@20s+3s;fail@30s+8s", "simulate", "kill@0s", "x@@+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		faults, err := ParseFaults(s)
		if err != nil {
			return
		}
		var printed []string
		for _, fl := range faults {
			printed = append(printed, fl.String())
		}
		again, err := ParseFaults(strings.Join(printed, ","))
		if err != nil {
			t.Fatalf("%q read as %v, printed as %q, which does not read: %v", s, faults, printed, err)
		}
		if !reflect.DeepEqual(faults, again) && !(len(faults) == 0 && len(again) == 0) {
			t.Fatalf("%q read as %+v, then as %+v", s, faults, again)
		}
	})
}

// The other parsers of the bench's flags do not panic and keep to their
// bounds.
func FuzzParseFlags(f *testing.F) {
	for _, s := range []string{"3", "3,5,7", "64x64", "both", "0", "1x1", "-1,2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if sizes, err := ParseSizes(s); err == nil {
			for _, n := range sizes {
				if n < 1 || n > maxNodes {
					t.Fatalf("ParseSizes(%q) gave %d", s, n)
				}
			}
		}
		if w, h, err := ParseDims(s); err == nil && (w < 1 || h < 1 || w > maxDim || h > maxDim) {
			t.Fatalf("ParseDims(%q) gave %dx%d", s, w, h)
		}
		if m, err := ParseModes(s); err == nil && len(m) == 0 {
			t.Fatalf("ParseModes(%q) gave no mode", s)
		}
	})
}
