package rca

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// Ranked is one candidate root cause.
type Ranked struct {
	Service string `json:"service"`
	// Score is how likely the service is the root cause, in [0, 1], after
	// the call graph and changes; comparable across services and cases
	// (0.3 is a clear anomaly, 0.5 a strong one).
	Score float64 `json:"score"`
	// Own is the service's own anomaly in [0, 1]: its strongest metric,
	// without its client latency (which points at its callees).
	Own float64 `json:"own"`
	// Decided says which evidence put the service where it is, in words.
	Decided string `json:"decided"`
	// Evidence are its metrics' moves, the strongest first.
	Evidence []Evidence `json:"evidence"`
	// Change is a change event on the service close to the onset.
	Change *Event `json:"change,omitempty"`

	// roles holds the strongest score per role.
	roles map[Role]float64
	// mass is the sum of the deviations of its metrics, for ties.
	mass float64
	// silent is set when the service stopped reporting at the onset;
	// before and after count its samples on each side.
	silent        bool
	before, after int
	// callers and callees count its neighbours in the call graph.
	callers, callees int
}

// Options tune the ranking; the zero value is the measured default.
type Options struct {
	// Before and After bound the data used on each side of the onset
	// (defaults: 60 minutes, at least 10 samples; 10 minutes, at least 3
	// samples).
	Before, After time.Duration
	// Recent is how much of the lead-in sets a metric's level (default 10
	// minutes, at least 3 samples).
	Recent time.Duration
	// ChangeBefore and ChangeAfter bound when a change counts as close to
	// the onset (defaults 15 and 5 minutes: an onset found from metrics
	// or an alert can precede the deploy that caused it by a little).
	ChangeBefore, ChangeAfter time.Duration
	// Propagation chooses how the call graph is used: "explain" (the
	// default, graph.go), "walk" (a personalised random walk, as
	// MicroRCA) or "none".
	Propagation string

	// tuning holds the alternatives measured in docs/benchmarks.md; the
	// tests set it to reproduce that comparison.
	tuning tuning
}

// tuning are the alternatives to the method's measured choices; the zero
// value is the default.
type tuning struct {
	statistic    string        // "max", "second", "q0.7"; default a sustained run
	runSpan      time.Duration // the run's length (default 3 minutes)
	runCap       bool          // at most three samples per run
	minRun       int           // 1: no minimum of two samples
	logFloor     float64       // one floor for every kind
	pctFloor     float64       // the floor of percentages
	noKindFloors bool
	noCounts     bool    // counts on the log scale like other values
	noCollapse   bool    // ignore falls to a fraction of the level
	lonePrior    float64 // see explain
	explainShare float64 // see explain
	maxBlame     bool    // the larger of own and callers' blame, not both
	noChange     bool    // changes add nothing to the score
	noSpans      bool    // metrics alone, when the case has spans
}

// Rank orders the case's services by how likely each is the root cause.
// Scores are in [0, 1], finite and non-increasing down the list, and each
// service appears once; ties are broken by the weight of the evidence and
// the service's place in the call graph before its name. It is safe for
// concurrent use on different cases.
func Rank(c *Case, o Options) []Ranked {
	if o.Before <= 0 {
		o.Before = time.Hour
	}
	if o.After <= 0 {
		o.After = 10 * time.Minute
	}
	if o.Recent <= 0 {
		o.Recent = 10 * time.Minute
	}
	if o.ChangeBefore <= 0 {
		o.ChangeBefore = 15 * time.Minute
	}
	if o.ChangeAfter <= 0 {
		o.ChangeAfter = 5 * time.Minute
	}
	if !o.tuning.noSpans {
		c = c.withSpans()
	}
	onset := c.Onset
	if onset.IsZero() {
		onset = findOnset(c)
	}
	step := math.Max(samplingStep(c).Seconds(), 1)
	w := window{
		onset: float64(onset.UnixNano()) / 1e9, step: step,
		before: math.Max(o.Before.Seconds(), 10*step), after: math.Max(o.After.Seconds(), 3*step),
		recent: math.Max(o.Recent.Seconds(), 3*step), tuning: o.tuning,
	}
	out := make([]Ranked, 0, len(c.Metrics))
	anyAfter := false
	for _, svc := range c.Services() {
		r := rankService(svc, c.Metrics[svc], c.Baseline[svc], w)
		anyAfter = anyAfter || r.after > 0
		out = append(out, r)
	}
	if !anyAfter {
		// Nothing has data after the onset: silence is the window's end,
		// not a crash.
		for i := range out {
			out[i].silent = false
		}
	}
	for i := range out {
		out[i].settleOwn()
	}
	switch o.Propagation {
	case "none":
	case "walk":
		walk(out, c.Edges)
	default:
		explain(out, c.Edges, o.tuning)
	}
	for i := range out {
		r := &out[i]
		for _, e := range c.Events {
			if e.Service != r.Service || e.Time.Before(onset.Add(-o.ChangeBefore)) || e.Time.After(onset.Add(o.ChangeAfter)) {
				continue
			}
			if r.Change == nil || absDur(e.Time.Sub(onset)) < absDur(r.Change.Time.Sub(onset)) {
				ev := e
				r.Change = &ev
			}
		}
		if r.Change != nil && !o.tuning.noChange {
			// A change close to the onset is a lead, not a verdict: it
			// adds up to a third of what is left to the score, all of it
			// only when the service itself shows a clear anomaly.
			r.Score += (1 - r.Score) / 3 * math.Min(1, r.Score/clearAnomaly)
			r.Decided = fmt.Sprintf("%s at %s; %s", r.Change.Kind, r.Change.Time.Format("15:04"), r.Decided)
		}
		if !(r.Score >= 0) {
			r.Score = 0
		}
		r.Score = math.Min(r.Score, 1)
	}
	g := newGraph(out, c.Edges)
	for i := range out {
		out[i].callers, out[i].callees = len(g.callers[i]), len(g.callees[i])
	}
	// Ties (services without evidence) go to the one with more evidence
	// below the threshold, then to shared dependencies and deeper
	// services (more of the system depends on them), and only then to the
	// name, so the order is stable.
	slices.SortStableFunc(out, func(a, b Ranked) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(b.Own, a.Own), cmp.Compare(b.mass, a.mass),
			cmp.Compare(b.callers, a.callers), cmp.Compare(a.callees, b.callees), strings.Compare(a.Service, b.Service))
	})
	return out
}

// clearAnomaly is the score of a clear anomaly: about three and a half
// times the noise. Weaker evidence does not explain or corroborate.
const clearAnomaly = 0.3

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// rankService scores one service's metrics.
func rankService(svc string, metrics, baseline map[string][]Sample, w window) Ranked {
	r := Ranked{Service: svc, roles: map[Role]float64{}}
	for _, p := range prepareService(metrics, baseline) {
		for _, t := range p.t {
			if t <= w.onset-w.step {
				r.before++
			} else {
				r.after++
			}
		}
		e, ok := score(p, w)
		if !ok {
			continue
		}
		r.Evidence = append(r.Evidence, e)
		r.roles[e.role] = math.Max(r.roles[e.role], e.Score)
		if e.collapse > 0 {
			r.roles[RoleCollapse] = math.Max(r.roles[RoleCollapse], collapseWeight*e.collapse)
		}
		r.mass += math.Min(e.z, 1e6)
	}
	sort.SliceStable(r.Evidence, func(i, j int) bool {
		if r.Evidence[i].Score != r.Evidence[j].Score {
			return r.Evidence[i].Score > r.Evidence[j].Score
		}
		return r.Evidence[i].Metric < r.Evidence[j].Metric
	})
	r.silent = r.before > 0 && r.after == 0
	return r
}

// collapseWeight is the trust in a fall to a fraction of the level as
// root-cause evidence: a service can idle for other reasons.
const collapseWeight = 0.6

// settleOwn sets the service's own score and the words for it.
func (r *Ranked) settleOwn() {
	r.Own, r.Decided = 0, ""
	for _, e := range r.Evidence {
		// A service's latency as a client is its callees' problem (or
		// the network's): it counts toward them, not toward the service.
		if e.role == RoleClient {
			continue
		}
		if e.Score > 0 {
			r.Own = e.Score
			r.Decided = describe(e)
		}
		break
	}
	if c := r.roles[RoleCollapse]; c > r.Own {
		r.Own = c
		for _, e := range r.Evidence {
			if collapseWeight*e.collapse == c {
				r.Decided = fmt.Sprintf("%s collapsed %s→%s", e.Metric, short(e.Before), short(e.After))
			}
		}
	}
	if r.silent {
		// Data until the onset and none after: the service went away.
		r.Own = math.Max(r.Own, 0.5)
		r.Decided = "stopped reporting at the onset"
	}
	if r.Decided == "" {
		r.Decided = "no metric left its normal range"
		if r.before == 0 {
			r.Decided = "no data before the onset to compare with"
		}
	}
	r.Score = r.Own
}

// describe says what a metric did, for Decided: "cpu_usage_pct rose
// 22→99 % (56× noise)".
func describe(e Evidence) string {
	arrow := "rose"
	if e.After < e.Before {
		arrow = "fell"
	}
	unit := ""
	switch {
	case e.Derived == "per request":
		return fmt.Sprintf("%s per request rose %s→%s %% (%.0f× noise)", e.Metric, short(e.Before), short(e.After), math.Abs(e.Deviation))
	case e.Derived == "rate":
		unit = "/s"
	case strings.Contains(strings.ToLower(e.Metric), "pct") || e.Derived == "×100":
		unit = " %"
	}
	return fmt.Sprintf("%s %s %s→%s%s (%.0f× noise)", e.Metric, arrow, short(e.Before), short(e.After), unit, math.Abs(e.Deviation))
}

func short(v float64) string {
	return fmt.Sprintf("%.3g", v)
}
