package bully

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
)

// FuzzCluster feeds a four-node cluster a stream of events decided by the
// fuzzer's bytes: ticks, crashes, pauses, returns, partitions, lossy and slow
// links, load changes, forced campaigns, membership views, and forged messages
// (made-up senders, epochs and loads) injected straight into Step. After every
// event the invariants that hold under any input are checked (epochs never go
// down, a coordinator holds its own epoch, no two coordinators share one,
// notices match state); after the stream the faults stop and agreement must
// come within the bound.
func FuzzCluster(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5})
	f.Add([]byte("partition then heal, crash and pause, forge"))
	f.Add([]byte{7, 7, 7, 7, 7, 7, 7, 7, 13, 3, 1, 9, 2, 13, 1, 2, 200, 1, 6, 0, 9, 5, 10})
	f.Fuzz(func(t *testing.T, data []byte) {
		var seed [8]byte
		copy(seed[:], data)
		rng := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:]), 7))
		if len(data) > 8 {
			data = data[8:]
		} else {
			data = nil
		}
		const n = 4
		cfg := DefaultConfig("x")
		cfg.ReelectInterval = 20
		ids := nodeIDs(n)
		nw := newNetwork(rng, cfg, ids, []float64{1, 2, 3, 4}, 1, true, nil)
		nw.forgeries = true
		next := func() byte {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return b
		}
		names := append(ids, "ghost", "")
		for len(data) > 0 {
			op := next()
			i := int(next()) % n
			switch op % 16 {
			case 0, 1, 2, 3, 4, 5:
				nw.run(int(op%6) + 1)
			case 6:
				if upCount(nw) > 1 && nw.up[i] {
					nw.crash(i)
				}
			case 7:
				if upCount(nw) > 1 && nw.up[i] {
					nw.pause(i)
				}
			case 8:
				nw.revive(i)
			case 9:
				mask := next()
				sides := make([]int, n)
				for j := range sides {
					sides[j] = int(mask>>j) & 1
				}
				nw.partition(sides)
			case 10:
				nw.heal()
			case 11:
				nw.setLoad(i, float64(int8(next()))/4)
			case 12:
				if nw.up[i] {
					// Campaign, or a report from the host: traffic from a
					// node (Heard) or proof that one is gone (Lost), true
					// or false.
					switch who := names[int(next())%len(names)]; next() % 3 {
					case 0:
						nw.node[i].Campaign()
					case 1:
						nw.node[i].Heard(who, nw.node[i].Status().Epoch)
					case 2:
						nw.node[i].Lost(who)
					}
					nw.drain()
				}
			case 13:
				m := Message{
					Type:  MessageType(next() % 7), // 0 and 6 are no type
					From:  names[int(next())%len(names)],
					To:    names[int(next())%len(names)],
					Epoch: Epoch{Term: uint64(next() % 8)},
					Load:  float64(int8(next())) / 4,
				}
				if m.Epoch.Term > 0 {
					m.Epoch.Node = names[int(next())%len(names)]
				}
				if nw.up[i] {
					err := nw.node[i].Step(m)
					if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrMisaddressed) && !errors.Is(err, ErrStaleEpoch) {
						t.Fatalf("Step(%v) = %v, not one of the sentinel errors", m, err)
					}
					nw.drain()
				}
			case 14:
				if nw.up[i] {
					var view []string
					mask := next()
					for j := range n {
						if mask>>j&1 == 1 {
							view = append(view, ids[j])
						}
					}
					nw.node[i].SetMembers(view)
					nw.drain()
				}
			case 15:
				b := next()
				nw.loss = float64(b%4) / 10
				nw.slow = int(b>>2) % 8
			}
			if nw.violation != nil {
				t.Fatal(nw.violation)
			}
		}

		nw.loss = 0
		for i := range n {
			nw.revive(i)
		}
		nw.heal()
		late := nw.slow // let slowed messages land before the quiet stretch
		nw.slow = 0
		nw.run(late)
		bound := cfg.AgreementBound(1)
		nw.run(bound)
		if nw.violation != nil {
			t.Fatal(nw.violation)
		}
		if _, _, ok := nw.agreement(); !ok {
			t.Fatalf("no agreement %d ticks after the faults stopped:\n%s", bound, nw.views())
		}
	})
}
