package local

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"veil/bench/proc"
)

// veilBin is the veil binary the tests run, built once by TestMain.
var veilBin string

func TestMain(m *testing.M) { os.Exit(proc.RunWithVeil("veil-bench-bin-", &veilBin, m.Run)) }

// spawn starts a cluster for one test. When the test fails, its log shows
// where every node lived (pids, ports) and every node's log; the cluster
// is closed when the test ends, whatever happened.
func spawn(t *testing.T, cfg SpawnConfig) *Cluster {
	t.Helper()
	cfg.Bin = veilBin
	cfg.Dir = t.TempDir() // outlives Close, so that the logs can be shown
	cfg.Logf = t.Logf
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Spawn(ctx, cfg)
	if err != nil {
		logs, _ := filepath.Glob(filepath.Join(cfg.Dir, "*.log"))
		for _, l := range logs {
			t.Logf("---- %s\n%s", l, Tail(l, 64<<10))
		}
		t.Fatalf("spawn: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s\n%s", c.Describe(), c.Logs())
		}
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c
}

// timeout returns a context that ends after d or with the test.
func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
