package rca

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/watchkeeper/watchkeeper/internal/sandbox"
)

var nezhaDir = filepath.Join("..", "..", "..", "shared", "data", "rca", "cases")

type labelled struct {
	c      *Case
	answer string
	fault  string
	// shape describes a generated case, for breakdowns.
	shape string
}

// loadNezha reads the dev cases beside the project; the test skips, saying
// so loudly, when they are absent (a fresh clone has only the suite).
func loadNezha(t testing.TB) []labelled {
	t.Helper()
	entries, err := os.ReadDir(nezhaDir)
	if err != nil {
		t.Skipf("!!! RCA dev data not present at %s: the dev figures are NOT checked", nezhaDir)
	}
	var out []labelled
	for _, e := range entries {
		lc, err := loadLabelled(filepath.Join(nezhaDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, lc)
	}
	return out
}

func loadLabelled(dir string) (labelled, error) {
	c, err := LoadCase(dir)
	if err != nil {
		return labelled{}, err
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "case.json"))
	var meta struct {
		RootCause struct {
			Service, Fault string
			FaultDetail    string `json:"fault_detail"`
		} `json:"root_cause"`
		Origin struct {
			Shape map[string]any `json:"shape"`
		} `json:"origin"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return labelled{}, err
	}
	fault := meta.RootCause.Fault
	if meta.RootCause.FaultDetail != "" && meta.Origin.Shape != nil {
		fault = meta.RootCause.FaultDetail
	}
	shape := ""
	if s := meta.Origin.Shape; s != nil {
		shape = fmt.Sprintf("%v %v lead=%v svc=%v base=%v", s["vocabulary"], s["interval"], s["lead"], s["services"], s["baseline"])
	}
	return labelled{c, meta.RootCause.Service, fault, shape}, nil
}

// generatedSuite exports the generalisation suite: every fault of the
// sandbox's catalogue × seeds, each on a random system and shape
// (sandbox.GenerateCase). RCA_SUITE_DIR keeps the cases between runs.
func generatedSuite(t testing.TB, seeds int) []labelled {
	t.Helper()
	dir := os.Getenv("RCA_SUITE_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	type job struct {
		kind sandbox.FaultKind
		seed uint64
	}
	var jobs []job
	for _, f := range sandbox.Catalogue() {
		for s := 1; s <= seeds; s++ {
			jobs = append(jobs, job{f.Kind, uint64(s)})
		}
	}
	out := make([]labelled, len(jobs))
	var g errgroup.Group
	g.SetLimit(2)
	for i, j := range jobs {
		g.Go(func() error {
			caseDir := filepath.Join(dir, fmt.Sprintf("%s-%03d", j.kind, j.seed))
			if _, err := os.Stat(filepath.Join(caseDir, "case.json")); err != nil {
				gc, err := sandbox.GenerateCase(j.kind, j.seed, caseDir)
				if err != nil {
					return fmt.Errorf("%s seed %d: %w", j.kind, j.seed, err)
				}
				if _, err := sandbox.ExportCase(gc.Options); err != nil {
					return fmt.Errorf("%s seed %d: %w", j.kind, j.seed, err)
				}
			}
			lc, err := loadLabelled(caseDir)
			if err != nil {
				return fmt.Errorf("%s: %w", caseDir, err)
			}
			out[i] = lc
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	return out
}

// accuracy is AC@1, AC@3, AC@5 and Avg@5 of a set of cases.
type accuracy struct {
	n                  int
	ac1, ac3, ac5, avg float64
}

func (s accuracy) String() string {
	return fmt.Sprintf("AC@1 %.3f AC@3 %.3f AC@5 %.3f Avg@5 %.3f (%d)", s.ac1, s.ac3, s.ac5, s.avg, s.n)
}

// evaluate ranks every case and scores the rankings overall and per
// fault; positions are 1-based, 0 when the answer is not ranked.
func evaluate(cases []labelled, o Options) (all accuracy, byFault map[string]accuracy, pos []int) {
	pos = make([]int, len(cases))
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(2)
	for i, lc := range cases {
		g.Go(func() error {
			r := Rank(lc.c, o)
			p := 0
			for k, x := range r {
				if x.Service == lc.answer {
					p = k + 1
					break
				}
			}
			mu.Lock()
			pos[i] = p
			mu.Unlock()
			return nil
		})
	}
	_ = g.Wait()
	sums := map[string]*[6]float64{}
	add := func(key string, p int) {
		s := sums[key]
		if s == nil {
			s = &[6]float64{}
			sums[key] = s
		}
		s[0]++
		for k := 1; k <= 5; k++ {
			if p > 0 && p <= k {
				s[k]++
			}
		}
	}
	for i, lc := range cases {
		add("", pos[i])
		add(lc.fault, pos[i])
	}
	toScore := func(s *[6]float64) accuracy {
		n := s[0]
		return accuracy{int(n), s[1] / n, s[3] / n, s[5] / n, (s[1] + s[2] + s[3] + s[4] + s[5]) / 5 / n}
	}
	byFault = map[string]accuracy{}
	for k, s := range sums {
		if k == "" {
			all = toScore(s)
		} else {
			byFault[k] = toScore(s)
		}
	}
	return all, byFault, pos
}

func faultTable(by map[string]accuracy) string {
	keys := make([]string, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		s := by[k]
		fmt.Fprintf(&b, "\n    %-16s AC@1 %.2f AC@3 %.2f AC@5 %.2f Avg@5 %.2f (%d)", k, s.ac1, s.ac3, s.ac5, s.avg, s.n)
	}
	return b.String()
}

// TestDevCases checks the figures on the dev cases (Nezha Online
// Boutique) recorded in docs/benchmarks.md, less a margin.
func TestDevCases(t *testing.T) {
	cases := loadNezha(t)
	all, by, _ := evaluate(cases, Options{})
	t.Logf("dev: %v%s", all, faultTable(by))
	if all.avg < 0.69 {
		t.Errorf("dev Avg@5 %.3f: below the 0.69 floor", all.avg)
	}
}

// TestGeneratedSuite checks the generalisation suite: 10 seeds of every
// fault on random systems and shapes, whose cases carry spans. With them
// the ranking must do at least as well on every fault as on the metrics
// alone (issue 19), and overall hold the floor recorded in
// docs/benchmarks.md less a margin.
func TestGeneratedSuite(t *testing.T) {
	skipUnderRace(t)
	cases := generatedSuite(t, 10)
	all, by, _ := evaluate(cases, Options{})
	alone, aby, _ := evaluate(cases, Options{tuning: tuning{noSpans: true}})
	t.Logf("generated: %v%s", all, faultTable(by))
	t.Logf("generated, metrics alone: %v%s", alone, faultTable(aby))
	if all.avg < 0.94 {
		t.Errorf("generated Avg@5 %.3f: below the 0.94 floor", all.avg)
	}
	for f, a := range by {
		if a.avg < aby[f].avg {
			t.Errorf("%s: Avg@5 %.2f with spans, %.2f with the metrics alone", f, a.avg, aby[f].avg)
		}
	}
}

// TestVariants prints every method variant on both sets side by side
// (RCA_SWEEP=1; RCA_SEEDS sets the suite's seeds, default 10).
func TestVariants(t *testing.T) {
	if os.Getenv("RCA_SWEEP") == "" {
		t.Skip("set RCA_SWEEP=1 to compare the variants")
	}
	seeds := 10
	if s := os.Getenv("RCA_SEEDS"); s != "" {
		fmt.Sscan(s, &seeds)
	}
	dev := loadNezha(t)
	gen := generatedSuite(t, seeds)
	for _, v := range variants() {
		if f := os.Getenv("RCA_ONLY"); f != "" && !strings.Contains(v.name, f) {
			continue
		}
		d, dby, _ := evaluate(dev, v.o)
		g, gby, _ := evaluate(gen, v.o)
		t.Logf("%-28s dev %v | generated %v", v.name, d, g)
		if os.Getenv("RCA_FAULTS") != "" {
			t.Logf("  dev by fault:%s", faultTable(dby))
			t.Logf("  generated by fault:%s", faultTable(gby))
		}
	}
}

type variant struct {
	name string
	o    Options
}

// variants are the alternatives measured against the default, each on
// both the dev cases and the generated suite (docs/benchmarks.md).
func variants() []variant {
	tuned := func(t tuning) Options { return Options{tuning: t} }
	return []variant{
		{"default", Options{}},
		{"propagation none", Options{Propagation: "none"}},
		{"propagation walk (MicroRCA)", Options{Propagation: "walk"}},
		{"own or blame, not both", tuned(tuning{maxBlame: true})},
		{"statistic max (BARO)", tuned(tuning{statistic: "max"})},
		{"statistic second largest", tuned(tuning{statistic: "second"})},
		{"statistic q0.7", tuned(tuning{statistic: "q0.7"})},
		{"run capped at 3 samples", tuned(tuning{runCap: true})},
		{"run of 2 minutes", tuned(tuning{runSpan: 2 * time.Minute})},
		{"run of 5 minutes", tuned(tuning{runSpan: 5 * time.Minute})},
		{"no minimum run", tuned(tuning{minRun: 1})},
		{"one log floor 0.1", tuned(tuning{noKindFloors: true})},
		{"one log floor 0.05", tuned(tuning{logFloor: 0.05})},
		{"one log floor 0.2", tuned(tuning{logFloor: 0.2})},
		{"pct floor 0.5", tuned(tuning{pctFloor: 0.5})},
		{"pct floor 2", tuned(tuning{pctFloor: 2})},
		{"counts on log scale", tuned(tuning{noCounts: true})},
		{"no collapse", tuned(tuning{noCollapse: true})},
		{"lone prior 0.1", tuned(tuning{lonePrior: 0.1})},
		{"lone prior 1", tuned(tuning{lonePrior: 1})},
		{"explain share 0.5", tuned(tuning{explainShare: 0.5})},
		{"no change boost", tuned(tuning{noChange: true})},
		{"recent 30 minutes", Options{Recent: 30 * time.Minute}},
		{"metrics alone (spans ignored)", tuned(tuning{noSpans: true})},
	}
}

// TestDiagnose prints the cases where the answer is not first
// (RCA_DIAG=dev or generated; RCA_FAULT filters by fault).
func TestDiagnose(t *testing.T) {
	which := os.Getenv("RCA_DIAG")
	if which == "" {
		t.Skip("set RCA_DIAG=dev or RCA_DIAG=generated")
	}
	var cases []labelled
	if which == "dev" {
		cases = loadNezha(t)
	} else {
		seeds := 10
		if s := os.Getenv("RCA_SEEDS"); s != "" {
			fmt.Sscan(s, &seeds)
		}
		cases = generatedSuite(t, seeds)
	}
	for _, lc := range cases {
		if f := os.Getenv("RCA_FAULT"); f != "" && lc.fault != f {
			continue
		}
		o := Options{}
		for _, v := range variants() {
			if v.name == os.Getenv("RCA_VARIANT") {
				o = v.o
			}
		}
		r := Rank(lc.c, o)
		pos := -1
		for i, x := range r {
			if x.Service == lc.answer {
				pos = i
			}
		}
		if pos == 0 && os.Getenv("RCA_ALL") == "" {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s %s [%s] rank %d/%d\n", lc.c.ID, lc.fault, lc.answer, lc.shape, pos+1, len(r))
		for i, x := range r[:min(3, len(r))] {
			fmt.Fprintf(&b, "    %d. %s %.3f own %.3f: %s\n", i+1, x.Service, x.Score, x.Own, x.Decided)
		}
		if pos >= 0 {
			x := r[pos]
			fmt.Fprintf(&b, "    answer %s %.3f own %.3f: %s\n", x.Service, x.Score, x.Own, x.Decided)
			for _, e := range x.Evidence[:min(5, len(x.Evidence))] {
				fmt.Fprintf(&b, "      %s [%s] %.3f dev %.1f %.3g→%.3g\n", e.Metric, e.Kind, e.Score, e.Deviation, e.Before, e.After)
			}
		}
		t.Log(b.String())
	}
}

// TestShapes breaks the generated suite down by what the cases vary
// (RCA_SWEEP=1).
func TestShapes(t *testing.T) {
	if os.Getenv("RCA_SWEEP") == "" {
		t.Skip()
	}
	gen := generatedSuite(t, 10)
	_, _, pos := evaluate(gen, Options{})
	groups := map[string][]int{}
	for i, lc := range gen {
		f := strings.Fields(lc.shape)
		lead := 0
		fmt.Sscanf(strings.TrimPrefix(f[2], "lead="), "%d", &lead)
		svc := 0
		fmt.Sscanf(strings.TrimPrefix(f[3], "svc="), "%d", &svc)
		leadB := "lead<10"
		if lead >= 30 {
			leadB = "lead>=30"
		} else if lead >= 10 {
			leadB = "lead10-29"
		}
		svcB := "svc<15"
		if svc >= 30 {
			svcB = "svc>=30"
		} else if svc >= 15 {
			svcB = "svc15-29"
		}
		for _, k := range []string{"vocab " + f[0], "interval " + f[1], leadB, svcB, "baseline " + fmt.Sprint(f[4] != "base=0")} {
			groups[k] = append(groups[k], pos[i])
		}
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ps := groups[k]
		var ac1, avg float64
		for _, p := range ps {
			if p == 1 {
				ac1++
			}
			if p > 0 && p <= 5 {
				avg += float64(6-p) / 5
			}
		}
		t.Logf("%-20s AC@1 %.2f Avg@5 %.2f (%d)", k, ac1/float64(len(ps)), avg/float64(len(ps)), len(ps))
	}
}

// skipUnderRace skips an accuracy suite under the race detector, saying
// so: exporting and reading its cases (150 with spans) takes ten times as
// long there and tests nothing about concurrency. `make test` runs the
// suites in a step of their own without it (make test-accuracy), so CI
// always runs them.
func skipUnderRace(t *testing.T) {
	t.Helper()
	if raceDetector {
		t.Skip("!!! an accuracy suite: not run under the race detector; make test runs it in its own step (make test-accuracy)")
	}
}
