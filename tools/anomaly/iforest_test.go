package anomaly

import (
	"math/rand/v2"
	"testing"
)

func blobs(n int, seed uint64) ([][]float64, []bool) {
	rng := rand.New(rand.NewPCG(seed, 7))
	var pts [][]float64
	var outlier []bool
	for i := range n {
		if i%50 == 0 {
			pts = append(pts, []float64{6 + rng.NormFloat64(), -6 + rng.NormFloat64()})
			outlier = append(outlier, true)
			continue
		}
		pts = append(pts, []float64{rng.NormFloat64(), rng.NormFloat64()})
		outlier = append(outlier, false)
	}
	return pts, outlier
}

func TestForestSeparatesOutliers(t *testing.T) {
	pts, outlier := blobs(2000, 1)
	f := FitForest(pts, ForestOptions{Seed: 42})
	var in, out float64
	var nin, nout int
	for i, p := range pts {
		s := f.Score(p)
		if s <= 0 || s > 1 {
			t.Fatalf("score %v out of (0, 1]", s)
		}
		if outlier[i] {
			out += s
			nout++
		} else {
			in += s
			nin++
		}
	}
	if out/float64(nout) < 0.6 || in/float64(nin) > 0.5 {
		t.Errorf("mean score outliers %.3f, inliers %.3f", out/float64(nout), in/float64(nin))
	}
	if auc := rocAUC(scoreAll(f, pts), outlier); auc < 0.98 {
		t.Errorf("ROC AUC %.3f", auc)
	}
}

func TestForestIsDeterministic(t *testing.T) {
	pts, _ := blobs(500, 3)
	a, b := FitForest(pts, ForestOptions{Seed: 9}), FitForest(pts, ForestOptions{Seed: 9})
	other := FitForest(pts, ForestOptions{Seed: 10})
	same, differ := true, false
	for _, p := range pts {
		if a.Score(p) != b.Score(p) {
			same = false
		}
		if a.Score(p) != other.Score(p) {
			differ = true
		}
	}
	if !same || !differ {
		t.Errorf("same seed equal: %v; other seed differs: %v", same, differ)
	}
	batch := make([]float64, len(pts))
	a.ScoreBatch(pts, batch)
	for i, p := range pts {
		if d := batch[i] - a.Score(p); d > 1e-12 || d < -1e-12 {
			t.Fatalf("batch and single scores differ at %d", i)
		}
	}
}

func TestForestDegenerateInput(t *testing.T) {
	if s := FitForest(nil, ForestOptions{}).Score([]float64{1}); s != 0.5 {
		t.Errorf("empty forest scores %v", s)
	}
	same := [][]float64{{1, 1}, {1, 1}, {1, 1}}
	f := FitForest(same, ForestOptions{})
	if s := f.Score([]float64{1, 1}); s <= 0 || s > 1 {
		t.Errorf("constant data: %v", s)
	}
	one := FitForest([][]float64{{3}}, ForestOptions{})
	if s := one.Score([]float64{100}); s != 0.5 {
		t.Errorf("one point: %v", s)
	}
}

func scoreAll(f *Forest, pts [][]float64) []float64 {
	out := make([]float64, len(pts))
	f.ScoreBatch(pts, out)
	return out
}

// rocAUC is the probability that a random positive scores above a random
// negative (ties count half).
func rocAUC(scores []float64, positive []bool) float64 {
	var pos, neg []float64
	for i, s := range scores {
		if positive[i] {
			pos = append(pos, s)
		} else {
			neg = append(neg, s)
		}
	}
	var wins float64
	for _, p := range pos {
		for _, n := range neg {
			switch {
			case p > n:
				wins++
			case p == n:
				wins += 0.5
			}
		}
	}
	return wins / float64(len(pos)*len(neg))
}

func BenchmarkForestScore(b *testing.B) {
	pts, _ := blobs(10_000, 5)
	f := FitForest(pts, ForestOptions{Seed: 1})
	out := make([]float64, len(pts))
	b.ResetTimer()
	for b.Loop() {
		f.ScoreBatch(pts, out)
	}
	b.ReportMetric(float64(len(pts))*float64(b.N)/b.Elapsed().Seconds(), "points/s")
}

// BenchmarkForestScore50 is the forest the isolation detector uses: 50
// trees of 256 points.
func BenchmarkForestScore50(b *testing.B) {
	pts, _ := blobs(10_000, 5)
	f := FitForest(pts, ForestOptions{Trees: 50, Seed: 1})
	out := make([]float64, len(pts))
	b.ResetTimer()
	for b.Loop() {
		f.ScoreBatch(pts, out)
	}
	b.ReportMetric(float64(len(pts))*float64(b.N)/b.Elapsed().Seconds(), "points/s")
}
