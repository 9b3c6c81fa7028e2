package rca

import (
	"fmt"
	"math"
	"strings"
)

// Signature is what the evidence of a top candidate looks like, and the
// remediation ladder for it: steps a person may approve, in order. They are
// suggestions that become proposals, never actions.
type Signature struct {
	Kind  string   `json:"kind"`
	Steps []string `json:"steps"`
}

// classify reads a candidate's evidence.
func classify(r Ranked) Signature {
	has := func(pred func(string) bool) (Evidence, bool) {
		for _, e := range r.Evidence {
			if e.Score >= 3 && pred(strings.ToLower(e.Metric)) {
				return e, true
			}
		}
		return Evidence{}, false
	}
	contains := func(sub ...string) func(string) bool {
		return func(m string) bool {
			for _, s := range sub {
				if strings.Contains(m, s) {
					return true
				}
			}
			return false
		}
	}
	svc := r.Service
	if r.Change != nil {
		return Signature{"change", []string{
			fmt.Sprintf("roll back %s to the revision before the %s at %s", svc, r.Change.Kind, r.Change.Time.Format("15:04")),
			fmt.Sprintf("if it recurs, hold further rollouts of %s", svc)}}
	}
	if e, ok := has(contains("mem", "oom")); ok && e.After > e.Before {
		return Signature{"memory", []string{
			fmt.Sprintf("restart %s's pods (rollout restart) to reclaim memory; a leak will come back", svc),
			fmt.Sprintf("raise %s's memory limit if the growth is load, not a leak", svc)}}
	}
	if _, ok := has(contains("restart")); ok {
		return Signature{"crashloop", []string{
			fmt.Sprintf("read %s's previous container logs for the crash", svc),
			fmt.Sprintf("roll back %s if a recent change introduced it", svc)}}
	}
	if _, ok := has(contains("cpu", "throttl")); ok {
		return Signature{"cpu", []string{
			fmt.Sprintf("raise %s's CPU limit", svc),
			fmt.Sprintf("scale %s out (more replicas)", svc),
			fmt.Sprintf("restart %s's pods if a hot loop is suspected", svc)}}
	}
	if _, ok := has(contains("success", "error", "avail", "fail")); ok {
		return Signature{"errors", []string{
			fmt.Sprintf("read %s's error logs (logs_search, level error)", svc),
			fmt.Sprintf("roll back %s if it changed recently", svc)}}
	}
	if _, ok := has(contains("latency", "duration")); ok {
		return Signature{"latency", []string{
			fmt.Sprintf("check %s's dependencies and network (its callees' latency)", svc),
			fmt.Sprintf("scale %s out if it is saturated", svc)}}
	}
	return Signature{"unclear", []string{fmt.Sprintf("look at %s's metrics and logs around the onset", svc)}}
}

// Result is a ranking with what a person needs to act on it.
type Result struct {
	Ranking []Ranked `json:"ranking"`
	// Confidence in the top candidate, in [0, 1]: how clearly it stands
	// out from the second and how strong its own anomaly is.
	Confidence float64 `json:"confidence"`
	// Signature and next steps for the top candidate.
	Signature Signature `json:"signature"`
}

// Analyze ranks the case and adds confidence and next steps.
func Analyze(c *Case, o Options) Result {
	r := Result{Ranking: Rank(c, o)}
	if len(r.Ranking) == 0 {
		return r
	}
	top := r.Ranking[0]
	second := 0.0
	if len(r.Ranking) > 1 {
		second = r.Ranking[1].Score
	}
	margin := 1.0
	if top.Score > 0 {
		margin = (top.Score - second) / top.Score
	}
	strength := 1 - math.Exp(-top.Own/5) // an own deviation of 5 spreads is clear
	r.Confidence = math.Round(100*margin*strength) / 100
	r.Signature = classify(top)
	return r
}
