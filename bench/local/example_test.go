package local_test

import (
	"context"
	"log"
	"os"
	"time"

	"veil/bench/load"
	"veil/bench/local"
)

// Twenty failover trials on three nodes of the fast profile, as
// `veil bench --failover-trials 20` runs them.
func ExampleCluster_Failover() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := local.Spawn(ctx, local.SpawnConfig{Bin: "bin/veil", Nodes: 3, Profile: "fast"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close() // kills and reaps every node, whatever happened
	rep, err := c.Failover(ctx, local.FailoverConfig{Trials: 20})
	if err != nil {
		log.Fatal(err)
	}
	rep.WriteText(os.Stdout)
}

// A minute of load with no fault, then how many elections the nodes
// counted meanwhile.
func ExampleCluster_Steady() {
	ctx := context.Background()
	c, err := local.Spawn(ctx, local.SpawnConfig{Bin: "bin/veil"})
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
