package anomaly

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// Forecast is when a series is expected to cross a threshold.
type Forecast struct {
	// Crosses is true when the trend reaches the threshold within the
	// horizon the data supports.
	Crosses bool
	// At is the expected crossing; Earliest and Latest bound it at the
	// interval's confidence (Latest is zero when the slow end of the
	// interval never crosses within the horizon). When Beyond is true, At
	// is where the line would cross, given for orientation only.
	At, Earliest, Latest time.Time
	// Beyond says the line crosses, but further ahead than the data can
	// tell: more than ten times the span it was fitted on.
	Beyond bool
	// Now is the fitted level at the newest sample, and Slope the trend
	// per hour.
	Now, Slope float64
	// Already is true when the newest value is already past the threshold.
	Already bool
	// Seasonal says a daily rhythm was fitted around the trend.
	Seasonal bool
	// Residual is the spread of the values around the fit (standard
	// deviation), and R2 the share of variance the fit explains.
	Residual, R2 float64
	Points       int
	// FitFrom is the first sample the trend was fitted on, Last the
	// newest. Reset says the fit starts after a reset — the series fell
	// back abruptly (a restart, a cleanup) and the stretch before it says
	// nothing about the current rise.
	FitFrom, Last time.Time
	Reset         bool
	// Refused, when set, is why no crossing time is given although the
	// line points at the threshold: the fit is too poor to trust.
	Refused string
}

// ForecastOptions configure ForecastCrossing.
type ForecastOptions struct {
	// Threshold to cross; Above says crossing means rising past it (true)
	// or falling below it (false).
	Threshold float64
	Above     bool
	// Horizon is how far ahead to look at most (default 30 days); the
	// data's own span bounds it too (ten times the span fitted).
	Horizon time.Duration
	// Confidence of the interval (default 0.9).
	Confidence float64
}

// ErrTooShort is returned for series too short to fit a trend.
var ErrTooShort = errors.New("need at least 10 points spanning some time to forecast")

// minR2 is the share of variance a trend must explain before its
// crossing time is given.
const minR2 = 0.5

// ForecastCrossing fits a linear trend to the newest stretch of the series
// that one line describes — after its last reset, if it had one — with a
// daily profile around it when that stretch spans two days and has a
// rhythm, and returns when the trend crosses the threshold, with a
// prediction interval from the residuals. Points may come in any order;
// non-finite values are skipped. It refuses (Refused) rather than guesses
// when the line explains less than half of the variation, and reports a
// crossing further ahead than ten times the fitted span as Beyond.
func ForecastCrossing(times []time.Time, vals []float64, o ForecastOptions) (Forecast, error) {
	if o.Horizon <= 0 {
		o.Horizon = 30 * 24 * time.Hour
	}
	if o.Confidence <= 0 || o.Confidence >= 1 {
		o.Confidence = 0.9
	}
	type pt struct {
		t time.Time
		v float64
	}
	var pts []pt
	for i, v := range vals {
		if i < len(times) && !math.IsNaN(v) && !math.IsInf(v, 0) {
			pts = append(pts, pt{times[i], v})
		}
	}
	sort.SliceStable(pts, func(i, j int) bool { return pts[i].t.Before(pts[j].t) })
	if len(pts) < 10 || !pts[len(pts)-1].t.After(pts[0].t) {
		return Forecast{}, ErrTooShort
	}
	ts := make([]time.Time, len(pts))
	ys := make([]float64, len(pts))
	for i, p := range pts {
		ts[i], ys[i] = p.t, p.v
	}
	f := Forecast{Last: ts[len(ts)-1]}
	if start := lastReset(ys, o.Above); start > 0 {
		ts, ys, f.Reset = ts[start:], ys[start:], true
	}
	f.FitFrom, f.Points = ts[0], len(ys)
	if len(ys) < 10 {
		f.Now = ys[len(ys)-1]
		f.Refused = fmt.Sprintf("the series fell back at %s (a restart or a cleanup) and has only %d points since; ask again in a few minutes",
			f.FitFrom.UTC().Format("15:04:05"), len(ys))
		return f, nil
	}
	if !ts[len(ts)-1].After(ts[0]) {
		return Forecast{}, ErrTooShort
	}
	t0 := ts[0]
	xs := make([]float64, len(ts))
	for i, t := range ts {
		xs[i] = t.Sub(t0).Hours()
	}
	// A daily profile (mean residual per hour of day) is fitted when the
	// data spans at least two days and the profile explains a fair share
	// of what the trend leaves.
	profile := func(float64) float64 { return 0 }
	alpha, beta := stat.LinearRegression(xs, ys, nil, false)
	if xs[len(xs)-1] >= 48 {
		var sum, cnt [24]float64
		for i, t := range ts {
			sum[t.Hour()] += ys[i] - (alpha + beta*xs[i])
			cnt[t.Hour()]++
		}
		var prof [24]float64
		for h := range prof {
			if cnt[h] > 0 {
				prof[h] = sum[h] / cnt[h]
			}
		}
		before, after := 0.0, 0.0
		for i, t := range ts {
			r := ys[i] - (alpha + beta*xs[i])
			before += r * r
			after += (r - prof[t.Hour()]) * (r - prof[t.Hour()])
		}
		if after < 0.7*before {
			f.Seasonal = true
			profile = func(x float64) float64 { return prof[t0.Add(time.Duration(x*float64(time.Hour))).Hour()] }
			adj := make([]float64, len(ys))
			for i := range ys {
				adj[i] = ys[i] - profile(xs[i])
			}
			alpha, beta = stat.LinearRegression(xs, adj, nil, false)
		}
	}
	n := float64(len(ys))
	meanX, meanY := stat.Mean(xs, nil), stat.Mean(ys, nil)
	var sxx, sse, sst float64
	for i := range ys {
		fit := alpha + beta*xs[i] + profile(xs[i])
		sse += (ys[i] - fit) * (ys[i] - fit)
		sst += (ys[i] - meanY) * (ys[i] - meanY)
		sxx += (xs[i] - meanX) * (xs[i] - meanX)
	}
	dof := math.Max(n-2, 1)
	sigma := math.Sqrt(sse / dof)
	f.Residual = sigma
	if sst > 0 {
		f.R2 = 1 - sse/sst
	}
	xLast := xs[len(xs)-1]
	f.Now = alpha + beta*xLast + profile(xLast)
	f.Slope = beta
	past := func(v float64) bool {
		if o.Above {
			return v >= o.Threshold
		}
		return v <= o.Threshold
	}
	if past(ys[len(ys)-1]) {
		f.Already, f.Crosses = true, true
		f.At, f.Earliest, f.Latest = f.Last, f.Last, f.Last
		return f, nil
	}
	towards := (o.Above && beta > 0) || (!o.Above && beta < 0)
	if towards && f.R2 < minR2 {
		f.Refused = fmt.Sprintf("the trend explains only %.0f%% of the variation since %s (R² %.2f); a crossing time would be a guess",
			100*math.Max(f.R2, 0), f.FitFrom.UTC().Format("2006-01-02 15:04"), f.R2)
		return f, nil
	}
	tq := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: dof}.Quantile(1 - (1-o.Confidence)/2)
	// half is the prediction interval's half-width at x.
	half := func(x float64) float64 {
		se := sigma * math.Sqrt(1+1/n+(x-meanX)*(x-meanX)/math.Max(sxx, 1e-12))
		return tq * se
	}
	// The data can tell about ten times its own span ahead.
	horizon := math.Min(o.Horizon.Hours(), 10*xLast)
	// Walk forward (at most 20,000 steps) for the first time the centre
	// and each bound cross; the line alone is also solved beyond the
	// horizon, for Beyond.
	dx := math.Max(horizon/20000, 1.0/3600)
	var at, early, late float64 = -1, -1, -1
	for x := xLast + dx; x <= xLast+horizon; x += dx {
		c := alpha + beta*x + profile(x)
		h := half(x)
		fast, slow := c+h, c-h
		if !o.Above {
			fast, slow = c-h, c+h
		}
		if early < 0 && past(fast) {
			early = x
		}
		if at < 0 && past(c) {
			at = x
		}
		if late < 0 && past(slow) {
			late = x
			break
		}
	}
	toTime := func(x float64) time.Time { return t0.Add(time.Duration(x * float64(time.Hour))).Round(time.Second) }
	switch {
	case at >= 0:
		f.Crosses = true
		f.At = toTime(at)
	case towards && beta != 0:
		if x := (o.Threshold - f.Now) / beta; x > 0 && x < o.Horizon.Hours() {
			f.Beyond, f.At = true, toTime(xLast+x)
		}
	}
	if early >= 0 {
		f.Earliest = toTime(early)
	}
	if late >= 0 {
		f.Latest = toTime(late)
	}
	return f, nil
}

// lastReset returns the index where the series' newest stretch starts
// after an abrupt fall back away from the threshold (a restart, a
// cleanup, a rotation): a move far larger than its usual steps and at
// least a fifth of its range, down when rising towards the threshold
// (above), up otherwise. It returns 0 when there is none.
func lastReset(ys []float64, above bool) int {
	if len(ys) < 3 {
		return 0
	}
	if !above {
		neg := make([]float64, len(ys))
		for i, y := range ys {
			neg[i] = -y
		}
		ys = neg
	}
	d := make([]float64, len(ys)-1)
	lo, hi := ys[0], ys[0]
	for i := 1; i < len(ys); i++ {
		d[i-1] = ys[i] - ys[i-1]
		lo, hi = math.Min(lo, ys[i]), math.Max(hi, ys[i])
	}
	med := selectMedian(append([]float64(nil), d...))
	abs := make([]float64, len(d))
	for i, x := range d {
		abs[i] = math.Abs(x - med)
	}
	spread := 1.4826 * selectMedian(abs)
	for i := len(d) - 1; i >= 0; i-- {
		if fall := -(d[i] - med); fall > 10*spread && fall > 0.2*(hi-lo) {
			return i + 1
		}
	}
	return 0
}
