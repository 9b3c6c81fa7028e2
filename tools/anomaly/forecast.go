package anomaly

import (
	"errors"
	"math"
	"time"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// Forecast is when a series is expected to cross a threshold.
type Forecast struct {
	// Crosses is false when the trend does not reach the threshold within
	// the horizon (flat, or moving away from it).
	Crosses bool
	// At is the expected crossing; Earliest and Latest bound it at the
	// interval's confidence (Latest is zero when the slow end of the
	// interval never crosses within the horizon).
	At, Earliest, Latest time.Time
	// Now is the series' fitted level at the last point, and Slope its
	// trend per hour.
	Now, Slope float64
	// Already is true when the last value is already past the threshold.
	Already bool
	// Seasonal says a daily rhythm was fitted around the trend.
	Seasonal bool
	// Residual is the spread of the values around the fit (standard
	// deviation), and R2 the share of variance the fit explains.
	Residual, R2 float64
	Points       int
}

// ForecastOptions configure ForecastCrossing.
type ForecastOptions struct {
	// Threshold to cross; Above says crossing means rising past it (true)
	// or falling below it (false).
	Threshold float64
	Above     bool
	// Horizon is how far ahead to look (default 30 days).
	Horizon time.Duration
	// Confidence of the interval (default 0.9).
	Confidence float64
}

// ErrTooShort is returned for series too short to fit a trend.
var ErrTooShort = errors.New("need at least 10 points spanning some time to forecast")

// ForecastCrossing fits a linear trend, with a daily profile around it when
// the series has a rhythm, and returns when the trend (plus the rhythm)
// crosses the threshold, with a prediction interval from the residuals.
// It is an ordinary least-squares fit: forecasts assume the recent trend
// continues, which is what "at this rate the disk is full in 3 days"
// means.
func ForecastCrossing(times []time.Time, vals []float64, o ForecastOptions) (Forecast, error) {
	if o.Horizon <= 0 {
		o.Horizon = 30 * 24 * time.Hour
	}
	if o.Confidence <= 0 || o.Confidence >= 1 {
		o.Confidence = 0.9
	}
	var xs, ys []float64
	var ts []time.Time
	for i, v := range vals {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			ts = append(ts, times[i])
			ys = append(ys, v)
		}
	}
	if len(ys) < 10 || !ts[len(ts)-1].After(ts[0]) {
		return Forecast{}, ErrTooShort
	}
	t0 := ts[0]
	for _, t := range ts {
		xs = append(xs, t.Sub(t0).Hours())
	}
	f := Forecast{Points: len(ys)}
	// A daily profile (mean residual per hour of day) is fitted when the
	// data spans at least two days and the profile explains a fair share
	// of what the trend leaves.
	profile := func(float64) float64 { return 0 }
	alpha, beta := stat.LinearRegression(xs, ys, nil, false)
	if xs[len(xs)-1] >= 48 {
		resid := make([]float64, len(ys))
		for i := range ys {
			resid[i] = ys[i] - (alpha + beta*xs[i])
		}
		var sum, cnt [24]float64
		for i, t := range ts {
			h := t.Hour()
			sum[h] += resid[i]
			cnt[h]++
		}
		var prof [24]float64
		for h := range prof {
			if cnt[h] > 0 {
				prof[h] = sum[h] / cnt[h]
			}
		}
		before, after := 0.0, 0.0
		for i, t := range ts {
			before += resid[i] * resid[i]
			r := resid[i] - prof[t.Hour()]
			after += r * r
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
	meanX := stat.Mean(xs, nil)
	var sxx, sse, sst float64
	meanY := stat.Mean(ys, nil)
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
	last := ys[len(ys)-1]
	past := func(v float64) bool {
		if o.Above {
			return v >= o.Threshold
		}
		return v <= o.Threshold
	}
	if past(last) {
		f.Already, f.Crosses = true, true
		f.At, f.Earliest, f.Latest = ts[len(ts)-1], ts[len(ts)-1], ts[len(ts)-1]
		return f, nil
	}
	tq := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: dof}.Quantile(1 - (1-o.Confidence)/2)
	// half is the prediction interval's half-width at x.
	half := func(x float64) float64 {
		se := sigma * math.Sqrt(1+1/n+(x-meanX)*(x-meanX)/math.Max(sxx, 1e-12))
		return tq * se
	}
	// Walk forward in steps of a quarter of the data's spacing, at most
	// 20,000 steps, for the first time the centre and each bound cross.
	steps := 20000
	dx := math.Max(o.Horizon.Hours()/float64(steps), 1.0/60)
	var at, early, late float64 = -1, -1, -1
	for x := xLast + dx; x <= xLast+o.Horizon.Hours(); x += dx {
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
	if at >= 0 {
		f.Crosses = true
		f.At = toTime(at)
	}
	if early >= 0 {
		f.Earliest = toTime(early)
	}
	if late >= 0 {
		f.Latest = toTime(late)
	}
	return f, nil
}
