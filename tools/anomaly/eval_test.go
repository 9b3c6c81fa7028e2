package anomaly

import (
	"fmt"
	"math"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/eval/nab"
)

// scoreFiles runs a fresh detector over each file, files in parallel, and
// returns copies of the files with their scores.
func scoreFiles(files []nab.File, mk func() Detector) []nab.File {
	out := make([]nab.File, len(files))
	copy(out, files)
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				d := mk()
				f := out[i]
				f.Scores = make([]float64, len(f.Values))
				for j, v := range f.Values {
					f.Scores[j] = d.Score(f.Timestamps[j], v)
				}
				out[i] = f
			}
		}()
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// profileScores scores scored files under NAB's three profiles.
func profileScores(t testing.TB, files []nab.File) []nab.Result {
	t.Helper()
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

func devCorpus(t testing.TB) []nab.File {
	t.Helper()
	if _, err := os.Stat(nabDir); err != nil {
		t.Skip("NAB data not present")
	}
	files, err := nab.LoadCorpus(nabDir)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func fmtResults(rs []nab.Result) string {
	return fmt.Sprintf("%6.2f %6.2f %6.2f (TP %2d FP %3d)", rs[0].Normalized, rs[1].Normalized, rs[2].Normalized, rs[0].TP, rs[0].FP)
}

// diagnose prints, per file, the best score in each window with the
// position it is first reached, and the scores outside windows that
// exceed the standard threshold.
func diagnose(t *testing.T, files []nab.File, thr float64) {
	for _, f := range files {
		prob := min(len(f.Values)*15/100, 750)
		idx := map[int64]int{}
		for j, ts := range f.Timestamps {
			idx[ts.UnixNano()] = j
		}
		inWin := make([]bool, len(f.Values))
		var wins []string
		for _, w := range f.Windows {
			a, b := idx[w[0].UnixNano()], idx[w[1].UnixNano()]
			best, at := -1.0, -1
			for j := a; j <= b; j++ {
				inWin[j] = true
				if f.Scores[j] > best {
					best, at = f.Scores[j], j
				}
			}
			first := -1
			for j := a; j <= b; j++ {
				if f.Scores[j] >= thr {
					first = j
					break
				}
			}
			wins = append(wins, fmt.Sprintf("[%d-%d max %.3f@%d first≥thr %d]", a, b, best, at, first))
		}
		var fps []string
		for j := prob; j < len(f.Values); j++ {
			if !inWin[j] && f.Scores[j] >= thr {
				fps = append(fps, fmt.Sprintf("%d:%.3f", j, f.Scores[j]))
			}
		}
		t.Logf("%-52s n=%5d %s FP %d %s", f.Name, len(f.Values), strings.Join(wins, " "), len(fps), strings.Join(fps[:min(len(fps), 12)], " "))
	}
}

// TestNABDiag prints per-file diagnostics for the default detector on the
// dev corpus (NAB_DIAG=dev) or the generated suite (NAB_DIAG=gen).
func TestNABDiag(t *testing.T) {
	which := os.Getenv("NAB_DIAG")
	if which == "" {
		t.Skip("set NAB_DIAG=dev or gen")
	}
	var files []nab.File
	if which == "dev" {
		files = devCorpus(t)
	} else {
		files = generatedSuite(1, 60)
	}
	start := time.Now()
	scored := scoreFiles(files, func() Detector { return New(Options{}) })
	t.Logf("scored in %v", time.Since(start))
	rs := profileScores(t, scored)
	t.Logf("%s", fmtResults(rs))
	diagnose(t, scored, rs[0].Threshold)
}

// quantiles is for quick looks at distributions while diagnosing.
func quantiles(xs []float64, qs ...float64) []float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	var out []float64
	for _, q := range qs {
		out = append(out, s[int(math.Min(float64(len(s)-1), q*float64(len(s))))])
	}
	return out
}

// variant is a named detector configuration for side-by-side scoring.
type variant struct {
	name string
	mk   func() Detector
}

func variants() []variant {
	o := Options{}.withDefaults()
	d := func(f func(d *design)) func() Detector {
		return func() Detector {
			x := defaultDesign
			f(&x)
			return newDesign(o, x)
		}
	}
	issue5 := design{localWeight: 1, shapes: true}
	// The single detectors of analyze detect --detector, for the record,
	// with the shared hold and with issue 5's (120 points).
	var single []variant
	for _, hold := range []int{0, 120} {
		for _, k := range Kinds[1:] {
			name := "--detector " + k
			if hold > 0 {
				name += fmt.Sprintf(", hold %d", hold)
			}
			single = append(single, variant{name, func() Detector {
				d, err := NewDetector(k, Options{Hold: hold})
				if err != nil {
					panic(err) // Kinds lists only known detectors
				}
				return d
			}})
		}
	}
	return append([]variant{
		{"issue-5 ensemble", d(func(x *design) { *x = issue5 })},
		{"default", func() Detector { return New(Options{}) }},
		{"records only", d(func(x *design) { x.localWeight = 0 })},
		{"no residual record", d(func(x *design) { x.residRecord = false })},
		{"with shapes", d(func(x *design) { x.shapes = true })},
		{"local weight 0.5", d(func(x *design) { x.localWeight = 0.5 })},
		{"record gain 50", d(func(x *design) { x.recordGain = 50 })},
		{"record gain 200", d(func(x *design) { x.recordGain = 200 })},
		{"hold 120", func() Detector { return New(Options{Hold: 120}) }},
		{"hold 240", func() Detector { return New(Options{Hold: 240}) }},
	}, single...)
}

// TestVariants scores the detector variants whose names match VARIANTS
// on the dev corpus and the generated suite, side by side. GEN_SEED and
// GEN_N choose another generated suite (default seed 1, 60 series), to
// see whether a difference holds beyond one draw.
func TestVariants(t *testing.T) {
	re := os.Getenv("VARIANTS")
	if re == "" {
		t.Skip("set VARIANTS to a regular expression of variant names")
	}
	seed, n := uint64(1), 60
	if v := os.Getenv("GEN_SEED"); v != "" {
		if _, err := fmt.Sscan(v, &seed); err != nil {
			t.Fatalf("GEN_SEED=%q: %v", v, err)
		}
	}
	if v := os.Getenv("GEN_N"); v != "" {
		if _, err := fmt.Sscan(v, &n); err != nil || n <= 0 {
			t.Fatalf("GEN_N=%q: want a positive number of series", v)
		}
	}
	dev := devCorpus(t)
	gen := generatedSuite(seed, n)
	t.Logf("generated suite, seed %d: %s", seed, suiteSummary(gen))
	t.Logf("%-32s %-40s | %s", "variant", "dev: standard lowFP lowFN", "generated: standard lowFP lowFN")
	for _, v := range variants() {
		if ok, _ := regexpMatch(re, v.name); !ok {
			continue
		}
		start := time.Now()
		d := profileScores(t, scoreFiles(dev, v.mk))
		g := profileScores(t, scoreFiles(gen, v.mk))
		t.Logf("%-32s %s | %s  %v", v.name, fmtResults(d), fmtResults(g), time.Since(start).Round(time.Millisecond))
	}
}

func regexpMatch(re, s string) (bool, error) { return regexp.MatchString(re, s) }
