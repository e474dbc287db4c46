package cluster

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// outcome is a finished response, kept so that a retry with the same
// idempotency key gets the same answer instead of a second run.
type outcome struct {
	status int
	header http.Header
	body   []byte
}

// idemTable remembers the outcome of each idempotency key the coordinator
// has handled, for a while and within a byte budget. A second request with a
// key that is still running waits for the first one's outcome.
//
// The table lives in the coordinator's memory: a retry that reaches a new
// coordinator after a failover runs again. The replicated registry (a later
// part of the design) makes the table survive coordinator changes.
type idemTable struct {
	ttl      time.Duration
	maxBytes int
	now      func() time.Time

	mu    sync.Mutex
	m     map[string]*idemEntry
	order []idemRef // insertion order, oldest first, for eviction
	bytes int
}

type idemRef struct {
	key string
	e   *idemEntry
}

type idemEntry struct {
	done    chan struct{} // closed once res is set
	res     *outcome      // nil when the first attempt ended without an outcome to keep
	expires time.Time
}

func newIdemTable(ttl time.Duration, maxBytes int) *idemTable {
	return &idemTable{ttl: ttl, maxBytes: maxBytes, now: time.Now, m: map[string]*idemEntry{}}
}

// begin claims key. When the key is new it returns first=true and a finish
// function that the caller must call exactly once with the outcome (nil if
// there is nothing worth keeping, such as a transient failure: the next
// retry then runs afresh). When the key is known it waits for the first
// attempt and returns its outcome; res is nil if that attempt kept nothing,
// in which case the caller should try begin again.
func (t *idemTable) begin(ctx context.Context, key string) (first bool, finish func(*outcome), res *outcome, err error) {
	t.mu.Lock()
	t.expire()
	e, ok := t.m[key]
	if !ok {
		e = &idemEntry{done: make(chan struct{})}
		t.m[key] = e
		t.order = append(t.order, idemRef{key, e})
		t.mu.Unlock()
		return true, func(o *outcome) { t.finish(key, e, o) }, nil, nil
	}
	t.mu.Unlock()
	select {
	case <-e.done:
		return false, nil, e.res, nil
	case <-ctx.Done():
		return false, nil, nil, ctx.Err()
	}
}

func (t *idemTable) finish(key string, e *idemEntry, o *outcome) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e.res = o
	e.expires = t.now().Add(t.ttl)
	close(e.done)
	if o == nil {
		// Nothing to replay: forget the key so a retry runs again.
		delete(t.m, key)
		return
	}
	t.bytes += len(o.body)
	for t.bytes > t.maxBytes && len(t.order) > 0 {
		t.evictOldest()
	}
}

// expire drops finished entries past their time, oldest first.
func (t *idemTable) expire() {
	now := t.now()
	for len(t.order) > 0 {
		ref := t.order[0]
		if t.m[ref.key] == ref.e && (!isClosed(ref.e.done) || now.Before(ref.e.expires)) {
			return
		}
		t.evictOldest()
	}
}

func (t *idemTable) evictOldest() {
	ref := t.order[0]
	t.order = t.order[1:]
	if t.m[ref.key] != ref.e {
		return // already forgotten, or the key was claimed again since
	}
	if !isClosed(ref.e.done) {
		// Still running: keep it, at the back of the queue.
		t.order = append(t.order, ref)
		return
	}
	if ref.e.res != nil {
		t.bytes -= len(ref.e.res.body)
	}
	delete(t.m, ref.key)
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
