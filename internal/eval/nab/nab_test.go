package nab

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func synthetic(detect map[int]float64) File {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := File{Name: "s"}
	for i := range 1000 {
		f.Timestamps = append(f.Timestamps, t0.Add(time.Duration(i)*time.Minute))
		f.Scores = append(f.Scores, detect[i])
	}
	f.Windows = [][2]time.Time{{f.Timestamps[500], f.Timestamps[599]}}
	return f
}

func TestScoreFollowsNABsRules(t *testing.T) {
	std := Profiles[0]
	for _, tt := range []struct {
		name   string
		detect map[int]float64
		want   float64
	}{
		{"null", nil, 0},
		{"perfect", map[int]float64{500: 1}, 100},
		// Half way into the window: scaledSigmoid(-0.5)/scaledSigmoid(-1).
		{"middle", map[int]float64{550: 1}, 100 * (1 + (2/(1+math.Exp(-2.5))-1)/(2/(1+math.Exp(-5))-1)) / 2},
		// Only the first detection in a window counts; a later one adds nothing.
		{"twice", map[int]float64{500: 1, 590: 1}, 100},
		// A false positive long before any window costs the full FP weight.
		{"early false positive", map[int]float64{500: 1, 200: 1}, 100 * (2 - 0.11) / 2},
		// Detections in the probationary period (the first 150 rows) do not count.
		{"probation", map[int]float64{500: 1, 100: 1}, 100},
		// Right after the window the cost is small, growing with distance.
		{"just after", map[int]float64{500: 1, 601: 1}, 100 * (2 + 0.11*(2/(1+math.Exp(5*2.0/99))-1)) / 2},
	} {
		res, err := Score([]File{synthetic(tt.detect)}, std)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(res.Normalized-tt.want) > 1e-9 {
			t.Errorf("%s: %.6f, want %.6f (%+v)", tt.name, res.Normalized, tt.want, res)
		}
	}
}

func TestThresholdIsOptimised(t *testing.T) {
	// A weak false positive at 0.4 and the true detection at 0.5: the best
	// threshold takes the detection and leaves the false positive.
	res, _ := Score([]File{synthetic(map[int]float64{500: 0.5, 300: 0.4})}, Profiles[0])
	if res.Normalized != 100 || res.Threshold != 0.5 || res.TP != 1 || res.FP != 0 {
		t.Errorf("%+v", res)
	}
}

// TestReferenceDetector checks the scorer end to end against the reference
// numbers in ../shared/data/nab/README.md, measured there with the
// project's scorer for NAB's own windowed-Gaussian baseline.
func TestReferenceDetector(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "..", "shared", "data", "nab")
	if _, err := os.Stat(dir); err != nil {
		t.Skip("NAB data not present")
	}
	files, err := LoadCorpus(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range files {
		files[i].Scores = windowedGaussian(files[i].Values)
	}
	want := map[string]float64{"standard": 23.33, "reward_low_FP_rate": 10.73, "reward_low_FN_rate": 30.10}
	for _, p := range Profiles {
		res, err := Score(files, p)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(res.Normalized-want[p.Name]) > 0.005 {
			t.Errorf("%s: %.2f, the data README measured %.2f", p.Name, res.Normalized, want[p.Name])
		}
	}
}

// windowedGaussian is NAB's baseline detector: the two-sided normal tail
// probability of a value against the mean and deviation of up to 6,400
// earlier values, the window advancing 100 values at a time.
func windowedGaussian(vs []float64) []float64 {
	const size, step = 6400, 100
	var win, buf []float64
	var mean, std float64
	update := func() {
		var s, sq float64
		for _, v := range win {
			s += v
		}
		mean = s / float64(len(win))
		for _, v := range win {
			sq += (v - mean) * (v - mean)
		}
		std = math.Sqrt(sq / float64(len(win)))
		if std == 0 {
			std = 1e-6
		}
	}
	out := make([]float64, len(vs))
	for i, v := range vs {
		if len(win) > 0 {
			z := math.Abs(v-mean) / std
			out[i] = 1 - 0.5*math.Erfc(z/math.Sqrt2)
		}
		if len(win) < size {
			win = append(win, v)
			update()
			continue
		}
		buf = append(buf, v)
		if len(buf) == step {
			win = append(win[step:], buf...)
			buf = nil
			update()
		}
	}
	return out
}
