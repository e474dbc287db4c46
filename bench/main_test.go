package bench

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"veil/bench/proc"
)

// veilBin is the veil binary the tests run, built once by TestMain.
var veilBin string

func TestMain(m *testing.M) {
	bin, cleanup, err := proc.BuildVeil("veil-bench-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench tests:", err)
		os.Exit(1)
	}
	veilBin = bin
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// timeout returns a context that ends after d or with the test.
func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
