package prom

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/gonum/stat"
)

// Point is one sample.
type Point struct {
	T time.Time
	V float64
}

// Series is one time series of a range query.
type Series struct {
	Labels map[string]string
	Points []Point
}

// Summary is what a model needs of a series: its level, its extremes and
// when they happened, its trend, and when it changed.
type Summary struct {
	Labels       map[string]string `json:"labels"`
	Points       int               `json:"points"`
	First        float64           `json:"first"`
	Last         float64           `json:"last"`
	Min          float64           `json:"min"`
	Max          float64           `json:"max"`
	Mean         float64           `json:"mean"`
	MinAt        time.Time         `json:"min_at"`
	MaxAt        time.Time         `json:"max_at"`
	TrendPerHour float64           `json:"trend_per_hour"`
	Shifts       []Shift           `json:"shifts,omitempty"`
}

// Shift is a change of level: the median after At differs from the median
// before it by more than the series' noise.
type Shift struct {
	At     time.Time `json:"at"`
	Before float64   `json:"before"`
	After  float64   `json:"after"`
}

// Summarize computes a series' summary. NaN and infinite samples are
// skipped; a series with no finite sample has Points 0.
func Summarize(s Series) Summary {
	sum := Summary{Labels: s.Labels, Min: math.Inf(1), Max: math.Inf(-1)}
	xs := make([]float64, 0, len(s.Points))
	ys := make([]float64, 0, len(s.Points))
	pts := make([]Point, 0, len(s.Points))
	for _, p := range s.Points {
		if math.IsNaN(p.V) || math.IsInf(p.V, 0) {
			continue
		}
		pts = append(pts, p)
		xs = append(xs, p.T.Sub(s.Points[0].T).Hours())
		ys = append(ys, p.V)
		if p.V < sum.Min {
			sum.Min, sum.MinAt = p.V, p.T
		}
		if p.V > sum.Max {
			sum.Max, sum.MaxAt = p.V, p.T
		}
	}
	sum.Points = len(pts)
	if len(pts) == 0 {
		sum.Min, sum.Max = 0, 0
		return sum
	}
	sum.First, sum.Last = pts[0].V, pts[len(pts)-1].V
	sum.Mean = stat.Mean(ys, nil)
	if len(pts) >= 3 {
		_, slope := stat.LinearRegression(xs, ys, nil, false)
		if !math.IsNaN(slope) {
			sum.TrendPerHour = slope
		}
	}
	sum.Shifts = levelShifts(pts, 3)
	return sum
}

// levelShifts finds up to max points where the median of the following
// window differs most from the median of the preceding one, beyond what the
// series' own step-to-step noise explains. Windows are a twentieth of the
// series (at least 3 points), so a single outlier is not a shift.
func levelShifts(pts []Point, max int) []Shift {
	n := len(pts)
	k := n / 20
	if k < 3 {
		k = 3
	}
	if n < 2*k+1 {
		return nil
	}
	vals := make([]float64, n)
	for i, p := range pts {
		vals[i] = p.V
	}
	// Noise: the median absolute step, scaled like a standard deviation.
	steps := make([]float64, n-1)
	for i := 1; i < n; i++ {
		steps[i-1] = math.Abs(vals[i] - vals[i-1])
	}
	noise := median(steps) * 1.4826
	span := maxOf(vals) - minOf(vals)
	type cand struct {
		i             int
		score, before float64
		after         float64
	}
	var cands []cand
	// meds[j] is the median of vals[j:j+k]: the window before i starts at
	// i-k, the one after at i.
	meds := slidingMedians(vals, k)
	for i := k; i <= n-k; i++ {
		before, after := meds[i-k], meds[i]
		d := math.Abs(after - before)
		// A shift must stand out from the noise and be a visible part of
		// the series' range.
		if d > 4*noise && d > 0.1*span && d > 0 {
			cands = append(cands, cand{i, d, before, after})
		}
	}
	sort.Slice(cands, func(a, b int) bool { return cands[a].score > cands[b].score })
	var out []Shift
	var taken []int
	for _, c := range cands {
		near := false
		for _, t := range taken {
			if abs(c.i-t) < k {
				near = true
				break
			}
		}
		if near {
			continue
		}
		taken = append(taken, c.i)
		out = append(out, Shift{At: pts[c.i].T, Before: c.before, After: c.after})
		if len(out) == max {
			break
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].At.Before(out[b].At) })
	return out
}

// RankBy names the statistic series are ranked by when there are too many.
type RankBy string

// Statistics to rank by.
const (
	RankMax    RankBy = "max"
	RankMean   RankBy = "mean"
	RankLast   RankBy = "last"
	RankMin    RankBy = "min"
	RankChange RankBy = "change"
)

func (r RankBy) value(s Summary) float64 {
	switch r {
	case RankMean:
		return s.Mean
	case RankLast:
		return s.Last
	case RankMin:
		return -s.Min // the lowest first
	case RankChange:
		best := 0.0
		for _, sh := range s.Shifts {
			best = math.Max(best, math.Abs(sh.After-sh.Before))
		}
		return best
	}
	return s.Max
}

// Rank orders summaries by the statistic, highest first; ties keep label
// order so output is stable.
func Rank(sums []Summary, by RankBy) {
	sort.SliceStable(sums, func(i, j int) bool {
		a, b := by.value(sums[i]), by.value(sums[j])
		if a != b {
			return a > b
		}
		return labelString(sums[i].Labels) < labelString(sums[j].Labels)
	})
}

// Rendering is how a range result is written for a model.
type Rendering struct {
	Query      string
	Start, End time.Time
	Step       time.Duration
	RankBy     RankBy
	TopK       int
	Link       string
	// Unit is what the values measure ("bytes", "bytes/s", "seconds",
	// "ratio", see valueUnit); values are written in it, humanised.
	// Empty: plain numbers.
	Unit string
}

// Render writes ranked summaries compactly: labels shared by every series
// once, then one line per shown series, then what was left out.
func Render(r Rendering, sums []Summary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Range query %s\nfrom %s to %s UTC, step %s; %d series", r.Query,
		r.Start.UTC().Format("2006-01-02 15:04"), r.End.UTC().Format("2006-01-02 15:04"), r.Step, len(sums))
	if len(sums) == 0 {
		b.WriteString(": no data in this range. Check the metric and label names (prom_metrics, prom_labels) or widen the range.\n")
		if r.Link != "" {
			fmt.Fprintf(&b, "Open: %s\n", r.Link)
		}
		return b.String()
	}
	f := func(v float64) string { return humanOrNum(r.Unit, v) }
	common := commonLabels(sums)
	if len(common) > 0 {
		fmt.Fprintf(&b, "; all share %s", labelString(common))
	}
	shown := sums
	if r.TopK > 0 && len(sums) > r.TopK {
		shown = sums[:r.TopK]
		fmt.Fprintf(&b, "; the %d with the highest %s are shown", r.TopK, r.RankBy)
	}
	b.WriteString(".\n")
	layout := "15:04"
	if r.End.Sub(r.Start) > 20*time.Hour || r.Start.UTC().YearDay() != r.End.UTC().YearDay() {
		layout = "01-02 15:04"
	}
	for _, s := range shown {
		b.WriteString("- ")
		b.WriteString(labelString(without(s.Labels, common)))
		if s.Points == 0 {
			b.WriteString(": no finite samples\n")
			continue
		}
		fmt.Fprintf(&b, ": last %s, mean %s, min %s at %s, max %s at %s", f(s.Last), f(s.Mean),
			f(s.Min), s.MinAt.UTC().Format(layout), f(s.Max), s.MaxAt.UTC().Format(layout))
		if s.TrendPerHour != 0 && math.Abs(s.TrendPerHour)*r.End.Sub(r.Start).Hours() > 0.05*math.Abs(s.Max-s.Min) {
			fmt.Fprintf(&b, ", trend %s/h", signedIn(r.Unit, s.TrendPerHour))
		}
		for i, sh := range s.Shifts {
			if i == 0 {
				b.WriteString("; changed")
			} else {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, " at %s from %s to %s", sh.At.UTC().Format(layout), f(sh.Before), f(sh.After))
		}
		b.WriteString("\n")
	}
	if rest := sums[len(shown):]; len(rest) > 0 {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, s := range rest {
			v := r.RankBy.value(s)
			if r.RankBy == RankMin {
				v = -v
			}
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
		fmt.Fprintf(&b, "(%d more series not shown; their %s lies between %s and %s. Narrow the selector or aggregate with sum by (...) to see them.)\n",
			len(rest), r.RankBy, f(lo), f(hi))
	}
	if r.Link != "" {
		fmt.Fprintf(&b, "Open: %s\n", r.Link)
	}
	return b.String()
}

func commonLabels(sums []Summary) map[string]string {
	if len(sums) < 2 {
		return nil
	}
	out := map[string]string{}
	for k, v := range sums[0].Labels {
		same := true
		for _, s := range sums[1:] {
			if s.Labels[k] != v {
				same = false
				break
			}
		}
		if same {
			out[k] = v
		}
	}
	return out
}

func without(m, drop map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if _, ok := drop[k]; !ok {
			out[k] = v
		}
	}
	return out
}

// labelString writes labels as PromQL does: {a="1", b="2"}, name first.
func labelString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "__name__" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(m["__name__"])
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%q", k, m[k])
	}
	b.WriteByte('}')
	return b.String()
}

// num writes a value with four significant digits.
func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case v == 0:
		return "0"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// signedIn writes a change in unit with its sign: "+13.9 MiB", "-2 ms".
func signedIn(unit string, v float64) string {
	if v > 0 {
		return "+" + humanOrNum(unit, v)
	}
	return humanOrNum(unit, v)
}

// slidingMedians returns the median of every window of k consecutive
// values, keeping the window sorted as it slides (a binary search and a
// memmove per step) instead of sorting each window afresh.
func slidingMedians(vals []float64, k int) []float64 {
	if k <= 0 || len(vals) < k {
		return nil
	}
	win := append([]float64(nil), vals[:k]...)
	sort.Float64s(win)
	mid := func() float64 {
		if k%2 == 1 {
			return win[k/2]
		}
		return (win[k/2-1] + win[k/2]) / 2
	}
	out := make([]float64, 0, len(vals)-k+1)
	out = append(out, mid())
	for i := k; i < len(vals); i++ {
		// Drop vals[i-k]: any equal element will do.
		j := sort.SearchFloat64s(win, vals[i-k])
		if j == len(win) || win[j] != vals[i-k] {
			j = linearIndex(win, vals[i-k]) // NaN never sorts into place
		}
		copy(win[j:], win[j+1:])
		win = win[:k-1]
		// Insert vals[i].
		j = sort.SearchFloat64s(win, vals[i])
		win = append(win, 0)
		copy(win[j+1:], win[j:])
		win[j] = vals[i]
		out = append(out, mid())
	}
	return out
}

func linearIndex(xs []float64, x float64) int {
	for i, v := range xs {
		if v == x || (math.IsNaN(v) && math.IsNaN(x)) {
			return i
		}
	}
	return len(xs) - 1
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	m := len(xs) / 2
	if len(xs)%2 == 1 {
		return xs[m]
	}
	return (xs[m-1] + xs[m]) / 2
}

func maxOf(xs []float64) float64 {
	m := math.Inf(-1)
	for _, x := range xs {
		m = math.Max(m, x)
	}
	return m
}

func minOf(xs []float64) float64 {
	m := math.Inf(1)
	for _, x := range xs {
		m = math.Min(m, x)
	}
	return m
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// LabelString writes labels as {a="1", b="2"}, sorted by name.
func LabelString(m map[string]string) string { return labelString(m) }

// SeriesName names a series by its label values other than __name__, in
// label-name order, joined by "/": "checkout" for sum by (service).
func SeriesName(ls map[string]string) string {
	keys := make([]string, 0, len(ls))
	for k := range ls {
		if k != "__name__" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return "(all)"
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = ls[k]
	}
	return strings.Join(parts, "/")
}
