package report

import (
	"bytes"
	"cmp"
	"fmt"
	"image/color"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Figure is one plot of a report, as a PNG.
type Figure struct {
	Name    string // file name, e.g. latency-bully-3.png
	Title   string
	Caption string
	PNG     []byte
}

// plot sizes: wide enough for a timeline, small enough to embed.
const (
	figW = 9 * vg.Inch
	figH = 3.6 * vg.Inch
)

var (
	faultShade = color.NRGBA{R: 230, G: 60, B: 60, A: 50}
	gapShade   = color.NRGBA{R: 120, G: 120, B: 120, A: 45}
	downShade  = color.NRGBA{R: 255, G: 165, B: 0, A: 45}
	palette    = []color.Color{
		color.NRGBA{R: 31, G: 119, B: 180, A: 255}, color.NRGBA{R: 255, G: 127, B: 14, A: 255},
		color.NRGBA{R: 44, G: 160, B: 44, A: 255}, color.NRGBA{R: 214, G: 39, B: 40, A: 255},
		color.NRGBA{R: 148, G: 103, B: 189, A: 255}, color.NRGBA{R: 140, G: 86, B: 75, A: 255},
	}
)

// bands shades stretches of the x axis over the whole height of a plot.
type bands struct {
	spans [][2]float64
	color color.Color
}

func (b bands) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	for _, s := range b.spans {
		x0, x1 := trX(s[0]), trX(s[1])
		if x1-x0 < 1 {
			x1 = x0 + 1 // a fault shorter than a pixel still shows
		}
		x0, x1 = max(x0, c.Min.X), min(x1, c.Max.X)
		if x1 <= x0 {
			continue
		}
		c.FillPolygon(b.color, []vg.Point{{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y}})
	}
}

func (b bands) Thumbnail(c *draw.Canvas) {
	c.FillPolygon(b.color, []vg.Point{c.Min, {X: c.Max.X, Y: c.Min.Y}, c.Max, {X: c.Min.X, Y: c.Max.Y}})
}

// Figures draws the report's plots: per run, latency and throughput over
// time with the fault windows shaded; then the failover-time CDF of each
// run with trials, the work per node, and the election messages per
// failover against the cluster size.
func (r *Report) Figures() ([]Figure, error) {
	var figs []Figure
	add := func(f Figure, p *plot.Plot) (err error) {
		defer func() {
			// gonum/plot panics on a range it cannot draw; a report read
			// back from JSON is checked against that, and this is the
			// last guard.
			if v := recover(); v != nil {
				err = fmt.Errorf("bench: drawing %s: %v", f.Name, v)
			}
		}()
		w, err := p.WriterTo(figW, figH, "png")
		if err != nil {
			return fmt.Errorf("bench: drawing %s: %w", f.Name, err)
		}
		var b bytes.Buffer
		if _, err := w.WriteTo(&b); err != nil {
			return fmt.Errorf("bench: drawing %s: %w", f.Name, err)
		}
		f.PNG = b.Bytes()
		figs = append(figs, f)
		return nil
	}
	for _, run := range r.Runs {
		if len(run.Timeline) == 0 {
			continue
		}
		id := fmt.Sprintf("%s-%d", run.Mode, run.Nodes)
		p, err := latencyPlot(run)
		if err != nil {
			return nil, err
		}
		if err := add(Figure{Name: "latency-" + id + ".png", Title: fmt.Sprintf("Latency over time: %s, %d nodes", run.Mode, run.Nodes),
			Caption: "p50 and p99 of the operations that ended in each second, from when each was due; red: scheduled faults, orange: a node unreachable (faults and the failure simulation), grey: no acknowledgement"}, p); err != nil {
			return nil, err
		}
		if p, err = throughputPlot(run); err != nil {
			return nil, err
		}
		if err := add(Figure{Name: "throughput-" + id + ".png", Title: fmt.Sprintf("Throughput over time: %s, %d nodes", run.Mode, run.Nodes),
			Caption: "operations acknowledged and not acknowledged in each second; red: scheduled faults, orange: a node unreachable, grey: no acknowledgement"}, p); err != nil {
			return nil, err
		}
	}
	if p, ok, err := failoverCDF(r.Runs); err != nil {
		return nil, err
	} else if ok {
		if err := add(Figure{Name: "failover-cdf.png", Title: "Failover time, CDF per mode",
			Caption: "SIGKILL of the coordinator to the first write a new coordinator acknowledged, over the trials"}, p); err != nil {
			return nil, err
		}
	}
	if p, ok, err := workPlot(r.Runs); err != nil {
		return nil, err
	} else if ok {
		if err := add(Figure{Name: "work-per-node.png", Title: "Work per node",
			Caption: "acknowledged puts and views by the node that hid or opened the image, per run"}, p); err != nil {
			return nil, err
		}
	}
	if p, ok, err := scalingPlot(r.Runs); err != nil {
		return nil, err
	} else if ok {
		if err := add(Figure{Name: "scaling.png", Title: "Throughput against cluster size",
			Caption: "acknowledged operations per second at each size, with the ideal N·X(1) dashed; each node under its own CPU budget when the setting names one"}, p); err != nil {
			return nil, err
		}
	}
	if p, ok, err := messagesPlot(r.Runs); err != nil {
		return nil, err
	} else if ok {
		if err := add(Figure{Name: "messages-per-election.png", Title: "Election messages per failover against cluster size",
			Caption: "mean over the trials of the election messages the survivors sent (from each node's /metrics)"}, p); err != nil {
			return nil, err
		}
	}
	return figs, nil
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, x, y
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p
}

func shade(p *plot.Plot, run Run) {
	var f, u, down [][2]float64
	for _, w := range run.Down {
		down = append(down, [2]float64{w.StartS, w.EndS})
	}
	for _, w := range run.Faults {
		end := w.EndS
		if end == 0 {
			end = run.ElapsedS
		}
		f = append(f, [2]float64{w.StartS, end})
	}
	for _, w := range run.Unavailable {
		u = append(u, [2]float64{w.StartS, w.EndS})
	}
	if len(down) > 0 {
		b := bands{spans: down, color: downShade}
		p.Add(b)
		p.Legend.Add("a node unreachable", b)
	}
	if len(u) > 0 {
		b := bands{spans: u, color: gapShade}
		p.Add(b)
		p.Legend.Add("no acknowledgement", b)
	}
	if len(f) > 0 {
		b := bands{spans: f, color: faultShade}
		p.Add(b)
		p.Legend.Add("fault", b)
	}
}

func line(p *plot.Plot, name string, xy plotter.XYs, k int) error {
	l, err := plotter.NewLine(xy)
	if err != nil {
		return err
	}
	l.Color = palette[k%len(palette)]
	l.Width = vg.Points(1.2)
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}

func latencyPlot(run Run) (*plot.Plot, error) {
	p := newPlot(fmt.Sprintf("Latency: %s, %d nodes", run.Mode, run.Nodes), "seconds into the load", "ms")
	shade(p, run)
	var p50, p99 plotter.XYs
	for _, s := range run.Timeline {
		if s.Acked > 0 {
			p50 = append(p50, plotter.XY{X: s.T + 0.5, Y: s.P50MS})
			p99 = append(p99, plotter.XY{X: s.T + 0.5, Y: s.P99MS})
		}
	}
	if len(p50) == 0 {
		p50, p99 = plotter.XYs{{}}, plotter.XYs{{}}
	}
	if err := line(p, "p50", p50, 0); err != nil {
		return nil, err
	}
	if err := line(p, "p99", p99, 1); err != nil {
		return nil, err
	}
	headroom(p, p99)
	return p, nil
}

func throughputPlot(run Run) (*plot.Plot, error) {
	p := newPlot(fmt.Sprintf("Throughput: %s, %d nodes", run.Mode, run.Nodes), "seconds into the load", "operations per second")
	shade(p, run)
	var ok, failed plotter.XYs
	for _, s := range run.Timeline {
		ok = append(ok, plotter.XY{X: s.T + 0.5, Y: float64(s.Acked)})
		failed = append(failed, plotter.XY{X: s.T + 0.5, Y: float64(s.Failed)})
	}
	if err := line(p, "acknowledged", ok, 2); err != nil {
		return nil, err
	}
	if err := line(p, "not acknowledged", failed, 3); err != nil {
		return nil, err
	}
	headroom(p, ok, failed)
	return p, nil
}

// headroom starts the y axis at zero and leaves the top third of the plot
// to the legend.
func headroom(p *plot.Plot, series ...plotter.XYs) {
	top := 0.0
	for _, xy := range series {
		for _, v := range xy {
			top = max(top, v.Y)
		}
	}
	p.Y.Min, p.Y.Max = 0, max(1.4*top, 1)
}

func failoverCDF(runs []Run) (*plot.Plot, bool, error) {
	p := newPlot("Failover: SIGKILL to first acknowledged write", "ms", "share of trials")
	p.Legend.Top, p.Legend.Left = false, false
	any := false
	for k, run := range runs {
		var d []float64
		for _, t := range run.Trials {
			if t.Err == "" && t.FirstWriteMS > 0 {
				d = append(d, t.FirstWriteMS)
			}
		}
		if len(d) == 0 {
			continue
		}
		any = true
		slices.Sort(d)
		xy := make(plotter.XYs, 0, 2*len(d))
		for i, v := range d {
			xy = append(xy, plotter.XY{X: v, Y: float64(i) / float64(len(d))}, plotter.XY{X: v, Y: float64(i+1) / float64(len(d))})
		}
		if err := line(p, fmt.Sprintf("%s, %d nodes (n=%d)", run.Mode, run.Nodes, len(d)), xy, k); err != nil {
			return nil, false, err
		}
	}
	p.Y.Min, p.Y.Max = 0, 1
	return p, any, nil
}

func workPlot(runs []Run) (*plot.Plot, bool, error) {
	p := newPlot("Work per node", "", "acknowledged puts and views")
	nodes := map[string]bool{}
	var withWork []Run
	for _, run := range runs {
		if len(run.PerNode) > 0 {
			withWork = append(withWork, run)
			for n := range run.PerNode {
				nodes[n] = true
			}
		}
	}
	if len(withWork) == 0 {
		return p, false, nil
	}
	names := sortedKeys(nodes)
	w := vg.Points(60 / float64(len(withWork)))
	top := 0.0
	for k, run := range withWork {
		v := make(plotter.Values, len(names))
		for i, n := range names {
			v[i] = float64(run.PerNode[n])
			top = max(top, v[i])
		}
		b, err := plotter.NewBarChart(v, w)
		if err != nil {
			return nil, false, err
		}
		b.Color = palette[k%len(palette)]
		b.LineStyle.Width = 0
		b.Offset = w * vg.Length(float64(k)-float64(len(withWork)-1)/2)
		p.Add(b)
		p.Legend.Add(fmt.Sprintf("%s, %d nodes", run.Mode, run.Nodes), b)
	}
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.5, float64(len(names))-0.5
	p.Y.Min, p.Y.Max = 0, max(1.3*top, 1) // room for the legend
	return p, true, nil
}

func messagesPlot(runs []Run) (*plot.Plot, bool, error) {
	p := newPlot("Election messages per failover", "cluster size (nodes)", "messages")
	byMode := map[string]plotter.XYs{}
	for _, run := range runs {
		if run.FailoverMS != nil && run.FailoverMS.Measured > 0 {
			byMode[run.Mode] = append(byMode[run.Mode], plotter.XY{X: float64(run.Nodes), Y: run.FailoverMS.MessagesPerFailover})
		}
	}
	if len(byMode) == 0 {
		return p, false, nil
	}
	for k, mode := range sortedKeys(byMode) {
		xy := byMode[mode]
		slices.SortFunc(xy, func(a, b plotter.XY) int { return int(a.X - b.X) })
		l, s, err := plotter.NewLinePoints(xy)
		if err != nil {
			return nil, false, err
		}
		l.Color, s.Color = palette[k%len(palette)], palette[k%len(palette)]
		s.Shape = draw.CircleGlyph{}
		p.Add(l, s)
		p.Legend.Add(mode, l, s)
	}
	largest := 0.0
	for _, xy := range byMode {
		for _, v := range xy {
			largest = max(largest, v.X)
		}
	}
	// Room around the points, so that none sits on the edge.
	p.X.Min, p.X.Max, p.Y.Min = 0, largest+1, 0
	p.Legend.Left = true
	return p, true, nil
}

// scalingSeries is what scalingPlot draws: for each mode that ran at two
// sizes or more, its throughput by size, in order of size, and the ideal
// N·X(1) when it ran at one node (nil otherwise).
type scalingSeries struct {
	mode      string
	xy, ideal plotter.XYs
}

func scaling(runs []Run) []scalingSeries {
	byMode := map[string]plotter.XYs{}
	var modes []string
	for _, run := range runs {
		if run.Requests == 0 || run.Error != "" {
			continue
		}
		if _, ok := byMode[run.Mode]; !ok {
			modes = append(modes, run.Mode)
		}
		byMode[run.Mode] = append(byMode[run.Mode], plotter.XY{X: float64(run.Nodes), Y: run.ThroughputRPS})
	}
	var out []scalingSeries
	for _, mode := range modes {
		xy := byMode[mode]
		if len(xy) < 2 {
			continue
		}
		slices.SortFunc(xy, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
		s := scalingSeries{mode: mode, xy: xy}
		if xy[0].X == 1 {
			for _, pt := range xy {
				s.ideal = append(s.ideal, plotter.XY{X: pt.X, Y: pt.X * xy[0].Y})
			}
		}
		out = append(out, s)
	}
	return out
}

// scalingPlot draws each mode's throughput against its cluster size, and
// the ideal line through its one-node run, when a mode ran at two sizes or
// more.
func scalingPlot(runs []Run) (*plot.Plot, bool, error) {
	p := newPlot("Throughput against cluster size", "nodes", "ops/s")
	series := scaling(runs)
	var all []plotter.XYs
	for k, s := range series {
		if err := line(p, s.mode, s.xy, k); err != nil {
			return nil, false, err
		}
		all = append(all, s.xy)
		if s.ideal != nil {
			l, err := plotter.NewLine(s.ideal)
			if err != nil {
				return nil, false, err
			}
			l.Color = palette[k%len(palette)]
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			p.Add(l)
			p.Legend.Add(s.mode+", ideal", l)
			all = append(all, s.ideal)
		}
	}
	if len(series) == 0 {
		return p, false, nil
	}
	headroom(p, all...)
	p.X.Min = 0
	return p, true, nil
}
