package load

import (
	"testing"
	"time"
)

func TestMergedHistogramsHoldEveryWorkersValues(t *testing.T) {
	one, per := NewHistogram(), []*Histogram{NewHistogram(), NewHistogram(), NewHistogram()}
	for i := 1; i <= 3000; i++ {
		d := time.Duration(i) * 100 * time.Microsecond
		one.Record(d)
		per[i%3].Record(d)
	}
	merged := MergeAll(per...)
	if merged.Count() != one.Count() || merged.Count() != 3000 {
		t.Fatalf("merged %d values, want 3000", merged.Count())
	}
	for _, q := range []float64{50, 90, 99, 99.9, 100} {
		if got, want := merged.Quantile(q), one.Quantile(q); got != want {
			t.Errorf("p%g: merged %s, one histogram %s", q, got, want)
		}
	}
	if got := merged.Max(); got < 299*time.Millisecond || got > 301*time.Millisecond {
		t.Errorf("max %s, want 300 ms within the histogram's precision", got)
	}
	for k, h := range per {
		if h.Count() != 1000 {
			t.Errorf("worker %d's histogram changed by the merge: %d values", k, h.Count())
		}
	}
}

func TestHistogramClampsValuesOutsideItsRange(t *testing.T) {
	h := NewHistogram()
	h.Record(0)
	h.Record(time.Hour)
	if h.Count() != 2 || h.Clipped != 1 {
		t.Fatalf("count %d, clipped %d; want 2 and 1", h.Count(), h.Clipped)
	}
	if h.Max() < 9*time.Minute {
		t.Fatalf("max %s: an hour should read as the top of the range", h.Max())
	}
}

func TestLatencyInMillisecondsIsOrdered(t *testing.T) {
	h := NewHistogram()
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	l := h.Millis()
	if !(l.P50 <= l.P90 && l.P90 <= l.P95 && l.P95 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
		t.Fatalf("percentiles out of order: %+v", l)
	}
	if l.P50 < 499 || l.P50 > 501 || l.Count != 1000 {
		t.Fatalf("p50 %.3f ms of 1..1000 ms (count %d), want 500", l.P50, l.Count)
	}
}
