package load

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds, from 1 µs to 10 minutes, to three
// significant digits: every percentile is within 0.1% of a value measured.
const (
	histMin     = 1
	histMax     = int64(10 * time.Minute / time.Microsecond)
	histSigFigs = 3
)

// Histogram records durations. One worker owns one, so recording takes no
// lock; the run merges them when the workers are done.
type Histogram struct {
	h *hdrhistogram.Histogram
	// Clipped counts values above the range, recorded as its maximum.
	Clipped int64
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{h: hdrhistogram.New(histMin, histMax, histSigFigs)}
}

// Record adds one duration. Values out of range are clamped to it.
func (h *Histogram) Record(d time.Duration) {
	us := int64(d / time.Microsecond)
	switch {
	case us < histMin:
		us = histMin
	case us > histMax:
		us = histMax
		h.Clipped++
	}
	_ = h.h.RecordValue(us) // in range by construction
}

// Merge adds every value of the others to h.
func (h *Histogram) Merge(others ...*Histogram) {
	for _, o := range others {
		if o == nil {
			continue
		}
		h.h.Merge(o.h)
		h.Clipped += o.Clipped
	}
}

// MergeAll returns a new histogram holding the values of all of hs.
func MergeAll(hs ...*Histogram) *Histogram {
	out := NewHistogram()
	out.Merge(hs...)
	return out
}

// Count is the number of values recorded.
func (h *Histogram) Count() int64 { return h.h.TotalCount() }

// Quantile returns the value at or below which q percent of the values
// lie (q from 0 to 100).
func (h *Histogram) Quantile(q float64) time.Duration {
	return time.Duration(h.h.ValueAtQuantile(q)) * time.Microsecond
}

// Max is the largest value recorded (to the histogram's precision).
func (h *Histogram) Max() time.Duration {
	return time.Duration(h.h.Max()) * time.Microsecond
}

// Millis summarizes the histogram in milliseconds, as the report gives it.
func (h *Histogram) Millis() LatencyMS {
	if h.Count() == 0 {
		return LatencyMS{}
	}
	m := func(d time.Duration) float64 { return Round3(float64(d) / float64(time.Millisecond)) }
	return LatencyMS{
		Count: h.Count(),
		P50:   m(h.Quantile(50)), P90: m(h.Quantile(90)), P95: m(h.Quantile(95)),
		P99: m(h.Quantile(99)), P999: m(h.Quantile(99.9)), Max: m(h.Max()),
		Mean: Round3(h.h.Mean() / 1000),
	}
}

// LatencyMS is a latency distribution in milliseconds.
type LatencyMS struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p99_9"`
	Max   float64 `json:"max"`
	Mean  float64 `json:"mean"`
}

// Round3 keeps three decimals, so that the JSON report stays readable.
func Round3(v float64) float64 {
	const k = 1000
	if v < 0 {
		return -float64(int64(-v*k+0.5)) / k
	}
	return float64(int64(v*k+0.5)) / k
}

// Secs is a duration in seconds, to the millisecond.
func Secs(d time.Duration) float64 { return Round3(d.Seconds()) }

// Millis is a duration in milliseconds, to the microsecond.
func Millis(d time.Duration) float64 { return Round3(float64(d) / float64(time.Millisecond)) }
