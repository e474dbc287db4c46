package bench

import (
	"context"
	"fmt"
	"time"

	"veil/bench/load"
	"veil/bench/local"
	"veil/bench/report"
)

// maxNotRun is how many trials in a row may fail to start before a series
// ends: a trial that could not start (the cluster did not settle, or
// served no write before the kill, as happens on a starved machine) is
// tried again.
const maxNotRun = 3

// runTrials spawns a fresh cluster of the run's mode and size, without the
// failure simulation, and runs the failover trials on it. Around each
// trial it reads the survivors' election counters, for the messages one
// failover costs. A series cut short keeps the figures of the trials it
// ran.
func (cfg *StudyConfig) runTrials(ctx context.Context, run *report.Run, label string) (err error) {
	fmt.Fprintf(cfg.Progress, "%s: starting fresh nodes for %d failover trials...\n", label, cfg.Trials)
	c, err := cfg.spawn(ctx, run.Mode, run.Nodes, "", "trials")
	if err != nil {
		return err
	}
	defer func() { err = c.Release(err) }()
	var acc trialStats
	defer func() { run.FailoverMS = acc.stats(len(run.Trials)) }()
	fc := local.FailoverConfig{TrialTimeout: cfg.TrialTimeout}
	notRun := 0
	for n := 1; n <= cfg.Trials; {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rec, t, err := trial(ctx, c, fc, n)
		if err == nil {
			notRun = 0
			run.Trials = append(run.Trials, rec)
			acc.add(t, rec)
			fmt.Fprintf(cfg.Progress, "%s: trial %d/%d: killed %s; %s\n", label, n, cfg.Trials, t.Killed, trialLine(t))
			n++
		} else {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			notRun++
			run.TrialsNotRun = append(run.TrialsNotRun, fmt.Sprintf("trial %d: %v", n, err))
			fmt.Fprintf(cfg.Progress, "%s: trial %d/%d could not run (%d in a row): %v\n", label, n, cfg.Trials, notRun, err)
			if notRun == maxNotRun {
				return fmt.Errorf("%d trials in a row could not run; the last: %w", maxNotRun, err)
			}
		}
		// The killed node, or whatever a failed start left down, comes
		// back before the next trial.
		for i := range c.Len() {
			if !c.Running(i) {
				if err := c.Restart(ctx, i); err != nil {
					return fmt.Errorf("restarting %s after trial %d: %w", c.Node(i).Name, n, err)
				}
			}
		}
	}
	return nil
}

// trial runs one failover trial and reads the survivors' election
// counters before and after it. An error means it could not start.
func trial(ctx context.Context, c *local.Cluster, fc local.FailoverConfig, n int) (report.TrialRecord, local.Trial, error) {
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	_, err := c.WaitSettled(sctx)
	cancel()
	if err != nil {
		return report.TrialRecord{}, local.Trial{}, err
	}
	live := c.Live()
	before := scrapeAll(ctx, c.HTTP(), c.APIs(live...))
	t, err := c.FailoverTrial(ctx, fc)
	if err != nil {
		return report.TrialRecord{}, t, err
	}
	t.N = n
	rec := report.TrialRecord{N: n, Killed: t.Killed, New: t.New.Coordinator, DetectedMS: load.Millis(t.Detected),
		ElectedMS: load.Millis(t.Elected), AgreedMS: load.Millis(t.Agreed), FirstWriteMS: load.Millis(t.FirstWrite),
		FailedWrites: t.FailedWrites}
	if t.Err != nil {
		rec.Err = t.Err.Error()
	}
	after := scrapeAll(ctx, c.HTTP(), c.APIs(live...))
	for k, i := range live {
		if c.Node(i).Name == t.Killed || before[k] == nil || after[k] == nil {
			continue
		}
		rec.Messages += grown(before[k].Messages, after[k].Messages)
		rec.Elections += grown(before[k].Elections, after[k].Elections)
	}
	return rec, t, nil
}

// trialStats gathers the phases of the trials that measured a failover.
type trialStats struct {
	measured                              int
	detected, elected, agreed, firstWrite []time.Duration
	messages, elections                   float64
}

func (a *trialStats) add(t local.Trial, rec report.TrialRecord) {
	if !t.OK() {
		return
	}
	a.measured++
	a.detected = appendIf(a.detected, t.Detected)
	a.elected = appendIf(a.elected, t.Elected)
	a.agreed = append(a.agreed, t.Agreed)
	a.firstWrite = append(a.firstWrite, t.FirstWrite)
	a.messages += rec.Messages
	a.elections += rec.Elections
}

func (a *trialStats) stats(trials int) *report.FailoverStats {
	fs := &report.FailoverStats{Trials: trials, Measured: a.measured,
		Detection: quantiles(a.detected), Election: quantiles(a.elected), Agreement: quantiles(a.agreed),
		FirstWrite: quantiles(a.firstWrite)}
	if s := load.Summarize(a.firstWrite); s.N > 0 {
		fs.P50, fs.P90, fs.P99, fs.Max = load.Millis(s.Median), load.Millis(s.P90), load.Millis(s.P99), load.Millis(s.Max)
	}
	if a.measured > 0 {
		fs.MessagesPerFailover = load.Round3(a.messages / float64(a.measured))
		fs.ElectionsPerFailover = load.Round3(a.elections / float64(a.measured))
	}
	return fs
}

func appendIf(d []time.Duration, v time.Duration) []time.Duration {
	if v > 0 {
		return append(d, v)
	}
	return d
}

func trialLine(t local.Trial) string {
	if t.Err != nil {
		return t.Err.Error()
	}
	return fmt.Sprintf("detected %s, %s elected %s, all agree %s, first write %s",
		load.FormatMS(t.Detected), t.New.Coordinator, load.FormatMS(t.Elected), load.FormatMS(t.Agreed), load.FormatMS(t.FirstWrite))
}
