// This file holds how one hide or reveal spreads its work over cores.
//
// Work is cut into pieces by the picture alone (bands of rows, ranges of
// Hamming groups), never by the number of goroutines, and each piece that
// draws random numbers has a generator of its own, seeded from the one seed
// and the piece's index: the bytes written are the same whatever
// Options.Parallelism is.

package stego

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// parallelism resolves Options.Parallelism: at least 1.
func (o Options) parallelism() int {
	if o.Parallelism > 0 {
		return o.Parallelism
	}
	return runtime.GOMAXPROCS(0)
}

// forEach calls fn(w, i) for every i in [0, n), on at most par goroutines,
// and returns when every call has. w, in [0, par), names the goroutine, so
// that each can keep scratch space of its own; which pieces a goroutine
// takes is not fixed, so fn must write only to what piece i owns. With par
// 1 (or one piece) everything runs on the caller's goroutine.
func forEach(n, par int, fn func(w, i int)) {
	par = min(par, n)
	if par <= 1 {
		for i := 0; i < n; i++ {
			fn(0, i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < par; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(w, i)
			}
		}()
	}
	wg.Wait()
}

// inOrder runs work(w, i) for every i in [0, n) on at most par goroutines
// and hands the results to use in the order of i, on the caller's
// goroutine, as soon as each is ready. At most 2·par pieces are out at a
// time, done or not, so the memory held by results stays bounded however
// many pieces there are. work's w is as forEach's.
func inOrder[T any](n, par int, work func(w, i int) T, use func(T)) {
	par = min(par, n)
	if par <= 1 {
		for i := 0; i < n; i++ {
			use(work(0, i))
		}
		return
	}
	done := make([]chan T, n)
	for i := range done {
		done[i] = make(chan T, 1)
	}
	// A piece is handed out only when a place among the 2·par is free.
	slots := make(chan struct{}, 2*par)
	todo := make(chan int)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(todo)
		for i := 0; i < n; i++ {
			slots <- struct{}{}
			todo <- i
		}
	}()
	for w := 0; w < par; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range todo {
				done[i] <- work(w, i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		use(<-done[i])
		<-slots
	}
	wg.Wait()
}
