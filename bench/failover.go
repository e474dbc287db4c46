package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"time"

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
	WriteBy    string // the coordinator that acknowledged the first write
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
	Agreed     Summary // over the trials that measured both durations
	FirstWrite Summary
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
	rep.Agreed, rep.FirstWrite = Summarize(agreed), Summarize(written)
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
	cl, err := client.New(client.Config{
		Nodes: c.APIs(survivors...), Route: client.RouteCoordinator,
		Timeout: 2 * time.Second, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
	})
	if err != nil {
		return t, err
	}
	wctx, cancel := context.WithTimeout(ctx, cfg.SettleTimeout)
	_, err = cl.Hide(wctx, hideRequest())
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
	if err := p.signal(syscall.SIGKILL); err != nil {
		close(begin)
		cancel()
		wg.Wait()
		return t, err
	}
	close(begin)

	var agreedAt time.Time
	var last []View
	_ = c.poll(tctx, cfg.PollEvery, func() bool {
		views := c.Views(tctx, survivors...)
		if tctx.Err() == nil {
			last = views
		}
		a, ok := agreed(views)
		if !ok || a.Coordinator == old.Coordinator || !a.after(old) {
			return false
		}
		t.New = a
		for _, v := range views {
			agreedAt = later(agreedAt, v.At)
		}
		return true
	})
	wg.Wait()
	reapErr := c.reap(killed, p, 10*time.Second)

	if !agreedAt.IsZero() {
		t.Agreed = agreedAt.Sub(t0)
	}
	if !write.at.IsZero() {
		t.FirstWrite, t.WriteBy = write.at.Sub(t0), write.by
	}
	t.FailedWrites = write.failed
	switch {
	case agreedAt.IsZero():
		t.Err = fmt.Errorf("the survivors did not agree on a new coordinator within %s; last answers: %s",
			cfg.TrialTimeout, joinViews(last))
	case write.at.IsZero():
		t.Err = fmt.Errorf("no write was acknowledged by a new coordinator within %s (%d failed; last error: %v)",
			cfg.TrialTimeout, write.failed, write.err)
	}
	return t, reapErr
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
		res, err := cl.Hide(ctx, hideRequest())
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

// hideRequest is the write the bench sends: the tiny secret, one viewer.
func hideRequest() client.HideRequest {
	return client.HideRequest{Secret: tinyPNG(), Owner: "bench", Viewers: map[string]int{"viewer": 1}}
}
