package load

import (
	"context"
	"fmt"
	"runtime"
	"slices"
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
// views. The hides take the secrets in turn, at the stealth level; the
// reveals open what the hides made.
func MeasurePipeline(ctx context.Context, secrets [][]byte, cover []byte, level stego.Level, viewShare float64, d time.Duration) (Pipeline, error) {
	if len(secrets) == 0 {
		return Pipeline{}, fmt.Errorf("bench: the reference needs a secret")
	}
	key, err := stego.NewKey(nil)
	if err != nil {
		return Pipeline{}, err
	}
	p := Pipeline{Workers: runtime.GOMAXPROCS(0), ViewShare: viewShare}
	meta := stego.Meta{Owner: "bench", Viewers: map[string]int{"viewer": 3}}
	opts := stego.Options{Level: level}
	// One veiled image per secret, the first its hides made, and no more
	// than a few: a photograph veils to tens of MB.
	const keep = 4
	var mu sync.Mutex
	veiled := make([][]byte, min(len(secrets), keep))
	var turn atomic.Int64
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
		i := int(turn.Add(1)-1) % len(secrets)
		v, _, err := stego.Hide(secrets[i], meta, cover, key, opts)
		if err == nil && i < len(veiled) {
			mu.Lock()
			if veiled[i] == nil {
				veiled[i] = v
			}
			mu.Unlock()
		}
		return err
	})
	if err != nil {
		return p, fmt.Errorf("bench: the reference hide: %w", err)
	}
	veiled = slices.DeleteFunc(veiled, func(v []byte) bool { return v == nil })
	if len(veiled) == 0 {
		return p, fmt.Errorf("bench: the reference: no hide finished in %s", d)
	}
	turn.Store(0)
	p.Reveals, p.RevealRPS, err = run(func() error {
		_, _, err := stego.Reveal(veiled[int(turn.Add(1)-1)%len(veiled)], key, stego.Options{})
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
