// Package remedy reads what rca_rank's result asks of the remediation
// plan. It is apart from tools/rca, reading the result's JSON, so that
// the incident playbook (which the sandbox's alerting imports, which the
// RCA suites import) can use it without an import cycle.
package remedy

import (
	"encoding/json"
	"fmt"
)

// MinScore is the top score below which a ranking asks for no
// remediation: a plan is worth proposing only for a clear anomaly
// (rca_rank: 0.3 is a clear anomaly).
const MinScore = 0.3

// Remedy is what a ranking asks of the remediation plan: its top
// candidate, the signature of that candidate's evidence (the ladder to
// climb), why, and what a person should do when no ladder applies.
type Remedy struct {
	Service   string
	Signature string
	Reason    string
	// Steps are the signature's next steps for a person.
	Steps []string
}

// ranking is the part of rca_rank's result (tools/rca.Result) read here.
type ranking struct {
	Ranking []struct {
		Service string  `json:"service"`
		Score   float64 `json:"score"`
		Decided string  `json:"decided"`
	} `json:"ranking"`
	Confidence float64 `json:"confidence"`
	Signature  struct {
		Kind  string   `json:"kind"`
		Steps []string `json:"steps"`
	} `json:"signature"`
}

// Of reads rca_rank's result — an rca.Result, or anything that encodes to
// its JSON, as tools.Result.Data may be once recorded — and returns the
// remedy its top candidate calls for. It is false when the ranking is
// empty, the top score is under MinScore or the signature is unclear:
// then nothing is clear enough to act on.
func Of(data any) (Remedy, bool) {
	r, ok := decode(data)
	if !ok {
		return Remedy{}, false
	}
	top := r.Ranking[0]
	if top.Score < MinScore || r.Signature.Kind == "" || r.Signature.Kind == "unclear" {
		return Remedy{}, false
	}
	return Remedy{
		Service:   top.Service,
		Signature: r.Signature.Kind,
		Reason:    fmt.Sprintf("rca_rank puts %s first (score %.2f, confidence %.2f): %s", top.Service, top.Score, r.Confidence, top.Decided),
		Steps:     r.Signature.Steps,
	}, true
}

// First is the service rca_rank's result ranks first, however weak, or
// "" when it ranks none: what a diagnosis is judged by.
func First(data any) string {
	if r, ok := decode(data); ok {
		return r.Ranking[0].Service
	}
	return ""
}

// Candidate is one entry of a ranking, as a report shows it.
type Candidate struct {
	Service string  `json:"service"`
	Score   float64 `json:"score"`
}

// Top is the ranking's first n candidates and the top one's signature
// kind: what a report shows of a diagnosis, right or wrong.
func Top(data any, n int) (top []Candidate, signature string) {
	r, ok := decode(data)
	if !ok {
		return nil, ""
	}
	for _, c := range r.Ranking[:min(n, len(r.Ranking))] {
		top = append(top, Candidate{c.Service, c.Score})
	}
	return top, r.Signature.Kind
}

// decode reads rca_rank's result through its JSON; false when it has no
// ranking.
func decode(data any) (ranking, bool) {
	raw, err := json.Marshal(data)
	if err != nil {
		return ranking{}, false
	}
	var r ranking
	if json.Unmarshal(raw, &r) != nil || len(r.Ranking) == 0 {
		return ranking{}, false
	}
	return r, true
}
