package p2p

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"veil/bench/local"
	"veil/bench/proc"
)

// veilBin is the veil binary the tests run, built once by TestMain.
var veilBin string

func TestMain(m *testing.M) { os.Exit(proc.RunWithVeil("veil-p2p-bin-", &veilBin, m.Run)) }

// logsOnFailure shows every log in dir when the test fails.
func logsOnFailure(t *testing.T, dir string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			if len(b) > 32<<10 {
				b = b[len(b)-32<<10:]
			}
			t.Logf("---- %s\n%s", l, b)
		}
	})
}

// aliceAndBob starts three nodes in dir (with the nodes' extra args),
// registers alice and bob, and starts their peers; all of it stops when the
// test ends.
func aliceAndBob(t *testing.T, ctx context.Context, dir string, args ...string) (c *local.Cluster, alice, bob *Peer) {
	t.Helper()
	c, err := local.Spawn(ctx, local.SpawnConfig{Bin: veilBin, Nodes: 3, Dir: dir, KeepDir: true, Logf: t.Logf, Args: args})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := register(ctx, c.APIs(), "alice", "bob"); err != nil {
		t.Fatal(err)
	}
	start := func(user string) *Peer {
		p, err := StartPeer(ctx, veilBin, dir, user, Password(user), c.APIs())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Stop() })
		return p
	}
	return c, start("alice"), start("bob")
}

// The narrated demo is also a test: each of its steps checks what it says.
func TestTheDemoDoesWhatItSays(t *testing.T) {
	dir := t.TempDir()
	logsOnFailure(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out strings.Builder
	err := Demo(ctx, DemoConfig{Bin: veilBin, Dir: dir, Out: &out, Logf: t.Logf})
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
}

// The P2P load, small: peers put, fetch from each other and view while
// peers go offline and come back, the coordinator is killed and a node
// fails on purpose; every operation that had a holder (or the cloud)
// succeeds, quotas are exact, and every node answers the same directory.
func TestThePeerLoadKeepsQuotasExactAndTheNodesAgreed(t *testing.T) {
	dir := t.TempDir()
	logsOnFailure(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// VEIL_P2P_SEED=N replays a run's choices (which peer stops, what each
	// worker does); the processes' timing is the machine's own.
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("VEIL_P2P_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("VEIL_P2P_SEED=%q: %v", v, err)
		}
		seed = n
	}
	t.Logf("seed %d (replay: VEIL_P2P_SEED=%d go test -run TestThePeerLoad -v ./bench/p2p)", seed, seed)
	rep, err := RunLoad(ctx, LoadConfig{
		Bin: veilBin, Peers: 8, Workers: 4, Duration: 15 * time.Second, Churn: 1500 * time.Millisecond,
		KillCoordinator: true, SimulateFailures: "every=5s,down=2s-3s", Seed: seed, Dir: dir, Logf: t.Logf,
	})
	var b strings.Builder
	rep.WriteMarkdown(&b)
	t.Log(b.String())
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	if !rep.OK() {
		t.Fatalf("seed %d: the run broke a rule (report above)", seed)
	}
	if rep.Fetches.OK == 0 || rep.Views.OK == 0 || rep.Stops+rep.Kills == 0 || !rep.CoordinatorKilled {
		t.Fatalf("seed %d: the run did not exercise what it should: %d fetches, %d views, %d stops and kills, coordinator killed %v",
			seed, rep.Fetches.OK, rep.Views.OK, rep.Stops+rep.Kills, rep.CoordinatorKilled)
	}
}
