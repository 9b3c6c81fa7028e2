package anomaly

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/watchkeeper/watchkeeper/internal/eval/nab"
)

var nabDir = filepath.Join("..", "..", "..", "shared", "data", "nab")

func nabScores(t testing.TB, newDetector func() Detector) []nab.Result {
	t.Helper()
	if _, err := os.Stat(nabDir); err != nil {
		t.Skip("NAB data not present")
	}
	files, err := nab.LoadCorpus(nabDir)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		d := newDetector()
		files[i].Scores = make([]float64, len(f.Values))
		for j, v := range f.Values {
			files[i].Scores[j] = d.Score(f.Timestamps[j], v)
		}
	}
	var out []nab.Result
	for _, p := range nab.Profiles {
		r, err := nab.Score(files, p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// TestNAB scores the default detector on the NAB dev corpus with NAB's
// rules. The floors are the figures recorded in docs/benchmarks.md less a
// point: a change that loses more is a regression.
func TestNAB(t *testing.T) {
	floor := map[string]float64{"standard": 54.2, "reward_low_FP_rate": 41.0, "reward_low_FN_rate": 61.2}
	for _, r := range nabScores(t, func() Detector { return New(Options{}) }) {
		t.Logf("%-20s %6.2f  threshold %.4f  TP %d FN %d FP %d", r.Profile, r.Normalized, r.Threshold, r.TP, r.FN, r.FP)
		if r.Normalized < floor[r.Profile] {
			t.Errorf("%s: %.2f, below the recorded %.2f", r.Profile, r.Normalized, floor[r.Profile]+1)
		}
	}
}

// TestNABDiagnose prints, per file, where the default detector's scores
// cross the standard threshold: for tuning by category, never per file.
func TestNABDiagnose(t *testing.T) {
	if os.Getenv("NAB_DIAGNOSE") == "" {
		t.Skip("set NAB_DIAGNOSE=1")
	}
	files, err := nab.LoadCorpus(nabDir)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		d := New(Options{})
		files[i].Scores = make([]float64, len(f.Values))
		for j, v := range f.Values {
			files[i].Scores[j] = d.Score(f.Timestamps[j], v)
		}
	}
	r, _ := nab.Score(files, nab.Profiles[0])
	for _, f := range files {
		var det []int
		for j, s := range f.Scores {
			if s >= r.Threshold && j >= min(len(f.Values)*15/100, 750) {
				det = append(det, j)
			}
		}
		var wins [][2]int
		for _, w := range f.Windows {
			var a, b int
			for j, ts := range f.Timestamps {
				if ts.Equal(w[0]) {
					a = j
				}
				if ts.Equal(w[1]) {
					b = j
				}
			}
			wins = append(wins, [2]int{a, b})
		}
		t.Logf("%-55s n=%5d windows=%v detections=%v", f.Name, len(f.Values), wins, det)
	}
}

func TestNABParts(t *testing.T) {
	if os.Getenv("NAB_PARTS") == "" {
		t.Skip("set NAB_PARTS=1")
	}
	o := Options{}.withDefaults()
	for name, mk := range map[string]func() Detector{
		"robust":    func() Detector { return newEnsemble(o, newRobustZ(o.Window)) },
		"diff":      func() Detector { return newEnsemble(o, newDiffZ(o.Window)) },
		"seasonal":  func() Detector { return newEnsemble(o, newSeasonal(o.Window)) },
		"cusum":     func() Detector { return newEnsemble(o, newCUSUM(o.Window)) },
		"isolation": func() Detector { return newEnsemble(o, newIsolation(o.Window, 1)) },
		"all": func() Detector {
			return newEnsemble(o, newRobustZ(o.Window), newDiffZ(o.Window), newSeasonal(o.Window), newCUSUM(o.Window), newIsolation(o.Window, 1))
		},
		"default": func() Detector { return New(Options{}) },
	} {
		rs := nabScores(t, mk)
		t.Logf("%-10s standard %6.2f  lowFP %6.2f  lowFN %6.2f   (TP %d FP %d)", name, rs[0].Normalized, rs[1].Normalized, rs[2].Normalized, rs[0].TP, rs[0].FP)
	}
}
