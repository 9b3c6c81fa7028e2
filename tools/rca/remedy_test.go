package rca_test

import (
	"testing"

	"github.com/watchkeeper/watchkeeper/tools/rca"
	"github.com/watchkeeper/watchkeeper/tools/rca/remedy"
)

// remedy reads rca_rank's result through its JSON: what it decides must
// hold for a Result as this package makes it, and for its JSON.
func TestRemedyReadsAResult(t *testing.T) {
	res := rca.Result{Ranking: []rca.Ranked{{Service: "checkout", Score: 0.72, Decided: "deploy at 14:03"}, {Service: "cart", Score: 0.1}},
		Confidence: 0.81, Signature: rca.Signature{Kind: "change", Steps: []string{"roll back checkout"}}}
	for _, data := range []any{res, &res} {
		r, ok := remedy.Of(data)
		if !ok || r.Service != "checkout" || r.Signature != "change" || len(r.Steps) != 1 ||
			r.Reason != "rca_rank puts checkout first (score 0.72, confidence 0.81): deploy at 14:03" {
			t.Errorf("%T: %+v, %v", data, r, ok)
		}
	}
	for name, r := range map[string]rca.Result{
		"empty":   {},
		"weak":    {Ranking: []rca.Ranked{{Service: "checkout", Score: 0.29}}, Signature: rca.Signature{Kind: "change"}},
		"unclear": {Ranking: []rca.Ranked{{Service: "checkout", Score: 0.9}}, Signature: rca.Signature{Kind: "unclear"}},
		"no kind": {Ranking: []rca.Ranked{{Service: "checkout", Score: 0.9}}},
	} {
		if got, ok := remedy.Of(r); ok {
			t.Errorf("%s: %+v", name, got)
		}
	}
	if got := remedy.First(rca.Result{Ranking: []rca.Ranked{{Service: "cart", Score: 0.1}}}); got != "cart" {
		t.Errorf("First of a weak ranking = %q, want cart", got)
	}
	if got := remedy.First(rca.Result{}); got != "" {
		t.Errorf("First of no ranking = %q", got)
	}
	if _, ok := remedy.Of(func() {}); ok {
		t.Error("a value with no JSON gave a remedy")
	}
}
