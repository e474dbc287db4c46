package load

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"veil/stego"
)

// Pipeline is the reference point of a report: the stego pipeline alone,
// in this process, with the secret and cover of the workload, on as many
// goroutines as the machine has cores. A put through the cluster does one
// hide, a view one reveal; the cluster's share is its throughput over the
// pipeline's for the same mix.
type Pipeline struct {
	Workers   int     `json:"workers"`
	Hides     int     `json:"hides"`
	Reveals   int     `json:"reveals"`
	HideRPS   float64 `json:"hide_rps"`
	RevealRPS float64 `json:"reveal_rps"`
	// MixRPS is the rate of the workload's mix of puts and views:
	// 1 / (puts' share / HideRPS + views' share / RevealRPS).
	MixRPS    float64 `json:"mix_rps"`
	ViewShare float64 `json:"view_share"`
}

// MeasurePipeline hides for d, then reveals for d, on GOMAXPROCS
// goroutines, and works out the rate of a mix with the given share of
// views.
func MeasurePipeline(ctx context.Context, secret, cover []byte, viewShare float64, d time.Duration) (Pipeline, error) {
	key, err := stego.NewKey(nil)
	if err != nil {
		return Pipeline{}, err
	}
	p := Pipeline{Workers: runtime.GOMAXPROCS(0), ViewShare: viewShare}
	meta := stego.Meta{Owner: "bench", Viewers: map[string]int{"viewer": 3}}
	veiled, _, err := stego.Hide(secret, meta, cover, key, stego.Options{})
	if err != nil {
		return p, fmt.Errorf("bench: the reference hide: %w", err)
	}
	run := func(do func() error) (int, float64, error) {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		var n atomic.Int64
		var first error
		var once sync.Once
		start := time.Now()
		var wg sync.WaitGroup
		for range p.Workers {
			wg.Go(func() {
				for ctx.Err() == nil {
					if err := do(); err != nil {
						once.Do(func() { first = err })
						return
					}
					n.Add(1)
				}
			})
		}
		wg.Wait()
		el := time.Since(start).Seconds()
		return int(n.Load()), float64(n.Load()) / el, first
	}
	p.Hides, p.HideRPS, err = run(func() error {
		_, _, err := stego.Hide(secret, meta, cover, key, stego.Options{})
		return err
	})
	if err != nil {
		return p, fmt.Errorf("bench: the reference hide: %w", err)
	}
	p.Reveals, p.RevealRPS, err = run(func() error {
		_, _, err := stego.Reveal(veiled, key, stego.Options{})
		return err
	})
	if err != nil {
		return p, fmt.Errorf("bench: the reference reveal: %w", err)
	}
	p.MixRPS = mixRate(p.HideRPS, p.RevealRPS, viewShare)
	return p, nil
}

// mixRate is the rate of a mix of operations with rates a (a share 1-v of
// them) and b (a share v).
func mixRate(a, b, v float64) float64 {
	if a <= 0 || b <= 0 {
		return 0
	}
	return 1 / ((1-v)/a + v/b)
}
