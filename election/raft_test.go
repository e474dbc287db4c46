package election

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// counterFSM adds up the bytes of each command.
type counterFSM struct {
	mu  sync.Mutex
	sum int
}

func (f *counterFSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sum += len(l.Data)
	return f.sum
}

func (f *counterFSM) Snapshot() (raft.FSMSnapshot, error) { return nil, errors.New("not needed") }
func (f *counterFSM) Restore(io.ReadCloser) error         { return errors.New("not needed") }

// raftTrio is three Raft electors on loopback; cut[i] silences node i.
type raftTrio struct {
	nodes []*Raft
	cut   []*atomic.Bool
	addrs map[string]string
}

func newRaftTrio(t *testing.T) *raftTrio { return newRaftTrioTLS(t, nil) }

// newRaftTrioTLS is a trio whose node i carries its transport over the TLS
// ends tlsOf(i) gives; nil tlsOf is plain TCP.
func newRaftTrioTLS(t *testing.T, tlsOf func(i int) streamTLS) *raftTrio {
	t.Helper()
	tr := &raftTrio{addrs: map[string]string{}}
	timing := RaftTiming{Heartbeat: 300 * time.Millisecond, Election: 300 * time.Millisecond, LeaderLease: 150 * time.Millisecond, Commit: 5 * time.Millisecond}
	var mu sync.Mutex
	for i := 0; i < 3; i++ {
		cut := new(atomic.Bool)
		name := fmt.Sprintf("r%d", i+1)
		rc := RaftConfig{
			Name: name, Bind: "127.0.0.1:0", Dir: t.TempDir(), FSM: &counterFSM{}, Timing: timing,
			Resolve: func(id string) string { mu.Lock(); defer mu.Unlock(); return tr.addrs[id] },
			Closed:  func(string) bool { return cut.Load() },
		}
		if tlsOf != nil {
			st := tlsOf(i)
			rc.ServerTLS, rc.ClientTLS = st.server, st.client
		}
		r, err := NewRaft(rc)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		tr.addrs[name] = r.Addr()
		mu.Unlock()
		tr.nodes, tr.cut = append(tr.nodes, r), append(tr.cut, cut)
	}
	var servers []Server
	for i, r := range tr.nodes {
		servers = append(servers, Server{ID: fmt.Sprintf("r%d", i+1), Address: r.Addr(), Voter: true})
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, r := range tr.nodes {
		if err := r.Bootstrap(context.Background(), servers); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = r.Run(ctx) }()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return tr
}

// agreed waits until the nodes not cut agree on a leader, and returns it.
func (tr *raftTrio) agreed(t *testing.T, not *Raft) *Raft {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var lead *Raft
		var first Leadership
		ok := true
		for i, r := range tr.nodes {
			if tr.cut[i].Load() {
				continue
			}
			l := r.Leadership()
			if first.Coordinator == "" {
				first = l
			}
			if !l.Known() || l.Coordinator != first.Coordinator || l.Epoch != first.Epoch {
				ok = false
			}
			if l.Self {
				lead = r
			}
		}
		if ok && lead != nil && lead != not {
			return lead
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no agreement on a leader within 20 s")
	return nil
}

func TestRaftElectorAgreesAppliesAndClassifies(t *testing.T) {
	tr := newRaftTrio(t)
	lead := tr.agreed(t, nil)
	if e := lead.Leadership().Epoch; e.Term == 0 || e.Node != lead.cfg.Name {
		t.Fatalf("leader's epoch %v: want its term and its name", e)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := lead.Apply(ctx, []byte("abc"))
	if err != nil || got != 3 {
		t.Fatalf("apply on the leader = %v, %v; want 3, nil", got, err)
	}
	for _, r := range tr.nodes {
		if r == lead {
			continue
		}
		if _, err := r.Apply(ctx, []byte("x")); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("apply on a follower: %v, want ErrNotLeader", err)
		}
		if err := r.VerifyLeader(ctx); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("verify on a follower: %v, want ErrNotLeader", err)
		}
	}
	if err := lead.Barrier(ctx); err != nil {
		t.Fatalf("barrier on the leader: %v", err)
	}
	if s := lead.Status(); s.State != "Leader" || !s.Voter || s.CommitIndex == 0 {
		t.Fatalf("leader's status %+v", s)
	}
	if st := lead.Stats(); st.MessagesSent["heartbeat"]+st.MessagesSent["append_entries"] == 0 {
		t.Fatalf("the leader counted no RPC sent: %v", st.MessagesSent)
	}
}

// A leader cut off acknowledges nothing: a write waits no longer than its
// deadline and its outcome is reported unknown; the others elect a leader
// at a higher term.
func TestRaftElectorCutLeaderAcknowledgesNothing(t *testing.T) {
	tr := newRaftTrio(t)
	old := tr.agreed(t, nil)
	oldEpoch := old.Leadership().Epoch
	for i, r := range tr.nodes {
		if r == old {
			tr.cut[i].Store(true)
			old.stream.dropAll()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := old.Apply(ctx, []byte("lost"))
	if err == nil {
		t.Fatal("a cut-off leader acknowledged a write")
	}
	if !errors.Is(err, ErrRaftTimeout) && !errors.Is(err, ErrLeadershipLost) && !errors.Is(err, ErrNotLeader) {
		t.Fatalf("cut-off write: %v, want a classified error", err)
	}
	lead := tr.agreed(t, old)
	if e := lead.Leadership().Epoch; e.Compare(oldEpoch) <= 0 {
		t.Fatalf("new epoch %v is not above %v", e, oldEpoch)
	}
	// Healed, the old leader follows the new one (pre-vote keeps it from
	// disrupting the cluster with the terms it counted alone).
	for i := range tr.cut {
		tr.cut[i].Store(false)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && old.Leadership().Coordinator == old.cfg.Name {
		time.Sleep(20 * time.Millisecond)
	}
	final := tr.agreed(t, nil)
	t.Logf("epochs: before the cut %v, elected during it %v, after the heal %v", oldEpoch, lead.Leadership().Epoch, final.Leadership().Epoch)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if _, err := final.Apply(ctx2, []byte("after")); err != nil {
		t.Fatalf("write after the heal: %v", err)
	}
}

func TestGatedStreamRefusesCutAddresses(t *testing.T) {
	var cut atomic.Bool
	s, err := listenGated("127.0.0.1:0", "", func(addr string) bool { return cut.Load() }, streamTLS{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	go func() {
		for {
			c, err := s.Accept()
			if err != nil {
				return
			}
			go io.Copy(c, c)
		}
	}()
	c, err := s.Dial(raft.ServerAddress(s.Addr().String()), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	cut.Store(true)
	if _, err := c.Write([]byte("ping")); !errors.Is(err, errCut) {
		t.Fatalf("write after the cut: %v, want errCut", err)
	}
	if _, err := s.Dial(raft.ServerAddress(s.Addr().String()), time.Second); !errors.Is(err, errCut) {
		t.Fatalf("dial after the cut: %v, want errCut", err)
	}
	if _, err := listenGated("0.0.0.0:0", "", func(string) bool { return false }, streamTLS{}); err == nil {
		t.Fatal("a wildcard bind without an advertise address was accepted")
	}
}
