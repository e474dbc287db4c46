// Package cgroup gives a process a CPU budget of its own, so that a node
// spawned on a shared machine behaves like a machine with that many cores:
// the bench's way to show scale-out on one box. It uses the cgroup v1 cpu
// controller where one is mounted and writable, and cgroup v2's cpu.max
// otherwise; it needs root, and says plainly why when it cannot work.
package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrUnsupported says that no CPU controller can be used here; the error
// wrapping it says why.
var ErrUnsupported = errors.New("cgroup: CPU budgets are not available")

// Period is the CFS period the quota is a share of: 100 ms, the kernel's
// default.
const Period = 100_000 // microseconds

// Root is where the groups are made: a cgroup v1 cpu hierarchy or a cgroup
// v2 hierarchy whose cgroup.controllers lists cpu.
type Root struct {
	dir string
	v2  bool
}

// Candidate mount points, in the order they are tried.
var candidates = []string{"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"}

// Find returns the first usable CPU hierarchy, or an error wrapping
// ErrUnsupported that says what was missing.
func Find() (Root, error) {
	if os.Geteuid() != 0 {
		return Root{}, fmt.Errorf("%w: it needs root to make cgroups (running as uid %d)", ErrUnsupported, os.Geteuid())
	}
	var why []string
	for _, dir := range candidates {
		if _, err := os.Stat(filepath.Join(dir, "cpu.cfs_quota_us")); err == nil {
			return Root{dir: dir}, nil
		}
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
		if err != nil {
			continue
		}
		if !strings.Contains(" "+strings.TrimSpace(string(b))+" ", " cpu ") {
			why = append(why, fmt.Sprintf("%s is cgroup v2 without the cpu controller (controllers: %q)", dir, strings.TrimSpace(string(b))))
			continue
		}
		return Root{dir: dir, v2: true}, nil
	}
	if len(why) == 0 {
		why = append(why, "no cgroup v1 cpu hierarchy and no cgroup v2 mount found under /sys/fs/cgroup")
	}
	return Root{}, fmt.Errorf("%w: %s", ErrUnsupported, strings.Join(why, "; "))
}

// Group is one cgroup with a CPU quota.
type Group struct {
	root Root
	dir  string
}

// New makes the group name (a path below the root, made with its parents)
// limited to cpus cores.
func (r Root) New(name string, cpus float64) (*Group, error) {
	if cpus <= 0 || cpus > 1024 {
		return nil, fmt.Errorf("cgroup: a budget of %g CPUs: want more than 0", cpus)
	}
	dir := filepath.Join(r.dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	if r.v2 {
		// Each level must hand the cpu controller down to the next.
		for p := filepath.Dir(dir); strings.HasPrefix(p, r.dir); p = filepath.Dir(p) {
			_ = os.WriteFile(filepath.Join(p, "cgroup.subtree_control"), []byte("+cpu"), 0o644)
			if p == r.dir {
				break
			}
		}
	}
	g := &Group{root: r, dir: dir}
	quota := int64(cpus*Period + 0.5)
	var err error
	if r.v2 {
		err = os.WriteFile(filepath.Join(dir, "cpu.max"), []byte(fmt.Sprintf("%d %d", quota, Period)), 0o644)
	} else {
		err = os.WriteFile(filepath.Join(dir, "cpu.cfs_period_us"), []byte(strconv.Itoa(Period)), 0o644)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, "cpu.cfs_quota_us"), []byte(strconv.FormatInt(quota, 10)), 0o644)
		}
	}
	if err != nil {
		g.Remove()
		return nil, fmt.Errorf("cgroup: setting the quota of %s: %w", dir, err)
	}
	return g, nil
}

// Add moves process pid, all its threads, into the group.
func (g *Group) Add(pid int) error {
	if err := os.WriteFile(filepath.Join(g.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("cgroup: moving pid %d into %s: %w", pid, g.dir, err)
	}
	return nil
}

// Quota returns the budget in CPUs as the kernel holds it.
func (g *Group) Quota() (float64, error) {
	if g.root.v2 {
		b, err := os.ReadFile(filepath.Join(g.dir, "cpu.max"))
		if err != nil {
			return 0, err
		}
		f := strings.Fields(string(b))
		if len(f) != 2 {
			return 0, fmt.Errorf("cgroup: cpu.max reads %q", b)
		}
		q, err1 := strconv.ParseFloat(f[0], 64)
		p, err2 := strconv.ParseFloat(f[1], 64)
		if err1 != nil || err2 != nil || p == 0 {
			return 0, fmt.Errorf("cgroup: cpu.max reads %q", b)
		}
		return q / p, nil
	}
	q, err := readInt(filepath.Join(g.dir, "cpu.cfs_quota_us"))
	if err != nil {
		return 0, err
	}
	p, err := readInt(filepath.Join(g.dir, "cpu.cfs_period_us"))
	if err != nil || p == 0 {
		return 0, fmt.Errorf("cgroup: period: %v", err)
	}
	return float64(q) / float64(p), nil
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// Remove deletes the group and its empty parents up to the root. Its
// processes must have exited (or moved) first.
func (g *Group) Remove() error {
	err := os.Remove(g.dir)
	for p := filepath.Dir(g.dir); p != g.root.dir && strings.HasPrefix(p, g.root.dir); p = filepath.Dir(p) {
		if os.Remove(p) != nil {
			break
		}
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cgroup: %w", err)
	}
	return nil
}
