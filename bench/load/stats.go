package load

import (
	"fmt"
	"slices"
	"time"
)

// Summary describes a set of durations. Percentiles are nearest-rank: the
// p-th percentile is the smallest value with at least p% of the values at
// or below it, so every figure is a value that was measured.
type Summary struct {
	N                               int
	Min, Median, P90, P95, P99, Max time.Duration
	Mean                            time.Duration
}

// Summarize sorts a copy of d and summarizes it.
func Summarize(d []time.Duration) Summary {
	if len(d) == 0 {
		return Summary{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	var sum time.Duration
	for _, v := range s {
		sum += v
	}
	return Summary{
		N: len(s), Min: s[0], Max: s[len(s)-1], Mean: sum / time.Duration(len(s)),
		Median: rank(s, 50), P90: rank(s, 90), P95: rank(s, 95), P99: rank(s, 99),
	}
}

// rank returns the nearest-rank p-th percentile of sorted s.
func rank(s []time.Duration, p int) time.Duration {
	k := (p*len(s) + 99) / 100 // ceil(p/100 · n)
	return s[max(k, 1)-1]
}

func (s Summary) String() string {
	if s.N == 0 {
		return "no samples"
	}
	return fmt.Sprintf("median %s  p90 %s  worst %s  (n=%d, best %s)",
		FormatMS(s.Median), FormatMS(s.P90), FormatMS(s.Max), s.N, FormatMS(s.Min))
}

// FormatMS prints a duration in milliseconds with one decimal.
func FormatMS(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// Jain is Jain's fairness index of xs, (Σx)² / (n·Σx²): 1 when all are
// equal, 1/n when one holds everything; 0 for none or all zero.
func Jain(xs []float64) float64 {
	var sum, sq float64
	for _, x := range xs {
		sum += x
		sq += x * x
	}
	if sq == 0 {
		return 0
	}
	return sum * sum / (float64(len(xs)) * sq)
}
