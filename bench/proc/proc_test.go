package proc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"veil/stego"
)

// The test binary doubles as the process to run: with PROC_TEST_HELPER
// set, it does what that says instead of running the tests.
func TestMain(m *testing.M) {
	switch os.Getenv("PROC_TEST_HELPER") {
	case "":
		os.Exit(m.Run())
	case "print":
		fmt.Printf("hello from %d; VEIL_MODE=%q\n", os.Getpid(), os.Getenv("VEIL_MODE"))
		os.Exit(0)
	case "sleep":
		time.Sleep(time.Minute)
		os.Exit(3)
	}
}

// helper is a command that runs this test binary as the helper what (the
// variable is inherited: Start sets the environment itself).
func helper(t *testing.T, what string) *exec.Cmd {
	t.Setenv("PROC_TEST_HELPER", what)
	return exec.Command(os.Args[0], "-test.run=^$", what)
}

func TestStartLogsTheCommandAndItsOutputWithoutVeilVariables(t *testing.T) {
	t.Setenv("VEIL_MODE", "raft")
	log := filepath.Join(t.TempDir(), "node.log")
	if err := os.WriteFile(log, []byte("an earlier run\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Start(helper(t, "print"), log)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Wait(30 * time.Second) {
		t.Fatal("the process did not exit")
	}
	if err := p.Err(); err != nil || !p.Exited() {
		t.Fatalf("exit: %v, exited %v", err, p.Exited())
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	head, out := string(b[:p.LogOffset()]), string(b[p.LogOffset():])
	if !strings.HasPrefix(head, "an earlier run\n==== ") || !strings.HasSuffix(head, " print\n") {
		t.Fatalf("the log before this run's output: %q", head)
	}
	if want := fmt.Sprintf("hello from %d; VEIL_MODE=\"\"\n", p.Pid()); out != want {
		t.Fatalf("this run's output: %q, want %q", out, want)
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("a signal to a process that exited: %v", err)
	}
}

func TestSignalStopsTheProcessAndWaitTimesOut(t *testing.T) {
	p, err := Start(helper(t, "sleep"), filepath.Join(t.TempDir(), "node.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Signal(syscall.SIGKILL); p.Wait(10 * time.Second) })
	if p.Wait(50*time.Millisecond) || p.Exited() {
		t.Fatal("a sleeping process reported as exited")
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !p.Wait(10 * time.Second) {
		t.Fatal("the process still runs 10 s after SIGTERM")
	}
	var exit *exec.ExitError
	if err := p.Err(); !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Fatalf("exit: %v, want killed by SIGTERM", err)
	}
}

func TestStartSaysWhatFailed(t *testing.T) {
	dir := t.TempDir()
	if _, err := Start(exec.Command(filepath.Join(dir, "no-such-binary")), filepath.Join(dir, "node.log")); err == nil || !strings.Contains(err.Error(), "starting") {
		t.Fatalf("a missing binary: %v", err)
	}
	if _, err := Start(exec.Command(os.Args[0]), filepath.Join(dir, "no-dir", "node.log")); err == nil || !strings.Contains(err.Error(), "node log") {
		t.Fatalf("a log that cannot be made: %v", err)
	}
}

func TestGetJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/coordinator":
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error": {"code": "no_coordinator", "message": "no coordinator known"}}`)
		case "/v1/status":
			fmt.Fprint(w, `{"state": "active"}`)
		default:
			fmt.Fprint(w, `not json`)
		}
	}))
	defer srv.Close()
	api := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()

	var st struct{ State string }
	if err := GetJSON(ctx, srv.Client(), api, "/v1/status", &st); err != nil || st.State != "active" {
		t.Fatalf("status: %v, %+v", err, st)
	}
	var se *StatusError
	err := GetJSON(ctx, srv.Client(), api, "/v1/coordinator", &st)
	if !errors.As(err, &se) || se.Status != 503 || se.Code != "no_coordinator" || se.Path != "/v1/coordinator" {
		t.Fatalf("a 503: %v", err)
	}
	if err := GetJSON(ctx, srv.Client(), api, "/other", &st); err == nil || errors.As(err, &se) {
		t.Fatalf("a reply that is not JSON: %v", err)
	}
	if err := GetJSON(ctx, srv.Client(), api, "/other", nil); err != nil {
		t.Fatalf("with nothing to decode into: %v", err)
	}
}

func TestNodeArgs(t *testing.T) {
	n := Node{Name: "node-2", KeyFile: "k", Gossip: "g:1", API: "a:2", DataDir: "d", Profile: "fast", Mode: "bully",
		Raft: "r:3", BootstrapExpect: 3, Extra: []string{"--log-level", "debug"}}
	if got, want := strings.Join(n.Args(), " "),
		"node --name node-2 --key-file k --gossip g:1 --api a:2 --data-dir d --profile fast --mode bully --log-level debug"; got != want {
		t.Fatalf("bully, alone:\n got %s\nwant %s", got, want)
	}
	n.Mode, n.Join, n.SimulateFailures = "raft", []string{"g:4", "g:5"}, "every=4s,down=3s-6s"
	if got, want := strings.Join(n.Args(), " "),
		"node --name node-2 --key-file k --gossip g:1 --api a:2 --data-dir d --profile fast --mode raft --raft r:3 "+
			"--bootstrap-expect 3 --join g:4,g:5 --simulate-failures every=4s,down=3s-6s --log-level debug"; got != want {
		t.Fatalf("raft, joining, failing:\n got %s\nwant %s", got, want)
	}
}

func TestWriteKey(t *testing.T) {
	dir := t.TempDir()
	path, err := WriteKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 || filepath.Dir(path) != dir {
		t.Fatalf("key file %s: %v, mode %v", path, err, st.Mode())
	}
	if k, err := stego.LoadKey(path); err != nil || !k.Valid() {
		t.Fatalf("the key written does not load: %v", err)
	}
	if _, err := WriteKey(filepath.Join(dir, "no-dir")); err == nil || !strings.Contains(err.Error(), "master key") {
		t.Fatalf("into a directory that does not exist: %v", err)
	}
}

func TestASetStartsPausesKillsAndClosesItsProcesses(t *testing.T) {
	dir := t.TempDir()
	s := NewSet(2)
	start := func(i int) (*Process, error) {
		return s.Start(i, func() (*Process, error) {
			return Start(helper(t, "sleep"), filepath.Join(dir, fmt.Sprintf("node-%d.log", i)))
		})
	}
	t.Cleanup(func() {
		for i := range 2 {
			_ = s.Kill(i)
		}
	})
	if _, err := s.Get(0); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("an empty slot: %v, want ErrNotRunning", err)
	}
	p, err := start(0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := start(0); err == nil {
		t.Fatal("a second process started in a slot that holds one")
	}
	if _, err := start(1); err != nil {
		t.Fatal(err)
	}
	if !s.Running(0) || s.PID(0) != p.Pid() || s.State(0) != fmt.Sprintf("pid %d", p.Pid()) {
		t.Fatalf("slot 0: running %v, pid %d, state %q", s.Running(0), s.PID(0), s.State(0))
	}
	if err := s.Pause(1, syscall.SIGSTOP, true); err != nil {
		t.Fatal(err)
	}
	if live := s.Live(); len(live) != 1 || live[0] != 0 || !strings.HasSuffix(s.State(1), "(paused)") {
		t.Fatalf("live %v, slot 1 %q: want only slot 0 live, slot 1 paused", live, s.State(1))
	}
	if err := s.Kill(0); err != nil {
		t.Fatal(err)
	}
	if s.Running(0) || s.PID(0) != 0 || !p.Exited() {
		t.Fatal("a killed process is still in its slot, or did not exit")
	}
	procs, first := s.Close()
	if !first || len(procs) != 2 || procs[0] != nil || procs[1] == nil {
		t.Fatalf("Close returned %v, %v: want slot 1's process only", procs, first)
	}
	if _, again := s.Close(); again {
		t.Fatal("a second Close returned the processes again")
	}
	if _, err := start(0); !errors.Is(err, ErrClosed) {
		t.Fatalf("a start after Close: %v, want ErrClosed", err)
	}
}

func TestPollStopsWhenDoneOrWhenTheContextEnds(t *testing.T) {
	n := 0
	if err := Poll(context.Background(), time.Millisecond, func() bool { n++; return n == 3 }); err != nil || n != 3 {
		t.Fatalf("Poll = %v after %d calls, want nil after 3", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Poll(ctx, time.Hour, func() bool { return false }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Poll with an ended context = %v", err)
	}
}

func TestURLKeepsTheSchemeAnAddressNames(t *testing.T) {
	for _, tc := range []struct{ api, path, want string }{
		{"127.0.0.1:8080", "/v1/status", "http://127.0.0.1:8080/v1/status"},
		{"https://127.0.0.1:8080", "/metrics", "https://127.0.0.1:8080/metrics"},
	} {
		if got := URL(tc.api, tc.path); got != tc.want {
			t.Errorf("URL(%q, %q) = %q, want %q", tc.api, tc.path, got, tc.want)
		}
	}
	for _, tc := range []struct{ api, addr, want string }{
		{"127.0.0.1:8080", "10.0.0.1:8080", "10.0.0.1:8080"},
		{"https://127.0.0.1:8080", "10.0.0.1:8080", "https://10.0.0.1:8080"},
		{"https://127.0.0.1:8080", "http://10.0.0.1:8080", "http://10.0.0.1:8080"},
	} {
		if got := Rebase(tc.api, tc.addr); got != tc.want {
			t.Errorf("Rebase(%q, %q) = %q, want %q", tc.api, tc.addr, got, tc.want)
		}
	}
}
