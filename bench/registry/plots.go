package registry

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

// Figure is one plot of the report, as a PNG.
type Figure struct {
	Name    string // file name, e.g. registry-heap.png
	Title   string
	Caption string
	PNG     []byte
}

// The look of the study's plots (package report).
const (
	figW = 9 * vg.Inch
	figH = 3.6 * vg.Inch
)

var palette = []color.Color{
	color.NRGBA{R: 31, G: 119, B: 180, A: 255}, color.NRGBA{R: 255, G: 127, B: 14, A: 255},
	color.NRGBA{R: 44, G: 160, B: 44, A: 255}, color.NRGBA{R: 214, G: 39, B: 40, A: 255},
	color.NRGBA{R: 148, G: 103, B: 189, A: 255}, color.NRGBA{R: 140, G: 86, B: 75, A: 255},
}

// cost is one figure: what it plots of a run against the registry's
// size, a line for each series in each mode.
type cost struct {
	name, title, unit, caption string
	series                     []series
}

type series struct {
	label string // after the mode; "" for none
	value func(Result) (float64, bool)
}

func plain(f func(Result) float64) func(Result) (float64, bool) {
	return func(r Result) (float64, bool) { return f(r), true }
}

func opt(f func(Result) *float64) func(Result) (float64, bool) {
	return func(r Result) (float64, bool) {
		if v := f(r); v != nil {
			return *v, true
		}
		return 0, false
	}
}

var costs = []cost{
	{"registry-lists.png", "A user's lists against the registry's size", "ms",
		"p99 over HTTP of GET /v1/directory and GET /v1/images, each as a user drawn at random, one request at a time",
		[]series{
			{"directory p99", plain(func(r Result) float64 { return r.DirectoryP99MS })},
			{"images p99", plain(func(r Result) float64 { return r.ImagesP99MS })},
		}},
	{"registry-writes.png", "Writes against the registry's size", "ms",
		"p99 of a write (the owner sets a viewer's views), one at a time: with no snapshot under way on any node, and while one is",
		[]series{
			{"idle p99", plain(func(r Result) float64 { return r.WriteP99MS })},
			{"during a snapshot p99", opt(func(r Result) *float64 { return r.WriteP99DuringSnapshotMS })},
		}},
	{"registry-snapshot.png", "Snapshot, restore and restart against the registry's size", "s",
		"the coordinator's snapshot (its log), a restarted follower's restore of its registry (its log), and its restart to serving and caught up",
		[]series{
			{"snapshot", opt(func(r Result) *float64 { return r.SnapshotS })},
			{"restore", opt(func(r Result) *float64 { return r.RestoreS })},
			{"restart", opt(func(r Result) *float64 { return r.RestartS })},
		}},
	{"registry-heap.png", "Heap per image against the registry's size", "bytes",
		"the coordinator's Go heap after a garbage collection (/metrics), over the images; and its growth over the empty node's, over the images",
		[]series{
			{"heap / images", plain(func(r Result) float64 { return r.HeapBytesPerImage })},
			{"growth / images", plain(func(r Result) float64 { return r.HeapGrowthPerImage })},
		}},
	{"registry-disk.png", "Data directory against the registry's size", "MiB",
		"the coordinator's data directory after the snapshot taken during the writes",
		[]series{
			{"", plain(func(r Result) float64 { return float64(r.DiskBytes) / (1 << 20) })},
		}},
}

// Figures draws a plot of each cost against the registry's size, a line
// per mode (and per series of the cost), on a logarithmic axis of images.
func (r *Report) Figures() ([]Figure, error) {
	var figs []Figure
	for _, c := range costs {
		p, ok, err := r.costPlot(c)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		f := Figure{Name: c.name, Title: c.title, Caption: c.caption}
		if f.PNG, err = render(p, c.name); err != nil {
			return nil, err
		}
		figs = append(figs, f)
	}
	return figs, nil
}

func render(p *plot.Plot, name string) (b []byte, err error) {
	defer func() {
		// gonum/plot panics on a range it cannot draw.
		if v := recover(); v != nil {
			err = fmt.Errorf("bench: drawing %s: %v", name, v)
		}
	}()
	w, err := p.WriterTo(figW, figH, "png")
	if err != nil {
		return nil, fmt.Errorf("bench: drawing %s: %w", name, err)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("bench: drawing %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

func (r *Report) costPlot(c cost) (*plot.Plot, bool, error) {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = c.title, "images in the registry", c.unit
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	p.X.Scale = plot.LogScale{}
	var modes []string
	for _, res := range r.Registry {
		if !slices.Contains(modes, res.Mode) {
			modes = append(modes, res.Mode)
		}
	}
	k, top := 0, 0.0
	lo, hi := 0.0, 0.0
	for _, mode := range modes {
		for _, s := range c.series {
			var xy plotter.XYs
			for _, res := range r.Registry {
				v, ok := s.value(res)
				if res.Mode != mode || !ok || res.Images < 1 {
					continue
				}
				xy = append(xy, plotter.XY{X: float64(res.Images), Y: v})
			}
			if len(xy) == 0 {
				continue
			}
			slices.SortFunc(xy, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
			l, pts, err := plotter.NewLinePoints(xy)
			if err != nil {
				return nil, false, err
			}
			l.Color, pts.Color = palette[k%len(palette)], palette[k%len(palette)]
			l.Width = vg.Points(1.2)
			if mode == "raft" {
				l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			}
			pts.Shape = draw.CircleGlyph{}
			p.Add(l, pts)
			label := mode
			if s.label != "" {
				label += ", " + s.label
			}
			p.Legend.Add(label, l, pts)
			k++
			for _, v := range xy {
				top = max(top, v.Y)
				if lo == 0 || v.X < lo {
					lo = v.X
				}
				hi = max(hi, v.X)
			}
		}
	}
	if k == 0 {
		return p, false, nil
	}
	var sizes sizeTicks
	for _, res := range r.Registry {
		if v := float64(res.Images); res.Images > 0 && !slices.Contains(sizes, v) {
			sizes = append(sizes, v)
		}
	}
	p.X.Tick.Marker = sizes
	p.Y.Min, p.Y.Max = 0, max(1.4*top, 1e-3)
	p.X.Min, p.X.Max = lo/2, hi*2
	return p, true, nil
}

// sizeTicks marks the sizes measured on the axis of images: 10k, 100k, 1M.
type sizeTicks []float64

func (t sizeTicks) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for _, v := range t {
		if v >= lo && v <= hi {
			out = append(out, plot.Tick{Value: v, Label: shortCount(int(v))})
		}
	}
	return out
}

// shortCount writes 10000 as 10k and 1000000 as 1M.
func shortCount(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1_000 && n%1_000 == 0:
		return fmt.Sprintf("%dk", n/1_000)
	}
	return fmt.Sprint(n)
}
