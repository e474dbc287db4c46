package load

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Pace says when operations are sent.
//
// Closed loop (Rate zero): Workers workers each send one operation, wait
// for its answer and send the next, Requests times each, or until Duration
// has passed. An operation is due when its worker sends it.
//
// Open loop (Rate above zero): operations fall due at a fixed rate, one
// every 1/Rate seconds for Duration, whatever the answers do; Workers is
// how many may be outstanding at once. An operation that is due while
// every worker is busy waits for one, and its latency counts from when it
// was due, not from when it could be sent: a stalled cluster shows as the
// stall, not as one slow answer among many that were never sent (no
// coordinated omission).
type Pace struct {
	Workers  int
	Requests int // per worker, closed loop only
	Rate     float64
	Duration time.Duration
}

// Total is how many operations the pace sends, or 0 when only time bounds
// it.
func (p Pace) Total() int {
	if p.Rate > 0 {
		return int(p.Rate * p.Duration.Seconds())
	}
	if p.Requests > 0 {
		return p.Workers * p.Requests
	}
	return 0
}

// OpFunc runs one operation that fell due at due and returns its record.
// Each worker has its own, so it may keep state without a lock.
type OpFunc func(ctx context.Context, due time.Time) Op

// Driven is what Drive returns: every worker's operations and histogram.
type Driven struct {
	Start  time.Time
	Ops    [][]Op
	Hists  []*Histogram
	Elapse time.Duration
}

// Progress counts operations as they finish; read it from any goroutine.
type Progress struct {
	done, ok atomic.Int64
}

// Drive runs ops at the pace until done or ctx ends. Operations started
// before ctx ends are finished and recorded; operations never sent are not
// recorded. Each worker records into its own histogram.
func Drive(ctx context.Context, p Pace, newOp func(worker int) OpFunc, prog *Progress) Driven {
	if p.Workers < 1 {
		p.Workers = 1
	}
	if prog == nil {
		prog = &Progress{}
	}
	d := Driven{Ops: make([][]Op, p.Workers), Hists: make([]*Histogram, p.Workers)}
	d.Start = time.Now()
	// Operations run under the caller's context: the end of the run's time
	// does not cut off one that was already sent; only the caller does.
	opCtx := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if p.Duration > 0 {
		var c2 context.CancelFunc
		ctx, c2 = context.WithDeadline(ctx, d.Start.Add(p.Duration))
		defer c2()
	}
	// In the open loop, operations are handed out by due time.
	var due chan time.Time
	if p.Rate > 0 {
		// Buffered so that the schedule runs ahead of busy workers; when
		// even the buffer is full, a due time sent late still says when
		// its operation was due.
		due = make(chan time.Time, min(max(p.Total(), 1), 1<<16))
		go func() {
			defer close(due)
			interval := time.Duration(float64(time.Second) / p.Rate)
			for i := range p.Total() {
				at := d.Start.Add(time.Duration(i) * interval)
				if w := time.Until(at); w > 0 {
					t := time.NewTimer(w)
					select {
					case <-ctx.Done():
						t.Stop()
						return
					case <-t.C:
					}
				}
				if ctx.Err() != nil {
					return
				}
				due <- at
			}
		}()
	}
	var wg sync.WaitGroup
	for w := range p.Workers {
		h := NewHistogram()
		d.Hists[w] = h
		op := newOp(w)
		record := func(o Op) {
			o.Worker = w
			h.Record(o.Latency())
			d.Ops[w] = append(d.Ops[w], o)
			prog.done.Add(1)
			if o.Outcome == OutcomeOK {
				prog.ok.Add(1)
			}
		}
		wg.Go(func() {
			if due != nil {
				for at := range due {
					record(op(opCtx, at))
				}
				return
			}
			for n := 0; p.Requests <= 0 || n < p.Requests; n++ {
				if ctx.Err() != nil {
					return
				}
				record(op(opCtx, time.Now()))
			}
		})
	}
	wg.Wait()
	d.Elapse = time.Since(d.Start)
	return d
}
