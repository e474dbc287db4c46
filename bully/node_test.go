package bully

// Unit tests of single rules, one node at a time, in the manner of etcd
// raft's raft_paper_test.go: each test states one rule of the package
// documentation and drives one Node by hand.

import (
	"errors"
	"math"
	"testing"
)

func newTestNode(t *testing.T, id string, edit ...func(*Config)) *Node {
	t.Helper()
	cfg := DefaultConfig(id)
	for _, e := range edit {
		e(&cfg)
	}
	n, err := NewNode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// follower returns a node "b" that follows coordinator "a" at epoch 1/a.
func follower(t *testing.T, edit ...func(*Config)) *Node {
	t.Helper()
	n := newTestNode(t, "b", edit...)
	if err := n.Step(Message{Type: Coordinator, From: "a", Epoch: Epoch{1, "a"}, Load: 5}); err != nil {
		t.Fatal(err)
	}
	n.Ready()
	return n
}

// coordinator returns a node "b" that won at epoch 1/b.
func coordinator(t *testing.T, edit ...func(*Config)) *Node {
	t.Helper()
	n := newTestNode(t, "b", edit...)
	n.Campaign()
	for range n.cfg.ElectionTimeout {
		n.Tick()
	}
	if n.state != StateCoordinator {
		t.Fatalf("want coordinator, got %v", n.state)
	}
	n.Ready()
	return n
}

func TestNewNodeRejectsAnInvalidConfig(t *testing.T) {
	if _, err := NewNode(Config{ID: "a"}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("got %v, want ErrInvalidConfig", err)
	}
}

func TestANewNodeListensBeforeItCampaigns(t *testing.T) {
	n := newTestNode(t, "a")
	for range n.cfg.CoordinatorTimeout - 1 {
		n.Tick()
	}
	if rd := n.Ready(); len(rd.Messages) != 0 || n.state != StateFollower {
		t.Fatalf("campaigned before CoordinatorTimeout: %+v, %v", rd, n.state)
	}
	n.Tick()
	rd := n.Ready()
	if n.state != StateCandidate || len(rd.Messages) != 1 || rd.Messages[0].Type != Election || rd.Messages[0].To != "" {
		t.Fatalf("want one broadcast ELECTION, got %+v in state %v", rd, n.state)
	}
}

func TestACandidateThatHearsNoAnswerWinsAboveEveryTermItKnows(t *testing.T) {
	n := newTestNode(t, "a")
	n.Step(Message{Type: Election, From: "z", Epoch: Epoch{6, "q"}, Load: 9})
	for range n.cfg.ElectionTimeout {
		n.Tick()
	}
	rd := n.Ready()
	want := Epoch{7, "a"}
	if n.state != StateCoordinator || n.epoch != want {
		t.Fatalf("state %v epoch %v, want coordinator at %v", n.state, n.epoch, want)
	}
	last := rd.Messages[len(rd.Messages)-1]
	if last.Type != Coordinator || last.Epoch != want || last.To != "" {
		t.Fatalf("want a broadcast COORDINATOR at %v, got %v", want, last)
	}
	nt := rd.Notices[len(rd.Notices)-1]
	if !nt.Self || nt.Coordinator != "a" || nt.Epoch != want {
		t.Fatalf("want a Self notice at %v, got %+v", want, nt)
	}
}

func TestAnAnswerFromABetterNodeMakesACandidateWait(t *testing.T) {
	tests := []struct {
		name   string
		from   string
		load   float64
		waits  bool
		myLoad float64
	}{
		{"a lower load is better", "z", 1, true, 2},
		{"an equal load and a smaller name is better", "a", 2, true, 2},
		{"an equal load and a larger name is not", "z", 2, false, 2},
		{"a higher load is not", "a", 3, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newTestNode(t, "m")
			n.SetLoad(tt.myLoad)
			n.Campaign()
			n.Step(Message{Type: Answer, From: tt.from, To: "m", Load: tt.load})
			if got := n.state == StateWaiting; got != tt.waits {
				t.Fatalf("waiting = %v, want %v", got, tt.waits)
			}
		})
	}
}

func TestANodeThatOutranksTheSenderAnswersAndCampaigns(t *testing.T) {
	n := follower(t)
	n.SetLoad(1)
	n.Step(Message{Type: Election, From: "c", Epoch: Epoch{1, "a"}, Load: 2})
	rd := n.Ready()
	if len(rd.Messages) != 2 || rd.Messages[0].Type != Answer || rd.Messages[0].To != "c" || rd.Messages[1].Type != Election {
		t.Fatalf("want ANSWER to c then ELECTION, got %v", rd.Messages)
	}
	if rd.Messages[0].Load != 1 || n.state != StateCandidate {
		t.Fatalf("answer carries %v, state %v", rd.Messages[0].Load, n.state)
	}
}

func TestAFollowerOutrankedByTheSenderKeepsItsCoordinatorAndYields(t *testing.T) {
	n := follower(t) // a's heartbeat said load 5: c's 2 is a load-driven re-election
	n.SetLoad(3)
	n.Step(Message{Type: Election, From: "c", Epoch: Epoch{1, "a"}, Load: 2})
	rd := n.Ready()
	if len(rd.Messages) != 1 || rd.Messages[0].Type != Yield || rd.Messages[0].To != "c" || n.coordinator != "a" {
		t.Fatalf("want one YIELD to c and coordinator a, got %v, %q", rd.Messages, n.coordinator)
	}
}

func TestASaturatedFollowerStartsNoReelection(t *testing.T) {
	for _, tt := range []struct {
		name  string
		below float64
		want  bool
	}{
		{"with no bound, a gap is enough", 0, true},
		{"at or above the bound, no gap is enough", 6, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := follower(t, func(c *Config) { c.ReelectInterval = 20; c.ReelectBelow = tt.below })
			n.Step(Message{Type: Coordinator, From: "a", Epoch: Epoch{1, "a"}, Load: 9})
			n.SetLoad(6) // below the coordinator's 9 by more than the gap of 1
			offered := false
			for range n.cfg.ReelectInterval {
				n.Tick()
				offered = offered || offers(n.Ready(), "a", 6)
				n.Step(Message{Type: Coordinator, From: "a", Epoch: Epoch{1, "a"}, Load: 9})
			}
			if offered != tt.want || n.state != StateFollower {
				t.Fatalf("offered = %v, want %v; state %v, want follower", offered, tt.want, n.state)
			}
		})
	}
}

func TestACandidateWinsOnceEveryLiveMemberHasYielded(t *testing.T) {
	n := follower(t)
	n.SetMembers([]string{"a", "b", "c", "d"})
	n.Lost("a") // a's connection was reset: b campaigns and need not hear from a
	n.Ready()
	e := Epoch{1, "a"}
	n.Step(Message{Type: Yield, From: "c", To: "b", Epoch: e, Load: 7})
	if n.state != StateCandidate {
		t.Fatalf("one yield of two: want a candidate still, got %v", n.state)
	}
	n.Step(Message{Type: Yield, From: "d", To: "b", Epoch: e, Load: 7})
	if n.state != StateCoordinator {
		t.Fatalf("every live member yielded: want coordinator at once, got %v", n.state)
	}

	// Without proof that a is gone, b waits for a too, that is for its
	// election timeout.
	n = follower(t)
	n.SetMembers([]string{"a", "b", "c"})
	n.Campaign()
	n.Ready()
	n.Step(Message{Type: Yield, From: "c", To: "b", Epoch: e, Load: 7})
	if n.state != StateCandidate {
		t.Fatalf("a did not yield: want a candidate still, got %v", n.state)
	}
}

func TestTheSnapshotNotTheLiveLoadDecides(t *testing.T) {
	n := newTestNode(t, "m")
	n.SetLoad(1)
	n.Campaign() // snapshot 1
	n.SetLoad(10)
	n.Ready()
	n.Step(Message{Type: Election, From: "z", Load: 5})
	rd := n.Ready()
	if len(rd.Messages) != 1 || rd.Messages[0].Type != Answer || rd.Messages[0].Load != 1 {
		t.Fatalf("want an ANSWER with the snapshot 1, got %v", rd.Messages)
	}
	if st := n.Status(); !st.InElection || st.Snapshot != 1 || st.Load != 10 {
		t.Fatalf("status %+v", st)
	}
}

func TestStaleMessagesAreIgnored(t *testing.T) {
	for _, m := range []Message{
		{Type: Coordinator, From: "c", Epoch: Epoch{1, "c"}},
		{Type: Election, From: "c", Epoch: Epoch{1, "a"}},
		{Type: Answer, From: "c", To: "b", Epoch: Epoch{}},
	} {
		n := newTestNode(t, "b")
		n.Step(Message{Type: Coordinator, From: "x", Epoch: Epoch{2, "x"}})
		n.Ready()
		before := n.Status()
		if err := n.Step(m); !errors.Is(err, ErrStaleEpoch) {
			t.Fatalf("%v: got %v, want ErrStaleEpoch", m, err)
		}
		if n.Status() != before || n.HasReady() {
			t.Fatalf("%v changed the node: %+v", m, n.Status())
		}
	}
}

func TestACoordinatorTellsAStaleSenderWhoCoordinates(t *testing.T) {
	n := coordinator(t)
	if err := n.Step(Message{Type: Election, From: "c", Epoch: Epoch{}}); !errors.Is(err, ErrStaleEpoch) {
		t.Fatal(err)
	}
	rd := n.Ready()
	if len(rd.Messages) != 1 || rd.Messages[0].Type != Coordinator || rd.Messages[0].To != "c" || n.state != StateCoordinator {
		t.Fatalf("want a COORDINATOR to c and no change, got %v in %v", rd.Messages, n.state)
	}
}

func TestACoordinatorStepsDownAtOnceOnAHigherEpoch(t *testing.T) {
	for _, m := range []Message{
		{Type: Coordinator, From: "x", Epoch: Epoch{5, "x"}},
		{Type: Election, From: "x", Epoch: Epoch{5, "y"}, Load: 100},
		{Type: Answer, From: "x", To: "b", Epoch: Epoch{5, "y"}, Load: 100},
	} {
		n := coordinator(t)
		if err := n.Step(m); err != nil {
			t.Fatal(err)
		}
		if n.state == StateCoordinator || n.epoch.Less(m.Epoch) {
			t.Fatalf("%v: still %v at %v", m.Type, n.state, n.epoch)
		}
		nt := n.Ready().Notices
		if len(nt) == 0 || !nt[0].SteppedDown || nt[0].Self {
			t.Fatalf("%v: want a SteppedDown notice, got %+v", m.Type, nt)
		}
	}
}

func TestACoordinatorChallengedAtItsEpochAnswersAndStays(t *testing.T) {
	// The challenger lost our heartbeats (load, lag, a lossy link); we are
	// alive, so we tell it, and nobody's election replaces us.
	for _, load := range []float64{4, -0.5} { // worse than us, or better by less than the gap
		n := coordinator(t) // load 0
		n.Step(Message{Type: Election, From: "c", Epoch: n.epoch, Load: load})
		rd := n.Ready()
		if n.state != StateCoordinator || len(rd.Notices) != 0 {
			t.Fatalf("load %v: challenged at its epoch it should stay coordinator, got %v, %+v", load, n.state, rd.Notices)
		}
		if len(rd.Messages) != 1 || rd.Messages[0].Type != Coordinator || rd.Messages[0].To != "c" {
			t.Fatalf("load %v: want one COORDINATOR to c, got %v", load, rd.Messages)
		}
	}
}

func TestACoordinatorTakesPartInALoadDrivenReelection(t *testing.T) {
	n := coordinator(t) // load 0, gap 1, re-election on
	n.SetLoad(3)
	n.Step(Message{Type: Election, From: "a", Epoch: n.epoch, Load: 1})
	if n.state != StateWaiting {
		t.Fatalf("outranked by more than the gap it should step down and wait for the challenger, got %v", n.state)
	}
	n = coordinator(t, func(c *Config) { c.ReelectBelow = 1 })
	n.SetLoad(3)
	n.Step(Message{Type: Election, From: "a", Epoch: n.epoch, Load: 1})
	if n.state != StateCoordinator {
		t.Fatalf("a challenger at the saturation bound is no re-election: want the coordinator to stay, got %v", n.state)
	}
	n = coordinator(t, func(c *Config) { c.ReelectInterval = 0 })
	n.SetLoad(3)
	n.Step(Message{Type: Election, From: "a", Epoch: n.epoch, Load: 1})
	if n.state != StateCoordinator {
		t.Fatalf("with re-election off no challenger replaces a live coordinator, got %v", n.state)
	}
}

func TestACandidateAnsweredByTheLiveCoordinatorFollowsIt(t *testing.T) {
	n := follower(t)
	n.Campaign()
	n.Ready()
	// A broadcast heartbeat may predate our ELECTION: the election goes on.
	n.Step(Message{Type: Coordinator, From: "a", Epoch: Epoch{1, "a"}, Load: 5})
	if n.state != StateCandidate {
		t.Fatalf("a broadcast heartbeat ended the election: %v", n.state)
	}
	// The coordinator's reply to our ELECTION ends it.
	n.Step(Message{Type: Coordinator, From: "a", To: "b", Epoch: Epoch{1, "a"}, Load: 5})
	if n.state != StateFollower || n.coordinator != "a" {
		t.Fatalf("want a follower of a, got %v following %q", n.state, n.coordinator)
	}
}

func TestAFollowerThatHearsItsCoordinatorDoesNotHelpReplaceIt(t *testing.T) {
	// The coordinator a's last heartbeat said load 5; the gap is 1.
	tests := []struct {
		name       string
		ours, cand float64
		want       MessageType // what c gets from us
		wantState  State
	}{
		{"a worse challenger is refused, and we do not campaign", 0, 4.5, Refuse, StateFollower},
		{"a better challenger is refused too: it cannot win by our silence", 6, 4.5, Refuse, StateFollower},
		{"a challenger below the coordinator by more than the gap re-elects: we take part", -3, 2, Answer, StateCandidate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := follower(t)
			n.SetLoad(tt.ours)
			n.Step(Message{Type: Election, From: "c", Epoch: Epoch{1, "a"}, Load: tt.cand})
			var got []MessageType
			for _, m := range n.Ready().Messages {
				if m.To == "c" {
					got = append(got, m.Type)
				}
			}
			if len(got) != 1 || got[0] != tt.want || n.state != tt.wantState {
				t.Fatalf("sent %v to c in %v, want [%v] in %v", got, n.state, tt.want, tt.wantState)
			}
			if tt.wantState == StateFollower && n.coordinator != "a" {
				t.Fatalf("gave up its coordinator: %q", n.coordinator)
			}
		})
	}
}

func TestARefusalFromANodeThatCampaignsTooIsStale(t *testing.T) {
	n := newTestNode(t, "b")
	n.Campaign()
	n.Ready()
	// c lost the coordinator a moment after we did: its ELECTION overtook
	// the REFUSE it sent while it still followed.
	n.Step(Message{Type: Election, From: "c", Epoch: n.epoch, Load: 9})
	n.Step(Message{Type: Refuse, From: "c", To: "b", Epoch: n.epoch, Load: 9})
	if n.state != StateCandidate {
		t.Fatalf("a refusal from a node that campaigns is stale: want a candidate still, got %v", n.state)
	}
}

func TestARefusedCandidateStandsDownAndTriesAgain(t *testing.T) {
	n := newTestNode(t, "b")
	n.Campaign()
	n.Ready()
	n.Step(Message{Type: Refuse, From: "c", To: "b", Epoch: n.epoch, Load: 9})
	if n.state != StateWaiting {
		t.Fatalf("refused, it should stand down, got %v", n.state)
	}
	for range n.cfg.ElectionTimeout {
		n.Tick()
	}
	if n.state != StateCandidate {
		t.Fatalf("an election timeout after a refusal it should campaign again, got %v", n.state)
	}
}

func TestProofThatTheCoordinatorIsGoneStartsAnElectionAtOnce(t *testing.T) {
	n := follower(t)
	n.Lost("c") // not our coordinator: nothing
	if n.state != StateFollower || n.HasReady() {
		t.Fatalf("the loss of another node changed %v", n.state)
	}
	n.Lost("a")
	rd := n.Ready()
	if n.state != StateCandidate || len(rd.Messages) != 1 || rd.Messages[0].Type != Election {
		t.Fatalf("want a candidate that sent ELECTION, got %v with %v", n.state, rd.Messages)
	}
	if len(rd.Notices) != 1 || rd.Notices[0].Coordinator != "" {
		t.Fatalf("want a notice that no coordinator is known, got %+v", rd.Notices)
	}
}

func TestTrafficFromTheCoordinatorCountsAsAHeartbeat(t *testing.T) {
	n := follower(t)
	for range 3 * n.cfg.CoordinatorTimeout {
		n.Tick()
		n.Heard("a", Epoch{1, "a"})
	}
	if n.state != StateFollower || n.coordinator != "a" {
		t.Fatalf("with traffic from the coordinator every tick it should keep it, got %v following %q", n.state, n.coordinator)
	}
	// Traffic from another node, or at another epoch, proves nothing.
	for range n.cfg.CoordinatorTimeout {
		n.Tick()
		n.Heard("c", Epoch{1, "a"})
		n.Heard("a", Epoch{2, "a"})
	}
	if n.state != StateCandidate {
		t.Fatalf("without its coordinator's traffic it should campaign, got %v", n.state)
	}
}

func TestTheCoordinatorHeartbeatsEveryInterval(t *testing.T) {
	n := coordinator(t)
	n.SetLoad(2.5)
	for round := range 3 {
		for range n.cfg.HeartbeatInterval - 1 {
			n.Tick()
		}
		if n.HasReady() {
			t.Fatalf("round %d: sent before the interval", round)
		}
		n.Tick()
		rd := n.Ready()
		if len(rd.Messages) != 1 || rd.Messages[0].Type != Coordinator || rd.Messages[0].Load != 2.5 || len(rd.Notices) != 0 {
			t.Fatalf("round %d: want one heartbeat with load 2.5 and no notice, got %+v", round, rd)
		}
	}
}

func TestHeartbeatsKeepAFollowerAndSilenceLosesIt(t *testing.T) {
	n := follower(t)
	for range 5 * n.cfg.CoordinatorTimeout {
		n.Tick()
		n.Step(Message{Type: Coordinator, From: "a", Epoch: Epoch{1, "a"}, Load: 5})
	}
	if n.HasReady() || n.coordinator != "a" {
		t.Fatal("a follower with heartbeats should stay quiet")
	}
	for range n.cfg.CoordinatorTimeout {
		n.Tick()
	}
	if n.state != StateCandidate {
		t.Fatalf("silence for CoordinatorTimeout should start an election, state %v", n.state)
	}
	if nt := n.Ready().Notices; len(nt) != 1 || nt[0].Coordinator != "" {
		t.Fatalf("want one notice that the coordinator is lost, got %+v", nt)
	}
}

func TestAHeartbeatOfTheContestedEpochDoesNotEndTheElection(t *testing.T) {
	n := follower(t)
	n.Campaign()
	n.Step(Message{Type: Coordinator, From: "a", Epoch: Epoch{1, "a"}})
	if n.state != StateCandidate {
		t.Fatalf("state %v, want candidate", n.state)
	}
	n.Step(Message{Type: Coordinator, From: "z", Epoch: Epoch{2, "z"}})
	if n.state != StateFollower || n.coordinator != "z" {
		t.Fatalf("a higher epoch should end it: %v %q", n.state, n.coordinator)
	}
}

func TestAWaitingNodeTakesOverWhenNoAnnouncementComes(t *testing.T) {
	n := newTestNode(t, "m")
	n.Campaign()
	n.Step(Message{Type: Answer, From: "a", To: "m", Load: -1})
	n.Ready()
	waitsThenCampaigns(t, n)
}

// waitsThenCampaigns checks that n, waiting, waits out CoordinatorTimeout
// ticks and then campaigns.
func waitsThenCampaigns(t *testing.T, n *Node) {
	t.Helper()
	for range n.cfg.CoordinatorTimeout - 1 {
		n.Tick()
	}
	if n.state != StateWaiting {
		t.Fatalf("state %v before the timeout, want waiting", n.state)
	}
	n.Tick()
	if n.state != StateCandidate {
		t.Fatalf("state %v after the timeout, want candidate", n.state)
	}
}

func TestReelectionNeedsTheGapAndTheInterval(t *testing.T) {
	tests := []struct {
		name      string
		myLoad    float64
		ticks     int
		campaigns bool
	}{
		{"better by more than the gap, after the interval", 3.5, 100, true},
		{"and again an interval later, if nothing moved", 3.5, 200, true},
		{"better by more than the gap, before the interval", 3.5, 99, false},
		{"better by exactly the gap", 4, 500, false},
		{"better by less than the gap", 4.5, 500, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := follower(t) // coordinator load 5, gap 1, interval 100
			n.SetLoad(tt.myLoad)
			// A load-driven move is no election: the follower offers to
			// take the role, once an interval, and goes on following.
			count := 0
			for k := range tt.ticks {
				n.Tick()
				if offers(n.Ready(), "a", tt.myLoad) {
					count++
				}
				if k%2 == 0 {
					n.Step(Message{Type: Coordinator, From: "a", Epoch: Epoch{1, "a"}, Load: 5})
				}
				if n.state != StateFollower {
					t.Fatalf("tick %d: %v, want follower", k, n.state)
				}
			}
			want := 0
			if tt.campaigns {
				want = tt.ticks / n.cfg.ReelectInterval
			}
			if count != want {
				t.Fatalf("offered %d times, want %d", count, want)
			}
		})
	}
	n := follower(t, func(c *Config) { c.ReelectInterval = 0 })
	n.SetLoad(-100)
	for range 1000 {
		n.Tick()
		if offers(n.Ready(), "a", -100) {
			t.Fatal("ReelectInterval 0 should disable re-election")
		}
		n.Step(Message{Type: Coordinator, From: "a", Epoch: Epoch{1, "a"}, Load: 5})
	}
}

// offers reports whether rd holds an OFFER to the coordinator to carrying
// load.
func offers(rd Ready, to string, load float64) bool {
	for _, m := range rd.Messages {
		if m.Type == Offer && m.To == to && m.Load == load {
			return true
		}
	}
	return false
}

func TestACoordinatorHandsItsRoleToTheBestOfferInItsWindow(t *testing.T) {
	n := coordinator(t) // b at 1/b, gap 1, re-election on
	n.SetMembers([]string{"a", "b", "c", "d", "e"})
	n.SetLoad(5)
	e := n.epoch
	n.Step(Message{Type: Offer, From: "a", To: "b", Epoch: e, Load: 3})
	n.Step(Message{Type: Offer, From: "e", To: "b", Epoch: e, Load: 4.5}) // within the gap: not an offer to take
	n.Tick()
	n.Step(Message{Type: Offer, From: "c", To: "b", Epoch: e, Load: 2})
	n.Step(Message{Type: Offer, From: "d", To: "b", Epoch: e, Load: 2}) // as good as c, loses by name
	for k := 1; k < n.cfg.ElectionTimeout; k++ {
		if rd := n.Ready(); rd.Transfer != "" {
			t.Fatalf("tick %d: chose %s before the window closed", k, rd.Transfer)
		}
		n.Tick()
	}
	if rd := n.Ready(); rd.Transfer != "c" || n.state != StateCoordinator {
		t.Fatalf("want Transfer c while still coordinating, got %q, %v", rd.Transfer, n.state)
	}

	// The host has drained its writes and caught c up: hand over.
	if err := n.Transfer("c"); err != nil {
		t.Fatal(err)
	}
	rd := n.Ready()
	if n.state != StateWaiting || n.coordinator != "" || len(rd.Notices) != 1 || !rd.Notices[0].SteppedDown {
		t.Fatalf("want a waiting node that stepped down, got %v following %q, notices %+v", n.state, n.coordinator, rd.Notices)
	}
	if len(rd.Messages) != 1 || rd.Messages[0] != (Message{Type: Handoff, From: "b", To: "c", Epoch: e, Load: 5}) {
		t.Fatalf("want one HANDOFF to c at %v, got %v", e, rd.Messages)
	}
	// Lost? Said again every heartbeat interval.
	for range n.cfg.HeartbeatInterval {
		n.Tick()
	}
	if rd := n.Ready(); len(rd.Messages) != 1 || rd.Messages[0].Type != Handoff {
		t.Fatalf("want the HANDOFF again, got %v", rd.Messages)
	}
	// c announces the next term: followed.
	n.Step(Message{Type: Coordinator, From: "c", Epoch: Epoch{e.Term + 1, "c"}, Load: 2})
	if n.state != StateFollower || n.coordinator != "c" {
		t.Fatalf("want a follower of c, got %v following %q", n.state, n.coordinator)
	}
}

func TestAHandoffMakesItsRecipientCoordinatorAtTheNextTerm(t *testing.T) {
	n := follower(t) // b follows a at 1/a
	n.Step(Message{Type: Handoff, From: "a", To: "b", Epoch: Epoch{1, "a"}, Load: 5})
	rd := n.Ready()
	if n.state != StateCoordinator || n.epoch != (Epoch{2, "b"}) {
		t.Fatalf("want coordinator at 2/b, got %v at %v", n.state, n.epoch)
	}
	if len(rd.Messages) != 1 || rd.Messages[0].Type != Coordinator || rd.Messages[0].To != "" {
		t.Fatalf("want a broadcast COORDINATOR, got %v", rd.Messages)
	}
	// The same HANDOFF again (resent, or late) is stale now: answered.
	err := n.Step(Message{Type: Handoff, From: "a", To: "b", Epoch: Epoch{1, "a"}, Load: 5})
	if !errors.Is(err, ErrStaleEpoch) || n.state != StateCoordinator || n.epoch != (Epoch{2, "b"}) {
		t.Fatalf("a stale HANDOFF: %v, %v at %v", err, n.state, n.epoch)
	}
	if rd := n.Ready(); len(rd.Messages) != 1 || rd.Messages[0].Type != Coordinator || rd.Messages[0].To != "a" {
		t.Fatalf("want a COORDINATOR to a, got %v", rd.Messages)
	}
}

func TestAHandoffNobodyTakesEndsInAnElection(t *testing.T) {
	n := coordinator(t)
	n.SetMembers([]string{"a", "b", "c"})
	if err := n.Transfer("c"); err != nil {
		t.Fatal(err)
	}
	waitsThenCampaigns(t, n) // c never announced
}

func TestTransferRefusesWhatItCannotDo(t *testing.T) {
	for _, tt := range []struct {
		name string
		node func(*testing.T, ...func(*Config)) *Node
		to   string
	}{
		{"a follower", follower, "c"},
		{"to itself", coordinator, "b"},
		{"to a name the wire cannot carry", coordinator, ""},
		{"to a member gossip does not hold alive", coordinator, "z"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.node(t)
			n.SetMembers([]string{"a", "b", "c"})
			before := n.Status()
			if err := n.Transfer(tt.to); !errors.Is(err, ErrNoHandoff) {
				t.Fatalf("got %v, want ErrNoHandoff", err)
			}
			if n.Status() != before || n.HasReady() {
				t.Fatalf("a refused Transfer changed the node: %+v, ready %v", n.Status(), n.HasReady())
			}
		})
	}
}

func TestOffersNeedTheGapAndAreForgottenWithTheRole(t *testing.T) {
	n := coordinator(t)
	n.SetLoad(5)
	e := n.epoch
	n.Step(Message{Type: Offer, From: "a", To: "b", Epoch: e, Load: 3})
	// Before the window closes, a higher epoch: b no longer coordinates.
	n.Step(Message{Type: Coordinator, From: "c", Epoch: Epoch{e.Term + 1, "c"}, Load: 1})
	for range 2 * n.cfg.ElectionTimeout {
		n.Tick()
		if rd := n.Ready(); rd.Transfer != "" {
			t.Fatalf("a node that no longer coordinates chose a successor: %s", rd.Transfer)
		}
	}
	// A follower ignores offers.
	n.Step(Message{Type: Offer, From: "a", To: "b", Epoch: n.epoch, Load: -10})
	for range 2 * n.cfg.ElectionTimeout {
		n.Tick()
		n.Step(Message{Type: Coordinator, From: "c", Epoch: Epoch{e.Term + 1, "c"}, Load: 1})
		if rd := n.Ready(); rd.Transfer != "" || n.state != StateFollower {
			t.Fatalf("a follower acted on an offer: %q, %v", rd.Transfer, n.state)
		}
	}
}

func TestMembershipLosingTheCoordinatorStartsAnElection(t *testing.T) {
	// silent ticks as many as gossip takes at the least: two heartbeats.
	silent := func(n *Node) {
		for range 2 * n.cfg.HeartbeatInterval {
			n.Tick()
		}
	}
	n := follower(t)
	n.SetMembers([]string{"a", "b", "c"})
	if n.HasReady() {
		t.Fatal("a membership that lists the coordinator changes nothing")
	}
	silent(n)
	n.SetMembers([]string{"b", "c"})
	if n.state != StateCandidate {
		t.Fatalf("state %v, want candidate", n.state)
	}

	// A coordinator that gossip never listed is watched by heartbeats only,
	// not re-elected on every membership change.
	n = newTestNode(t, "b")
	n.SetMembers([]string{"b"})
	n.Step(Message{Type: Coordinator, From: "a", Epoch: Epoch{1, "a"}})
	n.Ready()
	n.SetMembers([]string{"b", "c"})
	if n.state != StateFollower || n.coordinator != "a" {
		t.Fatalf("state %v coordinator %q", n.state, n.coordinator)
	}

	// The first membership ever given counts as a change.
	n = follower(t)
	silent(n)
	n.SetMembers([]string{"b"})
	if n.state != StateCandidate {
		t.Fatalf("state %v, want candidate", n.state)
	}
}

// Gossip is second-hand: in a bridge partition the others' suspicion made
// memberlist call dead a coordinator the bridge node heard every 100 ms,
// and the cluster changed coordinator a dozen times in 20 s. A follower
// that heard its coordinator within two heartbeats keeps it, and refuses
// to help replace it.
func TestAFollowerThatHearsItsCoordinatorDoesNotBelieveGossipItIsDead(t *testing.T) {
	n := follower(t)
	n.SetMembers([]string{"a", "b", "c"})
	for range 2*n.cfg.HeartbeatInterval - 1 {
		n.Tick()
	}
	n.SetMembers([]string{"b", "c"})
	if n.state != StateFollower || n.coordinator != "a" {
		t.Fatalf("state %v coordinator %q: gossip's verdict outweighed a heartbeat heard %d ticks ago",
			n.state, n.coordinator, 2*n.cfg.HeartbeatInterval-1)
	}
	if err := n.Step(Message{Type: Election, From: "c", Epoch: Epoch{1, "a"}, Load: 5}); err != nil {
		t.Fatal(err)
	}
	rd := n.Ready()
	if len(rd.Messages) != 1 || rd.Messages[0].Type != Refuse || rd.Messages[0].To != "c" {
		t.Fatalf("an ELECTION from c got %v, want one REFUSE to c", rd.Messages)
	}
	// Its own timeout still ends a coordinator it stops hearing.
	for range n.cfg.CoordinatorTimeout {
		n.Tick()
	}
	if n.state == StateFollower {
		t.Fatalf("still following a coordinator silent for a whole timeout")
	}
}

func TestRejoinForgetsTheCoordinatorAndListens(t *testing.T) {
	n := coordinator(t)
	n.Tick() // a heartbeat is pending
	n.Rejoin()
	rd := n.Ready()
	if len(rd.Messages) != 0 {
		t.Fatalf("unsent messages from before the failure survived: %v", rd.Messages)
	}
	if len(rd.Notices) != 1 || !rd.Notices[0].SteppedDown || rd.Notices[0].Coordinator != "" {
		t.Fatalf("want a step-down notice naming no coordinator, got %+v", rd.Notices)
	}
	e := n.epoch
	n.Step(Message{Type: Coordinator, From: "c", Epoch: Epoch{2, "c"}})
	if n.coordinator != "c" || !e.Less(n.epoch) {
		t.Fatalf("want to follow c at 2/c, got %q at %v", n.coordinator, n.epoch)
	}
}

func TestCampaign(t *testing.T) {
	n := newTestNode(t, "a")
	n.Campaign()
	n.Ready()
	n.Campaign()
	if n.HasReady() {
		t.Fatal("Campaign during an election should do nothing")
	}
	n = coordinator(t)
	n.Campaign()
	if rd := n.Ready(); n.state != StateCandidate || len(rd.Notices) != 1 || !rd.Notices[0].SteppedDown {
		t.Fatalf("a coordinator that campaigns steps down first: %v %+v", n.state, rd)
	}
}

func TestStepRejectsWhatItCannotUse(t *testing.T) {
	n := newTestNode(t, "b")
	tests := []struct {
		name string
		m    Message
		want error
	}{
		{"a malformed message", Message{Type: 0, From: "a"}, ErrMalformed},
		{"a message for another node", Message{Type: Answer, From: "a", To: "c"}, ErrMisaddressed},
		{"a message from itself", Message{Type: Election, From: "b"}, ErrMisaddressed},
		{"a term past the limit", Message{Type: Coordinator, From: "a", Epoch: Epoch{termLimit, "a"}}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := n.Status()
			if err := n.Step(tt.m); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if n.Status() != before || n.HasReady() {
				t.Fatal("a refused message changed the node")
			}
		})
	}
}

func TestATermAtTheLimitIsNeverWrapped(t *testing.T) {
	n := newTestNode(t, "b")
	n.Step(Message{Type: Coordinator, From: "a", Epoch: Epoch{termLimit - 1, "a"}})
	n.Campaign()
	for range n.cfg.ElectionTimeout {
		n.Tick()
	}
	if n.state == StateCoordinator || n.epoch.Term != termLimit-1 {
		t.Fatalf("won at %v", n.epoch)
	}
}

func TestSetLoadKeepsLoadsComparable(t *testing.T) {
	n := newTestNode(t, "a")
	n.SetLoad(3)
	n.SetLoad(math.NaN())
	if n.load != 3 {
		t.Fatalf("NaN replaced the load: %v", n.load)
	}
	n.SetLoad(math.Inf(1))
	if n.load != math.MaxFloat64 {
		t.Fatalf("+Inf became %v", n.load)
	}
	n.SetLoad(math.Inf(-1))
	if n.load != -math.MaxFloat64 {
		t.Fatalf("-Inf became %v", n.load)
	}
}

func TestStatus(t *testing.T) {
	n := follower(t)
	n.SetLoad(2)
	st := n.Status()
	want := Status{ID: "b", State: StateFollower, Coordinator: "a", Epoch: Epoch{1, "a"}, Load: 2, CoordinatorLoad: 5}
	if st != want {
		t.Fatalf("got %+v, want %+v", st, want)
	}
}

func TestRestoreRaisesTheEpochAndNeverLowersIt(t *testing.T) {
	n, err := NewNode(DefaultConfig("a"))
	if err != nil {
		t.Fatal(err)
	}
	n.Restore(Epoch{Term: 5, Node: "x"})
	if got := n.Status().Epoch; got != (Epoch{Term: 5, Node: "x"}) {
		t.Fatalf("epoch %v after Restore(5/x)", got)
	}
	n.Restore(Epoch{Term: 3, Node: "z"})
	n.Restore(Epoch{Term: 0, Node: "bad"})
	if got := n.Status().Epoch; got != (Epoch{Term: 5, Node: "x"}) {
		t.Fatalf("an older or invalid epoch moved the node to %v", got)
	}
	// Alone, it campaigns and wins above the restored term.
	n.SetMembers([]string{"a"})
	for i := 0; i < 100 && n.Status().State != StateCoordinator; i++ {
		n.Tick()
	}
	if st := n.Status(); st.State != StateCoordinator || st.Epoch.Term != 6 {
		t.Fatalf("after campaigning alone: %v at %v, want coordinator at term 6", st.State, st.Epoch)
	}
	// A coordinator that learns of a newer epoch steps down.
	n.Ready()
	n.Restore(Epoch{Term: 9, Node: "y"})
	rd := n.Ready()
	if st := n.Status(); st.State == StateCoordinator || len(rd.Notices) != 1 || !rd.Notices[0].SteppedDown {
		t.Fatalf("coordinator after Restore(9/y): %v, notices %+v", st.State, rd.Notices)
	}
}

func TestAFollowerAnswersItsCoordinatorsCallForOffersWhenLighterByTheGap(t *testing.T) {
	call := Message{Type: Offer, From: "a", Epoch: Epoch{1, "a"}, Load: 5}
	for _, tt := range []struct {
		name   string
		load   float64
		answer bool
	}{
		{"lighter by more than the gap", 3.5, true},
		{"lighter by the gap exactly", 4, false},
		{"heavier", 6, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := follower(t) // b follows a, gap 1
			n.SetLoad(tt.load)
			if err := n.Step(call); err != nil {
				t.Fatal(err)
			}
			if got := offers(n.Ready(), "a", tt.load); got != tt.answer {
				t.Fatalf("offered %v, want %v", got, tt.answer)
			}
			if n.state != StateFollower || n.coordinator != "a" {
				t.Fatalf("a call for offers changed the follower: %v following %q", n.state, n.coordinator)
			}
		})
	}
	// A call from a node we do not follow is not answered.
	n := follower(t)
	n.SetLoad(0)
	n.Step(Message{Type: Offer, From: "c", Epoch: Epoch{1, "c"}, Load: 5})
	if rd := n.Ready(); offers(rd, "c", 0) {
		t.Fatal("answered a call from a node it does not follow")
	}
}

func TestTheFirstOfferOpensTheWindowWithACallToEveryFollower(t *testing.T) {
	n := coordinator(t)
	n.SetLoad(5)
	n.Step(Message{Type: Offer, From: "a", To: "b", Epoch: n.epoch, Load: 3})
	rd := n.Ready()
	if len(rd.Messages) != 1 || rd.Messages[0] != (Message{Type: Offer, From: "b", Epoch: n.epoch, Load: 5}) {
		t.Fatalf("want one call for offers, got %v", rd.Messages)
	}
	n.Step(Message{Type: Offer, From: "c", To: "b", Epoch: n.epoch, Load: 3})
	if rd := n.Ready(); len(rd.Messages) != 0 {
		t.Fatalf("a second offer in the window called again: %v", rd.Messages)
	}
}
