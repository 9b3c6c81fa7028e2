package anomaly

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// debianPython is the system interpreter where the python3-sklearn package
// installs scikit-learn (`make compare-sklearn` installs it).
const debianPython = "/usr/bin/python3"

type dataset struct {
	name    string
	points  [][]float64
	outlier []bool
}

// comparisonSets are seeded synthetic sets with known outliers: clusters
// with scattered noise, a high-dimensional Gaussian with shifted points,
// and heavy-tailed data with a few extreme combinations.
func comparisonSets() []dataset {
	rng := rand.New(rand.NewPCG(2026, 11))
	var sets []dataset
	{
		d := dataset{name: "2-D clusters + 2% uniform noise"}
		for i := range 20000 {
			if i%50 == 0 {
				d.points = append(d.points, []float64{rng.Float64()*40 - 20, rng.Float64()*40 - 20})
				d.outlier = append(d.outlier, true)
				continue
			}
			c := float64(i%3) * 6
			d.points = append(d.points, []float64{c + rng.NormFloat64(), -c + rng.NormFloat64()})
			d.outlier = append(d.outlier, false)
		}
		sets = append(sets, d)
	}
	{
		d := dataset{name: "10-D Gaussian + 1% shifted"}
		for i := range 20000 {
			p := make([]float64, 10)
			for k := range p {
				p[k] = rng.NormFloat64()
			}
			out := i%100 == 0
			if out {
				for k := range 3 {
					p[(i/100+k)%10] += 4
				}
			}
			d.points = append(d.points, p)
			d.outlier = append(d.outlier, out)
		}
		sets = append(sets, d)
	}
	{
		d := dataset{name: "4-D heavy-tailed + 0.5% extremes"}
		for i := range 20000 {
			p := make([]float64, 4)
			for k := range p {
				p[k] = rng.ExpFloat64() * rng.ExpFloat64()
			}
			out := i%200 == 0
			if out {
				p[0], p[3] = 8+rng.Float64()*4, 8+rng.Float64()*4
			}
			d.points = append(d.points, p)
			d.outlier = append(d.outlier, out)
		}
		sets = append(sets, d)
	}
	return sets
}

// TestCompareWithScikitLearn fits both isolation forests on the same data
// with the same tree count and sample size and compares ROC AUC and time.
// It needs Debian's python3-sklearn; the figures go to docs/benchmarks.md.
func TestCompareWithScikitLearn(t *testing.T) {
	if err := exec.Command(debianPython, "-c", "import sklearn").Run(); err != nil {
		t.Skip("scikit-learn is not installed (apt-get install python3-sklearn, or make compare-sklearn)")
	}
	const trees, sample = 100, 256
	for _, ds := range comparisonSets() {
		file := filepath.Join(t.TempDir(), "points.csv")
		var b strings.Builder
		for _, p := range ds.points {
			for k, x := range p {
				if k > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, "%.17g", x)
			}
			b.WriteByte('\n')
		}
		os.WriteFile(file, []byte(b.String()), 0o600)
		out, err := exec.Command(debianPython, filepath.Join("testdata", "sklearn_iforest.py"), file, fmt.Sprint(trees), fmt.Sprint(sample)).Output()
		if err != nil {
			t.Fatalf("%s: %v", ds.name, err)
		}
		var sk struct {
			FitS   float64   `json:"fit_s"`
			ScoreS float64   `json:"score_s"`
			Scores []float64 `json:"scores"`
		}
		if err := json.Unmarshal(out, &sk); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		f := FitForest(ds.points, ForestOptions{Trees: trees, Sample: sample, Seed: 1})
		fit := time.Since(start)
		ours := make([]float64, len(ds.points))
		start = time.Now()
		f.ScoreBatch(ds.points, ours)
		score := time.Since(start)
		aucOurs, aucSK := rocAUC(ours, ds.outlier), rocAUC(sk.Scores, ds.outlier)
		t.Logf("%-34s AUC ours %.4f sklearn %.4f | fit ours %6.1f ms sklearn %6.1f ms | score ours %6.1f ms sklearn %6.1f ms",
			ds.name, aucOurs, aucSK, ms(fit), sk.FitS*1000, ms(score), sk.ScoreS*1000)
		if aucOurs < aucSK-0.02 || math.IsNaN(aucOurs) {
			t.Errorf("%s: AUC %.4f, scikit-learn %.4f", ds.name, aucOurs, aucSK)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
