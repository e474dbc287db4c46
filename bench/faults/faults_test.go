package faults

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"veil/bench/netns"
	"veil/bench/proc"
)

// veilBin is the veil binary the cases run, built once by TestMain.
var veilBin string

func TestMain(m *testing.M) { os.Exit(proc.RunWithVeil("veil-faults-bin-", &veilBin, m.Run)) }

// suite is how big a run is, from the environment:
//
//	VEIL_FAULTS=full          longer faults (20 s) and settling, for a study
//	VEIL_FAULTS_ROUNDS=N      each case N times, each with its own seed
//	VEIL_FAULTS_SEED=N        the run's seed (default: from the clock)
//	VEIL_FAULTS_MODES=a,b     modes (default: bully, and raft when the binary has it)
//	VEIL_FAULTS_CASES=RE      only the cases whose mode/fault matches
//	VEIL_FAULTS_OUT=DIR       keep results.json, results.md and every case's
//	                          history and logs there
//	VEIL_FAULTS_TLS=1         the nodes and the clients run TLS (the nodes
//	                          serve in clear, --insecure-http, otherwise)
type suite struct {
	size   string
	rounds int
	seed   uint64
	modes  []string
	cases  *regexp.Regexp
	out    string
	window time.Duration
	settle time.Duration
	tls    bool
}

func loadSuite(t *testing.T) suite {
	s := suite{size: "ci", rounds: 1, seed: uint64(time.Now().UnixNano()), window: 4 * time.Second, settle: 2 * time.Second}
	if os.Getenv("VEIL_FAULTS") == "full" {
		s.size, s.window, s.settle = "full", 20*time.Second, 5*time.Second
	}
	if v := os.Getenv("VEIL_FAULTS_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("VEIL_FAULTS_ROUNDS=%q: want a count from 1", v)
		}
		s.rounds = n
	}
	if v := os.Getenv("VEIL_FAULTS_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("VEIL_FAULTS_SEED=%q: want a number", v)
		}
		s.seed = n
	}
	if v := os.Getenv("VEIL_FAULTS_MODES"); v != "" {
		s.modes = strings.Split(v, ",")
	} else {
		s.modes = []string{"bully"}
		if raftAvailable(t) {
			s.modes = append(s.modes, "raft")
		} else {
			t.Log("faults: the veil binary has no raft mode yet; running bully only")
		}
	}
	re, err := regexp.Compile(os.Getenv("VEIL_FAULTS_CASES"))
	if err != nil {
		t.Fatalf("VEIL_FAULTS_CASES: %v", err)
	}
	s.cases = re
	s.out = os.Getenv("VEIL_FAULTS_OUT")
	s.tls = os.Getenv("VEIL_FAULTS_TLS") == "1"
	return s
}

// raftAvailable asks the binary whether its nodes can run in raft mode.
func raftAvailable(t *testing.T) bool {
	out, _ := exec.Command(veilBin, "node", "--help").CombinedOutput()
	return strings.Contains(string(out), "raft") && !strings.Contains(string(out), "raft is not available")
}

// Every kind of fault, in each mode, under a recorded client history: no
// acknowledged put or view is lost, nothing is applied twice, no viewer
// gets more than the quota, each image's views are linearizable, no write
// is acknowledged at an epoch older than one that already acknowledged,
// and every node agrees on one coordinator again once the fault is over.
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault suite runs real clusters; skipped in -short")
	}
	if err := netns.Available(); err != nil {
		t.Skipf("the fault suite needs network namespaces: %v", err)
	}
	if removed, err := netns.RemoveStale(); err != nil {
		t.Logf("faults: removing namespaces of killed runs: %v", err)
	} else if len(removed) > 0 {
		t.Logf("faults: removed %d namespaces left by killed runs: %v", len(removed), removed)
	}
	s := loadSuite(t)
	out := s.out
	keep := out != ""
	if out == "" {
		d, err := os.MkdirTemp("", "veil-faults-")
		if err != nil {
			t.Fatal(err)
		}
		out = d
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("faults: seed %d, size %s, modes %v, TLS %v; replay with VEIL_FAULTS_SEED=%d", s.seed, s.size, s.modes, s.tls, s.seed)

	var mu sync.Mutex
	table := Table{Seed: s.seed, Size: s.size, Nodes: 5, Window: s.window.String(), TLS: s.tls}
	for _, mode := range s.modes {
		for _, f := range Faults() {
			for round := 1; round <= s.rounds; round++ {
				name := mode + "/" + f.Name
				if s.rounds > 1 {
					name += fmt.Sprintf("#%d", round)
				}
				if !s.cases.MatchString(name) {
					continue
				}
				t.Run(name, func(t *testing.T) {
					dir := filepath.Join(out, strings.NewReplacer("/", "-", "#", "-").Replace(name))
					// A kept directory may hold an earlier run's case: its
					// nodes' data would start this one with that registry.
					if err := os.RemoveAll(dir); err != nil {
						t.Fatal(err)
					}
					c := Case{Bin: veilBin, Mode: mode, Fault: f, Window: s.window, Settle: s.settle,
						Seed: CaseSeed(s.seed, name), Dir: dir, Logf: t.Logf, TLS: s.tls}
					ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute+3*s.window)
					defer cancel()
					res, err := Run(ctx, c)
					size := ""
					if s.size == "full" {
						size = "VEIL_FAULTS=full "
					}
					if s.tls {
						size += "VEIL_FAULTS_TLS=1 "
					}
					replay := fmt.Sprintf("replay (the same choices of nodes and times; the timing of the machine may differ): "+
						"%sVEIL_FAULTS_SEED=%d VEIL_FAULTS_CASES='^%s$' go test -run TestFaults -v ./bench/faults (artefacts in %s)",
						size, s.seed, regexp.QuoteMeta(name), dir)
					if err != nil {
						keep = true
						t.Fatalf("%v\n%s", err, replay)
					}
					mu.Lock()
					table.Results = append(table.Results, res)
					mu.Unlock()
					t.Logf("faults: %s: %d operations, %d acknowledged, %d unknown; longest unavailability %s; recovery %s; linearizable %s",
						name, res.Ops, res.Acknowledged, res.Unknown, res.Unavailable.Round(time.Millisecond),
						res.Recovery.Round(time.Millisecond), res.Linearizable)
					if res.Acknowledged == 0 {
						t.Errorf("no operation was acknowledged in the whole case")
					}
					if !res.OK() {
						keep = true
						for i, p := range res.Problems {
							if i == 20 {
								t.Errorf("… and %d more", len(res.Problems)-20)
								break
							}
							t.Errorf("%s", p)
						}
						for _, v := range res.Visualizations {
							t.Errorf("visualisation: %s", v)
						}
						t.Errorf("%s", replay)
					}
				})
			}
		}
	}
	if err := writeTable(out, table); err != nil {
		t.Error(err)
	}
	t.Logf("faults: results (seed %d):\n%s", s.seed, table.Markdown())
	if keep || t.Failed() {
		t.Logf("faults: results, histories and logs kept in %s", out)
	} else {
		os.RemoveAll(out)
	}
}

func writeTable(dir string, t Table) error {
	f, err := os.Create(filepath.Join(dir, "results.json"))
	if err != nil {
		return err
	}
	if err := t.WriteJSON(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "results.md"), []byte(t.Markdown()), 0o644)
}
