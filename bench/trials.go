package bench

import (
	"context"
	"fmt"
	"time"
)

// runTrials spawns a fresh cluster of the run's mode and size, without the
// failure simulation, and runs the failover trials on it. Around each
// trial it reads the survivors' election counters, for the messages one
// failover costs.
func (cfg *StudyConfig) runTrials(ctx context.Context, run *Run, label string) (err error) {
	fmt.Fprintf(cfg.Progress, "%s: starting fresh nodes for %d failover trials...\n", label, cfg.Trials)
	c, err := cfg.spawn(ctx, run.Mode, run.Nodes, "", "trials")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			c.Keep()
			err = fmt.Errorf("%w (node logs kept in %s)", err, c.Dir())
		}
		if cerr := c.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("stopping the nodes: %w", cerr)
		}
	}()
	fc := FailoverConfig{TrialTimeout: cfg.TrialTimeout}
	var detected, elected, agreedD, written []time.Duration
	var msgs, elections float64
	measured := 0
	// A series cut short keeps the figures of the trials it ran.
	defer func() {
		fs := &FailoverStats{Trials: len(run.Trials), Measured: measured,
			Detection: quantiles(detected), Election: quantiles(elected), Agreement: quantiles(agreedD), FirstWrite: quantiles(written)}
		if s := Summarize(written); s.N > 0 {
			fs.P50, fs.P90, fs.P99, fs.Max = millis(s.Median), millis(s.P90), millis(s.P99), millis(s.Max)
		}
		if measured > 0 {
			fs.MessagesPerFailover = round3(msgs / float64(measured))
			fs.ElectionsPerFailover = round3(elections / float64(measured))
		}
		run.FailoverMS = fs
	}()
	for n := 1; n <= cfg.Trials; n++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		_, err := c.WaitSettled(sctx)
		cancel()
		if err != nil {
			return fmt.Errorf("before trial %d: %w", n, err)
		}
		live := c.Live()
		before := scrapeAll(ctx, c.http, c.APIs(live...))
		t, err := c.FailoverTrial(ctx, fc)
		t.N = n
		if err != nil {
			return fmt.Errorf("trial %d: %w", n, err)
		}
		rec := TrialRecord{N: n, Killed: t.Killed, New: t.New.Coordinator, DetectedMS: millis(t.Detected),
			ElectedMS: millis(t.Elected), AgreedMS: millis(t.Agreed), FirstWriteMS: millis(t.FirstWrite),
			FailedWrites: t.FailedWrites}
		after := scrapeAll(ctx, c.http, c.APIs(live...))
		for k, i := range live {
			if c.Node(i).Name == t.Killed || before[k] == nil || after[k] == nil {
				continue
			}
			rec.Messages += grown(before[k].Messages, after[k].Messages)
			rec.Elections += grown(before[k].Elections, after[k].Elections)
		}
		if t.Err != nil {
			rec.Err = t.Err.Error()
		}
		if t.OK() {
			measured++
			detected = appendIf(detected, t.Detected)
			elected = appendIf(elected, t.Elected)
			agreedD = append(agreedD, t.Agreed)
			written = append(written, t.FirstWrite)
			msgs += rec.Messages
			elections += rec.Elections
		}
		run.Trials = append(run.Trials, rec)
		fmt.Fprintf(cfg.Progress, "%s: trial %d/%d: killed %s; %s\n", label, n, cfg.Trials, t.Killed, trialLine(t))
		if i := c.Index(t.Killed); i >= 0 && !c.Running(i) {
			if err := c.Restart(ctx, i); err != nil {
				return fmt.Errorf("restarting %s after trial %d: %w", t.Killed, n, err)
			}
		}
	}
	return nil
}

func appendIf(d []time.Duration, v time.Duration) []time.Duration {
	if v > 0 {
		return append(d, v)
	}
	return d
}

func trialLine(t Trial) string {
	if t.Err != nil {
		return t.Err.Error()
	}
	return fmt.Sprintf("detected %s, %s elected %s, all agree %s, first write %s",
		ms(t.Detected), t.New.Coordinator, ms(t.Elected), ms(t.Agreed), ms(t.FirstWrite))
}
