package election

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"veil/bully"
)

// memNet carries messages between runners in memory; a cut node neither
// sends nor receives.
type memNet struct {
	mu      sync.Mutex
	runners map[string]*Bully
	cut     map[string]bool
}

type memTransport struct {
	net  *memNet
	self string
}

func (t memTransport) Send(to string, payload []byte) error {
	t.net.mu.Lock()
	r, ok := t.net.runners[to]
	blocked := t.net.cut[to] || t.net.cut[t.self]
	t.net.mu.Unlock()
	if !ok || blocked {
		return fmt.Errorf("%s unreachable", to)
	}
	r.Deliver(t.self, payload)
	return nil
}

type harness struct {
	t       *testing.T
	net     *memNet
	names   []string
	cancels map[string]context.CancelFunc
	wg      sync.WaitGroup
}

func newHarness(t *testing.T, names ...string) *harness {
	h := &harness{t: t, net: &memNet{runners: map[string]*Bully{}, cut: map[string]bool{}}, names: names,
		cancels: map[string]context.CancelFunc{}}
	for _, name := range names {
		cfg := bully.DefaultConfig(name)
		cfg.ReelectInterval = 0
		b, err := NewBully(BullyConfig{Machine: cfg, Tick: 2 * time.Millisecond, Transport: memTransport{h.net, name}})
		if err != nil {
			t.Fatal(err)
		}
		h.net.runners[name] = b
	}
	for _, name := range names {
		ctx, cancel := context.WithCancel(context.Background())
		h.cancels[name] = cancel
		b := h.net.runners[name]
		b.SetMembers(names)
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			_ = b.Run(ctx)
		}()
	}
	t.Cleanup(func() {
		for _, c := range h.cancels {
			c()
		}
		h.wg.Wait()
	})
	return h
}

// agreed waits until every named runner names the same coordinator at the
// same epoch, and returns that state.
func (h *harness) agreed(names []string) Leadership {
	h.t.Helper()
	return h.agreedOn(names, func(Leadership) bool { return true })
}

// agreedOn is agreed with an extra condition on the agreed state.
func (h *harness) agreedOn(names []string, cond func(Leadership) bool) Leadership {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		first := h.net.runners[names[0]].Leadership()
		same := first.Known()
		for _, n := range names[1:] {
			l := h.net.runners[n].Leadership()
			if l.Coordinator != first.Coordinator || l.Epoch != first.Epoch {
				same = false
			}
		}
		if same && cond(first) {
			return first
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("runners %v did not agree on a coordinator", names)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRunnersAgreeAndTheLowestNameWinsAtEqualLoad(t *testing.T) {
	h := newHarness(t, "a", "b", "c")
	l := h.agreed(h.names)
	if l.Coordinator != "a" {
		t.Fatalf("coordinator %s, want a (equal loads: the name breaks the tie)", l.Coordinator)
	}
	if !h.net.runners["a"].Leadership().Self || h.net.runners["b"].Leadership().Self {
		t.Fatal("Self is wrong")
	}
	if s := h.net.runners["a"].Stats(); s.MessagesSent["COORDINATOR"] == 0 {
		t.Fatalf("the coordinator sent no COORDINATOR message: %+v", s)
	}
}

func TestTheCoordinatorsRepeatsCountAsHeartbeatsNotAnnouncements(t *testing.T) {
	h := newHarness(t, "a", "b", "c")
	l := h.agreed(h.names)
	a := h.net.runners[l.Coordinator]
	before := a.Stats().MessagesSent
	if before["COORDINATOR"] == 0 {
		t.Fatalf("the winner's announcement was not counted: %v", before)
	}
	deadline := time.Now().Add(10 * time.Second)
	for a.Stats().MessagesSent["HEARTBEAT"] < before["HEARTBEAT"]+20 {
		if time.Now().After(deadline) {
			t.Fatalf("no heartbeats counted: %v", a.Stats().MessagesSent)
		}
		time.Sleep(time.Millisecond)
	}
	after := a.Stats().MessagesSent
	if now := a.Leadership(); now.Epoch != l.Epoch || !now.Self {
		t.Fatalf("the coordinator changed to %+v meanwhile", now)
	}
	if after["COORDINATOR"] != before["COORDINATOR"] || after["ELECTION"] != before["ELECTION"] {
		t.Fatalf("a steady coordinator counted %v, then %v: its heartbeats count as announcements", before, after)
	}
}

func TestRunnersElectANewCoordinatorWhenTheOldOneIsGone(t *testing.T) {
	h := newHarness(t, "a", "b", "c")
	old := h.agreed(h.names)
	h.cancels[old.Coordinator]()
	h.net.mu.Lock()
	h.net.cut[old.Coordinator] = true
	h.net.mu.Unlock()
	var rest []string
	for _, n := range h.names {
		if n != old.Coordinator {
			rest = append(rest, n)
			h.net.runners[n].SetMembers(h.names) // membership has not noticed yet: heartbeats must time out
		}
	}
	l := h.agreedOn(rest, func(l Leadership) bool { return l.Coordinator != old.Coordinator })
	if l.Coordinator == old.Coordinator || l.Epoch.Compare(old.Epoch) <= 0 {
		t.Fatalf("after the loss of %v the survivors name %s at %v", old, l.Coordinator, l.Epoch)
	}
}

func TestASuspendedRunnerComesBackUnderTheSameCoordinator(t *testing.T) {
	h := newHarness(t, "a", "b", "c")
	before := h.agreed(h.names)
	// b goes silent for much longer than the coordinator timeout.
	h.net.runners["b"].Suspend()
	h.net.mu.Lock()
	h.net.cut["b"] = true
	h.net.mu.Unlock()
	time.Sleep(100 * time.Millisecond) // about 50 ticks: five coordinator timeouts
	h.net.mu.Lock()
	h.net.cut["b"] = false
	h.net.mu.Unlock()
	h.net.runners["b"].Rejoin()
	after := h.agreed(h.names)
	if after.Coordinator != before.Coordinator || after.Epoch != before.Epoch {
		t.Fatalf("coming back from silence moved the role: %s@%v → %s@%v",
			before.Coordinator, before.Epoch, after.Coordinator, after.Epoch)
	}
}

func TestDeliverDropsMalformedAndMisattributedMessages(t *testing.T) {
	b, err := NewBully(BullyConfig{Machine: bully.DefaultConfig("a"), Tick: time.Millisecond, Transport: memTransport{&memNet{}, "a"}})
	if err != nil {
		t.Fatal(err)
	}
	b.Deliver("b", []byte{0xff, 0x00})
	good, err := bully.Message{Type: bully.Election, From: "c", Load: 1}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	b.Deliver("b", good) // says it is from c, arrived from b
	if got := b.Stats().Dropped; got != 2 {
		t.Fatalf("dropped %d messages, want 2", got)
	}
}

func TestNewBullyRefusesABadConfig(t *testing.T) {
	cases := map[string]BullyConfig{
		"invalid machine": {Machine: bully.Config{ID: ""}, Tick: time.Millisecond, Transport: memTransport{}},
		"zero tick":       {Machine: bully.DefaultConfig("a"), Transport: memTransport{}},
		"no transport":    {Machine: bully.DefaultConfig("a"), Tick: time.Millisecond},
	}
	for name, cfg := range cases {
		if _, err := NewBully(cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestAMemberGossipGaveUpOnStillGetsTheBroadcasts: gossip on a and b calls c
// failed (as the far half's suspicion does to a bridge node), but c is
// alive and reachable. With c in the fanout it gets the coordinator's
// heartbeats and follows it; without, it would time out every coordinator
// timeout and campaign.
func TestAMemberGossipGaveUpOnStillGetsTheBroadcasts(t *testing.T) {
	h := newHarness(t, "a", "b", "c")
	for _, name := range []string{"a", "b"} {
		h.net.runners[name].SetMembers([]string{"a", "b"})
		h.net.runners[name].SetFanout([]string{"a", "b", "c"})
	}
	l := h.agreed(h.names)
	c := h.net.runners["c"]
	before := c.Stats().Elections
	time.Sleep(200 * time.Millisecond) // 100 ticks, ten coordinator timeouts
	if got := c.Stats().Elections; got != before {
		t.Fatalf("c campaigned %d times while the coordinator broadcast to it", got-before)
	}
	if now := c.Leadership(); now.Coordinator != l.Coordinator || now.Epoch != l.Epoch {
		t.Fatalf("c follows %q at %v, want %q at %v", now.Coordinator, now.Epoch, l.Coordinator, l.Epoch)
	}
}
