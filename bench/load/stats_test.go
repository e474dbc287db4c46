package load

import (
	"math"
	"testing"
	"time"
)

func TestSummaryPercentilesAreNearestRankValues(t *testing.T) {
	var d []time.Duration
	for i := 10; i >= 1; i-- { // unsorted on purpose
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	s := Summarize(d)
	want := Summary{N: 10, Min: 1 * time.Millisecond, Median: 5 * time.Millisecond, P90: 9 * time.Millisecond,
		P95: 10 * time.Millisecond, P99: 10 * time.Millisecond, Max: 10 * time.Millisecond, Mean: 5500 * time.Microsecond}
	if s != want {
		t.Fatalf("Summarize(1..10 ms) = %+v, want %+v", s, want)
	}
	if d[0] != 10*time.Millisecond {
		t.Fatal("Summarize sorted its argument in place")
	}
}

func TestSummaryOfOneValueIsThatValue(t *testing.T) {
	s := Summarize([]time.Duration{7 * time.Millisecond})
	for _, v := range []time.Duration{s.Min, s.Median, s.P90, s.P99, s.Max, s.Mean} {
		if v != 7*time.Millisecond {
			t.Fatalf("Summarize(7 ms) = %+v", s)
		}
	}
}

func TestSummaryOfNothingIsEmpty(t *testing.T) {
	if s := Summarize(nil); s != (Summary{}) {
		t.Fatalf("Summarize(nil) = %+v", s)
	}
}

func TestJainIsOneForEqualWorkAndOneOverNForOneNodeDoingAll(t *testing.T) {
	for _, c := range []struct {
		name string
		xs   []float64
		want float64
	}{
		{"equal", []float64{5, 5, 5, 5}, 1},
		{"one does all", []float64{9, 0, 0}, 1.0 / 3},
		{"two of four", []float64{1, 1, 0, 0}, 0.5},
		{"nothing", []float64{0, 0}, 0},
		{"none", nil, 0},
	} {
		if got := Jain(c.xs); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: Jain(%v) = %v, want %v", c.name, c.xs, got, c.want)
		}
	}
}
