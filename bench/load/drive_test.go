package load

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// stallAt returns the operation of one worker: it takes 10 ms, except the
// n-th, which takes stall.
func stallAt(n int, stall time.Duration) func(int) OpFunc {
	count := 0
	base := time.Now()
	return func(int) OpFunc {
		return func(ctx context.Context, due time.Time) Op {
			count++
			d := 10 * time.Millisecond
			if count == n {
				d = stall
			}
			start := time.Now()
			time.Sleep(d)
			return Op{Due: due.Sub(base), Start: start.Sub(base), End: time.Since(base), Outcome: OutcomeOK}
		}
	}
}

func over(ops []Op, d time.Duration) int {
	n := 0
	for _, o := range ops {
		if o.Latency() >= d {
			n++
		}
	}
	return n
}

// A one-second stall of one worker at 100 operations a second: in the
// open loop the 100 operations that fell due during the stall wait for
// it, and their latency says so.
func TestOpenLoopCountsLatencyFromWhenAnOperationWasDue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := Drive(t.Context(), Pace{Workers: 1, Rate: 100, Duration: 2 * time.Second}, stallAt(10, time.Second), nil)
		ops := d.Ops[0]
		if len(ops) != 200 {
			t.Fatalf("%d operations, want the 200 due in 2 s at 100/s", len(ops))
		}
		if n := over(ops, 500*time.Millisecond); n < 50 {
			t.Fatalf("%d operations took 500 ms or more from when they were due, want at least 50 "+
				"(those due in the first half of the stall)", n)
		}
		if p99 := d.Hists[0].Quantile(99); p99 < 900*time.Millisecond {
			t.Fatalf("p99 %s: the stall does not show", p99)
		}
	})
}

// The same stall in the closed loop is one slow operation: the worker sent
// nothing while it waited.
func TestClosedLoopSeesAStallAsOneSlowOperation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := Drive(t.Context(), Pace{Workers: 1, Requests: 200}, stallAt(10, time.Second), nil)
		if n := over(d.Ops[0], 500*time.Millisecond); n != 1 {
			t.Fatalf("%d operations of 500 ms or more, want the one that stalled", n)
		}
	})
}

func TestOpenLoopKeepsAtMostWorkersOutstanding(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		outstanding, most := 0, 0
		newOp := func(int) OpFunc {
			return func(ctx context.Context, due time.Time) Op {
				mu.Lock()
				outstanding++
				most = max(most, outstanding)
				mu.Unlock()
				time.Sleep(100 * time.Millisecond) // ten times the interval
				mu.Lock()
				outstanding--
				mu.Unlock()
				return Op{Outcome: OutcomeOK}
			}
		}
		d := Drive(t.Context(), Pace{Workers: 4, Rate: 100, Duration: time.Second}, newOp, nil)
		total := 0
		for _, o := range d.Ops {
			total += len(o)
		}
		if most > 4 || total != 100 {
			t.Fatalf("%d outstanding at most and %d operations; want at most 4 and all 100", most, total)
		}
	})
}
