package bully

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestACrashEveryoneNoticesAtOnceEndsWithoutATimeout: when the coordinator
// crashes, every survivor learns it from its own broken connection (Lost)
// within a millisecond or two, far inside one tick. Whatever the order of
// those notices and of the messages between them (each survivor may refuse
// a candidate just before it notices too), the survivors must agree on a
// coordinator with no tick at all: a stale REFUSE or a missing YIELD would
// otherwise cost a whole election timeout, as it did in one failover in six.
func TestACrashEveryoneNoticesAtOnceEndsWithoutATimeout(t *testing.T) {
	for _, size := range []int{3, 5, 7} {
		for seed := range uint64(3000) {
			if err := crashNoticedAtOnce(size, seed); err != nil {
				t.Fatalf("%d nodes, seed %d: %v", size, seed, err)
			}
		}
	}
}

func crashNoticedAtOnce(size int, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, uint64(size)))
	var ids []string
	for i := range size {
		ids = append(ids, fmt.Sprintf("n%d", i))
	}
	nodes := map[string]*Node{}
	for _, id := range ids {
		n, err := NewNode(DefaultConfig(id))
		if err != nil {
			return err
		}
		n.SetMembers(ids)
		n.SetLoad(float64(rng.IntN(3)))
		nodes[id] = n
	}
	dead := ids[0]
	for _, id := range ids[1:] {
		if err := nodes[id].Step(Message{Type: Coordinator, From: dead, Epoch: Epoch{1, dead}}); err != nil {
			return err
		}
		nodes[id].Ready()
	}
	live := ids[1:]
	var queue []Message
	var trace strings.Builder
	send := func() {
		for _, id := range live {
			for _, m := range nodes[id].Ready().Messages {
				for _, to := range live {
					if to != id && (m.To == "" || m.To == to) {
						m2 := m
						m2.To = to
						queue = append(queue, m2)
					}
				}
			}
		}
	}
	notices := append([]string(nil), live...)
	rng.Shuffle(len(notices), func(i, j int) { notices[i], notices[j] = notices[j], notices[i] })
	for len(notices) > 0 || len(queue) > 0 {
		if len(notices) > 0 && (len(queue) == 0 || rng.IntN(3) == 0) {
			fmt.Fprintf(&trace, "%s loses %s\n", notices[0], dead)
			nodes[notices[0]].Lost(dead)
			notices = notices[1:]
		} else {
			k := rng.IntN(len(queue)) // any order: each pair has its own connection
			m := queue[k]
			queue = append(queue[:k], queue[k+1:]...)
			fmt.Fprintf(&trace, "  %v\n", m)
			to := m.To
			if m.Type == Election {
				m.To = "" // as sent: a broadcast
			}
			if err := nodes[to].Step(m); err != nil && !errors.Is(err, ErrStaleEpoch) {
				return fmt.Errorf("%v: %v", m, err)
			}
		}
		send()
	}
	want := nodes[live[0]].Status().Coordinator
	for _, id := range live {
		if s := nodes[id].Status(); s.Coordinator == "" || s.Coordinator != want {
			var st strings.Builder
			for _, id := range live {
				fmt.Fprintf(&st, "%s: %v following %q at %v\n", id, nodes[id].state, nodes[id].coordinator, nodes[id].epoch)
			}
			return fmt.Errorf("no agreement before a tick:\n%s%s", trace.String(), st.String())
		}
	}
	return nil
}
