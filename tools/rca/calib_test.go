package rca

import (
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
)

// confidenceFeatures are what the confidence is computed from.
func confidenceFeatures(r []Ranked) (top, gap float64) {
	if len(r) == 0 {
		return 0, 0
	}
	top = r[0].Score
	if len(r) > 1 {
		gap = r[0].Score - r[1].Score
	} else {
		gap = r[0].Score
	}
	return top, gap
}

// TestFitConfidence fits the logistic map from (top score, gap to the
// second) to the chance that the top candidate is right, on the generated
// suite, and prints its reliability on both sets (RCA_FIT=1).
func TestFitConfidence(t *testing.T) {
	if os.Getenv("RCA_FIT") == "" {
		t.Skip("set RCA_FIT=1 to refit the confidence")
	}
	seeds := 30
	gen := generatedSuite(t, seeds)
	type pt struct {
		x [3]float64
		y float64
	}
	var pts []pt
	for _, lc := range gen {
		r := Rank(lc.c, Options{})
		top, gap := confidenceFeatures(r)
		y := 0.0
		if r[0].Service == lc.answer {
			y = 1
		}
		pts = append(pts, pt{[3]float64{1, top, gap}, y})
	}
	w := [3]float64{}
	for it := 0; it < 20000; it++ {
		var g [3]float64
		for _, p := range pts {
			z := w[0]*p.x[0] + w[1]*p.x[1] + w[2]*p.x[2]
			pr := 1 / (1 + math.Exp(-z))
			for k := range g {
				g[k] += (pr - p.y) * p.x[k]
			}
		}
		for k := range w {
			w[k] -= 0.5 * g[k] / float64(len(pts))
		}
	}
	t.Logf("coefficients: %.3f + %.3f·top + %.3f·gap", w[0], w[1], w[2])
	report := func(name string, cases []labelled) {
		bins := make([][2]float64, 5)
		brier := 0.0
		for _, lc := range cases {
			res := Analyze(lc.c, Options{})
			y := 0.0
			if res.Ranking[0].Service == lc.answer {
				y = 1
			}
			b := min(int(res.Confidence*5), 4)
			bins[b][0] += y
			bins[b][1]++
			brier += (res.Confidence - y) * (res.Confidence - y)
		}
		var parts []string
		for k, b := range bins {
			if b[1] > 0 {
				parts = append(parts, fmt.Sprintf("%.1f–%.1f: %.2f right (%d)", float64(k)/5, float64(k+1)/5, b[0]/b[1], int(b[1])))
			}
		}
		t.Logf("%s: Brier %.3f; %s", name, brier/float64(len(cases)), strings.Join(parts, "; "))
	}
	report("generated", gen)
	report("dev", loadNezha(t))
}
