package local

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"time"

	"veil/bench/load"
	"veil/cluster/client"
)

// FailoverConfig bounds and paces failover trials.
type FailoverConfig struct {
	// Trials is how many trials to run. Default 1.
	Trials int
	// TrialTimeout bounds the measurement of one trial, from the kill.
	// Default 30 s.
	TrialTimeout time.Duration
	// SettleTimeout bounds the wait for the whole cluster to agree, before
	// a trial and after the killed node is back. Default 60 s.
	SettleTimeout time.Duration
	// MaxTime bounds all the trials together: no trial starts after it.
	// Zero: only ctx bounds them.
	MaxTime time.Duration
	// PollEvery is how often the survivors are asked who coordinates.
	// Default 5 ms.
	PollEvery time.Duration
	// OnTrial, when set, is called after each trial (to show progress).
	OnTrial func(Trial)
}

func (c *FailoverConfig) setDefaults() {
	if c.Trials <= 0 {
		c.Trials = 1
	}
	if c.TrialTimeout <= 0 {
		c.TrialTimeout = 30 * time.Second
	}
	if c.SettleTimeout <= 0 {
		c.SettleTimeout = 60 * time.Second
	}
	if c.PollEvery <= 0 {
		c.PollEvery = 5 * time.Millisecond
	}
}

// Trial is one SIGKILL of the coordinator, as the survivors and a client
// saw it. Both durations count from the moment the signal was sent.
type Trial struct {
	N          int    // 1-based
	Killed     string // the coordinator that was killed
	Old        Agreement
	New        Agreement // what the survivors agreed on
	Agreed     time.Duration
	FirstWrite time.Duration
	// NotYet is the last moment the new coordinator was seen saying it
	// was not the coordinator: it took the role after it. Agreement and
	// the first write it acknowledges both come later, in either order: a
	// new coordinator may acknowledge a write before the other survivors
	// hear of it, and Agreed is late by up to one poll interval.
	NotYet time.Duration
	// Detected is the first answer of a survivor that no longer named the
	// old coordinator at its epoch (another one, or none): the failure had
	// been noticed. Elected is the first answer of the new coordinator
	// naming itself. Both are late by up to one poll interval.
	Detected time.Duration
	Elected  time.Duration
	WriteBy  string // the coordinator that acknowledged the first write
	// FailedWrites counts hides that failed for good between the kill and
	// the first acknowledged one (each after the client's own retries).
	FailedWrites int
	// Err says why the trial measured nothing or only part; the durations
	// that were measured are kept.
	Err error
}

// OK reports whether the trial measured both durations.
func (t Trial) OK() bool { return t.Err == nil && t.Agreed > 0 && t.FirstWrite > 0 }

// FailoverReport is the outcome of a series of trials.
type FailoverReport struct {
	Profile    string
	Nodes      int
	Trials     []Trial
	Agreed     load.Summary // over the trials that measured both durations
	FirstWrite load.Summary
	Elapsed    time.Duration
	// Stopped says why fewer trials ran than asked, if they did.
	Stopped error
}

// Failover runs cfg.Trials trials one after another: each waits for the
// cluster to settle, kills the coordinator with SIGKILL, measures, then
// restarts the killed node. It returns an error only when it could not
// start at all; a series cut short says why in Stopped.
func (c *Cluster) Failover(ctx context.Context, cfg FailoverConfig) (FailoverReport, error) {
	cfg.setDefaults()
	start := time.Now()
	if cfg.MaxTime > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.MaxTime)
		defer cancel()
	}
	rep := FailoverReport{Profile: c.cfg.Profile, Nodes: c.Len()}
	for n := 1; n <= cfg.Trials; n++ {
		if ctx.Err() != nil {
			rep.Stopped = fmt.Errorf("stopped before trial %d of %d: %w", n, cfg.Trials, ctx.Err())
			break
		}
		t, err := c.FailoverTrial(ctx, cfg)
		t.N = n
		if err != nil {
			if n == 1 {
				return rep, err
			}
			rep.Stopped = fmt.Errorf("trial %d: %w", n, err)
			break
		}
		if cfg.OnTrial != nil {
			cfg.OnTrial(t)
		}
		rep.Trials = append(rep.Trials, t)
		if i := c.Index(t.Killed); i >= 0 && !c.Running(i) {
			if err := c.Restart(ctx, i); err != nil {
				rep.Stopped = fmt.Errorf("restarting %s after trial %d: %w", t.Killed, n, err)
				break
			}
		}
	}
	var agreed, written []time.Duration
	for _, t := range rep.Trials {
		if t.OK() {
			agreed = append(agreed, t.Agreed)
			written = append(written, t.FirstWrite)
		}
	}
	rep.Agreed, rep.FirstWrite = load.Summarize(agreed), load.Summarize(written)
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// FailoverTrial runs one trial and leaves the killed node down. It returns
// an error when the trial could not be run (the cluster did not settle, or
// served no write before the kill); a trial that ran but did not see the
// failover end within cfg.TrialTimeout has its Err set instead.
func (c *Cluster) FailoverTrial(ctx context.Context, cfg FailoverConfig) (Trial, error) {
	cfg.setDefaults()
	sctx, cancel := context.WithTimeout(ctx, cfg.SettleTimeout)
	old, err := c.WaitSettled(sctx)
	cancel()
	if err != nil {
		return Trial{}, err
	}
	killed := c.Index(old.Coordinator)
	if killed < 0 {
		return Trial{}, fmt.Errorf("bench: the coordinator %q is not a node of this cluster", old.Coordinator)
	}
	survivors := slices.DeleteFunc(c.Live(), func(i int) bool { return i == killed })
	if len(survivors) == 0 {
		return Trial{}, errors.New("bench: a failover needs at least two live nodes")
	}
	t := Trial{Killed: old.Coordinator, Old: old}

	// The client knows only the survivors, but it has just been served
	// through the old coordinator and goes to it first, as a real client
	// of the cluster would.
	hc := load.NewHTTPClient()
	defer hc.CloseIdleConnections()
	cl, err := client.New(client.Config{
		Nodes: c.APIs(survivors...), Route: client.RouteCoordinator, HTTP: hc,
		User: load.User, Password: load.Password,
		Timeout: 2 * time.Second, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
	})
	if err != nil {
		return t, err
	}
	wctx, cancel := context.WithTimeout(ctx, cfg.SettleTimeout)
	_, err = cl.Hide(wctx, load.HideRequest())
	cancel()
	if err != nil {
		return t, fmt.Errorf("bench: the cluster served no write before the trial: %w", err)
	}

	p, err := c.running(killed)
	if err != nil {
		return t, err
	}
	tctx, cancel := context.WithTimeout(ctx, cfg.TrialTimeout)
	defer cancel()
	begin := make(chan struct{})
	var write firstWrite
	var wg sync.WaitGroup
	wg.Go(func() { write = writeUntilNew(tctx, begin, cl, old.Coordinator) })

	t0 := time.Now()
	if err := p.Signal(syscall.SIGKILL); err != nil {
		close(begin)
		cancel()
		wg.Wait()
		return t, err
	}
	close(begin)

	change := c.watchNewLeader(tctx, survivors, old, cfg.PollEvery)
	wg.Wait()
	reapErr := c.reap(killed, p, 10*time.Second)

	t.New = change.New
	if !change.At.IsZero() {
		t.Agreed = change.At.Sub(t0)
	}
	if change.NotYet.After(t0) {
		t.NotYet = change.NotYet.Sub(t0)
	}
	if change.Detected.After(t0) {
		t.Detected = change.Detected.Sub(t0)
	}
	if change.Elected.After(t0) {
		t.Elected = change.Elected.Sub(t0)
	}
	if !write.at.IsZero() {
		t.FirstWrite, t.WriteBy = write.at.Sub(t0), write.by
	}
	t.FailedWrites = write.failed
	switch {
	case change.At.IsZero():
		t.Err = fmt.Errorf("the survivors did not agree on a new coordinator within %s; last answers: %s",
			cfg.TrialTimeout, joinViews(change.Last))
	case write.at.IsZero():
		t.Err = fmt.Errorf("no write was acknowledged by a new coordinator within %s (%d failed; last error: %v)",
			cfg.TrialTimeout, write.failed, write.err)
	}
	return t, reapErr
}

// leaderChange is what watchNewLeader saw.
type leaderChange struct {
	New Agreement
	// At is when the survivors agreed: the latest, over the survivors, of
	// the first answer naming the new coordinator. It is late by at most
	// one poll interval and one round trip.
	At time.Time
	// NotYet is when the last question went out to which the new
	// coordinator answered that it was not the coordinator: it took the
	// role after this moment. Zero if it never said so after the kill.
	NotYet time.Time
	// Detected is when the first answer came that no longer named the old
	// coordinator at its epoch; Elected when the new coordinator first
	// named itself.
	Detected time.Time
	Elected  time.Time
	Last     []View // the last answer of each survivor
}

// watchNewLeader polls each survivor on its own, every interval, until
// they all name the same coordinator, other than old and at a later
// epoch, or ctx ends. Polling every survivor on its own keeps a slow
// answer from one from delaying the others'.
func (c *Cluster) watchNewLeader(ctx context.Context, survivors []int, old Agreement, every time.Duration) leaderChange {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu     sync.Mutex
		ch     leaderChange
		views  = make([]View, len(survivors)) // the last answer of each
		since  = make([]time.Time, len(survivors))
		notYet = make([]time.Time, len(survivors)) // Sent of the last answer unlike the current one
		prevOK = make([]View, len(survivors))      // the last answer that was not an error
	)
	var wg sync.WaitGroup
	for k, i := range survivors {
		wg.Go(func() {
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				v := c.Views(ctx, i)[0]
				if ctx.Err() != nil {
					return
				}
				mu.Lock()
				if !sameLeader(views[k], v) {
					since[k] = v.At
				}
				if v.Err == nil {
					if prevOK[k].Sent.IsZero() || !sameLeader(prevOK[k], v) {
						notYet[k] = prevOK[k].Sent
					}
					prevOK[k] = v
				}
				views[k] = v
				if v.Err == nil && (v.Reply.Coordinator != old.Coordinator || v.Reply.Epoch != old.Epoch ||
					v.Reply.EpochNode != old.EpochNode) && (ch.Detected.IsZero() || v.At.Before(ch.Detected)) {
					ch.Detected = v.At
				}
				if a, ok := agreed(views); ok && ch.At.IsZero() && a.Coordinator != old.Coordinator && a.After(old) {
					ch.New = a
					for j, s := range since {
						ch.At = later(ch.At, s)
						if views[j].Node == a.Coordinator {
							ch.NotYet = notYet[j]
							ch.Elected = s
						}
					}
					cancel()
				}
				mu.Unlock()
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		})
	}
	wg.Wait()
	ch.Last = views
	return ch
}

// sameLeader reports whether two answers name the same coordinator at the
// same epoch.
func sameLeader(a, b View) bool {
	return a.Err == nil && b.Err == nil && a.Reply.Coordinator == b.Reply.Coordinator &&
		a.Reply.Epoch == b.Reply.Epoch && a.Reply.EpochNode == b.Reply.EpochNode
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// firstWrite is what writeUntilNew saw.
type firstWrite struct {
	at     time.Time // when the first write served by a new coordinator was acknowledged
	by     string
	failed int
	err    error // the last failure
}

// writeUntilNew waits for begin, then hides one image after another until
// one is acknowledged by a coordinator other than old, or ctx ends.
func writeUntilNew(ctx context.Context, begin <-chan struct{}, cl *client.Client, old string) firstWrite {
	var w firstWrite
	select {
	case <-begin:
	case <-ctx.Done():
		return w
	}
	for ctx.Err() == nil {
		res, err := cl.Hide(ctx, load.HideRequest())
		switch {
		case err != nil:
			if ctx.Err() == nil {
				w.failed++
				w.err = err
			}
		case res.Coordinator != "" && res.Coordinator != old:
			w.at, w.by = time.Now(), res.Coordinator
			return w
		}
	}
	return w
}
