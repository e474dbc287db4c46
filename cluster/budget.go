package cluster

import (
	"fmt"
	"sync"

	"veil/stego"
)

// decodeBudget bounds the memory a node's image work holds at once: every
// hide and reveal reserves what stego.HideCost or RevealCost says it will
// take, from the images' headers, before it decodes anything. Work that
// does not fit now is answered 429 with Retry-After (ErrOverloaded), so
// that a burst of large images waits its turn instead of taking the node
// down together; work larger than the whole budget, which no wait would
// let in, is refused at once (422 image_too_large).
type decodeBudget struct {
	mu    sync.Mutex
	total int64
	used  int64
}

// reserve takes n bytes of the budget, and returns the function that gives
// them back.
func (b *decodeBudget) reserve(n int64) (release func(), err error) {
	if n > b.total {
		return nil, fmt.Errorf("%w: decoding and working on this image takes about %s bytes, more than this node's decoding budget of %s (--decode-budget)",
			stego.ErrImageTooLarge, commas(n), commas(b.total))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.total {
		return nil, fmt.Errorf("%w: this image needs %s bytes of the node's decoding budget, and %s of %s are in use",
			ErrOverloaded, commas(n), commas(b.used), commas(b.total))
	}
	b.used += n
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			b.used -= n
			b.mu.Unlock()
		})
	}, nil
}

// inUse returns the bytes reserved now.
func (b *decodeBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
