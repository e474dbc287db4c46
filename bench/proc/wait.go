package proc

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Poll calls done every interval, the first time at once, until it
// returns true or ctx ends.
func Poll(ctx context.Context, interval time.Duration, done func() bool) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if done() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// WaitServing polls GET /v1/status of the node at api, every interval,
// until it answers, p exits, or ctx ends.
func WaitServing(ctx context.Context, hc *http.Client, api string, p *Process, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := GetJSON(ctx, hc, api, "/v1/status", nil); err == nil {
			return nil
		}
		select {
		case <-p.Done():
			return fmt.Errorf("exited (%v)", p.Err())
		case <-ctx.Done():
			return fmt.Errorf("API %s did not answer: %w", api, ctx.Err())
		case <-t.C:
		}
	}
}
