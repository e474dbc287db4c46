package bench_test

import (
	"context"
	"log"
	"os"
	"time"

	"veil/bench"
	"veil/bench/load"
)

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
