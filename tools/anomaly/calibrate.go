package anomaly

import "math"

// calibrator turns a detector's statistic into surprise: -log10 of the
// probability of a statistic at least this large, estimated from the
// detector's own recent statistics. Inside their observed range that is
// the empirical tail; beyond a high quantile a generalized Pareto
// distribution is fitted to the excesses (peaks over threshold, as in
// SPOT), so that a value larger than anything seen gets a finite,
// comparable probability instead of "more than the maximum".
type calibrator struct {
	hist  *rolling
	q     float64 // quantile where the tail model starts
	every int     // refit period
	n     int
	// fitted tail: p(x) = (1-q)·(1 + xi·(x-u)/sigma)^(-1/xi) for x > u
	u, sigma, xi float64
	fitted       bool
	// extrapolate bounds how far beyond the observed range (in orders of
	// magnitude of probability) the tail model may go; negative: no bound.
	extrapolate float64
}

const maxSurprise = 12.0

func newCalibrator(n int) *calibrator {
	return &calibrator{hist: newRolling(n), q: 0.95, every: 32, extrapolate: -1}
}

// surprise returns -log10 p(stat ≥ x) from earlier statistics, then adds x
// to them.
func (c *calibrator) surprise(x float64) float64 {
	defer c.add(x)
	n := c.hist.len()
	if n < 50 {
		return 0
	}
	if !c.fitted || c.n%c.every == 0 {
		c.fit()
	}
	var p float64
	if c.fitted && x > c.u {
		p = (1 - c.q) * c.tail(x-c.u)
	} else {
		// Empirical: the share of earlier statistics at least x, with the
		// usual +1 so that p is never 0.
		s := c.hist.sorted
		i := lowerBound(s, x)
		p = float64(n-i+1) / float64(n+1)
	}
	limit := float64(maxSurprise)
	if c.extrapolate >= 0 {
		limit = math.Min(limit, math.Log10(float64(n+1))+c.extrapolate)
	}
	if p <= 0 {
		return limit
	}
	return math.Min(-math.Log10(p), limit)
}

func (c *calibrator) add(x float64) {
	c.hist.push(x)
	c.n++
}

// tail is the fitted survival function of an excess y over u.
func (c *calibrator) tail(y float64) float64 {
	if c.xi == 0 {
		return math.Exp(-y / c.sigma)
	}
	b := 1 + c.xi*y/c.sigma
	if b <= 0 {
		return 0 // past the fitted distribution's end point
	}
	return math.Pow(b, -1/c.xi)
}

// fit estimates the tail by the method of moments on the excesses over
// the q-quantile.
func (c *calibrator) fit() {
	s := c.hist.sorted
	u := c.hist.quantile(c.q)
	var sum, sq float64
	k := 0
	for i := len(s) - 1; i >= 0 && s[i] > u; i-- {
		y := s[i] - u
		sum += y
		sq += y * y
		k++
	}
	if k < 5 {
		c.fitted = false
		return
	}
	mean := sum / float64(k)
	variance := sq/float64(k) - mean*mean
	if mean <= 0 || variance <= 0 {
		c.fitted = false
		return
	}
	r := mean * mean / variance
	c.u = u
	c.xi = math.Max(-0.5, math.Min(0.5, 0.5*(1-r)))
	c.sigma = 0.5 * mean * (r + 1)
	c.fitted = true
}

func lowerBound(s []float64, x float64) int {
	lo, hi := 0, len(s)
	for lo < hi {
		m := (lo + hi) / 2
		if s[m] < x {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}
