package registry

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"veil/bench/load"
	"veil/bench/local"
	"veil/bench/proc"
	"veil/cluster"
	"veil/cluster/api"
	vregistry "veil/cluster/registry"
	"veil/internal/version"
	"veil/stego"
)

// password is every synthetic user's.
const password = "the registry bench's synthetic users"

// Run fills a cluster for each size and mode, measures it and returns the
// report. The error says what went wrong in any run; the report holds
// whatever was measured all the same.
//
// The nodes run cfg.Bin through a launcher that sets cluster.FillEnv,
// their opt-in to POST /v1/admin/fill (a node sees no VEIL_* variable of
// the bench's own environment).
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.setDefaults()
	if cfg.Bin == "" || len(cfg.Images) == 0 {
		return nil, errors.New("bench: the registry bench needs a veil binary and at least one size")
	}
	bin, remove, err := fillLauncher(cfg.Bin)
	if err != nil {
		return nil, err
	}
	defer remove()
	cfg.Bin = bin
	hash, err := vregistry.HashPassword(vregistry.DefaultArgon2, crand.Reader, password)
	if err != nil {
		return nil, err
	}
	rep := &Report{
		Command: cfg.Command, Build: version.Get().String(), Started: time.Now().UTC(),
		Machine: Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, Go: runtime.Version()},
		Setting: Setting{Nodes: cfg.Nodes, Profile: cfg.Profile, UsersPerImage: fmt.Sprintf("a tenth as many users as images (at least %d)", MinUsers),
			ViewersPerImage: cfg.Viewers, ViewsPerViewer: cfg.Views, Logins: cfg.Logins, Reads: cfg.Reads, IdleWrites: cfg.IdleWrites, Seed: cfg.Seed},
		Registry: []Result{},
	}
	var errs []error
	for _, n := range cfg.Images {
		for _, mode := range cfg.Modes {
			if ctx.Err() != nil {
				errs = append(errs, ctx.Err())
				break
			}
			res := cfg.runOne(ctx, mode, n, hash)
			if res.Error != "" {
				errs = append(errs, fmt.Errorf("%s, %d images: %s", mode, n, res.Error))
			}
			rep.Registry = append(rep.Registry, res)
		}
	}
	rep.Finished = time.Now().UTC()
	return rep, errors.Join(errs...)
}

// fillLauncher writes, in a new temporary directory, a script that runs
// bin with the opt-in to the fill route in its environment, and returns
// its path and what removes it.
func fillLauncher(bin string) (string, func(), error) {
	abs, err := filepath.Abs(bin)
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "veil-bench-registry-")
	if err != nil {
		return "", nil, fmt.Errorf("bench: %w", err)
	}
	remove := func() { os.RemoveAll(dir) }
	script := fmt.Sprintf("#!/bin/sh\n# veil with the opt-in to POST /v1/admin/fill, for the registry bench\n%s=1 exec %s \"$@\"\n",
		cluster.FillEnv, shellQuote(abs))
	path := filepath.Join(dir, "veil")
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		remove()
		return "", nil, fmt.Errorf("bench: %w", err)
	}
	return path, remove, nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// run is one mode at one size, in the making.
type run struct {
	cfg   *Config
	c     *local.Cluster
	hc    *http.Client
	res   *Result
	coord int // the coordinator's index
	say   func(format string, a ...any)
}

func (cfg *Config) runOne(ctx context.Context, mode string, n int, hash string) Result {
	res := Result{Mode: mode, Images: n, Users: UsersFor(n)}
	label := fmt.Sprintf("%s, %s images", mode, load.Commas(int64(n)))
	say := func(format string, a ...any) { fmt.Fprintf(cfg.Progress, label+": "+format+"\n", a...) }
	if err := cfg.measure(ctx, mode, n, hash, &res, say); err != nil {
		res.Error = err.Error()
		say("%v", err)
	}
	return res
}

func (cfg *Config) measure(ctx context.Context, mode string, n int, hash string, res *Result, say func(string, ...any)) (err error) {
	dir := ""
	if cfg.Dir != "" {
		dir = filepath.Join(cfg.Dir, fmt.Sprintf("%s-%d", mode, n))
	}
	say("starting %d nodes", cfg.Nodes)
	c, err := local.Spawn(ctx, local.SpawnConfig{Bin: cfg.Bin, Nodes: cfg.Nodes, Profile: cfg.Profile, Mode: mode,
		Dir: dir, KeepDir: cfg.Dir != "", Logf: cfg.Logf})
	if err != nil {
		return err
	}
	defer func() { err = c.Release(err) }()
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	a, err := c.WaitSettled(sctx)
	cancel()
	if err != nil {
		return err
	}
	r := &run{cfg: cfg, c: c, hc: load.NewHTTPClient(), res: res, coord: c.Index(a.Coordinator), say: say}
	defer r.hc.CloseIdleConnections()
	res.Coordinator = a.Coordinator
	token, err := adminToken(c.KeyFile())
	if err != nil {
		return err
	}
	f := &filler{hc: r.hc, api: a.API, token: token, base: cluster.FillRequest{
		Users: res.Users, Viewers: cfg.Viewers, Views: cfg.Views, PasswordHash: hash, Seed: cfg.Seed}}
	apiOf := func(name string) string {
		if i := c.Index(name); i >= 0 {
			return c.Node(i).API
		}
		return ""
	}
	if res.HeapEmptyBytes, _, err = f.heap(ctx, apiOf); err != nil {
		return err
	}

	say("filling %s users, then %s images through the log", load.Commas(int64(res.Users)), load.Commas(int64(n)))
	last := time.Now()
	st, err := f.fill(ctx, n, func(users, images int, took time.Duration) {
		if time.Since(last) >= 5*time.Second || images == n {
			last = time.Now()
			say("  %s users, %s images in %.0f s", load.Commas(int64(users)), load.Commas(int64(images)), took.Seconds())
		}
	})
	if err != nil {
		return err
	}
	res.FillS = load.Secs(st.Took)
	res.FillCommandsPerS = load.Round3(float64(st.Commands) / st.Took.Seconds())
	res.CommitIndex, res.FillRetries, res.FillExisting = st.Commit, st.Retries, st.Existing
	if err := r.waitCaughtUp(ctx, c.Live(), st.Commit, 5*time.Minute); err != nil {
		return err
	}
	heap, node, err := f.heap(ctx, apiOf)
	if err != nil {
		return err
	}
	res.HeapBytes, res.Coordinator = heap, node
	r.coord = c.Index(node)
	res.HeapBytesPerImage = load.Round3(float64(heap) / float64(n))
	res.HeapGrowthPerImage = load.Round3((float64(heap) - float64(res.HeapEmptyBytes)) / float64(n))
	say("filled in %.1f s (%s commands/s); the coordinator's heap %.0f MiB, %.0f bytes an image",
		res.FillS, load.Commas(int64(res.FillCommandsPerS)), float64(heap)/(1<<20), res.HeapBytesPerImage)

	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(n)))
	coordAPI := c.Node(r.coord).API
	ss, err := login(ctx, r.hc, coordAPI, password, res.Users, cfg.Logins, rng)
	if err != nil {
		return err
	}
	rs := reads(ctx, r.hc, coordAPI, ss, cfg.Reads, rng)
	fillReads(res, rs)
	say("directory p99 %.2f ms (%.0f entries), images p99 %.2f ms (%.0f entries), %d failed",
		res.DirectoryP99MS, res.DirectoryEntries, res.ImagesP99MS, res.ImagesEntries, rs.Failed)

	// A read or a write that failed is told in the end; the rest is
	// measured all the same.
	var failed []error
	if rs.Failed > 0 {
		failed = append(failed, fmt.Errorf("%d reads failed, the first: %s", rs.Failed, rs.FirstError))
	}
	w := &writer{hc: r.hc, node: coordAPI, ss: ss, views: cfg.Views, rng: rng}
	wf, err := r.writes(ctx, w)
	if err != nil {
		return err
	}
	var now cluster.CoordinatorReply
	if err := proc.GetJSON(ctx, r.hc, coordAPI, "/v1/coordinator", &now); err != nil {
		return err
	}
	res.Elections = now.Epoch - a.Epoch
	if i := c.Index(now.Coordinator); i >= 0 {
		r.coord = i // it may have changed under the load
	}
	if res.DiskBytes, res.DiskFiles, err = du(c.Node(r.coord).Data); err != nil {
		return err
	}
	if err := r.restart(ctx, mode); err != nil {
		return err
	}
	return errors.Join(append(failed, wf)...)
}

func fillReads(res *Result, rs readSamples) {
	d, i := load.Summarize(rs.Directory), load.Summarize(rs.Images)
	res.DirectoryP50MS, res.DirectoryP99MS = load.Millis(d.Median), load.Millis(d.P99)
	res.ImagesP50MS, res.ImagesP99MS = load.Millis(i.Median), load.Millis(i.P99)
	res.DirectoryEntries, res.ImagesEntries = load.Round3(rs.DirectoryEntries), load.Round3(rs.ImagesEntries)
	res.Reads, res.ReadErrors = min(d.N, i.N), rs.Failed
}

// status is GET /v1/status of node i.
func (r *run) status(ctx context.Context, i int) (api.StatusReply, error) {
	var st api.StatusReply
	err := proc.GetJSON(ctx, r.hc, r.c.Node(i).API, "/v1/status", &st)
	if err == nil && st.Registry == nil {
		err = fmt.Errorf("%s: GET /v1/status has no registry", r.c.Node(i).Name)
	}
	return st, err
}

// waitCaughtUp waits until each of the nodes serves with its registry
// applied up to commit at least.
func (r *run) waitCaughtUp(ctx context.Context, nodes []int, commit uint64, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var why string
	err := proc.Poll(ctx, 50*time.Millisecond, func() bool {
		for _, i := range nodes {
			st, err := r.status(ctx, i)
			switch {
			case err != nil:
				why = err.Error()
				return false
			case st.State != "active" || st.Registry.CommitIndex < commit || st.Registry.Images < r.res.Images:
				why = fmt.Sprintf("%s is %s at commit index %d with %d images", st.Name, st.State, st.Registry.CommitIndex, st.Registry.Images)
				return false
			}
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("the nodes did not catch up with commit index %d: %w; last: %s", commit, err, why)
	}
	return nil
}

// writes times writes one at a time until the coordinator has taken a
// snapshot since they began, a follower holds one for the restart to
// restore (Raft nodes take theirs each on its own timer), and at least
// IdleWrites of them ran with no snapshot under way on any node; or until
// SnapshotWait. A write is
// "during a snapshot" when its span meets any node's snapshot, as the
// nodes' logs tell them. failed says how many writes failed, if any;
// err is the end of the run.
func (r *run) writes(ctx context.Context, w *writer) (failed, err error) {
	cfg, c := r.cfg, r.c
	offsets := make([]int64, c.Len())
	for i := range offsets {
		offsets[i] = logSize(c.Node(i).Log)
	}
	coordName := c.Node(r.coord).Name
	lines := make([][]logLine, c.Len())
	followerSnapped := false
	for i := range offsets {
		if i != r.coord {
			before, _, _ := readLog(c.Node(i).Log, 0)
			done, _ := snapshotWindows(c.Node(i).Name, before)
			followerSnapped = followerSnapped || len(done) > 0
		}
	}
	scan := func() (windows []window, coordDone *window, open bool) {
		for i := range offsets {
			got, next, err := readLog(c.Node(i).Log, offsets[i])
			if err == nil {
				lines[i], offsets[i] = append(lines[i], got...), next
			}
			done, o := snapshotWindows(c.Node(i).Name, lines[i])
			windows = append(windows, done...)
			open = open || o != nil
			switch {
			case len(done) == 0:
			case c.Node(i).Name == coordName:
				coordDone = &done[0]
			default:
				followerSnapped = true
			}
		}
		return windows, coordDone, open
	}
	r.say("writing one at a time until the coordinator takes a snapshot (at most %s)", cfg.SnapshotWait)
	began := time.Now()
	var all []write
	var windows []window
	var snap *window
	nextScan := began
	for ctx.Err() == nil {
		all = append(all, w.one(ctx))
		if time.Now().Before(nextScan) {
			continue
		}
		nextScan = time.Now().Add(250 * time.Millisecond)
		var open bool
		windows, snap, open = scan()
		if snap != nil && followerSnapped && !open && time.Since(snap.End) > 500*time.Millisecond && idleCount(all, windows) >= cfg.IdleWrites {
			break
		}
		if time.Since(began) > cfg.SnapshotWait && idleCount(all, windows) >= cfg.IdleWrites {
			break
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	windows, snap, _ = scan()
	idle, during, nfailed, firstErr := classify(all, windows)
	res := r.res
	res.WriteErrors = nfailed
	is, ds := load.Summarize(idle), load.Summarize(during)
	res.WriteP50MS, res.WriteP99MS, res.Writes = load.Millis(is.Median), load.Millis(is.P99), is.N
	if ds.N > 0 {
		p50, p99 := load.Millis(ds.Median), load.Millis(ds.P99)
		res.WriteP50DuringSnapshotMS, res.WriteP99DuringSnapshotMS = &p50, &p99
	}
	res.WritesDuringSnapshot = ds.N
	if snap != nil {
		s := load.Secs(snap.End.Sub(snap.Start))
		res.SnapshotS, res.SnapshotIndex = &s, snap.Index
		r.say("the coordinator's snapshot at index %d took %.3f s; writes p99 %.2f ms idle (n=%d), %s during a snapshot (n=%d)",
			snap.Index, s, res.WriteP99MS, is.N, optMS(res.WriteP99DuringSnapshotMS), ds.N)
	} else {
		r.say("no snapshot on the coordinator within %s; writes p99 %.2f ms idle (n=%d)", cfg.SnapshotWait, res.WriteP99MS, is.N)
	}
	if nfailed > 0 {
		return fmt.Errorf("%d of %d writes failed, the first: %v", nfailed, len(all), firstErr), nil
	}
	return nil, nil
}

// idleCount is how many writes succeeded clear of every snapshot known.
func idleCount(all []write, windows []window) int {
	idle, _, _, _ := classify(all, windows)
	return len(idle)
}

// classify splits the writes that succeeded by whether their span meets a
// snapshot, and counts those that failed.
func classify(all []write, windows []window) (idle, during []time.Duration, failed int, firstErr error) {
	for _, w := range all {
		if w.Err != nil {
			failed++
			if firstErr == nil {
				firstErr = w.Err
			}
			continue
		}
		d := w.End.Sub(w.Start)
		met := false
		for _, win := range windows {
			if win.overlaps(w.Start, w.End) {
				met = true
				break
			}
		}
		if met {
			during = append(during, d)
		} else {
			idle = append(idle, d)
		}
	}
	return idle, during, failed, firstErr
}

// restart kills a follower and starts it again, and times its restart to
// serving with the registry caught up, and its restore, from its log. The
// follower is the one whose latest snapshot is the most recent: in Raft
// mode each node takes its own when its timer says, and a node that has
// taken none restores nothing.
func (r *run) restart(ctx context.Context, mode string) error {
	c := r.c
	i, best := -1, uint64(0)
	for _, j := range c.Live() {
		if j == r.coord {
			continue
		}
		lines, _, _ := readLog(c.Node(j).Log, 0)
		done, _ := snapshotWindows(c.Node(j).Name, lines)
		var last uint64
		for _, w := range done {
			last = max(last, w.Index)
		}
		if i < 0 || last > best {
			i, best = j, last
		}
	}
	if i < 0 {
		r.say("no follower to restart")
		return nil
	}
	st, err := r.status(ctx, r.coord)
	if err != nil {
		return err
	}
	if err := c.Kill(i); err != nil {
		return err
	}
	offset := logSize(c.Node(i).Log)
	start := time.Now()
	if err := c.Restart(ctx, i); err != nil {
		return err
	}
	if err := r.waitCaughtUp(ctx, []int{i}, st.Registry.CommitIndex, 5*time.Minute); err != nil {
		return err
	}
	s := load.Secs(time.Since(start))
	r.res.RestartS = &s
	lines, _, err := readLog(c.Node(i).Log, offset)
	if err != nil {
		return err
	}
	if d, ok := restoreTime(mode, lines); ok {
		v := load.Secs(d)
		r.res.RestoreS = &v
	}
	r.say("%s restarted to serving and caught up in %.3f s (restore %s)", c.Node(i).Name, s, optS(r.res.RestoreS))
	return nil
}

// du is the bytes of the files under dir, in all and by path below it.
func du(dir string) (int64, map[string]int64, error) {
	var total int64
	files := map[string]int64{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walk: a compaction's old file
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = fi.Size()
		total += fi.Size()
		return nil
	})
	return total, files, err
}

// adminToken derives the admin token from the cluster's master key file.
func adminToken(keyFile string) (string, error) {
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
