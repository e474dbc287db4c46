package bench

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"veil/bench/load"
	"veil/bench/local"
	"veil/bench/report"
	"veil/cluster"
	"veil/cluster/api"
	"veil/cluster/client"
	"veil/stego"
)

// FaultKind is what a scheduled fault does to a node.
type FaultKind string

const (
	// FaultKill sends SIGKILL, and restarts the node For later (never, if
	// For is zero).
	FaultKill FaultKind = "kill"
	// FaultStop sends SIGSTOP, and SIGCONT For later.
	FaultStop FaultKind = "stop"
	// FaultFail makes the node fail as the assignment's failure simulation
	// does (POST /v1/admin/fail) for For: it ignores all communication,
	// then rejoins.
	FaultFail FaultKind = "fail"
	// FaultSimulate turns the failure simulation of every node on for the
	// whole run (the nodes' --simulate-failures).
	FaultSimulate FaultKind = "simulate"
	// FaultHandoff is no fault but a move: the coordinator hands its role
	// (POST /v1/admin/handoff) to the node named, or to the least-loaded
	// one. Its window lasts until the successor announced itself.
	FaultHandoff FaultKind = "handoff"
)

// TargetCoordinator names whichever node coordinates when the fault fires.
const TargetCoordinator = "coordinator"

// Fault is one entry of a fault schedule.
type Fault struct {
	Kind   FaultKind
	Target string        // TargetCoordinator or a node's name
	At     time.Duration // from the start of the load
	For    time.Duration
}

func (f Fault) String() string {
	if f.Kind == FaultSimulate {
		return string(f.Kind)
	}
	s := string(f.Kind)
	if f.Target != TargetCoordinator {
		s += ":" + f.Target
	}
	s += "@" + f.At.String()
	if f.For > 0 {
		s += "+" + f.For.String()
	}
	return s
}

// DefaultSimulation is the failure simulation the schedule's "simulate"
// turns on: the assignment's, a node down for 10 to 20 s about every 30 s.
const DefaultSimulation = "every=30s,down=10s-20s"

// maxFaultTime bounds a fault's time and duration in a schedule.
const maxFaultTime = 24 * time.Hour

// ParseFaults reads a fault schedule: entries separated by commas,
// semicolons or spaces, each KIND[:NODE]@AT[+FOR], or "simulate".
//
//	kill@10s+5s          SIGKILL the coordinator 10 s into the load, restart it 5 s later
//	kill:node-2@10s      SIGKILL node-2 and leave it down
//	stop@20s+3s          SIGSTOP the coordinator, SIGCONT 3 s later
//	fail@30s+8s          the coordinator fails as the simulation makes nodes fail, for 8 s
//	simulate             the failure simulation on every node, all run long
//	handoff@10s          the coordinator hands its role to the least-loaded node
//	handoff:node-3@10s   ... to node-3
//
// NODE is "coordinator" (the default: whichever coordinates at AT) or a
// node's name; for a hand-off, the successor.
func ParseFaults(s string) ([]Fault, error) {
	var out []Fault
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\t' || r == '\n' })
	for _, item := range fields {
		f, err := parseFault(item)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

func parseFault(item string) (Fault, error) {
	bad := func(why string, args ...any) (Fault, error) {
		return Fault{}, fmt.Errorf("fault %q: %s (want KIND[:NODE]@AT[+FOR], e.g. kill@10s+5s, or simulate)", item, fmt.Sprintf(why, args...))
	}
	if item == string(FaultSimulate) {
		return Fault{Kind: FaultSimulate}, nil
	}
	head, when, ok := strings.Cut(item, "@")
	if !ok {
		return bad("no @ time")
	}
	kind, target, named := strings.Cut(head, ":")
	f := Fault{Kind: FaultKind(kind), Target: TargetCoordinator}
	switch f.Kind {
	case FaultKill, FaultStop, FaultFail, FaultHandoff:
	default:
		return bad("unknown kind %q: want kill, stop, fail, handoff or simulate", kind)
	}
	if named {
		if !validNodeName(target) {
			return bad("bad node name %q", target)
		}
		f.Target = target
	}
	at, dur, hasFor := strings.Cut(when, "+")
	var err error
	if f.At, err = time.ParseDuration(at); err != nil || f.At < 0 || f.At > maxFaultTime {
		return bad("bad time %q", at)
	}
	if hasFor {
		if f.For, err = time.ParseDuration(dur); err != nil || f.For <= 0 || f.For > maxFaultTime {
			return bad("bad duration %q", dur)
		}
	}
	if !hasFor && f.Kind != FaultKill && f.Kind != FaultHandoff {
		return bad("%s needs a duration (+FOR)", f.Kind)
	}
	if hasFor && f.Kind == FaultHandoff {
		return bad("a hand-off takes no duration")
	}
	return f, nil
}

// validNodeName accepts what a node may be called: letters, digits, and
// . _ - up to 64 bytes.
func validNodeName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return false
		}
	}
	return true
}

// faultRunner fires a schedule's faults at a cluster while a load runs.
type faultRunner struct {
	c     *local.Cluster
	start time.Time
	logf  func(string, ...any)

	mu      sync.Mutex
	windows []report.FaultWindow
}

// runFaults fires each fault of the schedule (but simulate, which is a
// node flag) at its time from start, until stop is closed: faults not yet
// fired are dropped then, and a fault in progress is undone at once. It
// returns when every fault it fired is undone.
func runFaults(ctx context.Context, c *local.Cluster, start time.Time, faults []Fault, stop <-chan struct{}, logf func(string, ...any)) []report.FaultWindow {
	r := &faultRunner{c: c, start: start, logf: logf}
	var wg sync.WaitGroup
	for _, f := range faults {
		if f.Kind == FaultSimulate {
			continue
		}
		wg.Go(func() { r.fire(ctx, f, stop) })
	}
	wg.Wait()
	return r.windows
}

func (r *faultRunner) since() time.Duration { return time.Since(r.start) }

func (r *faultRunner) fire(ctx context.Context, f Fault, stop <-chan struct{}) {
	if !sleepUntil(ctx, stop, r.start.Add(f.At)) {
		return
	}
	w := report.FaultWindow{Fault: f.String(), Kind: string(f.Kind)}
	defer func() {
		r.mu.Lock()
		r.windows = append(r.windows, w)
		r.mu.Unlock()
	}()
	if f.Kind == FaultHandoff {
		r.handoff(ctx, f, &w)
		return
	}
	i, err := r.target(ctx, f.Target)
	if err != nil {
		w.StartS, w.EndS, w.Err = load.Secs(r.since()), load.Secs(r.since()), err.Error()
		return
	}
	w.Node = r.c.Node(i).Name
	began := r.since()
	w.StartS = load.Secs(began)
	switch f.Kind {
	case FaultKill:
		err = r.c.Kill(i)
	case FaultStop:
		err = r.c.Pause(i)
	case FaultFail:
		err = r.adminFail(ctx, i, f.For)
	}
	if err != nil {
		w.EndS, w.Err = load.Secs(r.since()), err.Error()
		return
	}
	r.logf("bench: fault %s: %s at %s", f, w.Node, began.Round(time.Millisecond))
	if f.For == 0 {
		return // a kill for good
	}
	sleepUntil(ctx, stop, r.start.Add(began+f.For))
	switch f.Kind {
	case FaultKill:
		// A new context: the node comes back even if the run was cut short,
		// so that what follows (trials, the books) finds the whole cluster.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		err = r.c.Restart(rctx, i)
		cancel()
	case FaultStop:
		err = r.c.Resume(i)
	case FaultFail:
		// It comes back by itself after For; cut short, it still does.
	}
	ended := r.since()
	w.EndS = load.Secs(ended)
	if err != nil {
		w.Err = err.Error()
	}
	r.logf("bench: fault %s: %s back at %s", f, w.Node, ended.Round(time.Millisecond))
}

// target resolves a fault's target to a node index.
func (r *faultRunner) target(ctx context.Context, name string) (int, error) {
	if name != TargetCoordinator {
		if i := r.c.Index(name); i >= 0 {
			return i, nil
		}
		return -1, fmt.Errorf("no node %s", name)
	}
	// The coordinator the live nodes name at the highest epoch.
	var best local.View
	for _, v := range r.c.Views(ctx, r.c.Live()...) {
		if v.Err == nil && v.Reply.Coordinator != "" &&
			(best.Reply.Coordinator == "" || local.Agreement{Epoch: v.Reply.Epoch, EpochNode: v.Reply.EpochNode}.After(
				local.Agreement{Epoch: best.Reply.Epoch, EpochNode: best.Reply.EpochNode})) {
			best = v
		}
	}
	if best.Reply.Coordinator == "" {
		return -1, errors.New("no live node names a coordinator")
	}
	if i := r.c.Index(best.Reply.Coordinator); i >= 0 {
		return i, nil
	}
	return -1, fmt.Errorf("the coordinator %s is not a node of this cluster", best.Reply.Coordinator)
}

// adminFail asks node i to fail for d, as the failure simulation would.
func (r *faultRunner) adminFail(ctx context.Context, i int, d time.Duration) error {
	token, err := adminToken(r.c.KeyFile())
	if err != nil {
		return err
	}
	url := fmt.Sprintf("http://%s/v1/admin/fail?for=%s", r.c.Node(i).API, d)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := r.c.HTTP().Do(req)
	if err != nil {
		return fmt.Errorf("bench: POST /v1/admin/fail: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("bench: POST /v1/admin/fail: status %d", resp.StatusCode)
	}
	return nil
}

// handoff orders a hand-off through the first live node and records, in
// w, the node that coordinated and how long the move took.
func (r *faultRunner) handoff(ctx context.Context, f Fault, w *report.FaultWindow) {
	began := r.since()
	w.StartS = load.Secs(began)
	res, err := r.adminHandoff(ctx, f.Target)
	w.EndS = load.Secs(r.since())
	if err != nil {
		w.Err = err.Error()
		r.logf("bench: %s: %v", f, err)
		return
	}
	w.Node = res.From + " to " + res.To
	if res.Epoch == "" {
		w.Err = "the successor had not announced itself when the order was answered"
	}
	r.logf("bench: %s: %s handed its role to %s in %.1f ms", f, res.From, res.To, res.TookMS)
}

func (r *faultRunner) adminHandoff(ctx context.Context, to string) (api.HandOffReply, error) {
	token, err := adminToken(r.c.KeyFile())
	if err != nil {
		return api.HandOffReply{}, err
	}
	cl, err := client.New(client.Config{Nodes: r.c.APIs(), Route: client.RouteAny, Timeout: 10 * time.Second, NoRetry: true, HTTP: r.c.HTTP()})
	if err != nil {
		return api.HandOffReply{}, err
	}
	cl.SetToken(token)
	if to == TargetCoordinator {
		to = "" // the cluster picks the least-loaded node
	}
	return cl.HandOff(ctx, to)
}

// adminToken derives the admin token from the cluster's master key file.
func adminToken(keyFile string) (string, error) {
	if _, err := os.Stat(keyFile); err != nil {
		return "", fmt.Errorf("bench: master key: %w", err)
	}
	key, err := stego.LoadKey(keyFile)
	if err != nil {
		return "", fmt.Errorf("bench: master key: %w", err)
	}
	text, err := key.MarshalText()
	if err != nil {
		return "", err
	}
	master, err := hex.DecodeString(string(text))
	if err != nil {
		return "", err
	}
	return cluster.AdminToken(master), nil
}

// sleepUntil waits until t; it reports false when stop or ctx came first.
func sleepUntil(ctx context.Context, stop <-chan struct{}, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		select {
		case <-stop:
			return false
		case <-ctx.Done():
			return false
		default:
			return true
		}
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-stop:
		return false
	case <-ctx.Done():
		return false
	}
}
