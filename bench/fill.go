package bench

import (
	"maps"
	"slices"
	"time"

	"veil/bench/load"
	"veil/bench/local"
	"veil/bench/report"
)

// fillLoad puts the figures of a load into run.
func fillLoad(run *report.Run, ops []load.Op, d load.Driven, nodeNames []string, before, after []*local.Counters, gap time.Duration) {
	all, puts, views := load.NewHistogram(), load.NewHistogram(), load.NewHistogram()
	all.Merge(d.Hists...)
	for _, o := range ops {
		run.Requests++
		c := &run.Puts
		if o.Kind == load.OpView {
			c = &run.Views
			views.Record(o.Latency())
		} else {
			puts.Record(o.Latency())
		}
		c.Requests++
		switch o.Outcome {
		case load.OutcomeOK:
			run.Succeeded++
			c.Succeeded++
			c.SecretBytes += int64(o.Bytes)
			if o.Node != "" {
				run.PerNode[o.Node]++
			}
		case load.OutcomeShed:
			run.Shed++
			c.Shed++
		case load.OutcomeUnknown:
			run.Unknown++
			c.Unknown++
			run.Errors[o.Err]++
		default:
			run.Errors[o.Err]++
		}
	}
	run.Failed = run.Requests - run.Succeeded - run.Shed
	if run.Requests > 0 {
		run.SuccessPct = load.Round3(100 * float64(run.Succeeded) / float64(run.Requests))
	}
	run.ElapsedS = load.Secs(d.Elapse)
	if d.Elapse > 0 {
		run.ThroughputRPS = load.Round3(float64(run.Succeeded) / d.Elapse.Seconds())
		run.SecretMBps = load.Round3(float64(run.Puts.SecretBytes+run.Views.SecretBytes) / 1e6 / d.Elapse.Seconds())
	}
	run.LatencyMS, run.PutLatencyMS, run.ViewLatencyMS = all.Millis(), puts.Millis(), views.Millis()
	run.JobsPerNode = map[string]float64{}
	for k := range nodeNames {
		if before[k] != nil && after[k] != nil {
			run.JobsPerNode[nodeNames[k]] = grown(before[k].Jobs, after[k].Jobs)
			run.Elections += grown(before[k].Elections, after[k].Elections)
			run.ElectionMessages += grown(before[k].Messages, after[k].Messages)
		}
	}
	run.Fairness = load.Round3(load.Jain(slices.Collect(maps.Values(run.JobsPerNode))))
	run.Unavailable = unavailable(ops, gap)
	if run.Unavailable == nil {
		run.Unavailable = []report.Unavailability{}
	}
	for _, u := range run.Unavailable {
		run.UnavailableS = load.Round3(run.UnavailableS + u.EndS - u.StartS)
	}
	run.Timeline = timeline(ops)
}

// timeline buckets operations by the second they ended in.
func timeline(ops []load.Op) []report.Second {
	var last time.Duration
	for _, o := range ops {
		last = max(last, o.End)
	}
	n := int(last/time.Second) + 1
	if len(ops) == 0 {
		return []report.Second{}
	}
	hs := make([]*load.Histogram, n)
	out := make([]report.Second, n)
	for i := range out {
		out[i].T = float64(i)
		hs[i] = load.NewHistogram()
	}
	for _, o := range ops {
		i := int(o.End / time.Second)
		if o.Outcome == load.OutcomeOK {
			out[i].Acked++
			hs[i].Record(o.Latency())
		} else {
			out[i].Failed++
		}
	}
	for i, h := range hs {
		if h.Count() > 0 {
			out[i].P50MS, out[i].P99MS, out[i].MaxMS = load.Millis(h.Quantile(50)), load.Millis(h.Quantile(99)), load.Millis(h.Max())
		}
	}
	return out
}

// quantiles summarizes durations, nearest-rank, in milliseconds.
func quantiles(d []time.Duration) report.Quantiles {
	s := load.Summarize(d)
	if s.N == 0 {
		return report.Quantiles{}
	}
	return report.Quantiles{N: s.N, P50: load.Millis(s.Median), P99: load.Millis(s.P99), Max: load.Millis(s.Max)}
}

// referenceRPS is the raw pipeline's rate for the run's mix: the mean of
// the measures before and after the load, or the one there is.
func referenceRPS(r *report.Run) float64 {
	switch {
	case r.Reference != nil && r.ReferenceAfter != nil:
		return (r.Reference.MixRPS + r.ReferenceAfter.MixRPS) / 2
	case r.Reference != nil:
		return r.Reference.MixRPS
	}
	return 0
}
