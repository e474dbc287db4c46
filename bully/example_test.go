package bully_test

import (
	"fmt"

	"veil/bully"
)

// A host drives each Node from one loop: it ticks the nodes, carries the
// messages they hand out in Ready (To == "" means every other live member),
// and reads the notices. Here three nodes share one in-memory loop and the
// least-loaded one, b, is elected.
func Example() {
	loads := map[string]float64{"a": 3, "b": 1, "c": 2}
	nodes := map[string]*bully.Node{}
	order := []string{"a", "b", "c"}
	for _, id := range order {
		n, err := bully.NewNode(bully.DefaultConfig(id))
		if err != nil {
			panic(err)
		}
		n.SetMembers(order)
		n.SetLoad(loads[id])
		nodes[id] = n
	}
	var inflight []bully.Message
	for range 30 {
		delivering := inflight
		inflight = nil
		for _, m := range delivering {
			for _, id := range order {
				if id != m.From && (m.To == "" || m.To == id) {
					_ = nodes[id].Step(m) // a stale message is not an error worth a log line
				}
			}
		}
		for _, id := range order {
			nodes[id].Tick()
			rd := nodes[id].Ready()
			inflight = append(inflight, rd.Messages...)
			for _, nt := range rd.Notices {
				if nt.Self {
					fmt.Printf("%s: I coordinate at epoch %v\n", id, nt.Epoch)
				}
			}
		}
	}
	for _, id := range order {
		st := nodes[id].Status()
		fmt.Printf("%s follows %s at %v\n", id, st.Coordinator, st.Epoch)
	}
	// Output:
	// b: I coordinate at epoch 1/b
	// a follows b at 1/b
	// b follows b at 1/b
	// c follows b at 1/b
}
