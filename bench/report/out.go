package report

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"veil/bench/load"
)

// WriteDir writes report.json, report.md (with its plots as PNG files
// beside it) and report.html (the plots embedded, nothing fetched from a
// network) into dir, creating it.
func (r *Report) WriteDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench: report: %w", err)
	}
	figs, err := r.Figures()
	if err != nil {
		return err
	}
	written := *r
	written.Format = Format
	j, err := json.MarshalIndent(&written, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: report: %w", err)
	}
	var md, page strings.Builder
	r.WriteMarkdown(&md, figs)
	r.WriteHTML(&page, figs)
	files := map[string][]byte{
		"report.json": append(j, '\n'),
		"report.md":   []byte(md.String()),
		"report.html": []byte(page.String()),
	}
	for _, f := range figs {
		files[f.Name] = f.PNG
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("bench: report: %w", err)
		}
	}
	return nil
}

// WriteText prints the summary: one column per run.
func (r *Report) WriteText(w io.Writer) {
	wl := r.Workload
	if r.Build != "" {
		fmt.Fprintf(w, "build: %s\n", r.Build)
	}
	fmt.Fprintf(w, "workload: %s; secret %s, %s, cover %s; %s\n", wl.describeLoad(), wl.Secret, wl.describeStealth(), wl.Cover, wl.describeFaults())
	if p := r.Reference; p != nil {
		fmt.Fprintf(w, "reference: the raw stego pipeline on this machine (%d goroutines, no cluster), measured before and after each load, the share of their mean; "+
			"the first: %.1f hides/s, %.1f reveals/s, %.1f ops/s for this mix\n", p.Workers, p.HideRPS, p.RevealRPS, p.MixRPS)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	row := func(name string, f func(Run) string) {
		fmt.Fprintf(tw, "%s\t", name)
		for _, run := range r.Runs {
			fmt.Fprintf(tw, "%s\t", f(run))
		}
		fmt.Fprintln(tw)
	}
	for _, line := range r.rows() {
		row(line.name, line.f)
	}
	tw.Flush()
	for _, run := range r.Runs {
		if run.Error != "" {
			fmt.Fprintf(w, "%s, %d nodes: error: %s\n", run.Mode, run.Nodes, run.Error)
		}
		if run.Books != nil {
			for _, p := range run.Books.Problems {
				fmt.Fprintf(w, "%s, %d nodes: books: %s\n", run.Mode, run.Nodes, p)
			}
		}
		if len(run.Errors) > 0 {
			fmt.Fprintf(w, "%s, %d nodes: not acknowledged: %s\n", run.Mode, run.Nodes, load.Counts(run.Errors))
		}
	}
}

// row is one line of the side-by-side tables.
type row struct {
	name string
	f    func(Run) string
}

func (r *Report) rows() []row {
	withLoad := func(f func(Run) string) func(Run) string {
		return func(run Run) string {
			if run.Requests == 0 {
				return "-"
			}
			return f(run)
		}
	}
	withTrials := func(f func(*FailoverStats) string) func(Run) string {
		return func(run Run) string {
			if run.FailoverMS == nil || run.FailoverMS.Measured == 0 {
				return "-"
			}
			return f(run.FailoverMS)
		}
	}
	rows := []row{
		{"run", func(run Run) string { return fmt.Sprintf("%s, %d nodes", run.Mode, run.Nodes) }},
		{"requests", withLoad(func(run Run) string {
			return fmt.Sprintf("%d (%d puts, %d views)", run.Requests, run.Puts.Requests, run.Views.Requests)
		})},
		{"succeeded", withLoad(func(run Run) string { return fmt.Sprintf("%d (%.2f%%)", run.Succeeded, run.SuccessPct) })},
		{"shed (429, Retry-After)", withLoad(func(run Run) string { return fmt.Sprintf("%d", run.Shed) })},
		{"failed (unknown outcome)", withLoad(func(run Run) string { return fmt.Sprintf("%d (%d)", run.Failed, run.Unknown) })},
		{"throughput", withLoad(func(run Run) string { return fmt.Sprintf("%.1f ops/s", run.ThroughputRPS) })},
		{"secret throughput", withLoad(func(run Run) string {
			if run.Puts.SecretBytes+run.Views.SecretBytes == 0 || run.ElapsedS <= 0 {
				return "-" // none acknowledged, or a report from before it was counted
			}
			mbps := func(b int64) float64 { return float64(b) / 1e6 / run.ElapsedS }
			return fmt.Sprintf("%.2f MB/s (puts %.2f, views %.2f)", run.SecretMBps, mbps(run.Puts.SecretBytes), mbps(run.Views.SecretBytes))
		})},
	}
	if r.Reference != nil {
		rows = append(rows, row{"raw pipeline before / after", withLoad(func(run Run) string {
			switch {
			case run.Reference == nil:
				return "-"
			case run.ReferenceAfter == nil:
				return fmt.Sprintf("%.1f / - ops/s", run.Reference.MixRPS)
			}
			return fmt.Sprintf("%.1f / %.1f ops/s", run.Reference.MixRPS, run.ReferenceAfter.MixRPS)
		})}, row{"share of the raw pipeline", withLoad(func(run Run) string {
			return fmt.Sprintf("%.1f%%", 100*run.ShareOfReference)
		})})
	}
	rows = append(rows,
		row{"latency p50 / p90 / p95", withLoad(func(run Run) string {
			l := run.LatencyMS
			return fmt.Sprintf("%.1f / %.1f / %.1f ms", l.P50, l.P90, l.P95)
		})},
		row{"latency p99 / p99.9 / max", withLoad(func(run Run) string {
			l := run.LatencyMS
			return fmt.Sprintf("%.1f / %.1f / %.1f ms", l.P99, l.P999, l.Max)
		})},
		row{"put p50 / p99, view p50 / p99", withLoad(func(run Run) string {
			return fmt.Sprintf("%.1f / %.1f, %.1f / %.1f ms", run.PutLatencyMS.P50, run.PutLatencyMS.P99, run.ViewLatencyMS.P50, run.ViewLatencyMS.P99)
		})},
		row{"work by node", withLoad(func(run Run) string { return load.Counts(run.PerNode) })},
		row{"fairness of jobs (Jain)", withLoad(func(run Run) string {
			if len(run.JobsPerNode) == 0 {
				return "-"
			}
			if run.FairnessWorkers > 0 {
				return fmt.Sprintf("%.3f (%.3f but the coordinator)", run.Fairness, run.FairnessWorkers)
			}
			return fmt.Sprintf("%.3f", run.Fairness)
		})},
		row{"scaling efficiency", withLoad(func(run Run) string {
			one := r.single(run.Mode)
			if one == nil || one.ThroughputRPS == 0 {
				return "-"
			}
			eff := run.ThroughputRPS / (float64(run.Nodes) * one.ThroughputRPS)
			if w := WorkingNodes(run); w > 0 && w < run.Nodes {
				// With spread clients the coordinator only decides: the
				// bound is (N-1)/N. Against the nodes that work:
				return fmt.Sprintf("%.2f (%.2f over the %d that did image work)", eff, run.ThroughputRPS/(float64(w)*one.ThroughputRPS), w)
			}
			return fmt.Sprintf("%.2f", eff)
		})},
		row{"coordinator CPU per op", withLoad(func(run Run) string {
			if run.Coordinator == "" {
				return "-"
			}
			return fmt.Sprintf("%.2f ms (%s)", run.CoordinatorCPUPerOpMS, run.Coordinator)
		})},
		row{"coordinator changes", withLoad(func(run Run) string { return fmt.Sprint(max(len(run.Coordinators)-1, 0)) })},
		row{"elections / messages", withLoad(func(run Run) string {
			return fmt.Sprintf("%.0f / %.0f", run.Elections, run.ElectionMessages)
		})},
		row{"unavailable", withLoad(func(run Run) string {
			return fmt.Sprintf("%.2f s in %d windows", run.UnavailableS, len(run.Unavailable))
		})},
		row{"faults / node down", withLoad(func(run Run) string {
			var down float64
			for _, d := range run.Down {
				down += d.EndS - d.StartS
			}
			return fmt.Sprintf("%d / %d windows, %.1f s", len(run.Faults), len(run.Down), down)
		})},
		row{"books", withLoad(func(run Run) string {
			if run.Books == nil {
				return "not checked"
			}
			if !run.Books.OK() {
				return fmt.Sprintf("%d problems", len(run.Books.Problems))
			}
			if run.Views.SecretBytes > 0 {
				// Counted only for views whose bytes were the secret put
				// (format 4 on): every one was, or the books would not
				// balance.
				return fmt.Sprintf("balance (%d in registry; %d views, each the secret put byte for byte)", run.Books.InRegistry, run.Books.ViewsAcked)
			}
			return fmt.Sprintf("balance (%d in registry)", run.Books.InRegistry)
		})},
		row{"failover trials (measured)", withTrials(func(f *FailoverStats) string { return fmt.Sprintf("%d (%d)", f.Trials, f.Measured) })},
		row{"kill → first write p50 / p99", withTrials(func(f *FailoverStats) string { return fmt.Sprintf("%.0f / %.0f ms", f.P50, f.P99) })},
		row{"kill → detected p50", withTrials(func(f *FailoverStats) string { return fmt.Sprintf("%.0f ms", f.Detection.P50) })},
		row{"kill → elected p50", withTrials(func(f *FailoverStats) string { return fmt.Sprintf("%.0f ms", f.Election.P50) })},
		row{"kill → all agree p50 / p99", withTrials(func(f *FailoverStats) string {
			return fmt.Sprintf("%.0f / %.0f ms", f.Agreement.P50, f.Agreement.P99)
		})},
		row{"messages per failover", withTrials(func(f *FailoverStats) string { return fmt.Sprintf("%.1f", f.MessagesPerFailover) })},
	)
	return rows
}

// WorkingNodes counts the nodes that did image work in run: those with at
// least 1% of the busiest node's jobs. Zero when the jobs are not known.
func WorkingNodes(run Run) int {
	most := 0.0
	for _, j := range run.JobsPerNode {
		most = max(most, j)
	}
	n := 0
	for _, j := range run.JobsPerNode {
		if most > 0 && j >= most/100 {
			n++
		}
	}
	return n
}

// single returns the one-node run of mode with a load, the base of the
// scaling efficiency X(N) / (N·X(1)); nil when there is none.
func (r *Report) single(mode string) *Run {
	for i := range r.Runs {
		if run := &r.Runs[i]; run.Mode == mode && run.Nodes == 1 && run.Requests > 0 && run.Error == "" {
			return run
		}
	}
	return nil
}

func (wl WorkloadInfo) describeLoad() string {
	var s string
	if wl.Loop == "open" {
		s = fmt.Sprintf("open loop at %.0f ops/s for %gs, at most %d outstanding", wl.Rate, wl.DurationS, wl.Clients)
	} else if wl.RequestsPerClient > 0 {
		s = fmt.Sprintf("closed loop, %d clients x %d requests", wl.Clients, wl.RequestsPerClient)
	} else {
		s = fmt.Sprintf("closed loop, %d clients for %gs", wl.Clients, wl.DurationS)
	}
	s = fmt.Sprintf("%s, %.0f%% views (%d viewers, %d views per put), profile %s", s, 100*wl.ViewShare, wl.Viewers, wl.Quota, wl.Profile)
	if wl.NoRetry {
		s += ", one attempt per operation (no retry, as a plain client)"
	}
	if wl.NodeCPUs > 0 {
		s += fmt.Sprintf(", each node limited to %g CPUs (its own cgroup)", wl.NodeCPUs)
	}
	return s
}

func (wl WorkloadInfo) describeFaults() string {
	var parts []string
	if wl.SimulateFailures != "" {
		parts = append(parts, "failure simulation "+wl.SimulateFailures)
	}
	if len(wl.Faults) > 0 {
		parts = append(parts, "faults "+strings.Join(wl.Faults, " "))
	}
	if len(parts) == 0 {
		return "no fault during the load"
	}
	return strings.Join(parts, "; ")
}

func (wl WorkloadInfo) describeStealth() string {
	if wl.Stealth == "" {
		return "put at the cluster's default stealth level"
	}
	return "put at stealth level " + wl.Stealth
}

func (i ImageInfo) String() string {
	switch {
	case len(i.Files) == 1:
		f := i.Files[0]
		return fmt.Sprintf("%s (%s bytes, %s %s)", f.Name, load.Commas(int64(f.Bytes)), f.Size, strings.ToUpper(f.Format))
	case len(i.Files) > 1:
		least, most := i.Files[0].Bytes, i.Files[0].Bytes
		names := make([]string, len(i.Files))
		for k, f := range i.Files {
			least, most = min(least, f.Bytes), max(most, f.Bytes)
			names[k] = f.Name
		}
		return fmt.Sprintf("%d files put in turn (%s bytes in all, %s to %s each: %s)", len(i.Files),
			load.Commas(int64(i.Bytes)), load.Commas(int64(least)), load.Commas(int64(most)), strings.Join(names, ", "))
	case i.Bytes == 0:
		return i.Size
	}
	return fmt.Sprintf("%s (%d bytes)", i.Size, i.Bytes)
}

// WriteMarkdown writes the report as Markdown; the plots are the PNG files
// WriteDir puts beside it.
func (r *Report) WriteMarkdown(w io.Writer, figs []Figure) {
	fmt.Fprintf(w, "# veil bench report\n\n")
	r.writeSetting(w, func(s string) string { return s })
	fmt.Fprintf(w, "\n## Runs side by side\n\n|")
	for _, run := range r.Runs {
		fmt.Fprintf(w, " | %s, %d nodes", run.Mode, run.Nodes)
	}
	fmt.Fprintf(w, " |\n|---|")
	for range r.Runs {
		fmt.Fprintf(w, "---:|")
	}
	fmt.Fprintln(w)
	for _, line := range r.rows()[1:] {
		fmt.Fprintf(w, "| %s |", line.name)
		for _, run := range r.Runs {
			fmt.Fprintf(w, " %s |", strings.ReplaceAll(line.f(run), "|", "/"))
		}
		fmt.Fprintln(w)
	}
	r.writeNotes(w, func(s string) string { return s })
	if t := r.FaultSuite; t != nil {
		fmt.Fprintf(w, "\n## %s\n\n%s\n\n%s", faultSuiteTitle, t.Describe(), t.Markdown())
	}
	for _, f := range figs {
		fmt.Fprintf(w, "\n## %s\n\n![%s](%s)\n\n%s\n", f.Title, f.Title, f.Name, f.Caption)
	}
}

const faultSuiteTitle = "Fault suite: every fault in both modes under a recorded client history"

// writeSetting writes what was run, where, with what; esc escapes text for
// the output format.
func (r *Report) writeSetting(w io.Writer, esc func(string) string) {
	wl := r.Workload
	fmt.Fprintf(w, "- started %s, took %s\n", r.Started.Format(time.RFC3339), r.Finished.Sub(r.Started).Round(time.Second))
	if r.Command != "" {
		fmt.Fprintf(w, "- command: `%s`\n", esc(r.Command))
	}
	if r.Build != "" {
		fmt.Fprintf(w, "- build: %s\n", esc(r.Build))
	}
	fmt.Fprintf(w, "- machine: %d CPUs, %s/%s, %s\n", r.Machine.CPUs, r.Machine.OS, r.Machine.Arch, r.Machine.Go)
	fmt.Fprintf(w, "- cluster: %s; modes %s; sizes %v\n", wl.Target, strings.Join(wl.Modes, ", "), wl.Sizes)
	fmt.Fprintf(w, "- workload: %s; route %s; seed %d\n", esc(wl.describeLoad()), wl.Route, wl.Seed)
	fmt.Fprintf(w, "- secret: %s; %s; cover: %s\n", esc(wl.Secret.String()), esc(wl.describeStealth()), esc(wl.Cover.String()))
	fmt.Fprintf(w, "- faults: %s\n", esc(wl.describeFaults()))
	fmt.Fprintf(w, "- failover trials per run: %d (on a fresh cluster without the failure simulation)\n", wl.Trials)
	if p := r.Reference; p != nil {
		fmt.Fprintf(w, "- reference: the raw stego pipeline in one process on this machine, %d goroutines, no cluster, "+
			"measured just before and just after each load; the share is of their mean (the first: %.1f hides/s, %.1f reveals/s, so %.1f ops/s for this mix)\n",
			p.Workers, p.HideRPS, p.RevealRPS, p.MixRPS)
	}
}

// writeNotes writes what each run's faults, coordinators, gaps and errors
// were.
func (r *Report) writeNotes(w io.Writer, esc func(string) string) {
	for _, run := range r.Runs {
		fmt.Fprintf(w, "\n### %s, %d nodes\n\n", run.Mode, run.Nodes)
		if run.Error != "" {
			fmt.Fprintf(w, "- error: %s\n", esc(run.Error))
		}
		if len(run.Errors) > 0 {
			fmt.Fprintf(w, "- not acknowledged, by kind: %s\n", esc(load.Counts(run.Errors)))
		}
		for _, f := range run.Faults {
			end := "stayed down"
			if f.EndS > 0 {
				end = fmt.Sprintf("until %.2f s", f.EndS)
			}
			fmt.Fprintf(w, "- fault %s on %s at %.2f s, %s%s\n", esc(f.Fault), esc(load.Dash(f.Node)), f.StartS, end, errNote(f.Err, esc))
		}
		for _, d := range run.Down {
			fmt.Fprintf(w, "- %s answered nothing from %.2f s to %.2f s\n", esc(d.Node), d.StartS, d.EndS)
		}
		if len(run.Coordinators) > 0 {
			var parts []string
			for _, c := range run.Coordinators {
				parts = append(parts, fmt.Sprintf("%.2f s %s (epoch %d)", c.AtS, c.Coordinator, c.Epoch))
			}
			fmt.Fprintf(w, "- coordinators: %s\n", esc(strings.Join(parts, "; ")))
		}
		for _, u := range run.Unavailable {
			fmt.Fprintf(w, "- no acknowledgement from %.2f s to %.2f s\n", u.StartS, u.EndS)
		}
		if b := run.Books; b != nil {
			fmt.Fprintf(w, "- books: %d puts acknowledged, %d unknown (%d of them applied), %d refused; "+
				"%d views acknowledged (%d of them with bytes not the secret put), %d unknown (%d applied), %d refused; %d images in the registry\n",
				b.PutsAcked, b.PutsUnknown, b.UnknownPutsApplied, b.PutsFailed, b.ViewsAcked, b.ViewsWrong, b.ViewsUnknown,
				b.UnknownViewsApplied, b.ViewsFailed, b.InRegistry)
			for _, p := range b.Problems {
				fmt.Fprintf(w, "- books: %s\n", esc(p))
			}
		}
		if len(run.JobsPerNode) > 0 {
			var parts []string
			for _, n := range sortedKeys(run.JobsPerNode) {
				parts = append(parts, fmt.Sprintf("%s %.0f", n, run.JobsPerNode[n]))
			}
			fmt.Fprintf(w, "- jobs per node (hides and reveals, from /metrics): %s\n", esc(strings.Join(parts, ", ")))
		}
		for _, why := range run.TrialsNotRun {
			fmt.Fprintf(w, "- could not run, tried again: %s\n", esc(why))
		}
		for _, t := range run.Trials {
			if t.Err != "" {
				fmt.Fprintf(w, "- trial %d: %s\n", t.N, esc(t.Err))
			}
		}
	}
}

func errNote(err string, esc func(string) string) string {
	if err == "" {
		return ""
	}
	return " (" + esc(err) + ")"
}

// WriteHTML writes the report as one HTML page with its plots embedded as
// base64 PNG: it opens without a network.
func (r *Report) WriteHTML(w io.Writer, figs []Figure) {
	fmt.Fprint(w, `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>veil bench report</title>
<style>
body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em}
td{text-align:right}td:first-child,th:first-child{text-align:left}th{background:#f3f3f3}
img{max-width:100%}code{background:#f3f3f3;padding:0 .2em}
</style></head><body>
<h1>veil bench report</h1>
`)
	var setting strings.Builder
	r.writeSetting(&setting, html.EscapeString)
	fmt.Fprintf(w, "<ul>\n%s</ul>\n", listItems(setting.String()))
	fmt.Fprint(w, "<h2>Runs side by side</h2>\n<table>\n<tr><th></th>")
	for _, run := range r.Runs {
		fmt.Fprintf(w, "<th>%s, %d nodes</th>", html.EscapeString(run.Mode), run.Nodes)
	}
	fmt.Fprintln(w, "</tr>")
	for _, line := range r.rows()[1:] {
		fmt.Fprintf(w, "<tr><td>%s</td>", html.EscapeString(line.name))
		for _, run := range r.Runs {
			fmt.Fprintf(w, "<td>%s</td>", html.EscapeString(line.f(run)))
		}
		fmt.Fprintln(w, "</tr>")
	}
	fmt.Fprintln(w, "</table>")
	var notes strings.Builder
	r.writeNotes(&notes, html.EscapeString)
	for _, block := range strings.Split(notes.String(), "\n### ")[1:] {
		head, body, _ := strings.Cut(block, "\n")
		fmt.Fprintf(w, "<h3>%s</h3>\n<ul>\n%s</ul>\n", head, listItems(body))
	}
	if t := r.FaultSuite; t != nil {
		fmt.Fprintf(w, "<h2>%s</h2>\n<p>%s</p>\n%s", html.EscapeString(faultSuiteTitle), html.EscapeString(t.Describe()), markdownTableHTML(t.Markdown()))
	}
	for _, f := range figs {
		fmt.Fprintf(w, "<h2>%s</h2>\n<figure><img alt=\"%s\" src=\"data:image/png;base64,%s\"><figcaption>%s</figcaption></figure>\n",
			html.EscapeString(f.Title), html.EscapeString(f.Title), base64.StdEncoding.EncodeToString(f.PNG), html.EscapeString(f.Caption))
	}
	fmt.Fprintln(w, "</body></html>")
}

// listItems turns Markdown "- item" lines (already escaped) into <li>s,
// with `code` spans.
func listItems(md string) string {
	var b strings.Builder
	for _, l := range strings.Split(md, "\n") {
		item, ok := strings.CutPrefix(l, "- ")
		if !ok {
			continue
		}
		parts := strings.Split(item, "`")
		for i := 1; i < len(parts); i += 2 {
			parts[i] = "<code>" + parts[i] + "</code>"
		}
		fmt.Fprintf(&b, "<li>%s</li>\n", strings.Join(parts, ""))
	}
	return b.String()
}

// markdownTableHTML turns a Markdown table (a header row, a separator row,
// then rows) into an HTML table, escaping every cell.
func markdownTableHTML(md string) string {
	var b strings.Builder
	b.WriteString("<table>\n")
	for i, line := range strings.Split(strings.TrimSpace(md), "\n") {
		if i == 1 {
			continue // the separator
		}
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		tag := "td"
		if i == 0 {
			tag = "th"
		}
		b.WriteString("<tr>")
		for _, c := range cells {
			fmt.Fprintf(&b, "<%s>%s</%s>", tag, html.EscapeString(strings.TrimSpace(c)), tag)
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</table>\n")
	return b.String()
}
