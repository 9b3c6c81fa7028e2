package rca

import (
	"math"
	"sort"
	"strings"
	"time"
)

// Evidence is one metric's movement at the onset.
type Evidence struct {
	Metric string `json:"metric"`
	// Score is how far the metric moved after the onset in units of its
	// robust spread before it.
	Score float64 `json:"score"`
	// Before is the median before the onset; After the most deviant value
	// after it, at Peak.
	Before float64   `json:"before"`
	After  float64   `json:"after"`
	Peak   time.Time `json:"peak"`
	// Onset is when the metric first left its normal range.
	Onset time.Time `json:"onset"`
}

// Ranked is one candidate root cause.
type Ranked struct {
	Service string  `json:"service"`
	Score   float64 `json:"score"`
	// Own is the service's own anomaly before propagation over the graph.
	Own      float64    `json:"own"`
	Evidence []Evidence `json:"evidence"`
	// Change is a change event on the service shortly before the onset.
	Change *Event `json:"change,omitempty"`
}

// Options tune the ranking; zero values are the defaults.
type Options struct {
	// Before and After bound the data used on each side of the onset
	// (default 30 and 10 minutes).
	Before, After time.Duration
	// ChangeWindow is how long before the onset a change counts
	// (default 15 minutes).
	ChangeWindow time.Duration
	// NoPropagation turns the call-graph adjustment off.
	NoPropagation bool
	// Votes replaces the default personalised random walk with callers'
	// client-latency votes for their callees; measured, it ranks worse on
	// both benchmarks (docs/benchmarks.md) and is kept for comparison.
	Votes bool
	// Scale is the spread estimator: "mad" (default) or "iqr".
	Scale string
	// Floor is the smallest spread, as a share of the baseline's level
	// (default 0.5): a metric that was flat can only move so many
	// "spreads", so a 2 % wiggle of a constant does not outrank a CPU
	// going from 20 % to 100 %.
	Floor float64
	// Baseline is how much of the time before the onset sets the level
	// (default 10 minutes); the spread uses all of Before.
	Baseline time.Duration
}

// direction says which way a metric going is bad: +1 up, -1 down, 0 both.
func direction(metric string) int {
	m := strings.ToLower(metric)
	switch {
	case strings.Contains(m, "success"), strings.Contains(m, "availability"), strings.Contains(m, "avail"):
		return -1
	case strings.Contains(m, "latency"), strings.Contains(m, "duration"), strings.Contains(m, "cpu"),
		strings.Contains(m, "mem"), strings.Contains(m, "error"), strings.Contains(m, "fail"),
		strings.Contains(m, "restart"), strings.Contains(m, "throttl"), strings.Contains(m, "oom"):
		return 1
	}
	return 0
}

// Rank orders the case's services by how likely each is the root cause.
func Rank(c *Case, o Options) []Ranked {
	if o.Before <= 0 {
		o.Before = 30 * time.Minute
	}
	if o.After <= 0 {
		o.After = 10 * time.Minute
	}
	if o.ChangeWindow <= 0 {
		o.ChangeWindow = 15 * time.Minute
	}
	if o.Scale == "" {
		o.Scale = "mad"
	}
	if o.Floor == 0 {
		o.Floor = 0.5
	}
	if o.Baseline == 0 {
		o.Baseline = 10 * time.Minute
	}
	onset := c.Onset
	if onset.IsZero() {
		onset = findOnset(c)
	}
	var out []Ranked
	for _, svc := range c.Services() {
		r := Ranked{Service: svc}
		for metric, samples := range c.Metrics[svc] {
			if e, ok := score(metric, samples, onset, o); ok {
				r.Evidence = append(r.Evidence, e)
			}
		}
		sort.Slice(r.Evidence, func(i, j int) bool {
			if r.Evidence[i].Score != r.Evidence[j].Score {
				return r.Evidence[i].Score > r.Evidence[j].Score
			}
			return r.Evidence[i].Metric < r.Evidence[j].Metric
		})
		for _, e := range r.Evidence {
			// A service's latency as a client is its callees' problem:
			// it counts toward them (propagate), not toward the service.
			if isClientLatency(e.Metric) {
				continue
			}
			r.Own = e.Score
			break
		}
		r.Score = r.Own
		out = append(out, r)
	}
	switch {
	case o.NoPropagation:
	case o.Votes:
		propagate(out, c.Edges)
	default:
		pageRank(out, c.Edges)
	}
	for i := range out {
		for _, e := range c.Events {
			if e.Service == out[i].Service && !e.Time.After(onset) && onset.Sub(e.Time) <= o.ChangeWindow {
				ev := e
				out[i].Change = &ev
				out[i].Score *= 1.5
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		return out[i].Service < out[j].Service
	})
	return out
}

// score measures one metric: the largest deviation after the onset, in the
// bad direction, in units of the robust spread before it.
func score(metric string, samples []Sample, onset time.Time, o Options) (Evidence, bool) {
	var pre, post []Sample
	for _, s := range samples {
		switch {
		case s.T.Before(onset) && onset.Sub(s.T) <= o.Before:
			pre = append(pre, s)
		case !s.T.Before(onset) && s.T.Sub(onset) <= o.After:
			post = append(post, s)
		}
	}
	if len(pre) < 3 || len(post) == 0 {
		return Evidence{}, false
	}
	// A success or availability percentage is scored as its complement,
	// the failure percentage: 99.9 % → 80 % is failures growing 200-fold,
	// which its distance from the level of successes would hide.
	if complement := isSuccessPct(metric); complement {
		flip := func(ss []Sample) []Sample {
			out := make([]Sample, len(ss))
			for i, s := range ss {
				out[i] = Sample{s.T, 100 - s.V}
			}
			return out
		}
		e, ok := score("failure_pct", append(flip(pre), flip(post)...), onset, o)
		e.Metric, e.Before, e.After = metric, 100-e.Before, 100-e.After
		return e, ok
	}
	vals := make([]float64, len(pre))
	var recent []float64
	for i, s := range pre {
		vals[i] = s.V
		if onset.Sub(s.T) <= o.Baseline {
			recent = append(recent, s.V)
		}
	}
	if len(recent) == 0 {
		recent = vals
	}
	sort.Float64s(vals)
	sort.Float64s(recent)
	med := quantile(recent, 0.5)
	center := quantile(vals, 0.5)
	var scale float64
	if o.Scale == "iqr" {
		scale = quantile(vals, 0.75) - quantile(vals, 0.25)
	} else {
		dev := make([]float64, len(vals))
		for i, v := range vals {
			dev[i] = math.Abs(v - center)
		}
		sort.Float64s(dev)
		scale = 1.4826 * quantile(dev, 0.5)
	}
	// Percentages live on a fixed scale: their floor is one point, not a
	// share of their level (CPU 20 % → 90 % is 70 points whatever the
	// level; failures 0.1 % → 0.4 % is noise, 0.1 % → 20 % is not).
	floor := math.Max(math.Abs(med)*o.Floor, 1e-9)
	if isPct(metric) {
		floor = 1
	}
	scale = math.Max(scale, floor)
	dir := direction(metric)
	e := Evidence{Metric: metric, Before: med}
	best := -1.0
	for _, s := range post {
		d := (s.V - med) / scale
		switch dir {
		case 1:
		case -1:
			d = -d
		default:
			d = math.Abs(d)
		}
		if d > best {
			best, e.After, e.Peak = d, s.V, s.T
		}
	}
	e.Score = math.Max(best, 0)
	for _, s := range post {
		d := (s.V - med) / scale
		if dir == -1 {
			d = -d
		} else if dir == 0 {
			d = math.Abs(d)
		}
		if d >= 3 {
			e.Onset = s.T
			break
		}
	}
	return e, true
}

// quantile of sorted values, linear interpolation.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(sorted)-1)
	lo := int(pos)
	if lo >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	f := pos - float64(lo)
	return sorted[lo]*(1-f) + sorted[lo+1]*f
}

// findOnset picks, when no onset is given, the minute after which the most
// metrics move: for each candidate time, the number of metrics whose later
// values leave the robust range of their earlier ones.
func findOnset(c *Case) time.Time {
	var times []time.Time
	seen := map[int64]bool{}
	for _, m := range c.Metrics {
		for _, s := range m {
			for _, x := range s {
				if !seen[x.T.Unix()] {
					seen[x.T.Unix()] = true
					times = append(times, x.T)
				}
			}
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	if len(times) < 8 {
		if len(times) == 0 {
			return time.Time{}
		}
		return times[len(times)/2]
	}
	best, bestAt := -1.0, times[len(times)/2]
	for _, t := range times[len(times)/4 : len(times)-2] {
		total := 0.0
		for _, m := range c.Metrics {
			for metric, s := range m {
				if e, ok := score(metric, s, t, Options{Before: 30 * time.Minute, After: 5 * time.Minute}); ok {
					total += math.Min(e.Score, 10)
				}
			}
		}
		if total > best {
			best, bestAt = total, t
		}
	}
	return bestAt
}

func isPct(metric string) bool {
	m := strings.ToLower(metric)
	return strings.Contains(m, "pct") || strings.Contains(m, "percent")
}

func isSuccessPct(metric string) bool {
	m := strings.ToLower(metric)
	return (strings.Contains(m, "success") || strings.Contains(m, "avail")) && (strings.Contains(m, "pct") || strings.Contains(m, "percent"))
}

func isClientLatency(metric string) bool {
	m := strings.ToLower(metric)
	return strings.Contains(m, "latency_client") || strings.Contains(m, "client_latency")
}

// propagate lets callers whose client latency rose vote for their callees:
// each caller's client-latency deviation is shared among its callees in
// proportion to the callees' own anomaly, so the slow callee that is itself
// anomalous collects what its callers suffer. When no callee is anomalous
// on its own, the slowness is between them — the caller's network — and
// the caller keeps the vote.
func propagate(out []Ranked, edges [][2]string) {
	idx := map[string]int{}
	for i, r := range out {
		idx[r.Service] = i
	}
	callees := map[string][]int{}
	for _, e := range edges {
		if j, ok := idx[e[1]]; ok {
			callees[e[0]] = append(callees[e[0]], j)
		}
	}
	votes := make([]float64, len(out))
	for i, r := range out {
		cs := callees[r.Service]
		if len(cs) == 0 {
			continue
		}
		client := 0.0
		for _, e := range r.Evidence {
			if isClientLatency(e.Metric) {
				client = math.Max(client, e.Score)
			}
		}
		if client < 3 {
			continue
		}
		total, most := 0.0, 0.0
		for _, j := range cs {
			total += out[j].Own
			most = math.Max(most, out[j].Own)
		}
		if most < 3 {
			votes[i] += PropagationWeight * client
			continue
		}
		for _, j := range cs {
			share := 1 / float64(len(cs))
			if total > 0 {
				share = out[j].Own / total
			}
			votes[j] += PropagationWeight * client * share
		}
	}
	for i := range out {
		out[i].Score = out[i].Own + votes[i]
	}
}

// PropagationWeight scales callers' votes against a service's own anomaly.
var PropagationWeight = 0.5

// pageRank scores services by a personalised random walk: from a service,
// the walk moves to one of its callees with probability proportional to
// the callee's own anomaly, or restarts at a service chosen in proportion
// to own anomaly. A service's score is its visit share times its own
// anomaly.
func pageRank(out []Ranked, edges [][2]string) {
	n := len(out)
	if n == 0 {
		return
	}
	idx := map[string]int{}
	for i, r := range out {
		idx[r.Service] = i
	}
	next := make([][]int, n)
	for _, e := range edges {
		a, ok1 := idx[e[0]]
		b, ok2 := idx[e[1]]
		if ok1 && ok2 {
			next[a] = append(next[a], b)
		}
	}
	pers := make([]float64, n)
	total := 0.0
	for i, r := range out {
		pers[i] = r.Own + 1e-9
		total += pers[i]
	}
	for i := range pers {
		pers[i] /= total
	}
	const damp = 0.85
	p := append([]float64(nil), pers...)
	for iter := 0; iter < 100; iter++ {
		q := make([]float64, n)
		for i := range q {
			q[i] = (1 - damp) * pers[i]
		}
		for i, outs := range next {
			w := 0.0
			for _, j := range outs {
				w += out[j].Own + 1e-9
			}
			if w == 0 {
				for j := range q {
					q[j] += damp * p[i] * pers[j]
				}
				continue
			}
			for _, j := range outs {
				q[j] += damp * p[i] * (out[j].Own + 1e-9) / w
			}
		}
		// Walks from services without callees restart by personalisation.
		for i, outs := range next {
			if len(outs) == 0 {
				for j := range q {
					q[j] += damp * p[i] * pers[j]
				}
			}
		}
		diff := 0.0
		for i := range q {
			diff += math.Abs(q[i] - p[i])
		}
		p = q
		if diff < 1e-10 {
			break
		}
	}
	for i := range out {
		out[i].Score = p[i] * float64(n) * out[i].Own
	}
}
