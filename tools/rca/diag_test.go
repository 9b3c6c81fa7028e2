package rca

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestNezhaDiagnose(t *testing.T) {
	if os.Getenv("RCA_DIAGNOSE") == "" {
		t.Skip()
	}
	for _, lc := range loadNezha(t) {
		if f := os.Getenv("RCA_FAULT"); f != "" && lc.fault != f {
			continue
		}
		r := Rank(lc.c, Options{})
		pos := -1
		for i, x := range r {
			if x.Service == lc.answer {
				pos = i
			}
		}
		var top []string
		for _, x := range r[:3] {
			e := x.Evidence[0]
			top = append(top, fmt.Sprintf("%s %.1f(%s)", x.Service, x.Score, e.Metric))
		}
		var ans []string
		for _, e := range r[pos].Evidence[:min(4, len(r[pos].Evidence))] {
			ans = append(ans, fmt.Sprintf("%s %.1f [%.3g→%.3g]", e.Metric, e.Score, e.Before, e.After))
		}
		t.Logf("%s %-9s %-22s rank %d | top %s | answer: %s", lc.c.ID, lc.fault, lc.answer, pos+1, strings.Join(top, ", "), strings.Join(ans, "; "))
	}
}
