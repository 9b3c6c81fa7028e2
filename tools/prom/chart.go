package prom

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"regexp"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// ChartOptions describe a chart.
type ChartOptions struct {
	Title string
	// Unit labels the y axis ("seconds", "requests/s").
	Unit string
	// Highlight shades a window, such as an incident, when both are set.
	HighlightStart, HighlightEnd time.Time
	// MaxLines bounds the lines drawn (6 by default): more are unreadable.
	MaxLines int
}

// palette has colours that stay apart on a white background and in
// Slack's dark theme thumbnails.
var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}, color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
}

// Chart draws series as a PNG line chart sized for Slack's preview (1000 by
// 500 pixels): title, unit, a time axis, a legend of what distinguishes the
// series, and the highlight window shaded.
func Chart(series []Series, o ChartOptions) ([]byte, error) {
	if o.MaxLines <= 0 {
		o.MaxLines = 6
	}
	if len(series) > o.MaxLines {
		series = series[:o.MaxLines]
	}
	p := plot.New()
	p.Title.Text = truncate(o.Title, 90)
	p.Title.TextStyle.Font.Size = vg.Points(15)
	p.Y.Label.Text = o.Unit
	p.Y.Label.TextStyle.Font.Size = vg.Points(13)
	p.X.Label.Text = "time (UTC)"
	p.X.Label.TextStyle.Font.Size = vg.Points(12)
	p.X.Tick.Label.Font.Size = vg.Points(12)
	p.Y.Tick.Label.Font.Size = vg.Points(12)
	p.Legend.TextStyle.Font.Size = vg.Points(11)
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())

	var lo, hi = math.Inf(1), math.Inf(-1)
	var tmin, tmax time.Time
	for _, s := range series {
		for _, pt := range s.Points {
			if math.IsNaN(pt.V) || math.IsInf(pt.V, 0) {
				continue
			}
			lo, hi = math.Min(lo, pt.V), math.Max(hi, pt.V)
			if tmin.IsZero() || pt.T.Before(tmin) {
				tmin = pt.T
			}
			if pt.T.After(tmax) {
				tmax = pt.T
			}
		}
	}
	if math.IsInf(lo, 1) {
		return nil, fmt.Errorf("nothing to chart: no finite samples")
	}
	if hi == lo {
		hi, lo = hi+1, lo-1
	}
	// Headroom above the data keeps the legend from covering the lines.
	legendRows := float64(min(len(series), o.MaxLines) + 1)
	pad := (hi - lo) * 0.05
	p.Y.Min = lo - pad
	p.Y.Max = hi + (hi-lo)*0.065*legendRows + pad
	layout := "15:04"
	if tmax.Sub(tmin) > 20*time.Hour {
		layout = "01-02 15:04"
	}
	p.X.Tick.Marker = plot.TimeTicks{Format: layout, Time: func(t float64) time.Time { return time.Unix(int64(t), 0).UTC() }}

	if !o.HighlightStart.IsZero() && !o.HighlightEnd.IsZero() {
		x0, x1 := float64(o.HighlightStart.Unix()), float64(o.HighlightEnd.Unix())
		poly, err := plotter.NewPolygon(plotter.XYs{{X: x0, Y: p.Y.Min}, {X: x1, Y: p.Y.Min}, {X: x1, Y: p.Y.Max}, {X: x0, Y: p.Y.Max}})
		if err == nil {
			// NRGBA: translucent without premultiplying.
			poly.Color = color.NRGBA{R: 0xff, G: 0x8c, B: 0x00, A: 0x38}
			poly.LineStyle.Width = 0
			p.Add(poly)
			p.Legend.Add("window", poly)
		}
	}
	common := commonOfSeries(series)
	for i, s := range series {
		// Gaps (NaN, or a missing step) break the line instead of
		// drawing a misleading slope across them.
		for j, seg := range segments(s.Points) {
			// The rasteriser's cost grows with the square of a path's
			// cells, so a long line is stroked as short overlapping pieces
			// (the joins do not show at this width).
			seg = thin(seg, chartBuckets)
			for k := 0; k < len(seg); k += strokePiece {
				piece := seg[k:min(k+strokePiece+1, len(seg))]
				if len(piece) < 2 && k > 0 {
					break
				}
				l, err := plotter.NewLine(piece)
				if err != nil {
					return nil, fmt.Errorf("chart: %w", err)
				}
				l.Color = palette[i%len(palette)]
				l.Width = vg.Points(2)
				p.Add(l)
				if j == 0 && k == 0 {
					p.Legend.Add(truncate(legend(s.Labels, common), 60), l)
				}
			}
		}
	}
	// 10 by 5 inches at 100 dpi: 1000 by 500 pixels.
	c := vgimg.NewWith(vgimg.UseWH(10*vg.Inch, 5*vg.Inch), vgimg.UseDPI(100))
	p.Draw(draw.New(c))
	var b bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&b); err != nil {
		return nil, fmt.Errorf("chart: %w", err)
	}
	return b.Bytes(), nil
}

// chartBuckets is how many time buckets a line keeps: about one per two
// pixels of the plot's width, more than the eye resolves.
const chartBuckets = 400

// strokePiece is the points per stroked piece of a line.
const strokePiece = 32

// thin keeps, of every bucket of consecutive points, the lowest and the
// highest in time order, so a line of thousands of points draws the same
// shape — spikes included — at a fraction of the rasterising cost.
func thin(seg plotter.XYs, buckets int) plotter.XYs {
	if len(seg) <= 2*buckets {
		return seg
	}
	out := make(plotter.XYs, 0, 2*buckets+1)
	size := float64(len(seg)) / float64(buckets)
	for b := 0; b < buckets; b++ {
		lo, hi := int(float64(b)*size), int(float64(b+1)*size)
		if hi > len(seg) {
			hi = len(seg)
		}
		minI, maxI := lo, lo
		for i := lo; i < hi; i++ {
			if seg[i].Y < seg[minI].Y {
				minI = i
			}
			if seg[i].Y > seg[maxI].Y {
				maxI = i
			}
		}
		first, second := min(minI, maxI), max(minI, maxI)
		out = append(out, seg[first])
		if second != first {
			out = append(out, seg[second])
		}
	}
	return out
}

// segments splits points at non-finite values and at gaps longer than twice
// the typical interval.
func segments(pts []Point) []plotter.XYs {
	var out []plotter.XYs
	var cur plotter.XYs
	var typical time.Duration
	if len(pts) > 1 {
		typical = pts[1].T.Sub(pts[0].T)
	}
	for i, p := range pts {
		if math.IsNaN(p.V) || math.IsInf(p.V, 0) || (i > 0 && typical > 0 && p.T.Sub(pts[i-1].T) > 2*typical) {
			if len(cur) > 0 {
				out = append(out, cur)
				cur = nil
			}
			if math.IsNaN(p.V) || math.IsInf(p.V, 0) {
				continue
			}
		}
		cur = append(cur, plotter.XY{X: float64(p.T.Unix()), Y: p.V})
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

func commonOfSeries(series []Series) map[string]string {
	sums := make([]Summary, len(series))
	for i, s := range series {
		sums[i] = Summary{Labels: s.Labels}
	}
	return commonLabels(sums)
}

// legend names a series by the labels that set it apart.
func legend(labels, common map[string]string) string {
	l := without(labels, common)
	if len(l) == 0 {
		return labelString(labels)
	}
	s := labelString(l)
	return strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
}

var metricName = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)

// unitOf guesses the unit of a query's result from its first metric name
// and whether it takes a rate.
func unitOf(query string) string {
	name := ""
	for _, m := range metricName.FindAllString(query, -1) {
		switch m {
		case "sum", "rate", "irate", "increase", "avg", "max", "min", "by", "without", "histogram_quantile", "count", "topk", "bottomk",
			"le", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset", "deriv", "delta", "abs", "clamp_min", "clamp_max":
			continue
		}
		name = m
		break
	}
	rated := strings.Contains(query, "rate(") || strings.Contains(query, "increase(")
	switch {
	case strings.Contains(query, "histogram_quantile") && strings.HasSuffix(strings.TrimSuffix(name, "_bucket"), "_seconds"):
		return "seconds"
	case strings.Contains(query, "histogram_quantile") && strings.HasSuffix(strings.TrimSuffix(name, "_bucket"), "_milliseconds"):
		return "milliseconds"
	case strings.Contains(query, " / ") || strings.Contains(query, ")/"):
		return "ratio"
	case strings.HasSuffix(name, "_seconds_total") && rated:
		return "seconds per second"
	case strings.HasSuffix(name, "_bytes_total") && rated:
		return "bytes/s"
	case strings.HasSuffix(name, "_total") && rated:
		return "per second"
	case strings.HasSuffix(name, "_bytes"):
		return "bytes"
	case strings.HasSuffix(name, "_seconds"):
		return "seconds"
	}
	return ""
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// UnitOf guesses a query's unit from its metric names, for axis labels.
func UnitOf(query string) string { return unitOf(query) }
