package bench_test

import (
	"context"
	"log"
	"os"
	"time"

	"veil/bench"
	"veil/bench/load"
)

// Twenty failover trials on three nodes of the fast profile, as
// `veil bench --failover-trials 20` runs them.
func ExampleCluster_Failover() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := bench.Spawn(ctx, bench.SpawnConfig{Bin: "bin/veil", Nodes: 3, Profile: "fast"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close() // kills and reaps every node, whatever happened
	rep, err := c.Failover(ctx, bench.FailoverConfig{Trials: 20})
	if err != nil {
		log.Fatal(err)
	}
	rep.WriteText(os.Stdout)
}

// A minute of load with no fault, then how many elections the nodes
// counted meanwhile.
func ExampleCluster_Steady() {
	ctx := context.Background()
	c, err := bench.Spawn(ctx, bench.SpawnConfig{Bin: "bin/veil"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	rep, err := c.Steady(ctx, load.Config{Clients: 2, Duration: time.Minute})
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("%g elections, %g coordinator changes", rep.Elections, rep.CoordinatorChanges)
}

// Bully and Raft side by side on three nodes: 10,000 puts and views with
// the failure simulation on, the books checked, ten failover trials each,
// and the report written, as `veil bench --mode both --failover-trials 10
// --simulate-failures every=30s,down=10s-20s --out out/study` does.
func ExampleRunStudy() {
	ctx := context.Background()
	rep, err := bench.RunStudy(ctx, bench.StudyConfig{
		Bin: "bin/veil", Modes: []string{"bully", "raft"}, Sizes: []int{3},
		SimulateFailures: "every=30s,down=10s-20s",
		Load:             load.Workload{Pace: load.Pace{Workers: 50, Requests: 200}},
		Trials:           10, Reference: 2 * time.Second, Progress: os.Stdout,
	})
	if rep != nil {
		rep.WriteText(os.Stdout)
		if werr := rep.WriteDir("out/study"); werr != nil {
			log.Fatal(werr)
		}
	}
	if err != nil {
		log.Fatal(err) // a run that failed, or books that do not balance
	}
}
