package throttle

import (
	"container/heap"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Policy is how one kind of key is slowed down: Free failures in a row
// cost nothing; each one after them makes the key wait Base, then twice as
// long as the last wait, up to Max.
type Policy struct {
	Free int
	Base time.Duration
	Max  time.Duration
}

// wait returns the wait the n-th failure in a row imposes.
func (p Policy) wait(n int) time.Duration {
	if n <= p.Free {
		return 0
	}
	w := p.Base
	for i := p.Free + 1; i < n && w < p.Max; i++ {
		w *= 2
	}
	return min(w, p.Max)
}

func (p Policy) validate(what string) error {
	switch {
	case p.Free < 0:
		return fmt.Errorf("throttle: %s: Free is %d, want 0 or more", what, p.Free)
	case p.Base <= 0:
		return fmt.Errorf("throttle: %s: Base is %v, want more than 0", what, p.Base)
	case p.Max < p.Base:
		return fmt.Errorf("throttle: %s: Max %v is less than Base %v", what, p.Max, p.Base)
	}
	return nil
}

// Config sets the policies and the bounds of a Limiter.
type Config struct {
	// PerUser slows down one source guessing one user's password.
	PerUser Policy
	// PerSource slows down one source, whatever names it tries.
	PerSource Policy
	// Forget is how long a key is kept after its wait ends (or after its
	// last failure, if it has no wait); then it starts again from zero.
	Forget time.Duration
	// MaxKeys bounds the keys held, pairs and sources together.
	MaxKeys int
}

// DefaultConfig is the policy of a node's logins: per user and source, 5
// failures free, then 1 s doubling up to 5 minutes; per source, 20 free,
// then the same; keys kept an hour past their wait, at most 65,536 of them
// (about 14 MB when full, some 220 bytes a key; a failure costs about
// 1.4 µs when the table is full and each one evicts).
//
// An address that keeps guessing one password gets about 12 guesses an
// hour once its wait has reached the cap; one that stops and comes back
// after the hour has passed gets its free failures again, then the waits,
// which takes it over an hour for about 14.
func DefaultConfig() Config {
	return Config{
		PerUser:   Policy{Free: 5, Base: time.Second, Max: 5 * time.Minute},
		PerSource: Policy{Free: 20, Base: time.Second, Max: 5 * time.Minute},
		Forget:    time.Hour,
		MaxKeys:   1 << 16,
	}
}

// Validate checks the invariants: each policy's Free at least 0, Base more
// than 0 and Max at least Base; Forget more than 0; MaxKeys at least 2
// (one failure may add a pair and a source).
func (c Config) Validate() error {
	if err := c.PerUser.validate("PerUser"); err != nil {
		return err
	}
	if err := c.PerSource.validate("PerSource"); err != nil {
		return err
	}
	if c.Forget <= 0 {
		return fmt.Errorf("throttle: Forget is %v, want more than 0", c.Forget)
	}
	if c.MaxKeys < 2 {
		return fmt.Errorf("throttle: MaxKeys is %d, want 2 or more", c.MaxKeys)
	}
	return nil
}

// Key names an attempt: who it was for and where it came from.
type Key struct {
	// User is the registered user the attempt named, in the form the
	// server stores names in; "" when the name is not registered, and the
	// attempt then counts against Source only.
	User string
	// Source is where the attempt came from: the client's IP address, or
	// its network. It may not be empty.
	Source string
}

// ErrNoSource is the panic value of a call with an empty Key.Source: the
// caller's bug, since every attempt comes from somewhere.
var ErrNoSource = errors.New("throttle: key has no source")

// maxCount bounds a key's count, far past the point where its wait is Max.
const maxCount = 1 << 20

// slot is a key as the table holds it: a pair, or a source alone (user "").
type slot struct {
	user, source string
}

type entry struct {
	slot    slot
	count   int       // failures in a row
	until   time.Time // the key waits until then (or its last failure, if it has no wait)
	expires time.Time // until + Forget: forgotten at or after this
	index   int       // in the heap
}

// A Limiter counts failed attempts and says when the next is allowed.
type Limiter struct {
	cfg Config

	mu    sync.Mutex // guards the fields below
	slots map[slot]*entry
	order byExpiry // the same entries, soonest forgotten first
}

// New returns a Limiter with the given configuration, or the error of
// c.Validate.
func New(c Config) (*Limiter, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Limiter{cfg: c, slots: map[slot]*entry{}}, nil
}

// Check reports whether an attempt for k may go ahead at now. If not, it
// returns how long until it may (the longer of the pair's and the source's
// waits). It records nothing.
func (l *Limiter) Check(k Key, now time.Time) (retryAfter time.Duration, ok bool) {
	k.mustHaveSource()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(now)
	for _, s := range k.slots() {
		if e, held := l.slots[s]; held && e.until.After(now) {
			retryAfter = max(retryAfter, e.until.Sub(now))
		}
	}
	return retryAfter, retryAfter == 0
}

// Fail records a failed attempt for k at now: against the pair and the
// source, or the source alone when k.User is "". It returns the wait it
// imposes on the next attempt for k, zero if none.
func (l *Limiter) Fail(k Key, now time.Time) (retryAfter time.Duration) {
	k.mustHaveSource()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(now)
	slots := k.slots()
	l.makeRoom(slots)
	for _, s := range slots {
		p := l.cfg.PerSource
		if s.user != "" {
			p = l.cfg.PerUser
		}
		e, held := l.slots[s]
		if !held {
			e = &entry{slot: s}
		}
		e.count = min(e.count+1, maxCount)
		e.until = now
		if w := p.wait(e.count); w > 0 {
			e.until = now.Add(w)
			retryAfter = max(retryAfter, w)
		}
		e.expires = e.until.Add(l.cfg.Forget)
		if held {
			heap.Fix(&l.order, e.index)
		} else {
			l.slots[s] = e
			heap.Push(&l.order, e)
		}
	}
	return retryAfter
}

// Succeed records a successful attempt for k: the pair starts again from
// zero. The source keeps its count (see the package doc). A k with no
// User changes nothing.
func (l *Limiter) Succeed(k Key, now time.Time) {
	k.mustHaveSource()
	if k.User == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, held := l.slots[slot{k.User, k.Source}]; held {
		l.remove(e)
	}
	l.prune(now)
}

// Len returns the number of keys held, pairs and sources together; at most
// Config.MaxKeys.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.slots)
}

func (k Key) mustHaveSource() {
	if k.Source == "" {
		panic(ErrNoSource)
	}
}

// slots returns the keys an attempt for k counts against.
func (k Key) slots() []slot {
	if k.User == "" {
		return []slot{{"", k.Source}}
	}
	return []slot{{k.User, k.Source}, {"", k.Source}}
}

// makeRoom forgets keys, soonest forgotten first, until the slots of an
// attempt that the table does not hold yet fit in it. It never forgets one
// of those slots themselves.
func (l *Limiter) makeRoom(slots []slot) {
	need := 0
	for _, s := range slots {
		if _, held := l.slots[s]; !held {
			need++
		}
	}
	var kept []*entry
	for len(l.slots)+need > l.cfg.MaxKeys && len(l.order) > 0 {
		e := heap.Pop(&l.order).(*entry)
		if e.slot == slots[0] || e.slot == slots[len(slots)-1] {
			kept = append(kept, e) // the attempt's own: set aside
			continue
		}
		delete(l.slots, e.slot)
	}
	for _, e := range kept {
		heap.Push(&l.order, e)
	}
}

func (l *Limiter) remove(e *entry) {
	heap.Remove(&l.order, e.index)
	delete(l.slots, e.slot)
}

// prune forgets the keys whose time has come.
func (l *Limiter) prune(now time.Time) {
	for len(l.order) > 0 && !now.Before(l.order[0].expires) {
		l.remove(l.order[0])
	}
}

// byExpiry is a min-heap of entries by the time they are forgotten.
type byExpiry []*entry

func (h byExpiry) Len() int           { return len(h) }
func (h byExpiry) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h byExpiry) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *byExpiry) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *byExpiry) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.index = -1
	return e
}
