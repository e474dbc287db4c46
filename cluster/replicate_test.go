package cluster

import (
	"testing"
	"time"
)

func TestExpiryPointIsTheNewestCommitOlderThanTheWindow(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	marks := []commitMark{{t0, 10}, {t0.Add(time.Minute), 20}, {t0.Add(2 * time.Minute), 30}}
	cases := []struct {
		name   string
		now    time.Time
		before uint64
		kept   int
	}{
		{"nothing is old enough", t0.Add(9 * time.Minute), 0, 3},
		{"the first mark just reached the window", t0.Add(10 * time.Minute), 10, 2},
		{"two marks are past it", t0.Add(11*time.Minute + time.Second), 20, 1},
		{"every mark is past it", t0.Add(time.Hour), 30, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, rest := expiryPoint(append([]commitMark(nil), marks...), tc.now, 10*time.Minute)
			if before != tc.before || len(rest) != tc.kept {
				t.Fatalf("before %d with %d marks kept, want %d and %d", before, len(rest), tc.before, tc.kept)
			}
		})
	}
}
