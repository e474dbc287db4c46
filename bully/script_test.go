package bully

// Scripted scenarios: the textbook cases written as plain text under
// testdata/*.txt, one command per line, run against the in-memory network
// with no loss and a fixed seed. The commands:
//
//	config heartbeat=2 election=4 coordinator=10 reelect=0 gap=1 delay=1
//	members on|off          feed membership views through SetMembers (default off)
//	nodes a=5 b=1 c=3       start nodes with these loads (after config, once)
//	run N                   advance N ticks
//	settle                  run until every up node agrees, at most the bound
//	campaign a              a starts an election now
//	crash a | restart a     down with its state lost | a fresh start
//	pause a | resume a      down with its state kept | back with Rejoin
//	load a=3                a's load changes
//	partition a,b | c,d     split the network; heal joins it again
//	isolate a               cut a off from everyone
//	count                   reset the message counter
//	expect coordinator a [epoch 3/a]        every up node names a (at that epoch)
//	expect coordinator a among a,b          those nodes name a
//	expect different-epochs a b             a and b coordinate at different epochs
//	expect none among a,b   no node in the list names a coordinator
//	expect state a candidate
//	expect messages <= N    messages sent since count
//	expect won a            a became coordinator since the last count
//	expect not-won a        a did not
//
// A "#" starts a comment.

import (
	"bufio"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestScripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in testdata: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			runScript(t, file)
		})
	}
}

type scriptRunner struct {
	cfg     Config
	delay   int
	members bool
	nw      *network
	trace   strings.Builder
	won     map[string]bool
}

func runScript(t *testing.T, file string) {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := &scriptRunner{cfg: DefaultConfig("x"), delay: 1, won: map[string]bool{}}
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		if err := r.exec(fields); err != nil {
			views := ""
			if r.nw != nil {
				views = r.nw.views()
			}
			t.Fatalf("%s:%d: %s: %v\n%s\ntrace:\n%s", file, line, strings.Join(fields, " "), err, views, tail(r.trace.String(), 120))
		}
		if r.nw != nil && r.nw.violation != nil {
			t.Fatalf("%s:%d: invariant broken: %v\ntrace:\n%s", file, line, r.nw.violation, tail(r.trace.String(), 120))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

func (r *scriptRunner) node(name string) (int, error) {
	if r.nw == nil {
		return 0, fmt.Errorf("no nodes yet")
	}
	i, ok := r.nw.idx[name]
	if !ok {
		return 0, fmt.Errorf("no node %q", name)
	}
	return i, nil
}

func (r *scriptRunner) list(s string) ([]int, error) {
	var out []int
	for _, name := range strings.Split(s, ",") {
		i, err := r.node(name)
		if err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	return out, nil
}

func keyValue(s string) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return "", "", fmt.Errorf("want key=value, got %q", s)
	}
	return k, v, nil
}

func (r *scriptRunner) exec(f []string) error {
	need := func(n int) error {
		if len(f) < n {
			return fmt.Errorf("%s needs %d arguments", f[0], n-1)
		}
		return nil
	}
	switch f[0] {
	case "config":
		for _, kv := range f[1:] {
			k, v, err := keyValue(kv)
			if err != nil {
				return err
			}
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return err
			}
			switch k {
			case "heartbeat":
				r.cfg.HeartbeatInterval = int(x)
			case "election":
				r.cfg.ElectionTimeout = int(x)
			case "coordinator":
				r.cfg.CoordinatorTimeout = int(x)
			case "reelect":
				r.cfg.ReelectInterval = int(x)
			case "gap":
				r.cfg.LoadGap = x
			case "delay":
				r.delay = int(x)
			default:
				return fmt.Errorf("unknown setting %q", k)
			}
		}
		return r.cfg.Validate()
	case "members":
		if err := need(2); err != nil {
			return err
		}
		r.members = f[1] == "on"
		return nil
	case "nodes":
		var ids []string
		var loads []float64
		for _, kv := range f[1:] {
			k, v, err := keyValue(kv)
			if err != nil {
				return err
			}
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return err
			}
			ids, loads = append(ids, k), append(loads, x)
		}
		r.nw = newNetwork(rand.New(rand.NewPCG(1, 1)), r.cfg, ids, loads, r.delay, r.members, &r.trace)
		r.nw.onWin = func(i int) { r.won[r.nw.ids[i]] = true }
		return nil
	case "run":
		if err := need(2); err != nil {
			return err
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			return err
		}
		r.nw.run(n)
		return nil
	case "settle":
		bound := r.cfg.AgreementBound(r.delay)
		for range bound {
			if _, _, ok := r.nw.agreement(); ok {
				return nil
			}
			r.nw.step()
		}
		if _, _, ok := r.nw.agreement(); ok {
			return nil
		}
		return fmt.Errorf("no agreement within the bound (%d ticks)", bound)
	case "count":
		r.nw.sent = 0
		clear(r.won)
		return nil
	case "heal":
		r.nw.heal()
		return nil
	case "partition":
		sides := make([]int, len(r.nw.ids))
		side := 0
		for _, tok := range f[1:] {
			if tok == "|" {
				side++
				continue
			}
			is, err := r.list(tok)
			if err != nil {
				return err
			}
			for _, i := range is {
				sides[i] = side
			}
		}
		r.nw.partition(sides)
		return nil
	case "load":
		if err := need(2); err != nil {
			return err
		}
		k, v, err := keyValue(f[1])
		if err != nil {
			return err
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return err
		}
		i, err := r.node(k)
		if err != nil {
			return err
		}
		r.nw.setLoad(i, x)
		return nil
	case "campaign", "crash", "restart", "pause", "resume", "isolate":
		if err := need(2); err != nil {
			return err
		}
		i, err := r.node(f[1])
		if err != nil {
			return err
		}
		switch f[0] {
		case "campaign":
			r.nw.logf("campaign %s", f[1])
			r.nw.node[i].Campaign()
			r.nw.drain()
		case "crash":
			r.nw.crash(i)
		case "restart":
			r.nw.start(i)
		case "pause":
			r.nw.pause(i)
		case "resume":
			r.nw.revive(i)
		case "isolate":
			sides := make([]int, len(r.nw.ids))
			sides[i] = 1
			r.nw.partition(sides)
		}
		return nil
	case "expect":
		if err := need(2); err != nil {
			return err
		}
		return r.expect(f[1:])
	}
	return fmt.Errorf("unknown command %q", f[0])
}

func (r *scriptRunner) expect(f []string) error {
	nw := r.nw
	switch f[0] {
	case "coordinator":
		if len(f) < 2 {
			return fmt.Errorf("expect coordinator needs a node")
		}
		want := f[1]
		var among []int
		var wantEpoch string
		for k := 2; k+1 < len(f); k += 2 {
			switch f[k] {
			case "among":
				is, err := r.list(f[k+1])
				if err != nil {
					return err
				}
				among = is
			case "epoch":
				wantEpoch = f[k+1]
			}
		}
		if among == nil {
			for i := range nw.node {
				if nw.up[i] {
					among = append(among, i)
				}
			}
		}
		c, err := r.node(want)
		if err != nil {
			return err
		}
		if nw.node[c].state != StateCoordinator {
			return fmt.Errorf("%s is %v, not coordinator", want, nw.node[c].state)
		}
		for _, i := range among {
			n := nw.node[i]
			if n.coordinator != want || n.epoch != nw.node[c].epoch {
				return fmt.Errorf("%s names %q at %v, want %s at %v", nw.ids[i], n.coordinator, n.epoch, want, nw.node[c].epoch)
			}
		}
		if wantEpoch != "" && nw.node[c].epoch.String() != wantEpoch {
			return fmt.Errorf("epoch %v, want %s", nw.node[c].epoch, wantEpoch)
		}
		return nil
	case "none":
		if len(f) < 3 {
			return fmt.Errorf("expect none among needs a list")
		}
		is, err := r.list(f[2])
		if err != nil {
			return err
		}
		for _, i := range is {
			if nw.node[i].coordinator != "" {
				return fmt.Errorf("%s names %s", nw.ids[i], nw.node[i].coordinator)
			}
		}
		return nil
	case "different-epochs":
		if len(f) < 3 {
			return fmt.Errorf("expect different-epochs needs two nodes")
		}
		a, err := r.node(f[1])
		if err != nil {
			return err
		}
		b, err := r.node(f[2])
		if err != nil {
			return err
		}
		na, nb := nw.node[a], nw.node[b]
		if na.state != StateCoordinator || nb.state != StateCoordinator {
			return fmt.Errorf("%s is %v and %s is %v, want both coordinators", f[1], na.state, f[2], nb.state)
		}
		if na.epoch == nb.epoch {
			return fmt.Errorf("both at epoch %v", na.epoch)
		}
		return nil
	case "state":
		if len(f) < 3 {
			return fmt.Errorf("expect state needs a node and a state")
		}
		i, err := r.node(f[1])
		if err != nil {
			return err
		}
		if got := nw.node[i].state.String(); got != f[2] {
			return fmt.Errorf("%s is %s, want %s", f[1], got, f[2])
		}
		return nil
	case "messages":
		if len(f) < 3 || f[1] != "<=" {
			return fmt.Errorf("want: expect messages <= N")
		}
		n, err := strconv.Atoi(f[2])
		if err != nil {
			return err
		}
		if nw.sent > n {
			return fmt.Errorf("%d messages sent, want at most %d", nw.sent, n)
		}
		return nil
	case "won", "not-won":
		if len(f) < 2 {
			return fmt.Errorf("expect %s needs a node", f[0])
		}
		if r.won[f[1]] != (f[0] == "won") {
			won := slices.Sorted(maps.Keys(r.won))
			return fmt.Errorf("winners since count: %v", won)
		}
		return nil
	}
	return fmt.Errorf("unknown expectation %q", f[0])
}
