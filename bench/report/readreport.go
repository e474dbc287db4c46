package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// MaxBytes bounds the report.json Read takes: a study of
// 60,000 operations writes about 1 MB.
const MaxBytes = 64 << 20

// Read reads a report.json written by WriteDir, so that its
// report.md, report.html and plots can be drawn again (by a newer veil, or
// with a fault suite table added). It refuses a file that is not such a
// report: unknown fields, no run, a run of no mode or of no node. A report
// of a newer format is refused by name, before its fields are looked at.
func Read(r io.Reader) (*Report, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("bench: reading a report: %w", err)
	}
	if len(b) > MaxBytes {
		return nil, fmt.Errorf("bench: reading a report: over %d bytes", MaxBytes)
	}
	var head struct {
		Format int `json:"format"`
	}
	if json.Unmarshal(b, &head) == nil && (head.Format < 0 || head.Format > Format) {
		return nil, fmt.Errorf("bench: reading a report: it is in format %d, and this veil reads formats up to %d: draw it with the veil that wrote it", head.Format, Format)
	}
	var rep Report
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		return nil, fmt.Errorf("bench: reading a report: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("bench: reading a report: more after the report")
	}
	if len(rep.Runs) == 0 {
		return nil, errors.New("bench: reading a report: it has no run")
	}
	for i, run := range rep.Runs {
		if run.Mode == "" || run.Nodes < 1 {
			return nil, fmt.Errorf("bench: reading a report: run %d has mode %q and %d nodes", i+1, run.Mode, run.Nodes)
		}
		if err := run.plottable(); err != nil {
			return nil, fmt.Errorf("bench: reading a report: run %d: %w", i+1, err)
		}
	}
	return &rep, nil
}

// Bounds of what a report may hold, so that every figure can be drawn: a
// plot of values far out of these (1e300 s, say) has no ticks to draw, or
// ticks that never end.
const (
	maxReportSeconds = 1e7  // about 116 days into a run
	maxReportMS      = 1e9  // about 12 days for one operation or failover
	maxReportCount   = 1e12 // operations, messages
	maxReportNodes   = 10_000
)

// plottable checks every value the figures draw.
func (run Run) plottable() error {
	var err error // the first value out of bounds
	check := func(what string, v, hi float64) {
		if err == nil && !(v >= 0 && v <= hi) { // false for NaN too
			err = fmt.Errorf("%s is %g, outside 0 to %g", what, v, hi)
		}
	}
	check("nodes", float64(run.Nodes), maxReportNodes)
	check("elapsed_s", run.ElapsedS, maxReportSeconds)
	for _, s := range run.Timeline {
		check("timeline t", s.T, maxReportSeconds)
		check("timeline acked", float64(s.Acked), maxReportCount)
		check("timeline failed", float64(s.Failed), maxReportCount)
		check("timeline p50_ms", s.P50MS, maxReportMS)
		check("timeline p99_ms", s.P99MS, maxReportMS)
		check("timeline max_ms", s.MaxMS, maxReportMS)
	}
	for _, ws := range [][]FaultWindow{run.Faults, run.Down} {
		for _, w := range ws {
			check("a window's start_s", w.StartS, maxReportSeconds)
			check("a window's end_s", w.EndS, maxReportSeconds)
		}
	}
	for _, u := range run.Unavailable {
		check("unavailable start_s", u.StartS, maxReportSeconds)
		check("unavailable end_s", u.EndS, maxReportSeconds)
	}
	for _, t := range run.Trials {
		for _, v := range []float64{t.DetectedMS, t.ElectedMS, t.AgreedMS, t.FirstWriteMS} {
			check("a trial's time", v, maxReportMS)
		}
		check("a trial's messages", t.Messages, maxReportCount)
		check("a trial's elections", t.Elections, maxReportCount)
	}
	if f := run.FailoverMS; f != nil {
		for _, v := range []float64{f.P50, f.P90, f.P99, f.Max} {
			check("failover_ms", v, maxReportMS)
		}
		check("messages_per_failover", f.MessagesPerFailover, maxReportCount)
		check("elections_per_failover", f.ElectionsPerFailover, maxReportCount)
	}
	for _, n := range run.PerNode {
		check("per_node", float64(n), maxReportCount)
	}
	return err
}
