package bench

import (
	"context"
	"os"
	"testing"
	"time"

	"veil/bench/proc"
)

// veilBin is the veil binary the tests run, built once by TestMain.
var veilBin string

func TestMain(m *testing.M) { os.Exit(proc.RunWithVeil("veil-bench-bin-", &veilBin, m.Run)) }

// timeout returns a context that ends after d or with the test.
func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
