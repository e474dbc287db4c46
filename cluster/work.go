package cluster

import (
	"context"
	"sync"
	"sync/atomic"
)

// pool runs the node's image jobs on a fixed number of worker slots and
// measures the load the node reports: jobs queued and running per slot,
// smoothed so that one burst does not swing the election. At most queue
// jobs wait for a slot; past that a job is refused with ErrOverloaded at
// once, so that the wait, and the answer's latency, stay bounded rather
// than grow until clients time out.
type pool struct {
	slots   int
	queue   int64 // jobs that may wait; 0: no bound
	sem     chan struct{}
	waiting atomic.Int64
	shed    atomic.Uint64 // jobs refused for a full queue
	running atomic.Int64
	done    atomic.Uint64

	mu       sync.Mutex
	smoothed float64
}

// smoothing is the weight of a new sample in the moving average: with a
// sample every 100 ms, a step change is 90% visible after about 2 s.
const smoothing = 0.1

func newPool(slots, queue int) *pool {
	return &pool{slots: slots, queue: int64(queue), sem: make(chan struct{}, slots)}
}

// full reports whether a job submitted now would be refused.
func (p *pool) full() bool {
	return p.queue > 0 && p.waiting.Load() >= p.queue
}

// do runs job when a slot is free, or gives up when ctx ends first. It
// returns ErrOverloaded at once when the queue is full.
func (p *pool) do(ctx context.Context, job func() error) error {
	if w := p.waiting.Add(1); p.queue > 0 && w > p.queue {
		p.waiting.Add(-1)
		p.shed.Add(1)
		return ErrOverloaded
	}
	select {
	case p.sem <- struct{}{}:
		p.waiting.Add(-1)
	case <-ctx.Done():
		p.waiting.Add(-1)
		return ctx.Err()
	}
	p.running.Add(1)
	defer func() {
		p.running.Add(-1)
		p.done.Add(1)
		<-p.sem
	}()
	return job()
}

// instant is the load right now.
func (p *pool) instant() float64 {
	return float64(p.waiting.Load()+p.running.Load()) / float64(p.slots)
}

// sample folds the current load into the moving average and returns it.
func (p *pool) sample() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.smoothed += smoothing * (p.instant() - p.smoothed)
	if p.smoothed < 1e-6 {
		p.smoothed = 0
	}
	return p.smoothed
}

// load is the last smoothed value.
func (p *pool) load() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.smoothed
}
