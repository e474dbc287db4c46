package proc

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"
)

// ErrNotRunning is returned when a node that is not running is asked to do
// something only a running node can.
var ErrNotRunning = errors.New("node is not running")

// ErrClosed is returned when a node of a closed set is to be started.
var ErrClosed = errors.New("the cluster is closed")

// Set is the processes of a cluster's nodes, one slot a node, each empty
// or holding the node's process, paused or not. Both harnesses keep their
// nodes in one, so that starting, signalling and reaping follow the same
// rules: a process is started under the set's lock, so that Close, which
// takes it, either sees the process or stops it from being started. Its
// methods are safe for concurrent use.
type Set struct {
	mu     sync.Mutex
	procs  []*Process // nil where the node is not running
	paused []bool
	closed bool
}

// NewSet returns a set of n empty slots.
func NewSet(n int) *Set {
	return &Set{procs: make([]*Process, n), paused: make([]bool, n)}
}

// Start runs start for slot i, under the set's lock, and keeps the process
// it returns. It fails with ErrClosed once the set is closed and when slot
// i holds a process already.
func (s *Set) Start(i int, start func() (*Process, error)) (*Process, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.procs[i] != nil {
		return nil, errors.New("the node runs already")
	}
	p, err := start()
	if err != nil {
		return nil, err
	}
	s.procs[i], s.paused[i] = p, false
	return p, nil
}

// Get returns the process of slot i, or ErrNotRunning.
func (s *Set) Get(i int) (*Process, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.procs[i] == nil {
		return nil, ErrNotRunning
	}
	return s.procs[i], nil
}

// Reap waits up to timeout for p, the process of slot i, to exit, and
// empties the slot if it still holds p. It reports whether p exited.
func (s *Set) Reap(i int, p *Process, timeout time.Duration) bool {
	if !p.Wait(timeout) {
		return false
	}
	s.Forget(i, p)
	return true
}

// Forget empties slot i if it still holds p.
func (s *Set) Forget(i int, p *Process) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.procs[i] == p {
		s.procs[i], s.paused[i] = nil, false
	}
}

// Kill sends SIGKILL to the process of slot i and reaps it: to the other
// nodes it is a crash.
func (s *Set) Kill(i int) error {
	p, err := s.Get(i)
	if err != nil {
		return err
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	if !s.Reap(i, p, 10*time.Second) {
		return fmt.Errorf("pid %d still runs 10 s after SIGKILL", p.Pid())
	}
	return nil
}

// Pause sends sig (SIGSTOP or SIGCONT) to the process of slot i and
// records whether it is paused now.
func (s *Set) Pause(i int, sig syscall.Signal, paused bool) error {
	p, err := s.Get(i)
	if err != nil {
		return err
	}
	if err := p.Signal(sig); err != nil {
		return err
	}
	s.mu.Lock()
	s.paused[i] = paused
	s.mu.Unlock()
	return nil
}

// Running reports whether slot i holds a process, paused or not.
func (s *Set) Running(i int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.procs[i] != nil
}

// PID returns the process id of slot i, or 0 when it holds none.
func (s *Set) PID(i int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.procs[i] == nil {
		return 0
	}
	return s.procs[i].Pid()
}

// Live returns the slots whose process runs and is not paused.
func (s *Set) Live() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for i, p := range s.procs {
		if p != nil && !s.paused[i] {
			out = append(out, i)
		}
	}
	return out
}

// State says what runs in slot i, for a description of the cluster:
// "not running", "pid N" or "pid N (paused)".
func (s *Set) State(i int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.procs[i]
	if p == nil {
		return "not running"
	}
	state := fmt.Sprintf("pid %d", p.Pid())
	if s.paused[i] {
		state += " (paused)"
	}
	return state
}

// Close stops every later Start and returns the processes running now,
// by slot (nil where none runs). Only the first call returns them;
// later ones return nil and false.
func (s *Set) Close() ([]*Process, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, false
	}
	s.closed = true
	return append([]*Process(nil), s.procs...), true
}

// Closed reports whether Close was called.
func (s *Set) Closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}
