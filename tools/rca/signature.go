package rca

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Signature is what the evidence of a top candidate looks like, and the
// remediation ladder for it: steps a person may approve, in order. They are
// suggestions that become proposals, never actions.
type Signature struct {
	Kind  string   `json:"kind"`
	Steps []string `json:"steps"`
}

// signatures are the remediation ladders per kind of evidence, tried in
// order: the first whose kinds show a clear anomaly (rising, for
// memory) names the candidate's signature. %[1]s is the service.
var signatures = []struct {
	kind   string
	kinds  []string
	rising bool
	steps  []string
}{
	{"memory", []string{"memory", "free memory"}, true, []string{
		"restart %[1]s's pods (rollout restart) to reclaim memory; a leak will come back",
		"raise %[1]s's memory limit if the growth is load, not a leak"}},
	{"crashloop", []string{"restarts"}, false, []string{
		"read %[1]s's previous container logs for the crash",
		"roll back %[1]s if a recent change introduced it"}},
	{"cpu", []string{"cpu", "saturation"}, false, []string{
		"raise %[1]s's CPU limit",
		"scale %[1]s out (more replicas)",
		"restart %[1]s's pods if a hot loop is suspected"}},
	{"errors", []string{"errors", "success"}, false, []string{
		"read %[1]s's error logs (logs_search, level error)",
		"roll back %[1]s if it changed recently"}},
	{"latency", []string{"latency"}, false, []string{
		"check %[1]s's dependencies and network (its callees' latency)",
		"scale %[1]s out if it is saturated"}},
	{"network", []string{"client latency"}, false, []string{
		"check the network of %[1]s's pods and of the calls to it (packet loss, delay)",
		"move %[1]s's pods to other nodes if one node's network is at fault"}},
	{"traffic", []string{"traffic"}, false, []string{
		"find the client sending %[1]s the extra requests (its callers' traffic, access logs)",
		"scale %[1]s out, or rate-limit the client"}},
}

// classify reads a candidate's evidence.
func classify(r Ranked) Signature {
	svc := r.Service
	if r.Change != nil {
		return Signature{"change", []string{
			fmt.Sprintf("roll back %s to the revision before the %s at %s", svc, r.Change.Kind, r.Change.Time.Format("15:04")),
			fmt.Sprintf("if it recurs, hold further rollouts of %s", svc)}}
	}
	if r.silent || r.roles[RoleCollapse] >= clearAnomaly {
		return Signature{"down", []string{
			fmt.Sprintf("check whether %s is running: its pods, their events and restarts", svc),
			fmt.Sprintf("restart %s's pods if they hang", svc)}}
	}
	steps := func(ss []string) []string {
		out := make([]string, len(ss))
		for i, s := range ss {
			out[i] = fmt.Sprintf(s, svc)
		}
		return out
	}
	for _, sig := range signatures {
		for _, e := range r.Evidence {
			if e.Score >= clearAnomaly && slices.Contains(sig.kinds, e.Kind) && (!sig.rising || e.After > e.Before || e.Kind == "free memory") {
				return Signature{sig.kind, steps(sig.steps)}
			}
		}
	}
	if strings.HasPrefix(r.Decided, "calls to it") {
		for _, sig := range signatures {
			if sig.kind == "network" {
				return Signature{sig.kind, steps(sig.steps)}
			}
		}
	}
	return Signature{"unclear", []string{fmt.Sprintf("look at %s's metrics and logs around the onset", svc)}}
}

// Result is a ranking with what a person needs to act on it.
type Result struct {
	Ranking []Ranked `json:"ranking"`
	// Confidence is the chance that the top candidate is the root cause,
	// in [0, 1], calibrated on the generated suite: of cases given 0.8,
	// about eight in ten are right (docs/benchmarks.md has the check on
	// both sets). Likelihood says it in a word.
	Confidence float64 `json:"confidence"`
	Likelihood string  `json:"likelihood"`
	// Signature and next steps for the top candidate.
	Signature Signature `json:"signature"`
}

// The confidence is a logistic function of the top score and its lead
// over the second, fitted by TestFitConfidence (RCA_FIT=1): a clear lead
// matters five times as much as a high score.
const (
	confIntercept = -1.43
	confTop       = 2.12
	confGap       = 10.2
)

// likelihoods name confidence bands, highest first.
var likelihoods = []struct {
	from float64
	word string
}{
	{0.8, "likely"},
	{0.6, "probable"},
	{0.4, "possible"},
	{0, "unclear"},
}

// Analyze ranks the case and adds confidence and next steps.
func Analyze(c *Case, o Options) Result {
	r := Result{Ranking: Rank(c, o)}
	if len(r.Ranking) == 0 {
		return r
	}
	top := r.Ranking[0]
	gap := top.Score
	if len(r.Ranking) > 1 {
		gap -= r.Ranking[1].Score
	}
	p := 1 / (1 + math.Exp(-(confIntercept + confTop*top.Score + confGap*gap)))
	if top.Score == 0 {
		p = 0 // nothing moved: no candidate stands out
	}
	// Never certain: 0.99 at most.
	r.Confidence = math.Min(math.Round(100*p)/100, 0.99)
	for _, l := range likelihoods {
		if r.Confidence >= l.from {
			r.Likelihood = l.word
			break
		}
	}
	r.Signature = classify(top)
	return r
}
