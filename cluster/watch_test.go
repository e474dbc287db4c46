package cluster

import (
	"strings"
	"testing"
	"time"
)

// A follower does not wait out the heartbeat timeout when the coordinator's
// end of its watch goes away: it calls an election on the spot.
func TestFollowersCallAnElectionWhenTheCoordinatorsWatchBreaks(t *testing.T) {
	c := NewTestClusterMode(t, ModeBully, 3, nil)
	old := c.WaitCoordinator(20 * time.Second)
	oldEpoch := old.Leadership().Epoch
	var survivors []*Node
	for _, n := range c.Nodes {
		if n != old {
			survivors = append(survivors, n)
		}
	}
	// Every follower holds its watch before the coordinator goes.
	c.WaitFor(10*time.Second, "every follower to watch the coordinator", func() bool {
		return watchers(old) == len(survivors)
	})
	old.Close()
	coord := c.WaitCoordinator(20 * time.Second)
	if coord == old || coord.Leadership().Epoch.Compare(oldEpoch) <= 0 {
		t.Fatalf("after the coordinator stopped: %s at %v (the old one was at %v)", coord.Name(), coord.Leadership().Epoch, oldEpoch)
	}
	logs := c.logs.String()
	for _, n := range survivors {
		if !strings.Contains(logs, "calling an election: node="+n.Name()) {
			t.Errorf("%s did not call an election from its broken watch", n.Name())
		}
	}
}

// watchers counts the watches a coordinator holds open.
func watchers(n *Node) int { return int(n.watching.Load()) }
