package spans

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// scale shortens the long sampler runs under the race detector.
func scale(n int) int {
	if raceEnabled {
		return n / 5
	}
	return n
}

func TestKeepByHash(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]string, 100_000)
	for i := range random {
		random[i] = fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64())
	}
	sequential := make([]string, 100_000)
	for i := range sequential {
		sequential[i] = fmt.Sprintf("%032x", i)
	}
	for _, ids := range []struct {
		name string
		ids  []string
	}{{"random", random}, {"sequential", sequential}} {
		for _, rate := range []float64{0.01, 0.05, 0.25, 0.5, 0.9} {
			kept := 0
			for _, id := range ids.ids {
				if KeepByHash(id, rate) {
					kept++
				}
			}
			share := float64(kept) / float64(len(ids.ids))
			if share < rate-0.01 || share > rate+0.01 {
				t.Errorf("%s IDs, rate %v: kept %.4f", ids.name, rate, share)
			}
		}
	}
	for _, tc := range []struct {
		rate float64
		want bool
	}{{0, false}, {-1, false}, {1, true}, {2, true}} {
		if got := KeepByHash("abc", tc.rate); got != tc.want {
			t.Errorf("rate %v: %v", tc.rate, got)
		}
	}
	// Deterministic, and a lower rate keeps a subset of a higher one.
	for _, id := range random[:2000] {
		if KeepByHash(id, 0.05) && !KeepByHash(id, 0.2) {
			t.Fatalf("%s kept at 5%% but not at 20%%", id)
		}
	}
}

func TestSelectNth(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := 1; n < 300; n += 7 {
		v := make([]time.Duration, n)
		for i := range v {
			v[i] = time.Duration(rng.IntN(20)) // many ties
		}
		sorted := slices.Sorted(slices.Values(v))
		for _, k := range []int{0, n / 2, rank(n, 0.9), rank(n, 0.99), n - 1} {
			w := slices.Clone(v)
			selectNth(w, k)
			if w[k] != sorted[k] {
				t.Fatalf("n=%d k=%d: %v, want %v", n, k, w[k], sorted[k])
			}
		}
	}
}

func decide(s *Sampler, t Trace) Decision { return s.Decide(Build(t)) }

func TestSamplerKeepsEveryError(t *testing.T) {
	for _, seed := range []uint64{1, 2} {
		g := newGen(seed)
		g.errScale = 20 // ~1-5 % of traces fail
		s := NewSampler(SamplerOptions{})
		errs := 0
		for range scale(20_000) {
			tr := g.trace()
			d := decide(s, tr)
			if tr.HasError() {
				errs++
				if !d.Keep || d.Reason != ReasonError {
					t.Fatalf("error trace %s: %+v", tr.ID, d)
				}
			}
		}
		if errs < 50 {
			t.Fatalf("only %d error traces generated; the test proves little", errs)
		}
	}
}

func TestSamplerZeroValue(t *testing.T) {
	var s Sampler
	g := newGen(2)
	for range 200 {
		decide(&s, g.trace())
	}
	if s.window != DefaultWindow || s.base != DefaultBaseRate || s.rareBelow != DefaultRareBelow {
		t.Fatalf("zero sampler did not take the defaults: %v %v %v", s.window, s.base, s.rareBelow)
	}
}

func TestSamplerEmptyTrace(t *testing.T) {
	s := NewSampler(SamplerOptions{})
	if d := s.Decide(nil); d.Keep {
		t.Error("nil tree kept")
	}
	if d := s.Decide(Build(Trace{ID: "x"})); d.Keep {
		t.Error("empty trace kept")
	}
}

// TestSamplerReduction: on healthy traffic of several shapes and seeds
// the sampler keeps at most 10 % of the spans, counted from a cold start.
func TestSamplerReduction(t *testing.T) {
	mixes := []struct {
		name     string
		weight   []float64
		errScale float64
	}{
		{"browse heavy", []float64{0.6, 0.3, 0.1}, 1},
		{"checkout heavy", []float64{0.2, 0.2, 0.6}, 1},
		{"no errors", []float64{0.4, 0.4, 0.2}, 0},
		{"noisy errors", []float64{0.5, 0.3, 0.2}, 3},
	}
	for i, m := range mixes {
		t.Run(m.name, func(t *testing.T) {
			g := newGen(uint64(100 + i))
			g.weight, g.errScale = m.weight, m.errScale
			s := NewSampler(SamplerOptions{})
			var seen, kept int
			by := map[Reason]int{}
			// Not shortened under -race: counted from a cold start, the
			// learning phase weighs more in a short run.
			for range 30_000 {
				tr := g.trace()
				d := decide(s, tr)
				seen += len(tr.Spans)
				if d.Keep {
					kept += len(tr.Spans)
					by[d.Reason]++
				}
			}
			share := float64(kept) / float64(seen)
			t.Logf("kept %.2f%% of spans: %v", 100*share, by)
			if share > 0.10 {
				t.Errorf("kept %.2f%% of spans, want ≤ 10%%", 100*share)
			}
			if by[ReasonBase] == 0 {
				t.Error("no base-rate traces kept")
			}
		})
	}
}

// TestSamplerReplicasAgree: two samplers that saw different traffic make
// the same base-rate decision for the same unremarkable trace.
func TestSamplerReplicasAgree(t *testing.T) {
	a, b := NewSampler(SamplerOptions{}), NewSampler(SamplerOptions{})
	ga, gb := newGen(11), newGen(12)
	gb.weight = []float64{0.1, 0.1, 0.8}
	for range scale(10_000) {
		decide(a, ga.trace())
		decide(b, gb.trace())
	}
	probe := newGen(13)
	probe.errScale = 0
	compared, kept := 0, 0
	for range scale(10_000) {
		tr := probe.trace()
		da, db := decide(a, tr), decide(b, tr)
		if !routine(da) || !routine(db) {
			continue
		}
		compared++
		if da != db {
			t.Fatalf("trace %s: replica a %+v, replica b %+v", tr.ID, da, db)
		}
		if da.Keep {
			kept++
		}
	}
	if compared < scale(10_000)*8/10 || kept == 0 {
		t.Fatalf("compared %d decisions, %d kept: too few to show agreement", compared, kept)
	}
}

func routine(d Decision) bool { return d.Reason == ReasonBase || d.Reason == ReasonDropped }

// TestSamplerLatencyShift: a shift on one operation keeps ≥ 99 % of the
// traces it touches while it lasts; a shift that never ends becomes the
// new normal after about ten windows and stops being kept.
func TestSamplerLatencyShift(t *testing.T) {
	// earlyMiss is how many of the first 50 touched traces may be lost
	// before the shift is recognised: a shift far above p99 is kept from
	// its second call (two calls in a row above p99), one near p99 (email's
	// p99 is about 32 ms) once the median of 16 calls has moved, after
	// about 9.
	faults := []struct {
		name      string
		fault     genFault
		earlyMiss int
	}{
		{"payments +60ms on every call", genFault{service: "payments", name: "POST /charge", extra: 60}, 2},
		{"catalog +15ms on every call", genFault{service: "catalog", name: "GET /products/{id}", extra: 15}, 10},
		{"payments +300ms on one call in five", genFault{service: "payments", name: "POST /charge", extra: 300, share: 0.2}, 2},
		{"email +30ms", genFault{service: "email", name: "POST /send", extra: 30}, 10},
		{"email +100ms", genFault{service: "email", name: "POST /send", extra: 100}, 2},
	}
	const window = 200
	for i, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			g := newGen(uint64(40 + i))
			g.errScale = 0
			s := NewSampler(SamplerOptions{Window: window})
			for range scale(10_000) {
				decide(s, g.trace())
			}
			g.faults = []genFault{f.fault}
			// Each operation the fault shifts (the faulty one and its
			// callers up to the root) adapts after ten windows of its own
			// calls. The fault "lasts" until the most frequent of them
			// could have adapted (kept ≥ 99 % over its first five
			// windows); it is absorbed once the least frequent one has
			// seen 14 windows.
			type opKey struct{ service, name, kind string }
			calls := map[opKey]int{}
			windowOf := func(tr Trace) (least, most int) {
				tree := Build(tr)
				parent := make([]int, len(tree.Spans))
				for i := range parent {
					parent[i] = -1
				}
				for p, cs := range tree.Children {
					for _, c := range cs {
						parent[c] = p
					}
				}
				for i, s := range tree.Spans {
					if !s.Fault {
						continue
					}
					for j := i; j >= 0; j = parent[j] {
						sj := tree.Spans[j]
						calls[opKey{sj.Service, sj.Name, sj.Kind}] += 0 // now shifted
					}
				}
				for _, s := range tree.Spans {
					if k := (opKey{s.Service, s.Name, s.Kind}); hasKey(calls, k) {
						calls[k]++
					}
				}
				least, most = -1, 0
				for _, n := range calls {
					if least < 0 || n < least {
						least = n
					}
					most = max(most, n)
				}
				return max(least, 0) / window, most / window
			}
			var touched, kept, seenTouched, earlyMissed int
			keptShare := map[int][2]int{} // window number → touched, kept
			for w := 0; w < 16; {
				tr := g.trace()
				d := decide(s, tr)
				var wMost int
				w, wMost = windowOf(tr)
				if !tr.Touched() {
					continue
				}
				if seenTouched++; seenTouched <= 50 && !d.Keep {
					earlyMissed++
				}
				c := keptShare[w]
				c[0]++
				if d.Keep {
					c[1]++
				}
				keptShare[w] = c
				if wMost < 5 { // "while it lasts"
					touched++
					if d.Keep {
						kept++
					}
				}
			}
			share := func(w int) float64 { c := keptShare[w]; return float64(c[1]) / float64(max(c[0], 1)) }
			var shares []string
			for w := range 16 {
				shares = append(shares, fmt.Sprintf("%.2f", share(w)))
			}
			t.Logf("kept share of touched traces per window of the least frequent shifted operation: %v", shares)
			if float64(kept) < 0.99*float64(touched) {
				t.Errorf("kept %d of %d touched traces in the first five windows, want ≥ 99 %%", kept, touched)
			}
			if earlyMissed > f.earlyMiss {
				t.Errorf("missed %d of the first 50 touched traces", earlyMissed)
			}
			if touched < 100 {
				t.Errorf("only %d touched traces in the first windows: too few to judge", touched)
			}
			if late := (share(14) + share(15)) / 2; late > 0.25 {
				t.Errorf("after 14 windows still keeping %.2f of the shifted traces: the baseline never adapted", late)
			}
		})
	}
}

// TestSamplerNewPath: a new code path is kept as new, then as rare
// RareBelow-1 more times, then only at the base rate.
func TestSamplerNewPath(t *testing.T) {
	for _, rare := range []int{1, 3} {
		t.Run(fmt.Sprint("RareBelow=", rare), func(t *testing.T) {
			g := newGen(21)
			g.errScale = 0
			s := NewSampler(SamplerOptions{RareBelow: rare})
			for range scale(5_000) {
				decide(s, g.trace())
			}
			// A new page calling a new recommender: one fixed path.
			rec := &shape{service: "recommend", name: "GET /recs", kind: KindServer, selfMS: 1, sigma: 0.3}
			page := &shape{service: "frontend", name: "GET /v2", kind: KindServer, selfMS: 3, sigma: 0.4, calls: []call{{to: rpc("frontend", rec, 0.2)}}}
			g.roots, g.weight = []*shape{page}, []float64{1}
			var reasons []Reason
			keptAfter, after := 0, 0
			for i := range 2000 {
				tr := g.trace()
				d := decide(s, tr)
				if i < rare+1 {
					reasons = append(reasons, d.Reason)
					continue
				}
				after++
				if d.Keep && d.Reason != ReasonBase {
					keptAfter++
				}
			}
			want := []Reason{ReasonNewPath}
			for range rare - 1 {
				want = append(want, ReasonRarePath)
			}
			if !slices.Equal(reasons[:rare], want) || reasons[rare] == ReasonNewPath || reasons[rare] == ReasonRarePath {
				t.Errorf("first decisions %v, want %v then neither", reasons, want)
			}
			// Beyond the base rate only the occasional slow root is kept.
			if float64(keptAfter) > 0.03*float64(after) {
				t.Errorf("kept %d of %d later traces of the path beyond the base rate", keptAfter, after)
			}
		})
	}
}

// TestSamplerPathDecay: counts halve every 10,000 traces, so a path seen
// a few times long ago is rare again, and a flood of distinct paths
// stays bounded.
func TestSamplerPathDecay(t *testing.T) {
	s := NewSampler(SamplerOptions{RareBelow: 3, BaseRate: -1})
	lone := func(name string) Trace {
		return Trace{ID: name, Spans: []Span{sp("r", "", "svc", name, KindServer, 0, 1)}}
	}
	for range 4 {
		decide(s, lone("old"))
	}
	if d := decide(s, lone("old")); d.Keep {
		t.Fatalf("a path seen 4 times: %+v", d)
	}
	// 5 → 2 after one decay, then 1 after two: rare again.
	for i := range 2 * pathDecayEvery {
		decide(s, lone(fmt.Sprint("other", i%10)))
	}
	if d := decide(s, lone("old")); d.Reason != ReasonRarePath {
		t.Fatalf("a path not seen for 20,000 traces: %+v, want rare", d)
	}
	if testing.Short() || raceEnabled {
		return
	}
	for i := range maxPaths + 20_000 {
		decide(s, lone(fmt.Sprint("flood", i)))
	}
	s.mu.Lock()
	n := len(s.paths)
	s.mu.Unlock()
	if n > maxPaths {
		t.Fatalf("%d paths held, cap %d", n, maxPaths)
	}
}

// TestSamplerBaselineNeedsData: no slow verdict until an operation has
// 50 durations; then a call ten times its usual duration is slow.
func TestSamplerBaselineNeedsData(t *testing.T) {
	s := NewSampler(SamplerOptions{BaseRate: -1})
	one := func(i int, dur float64) Decision {
		return decide(s, Trace{ID: fmt.Sprint(i), Spans: []Span{sp("r", "", "svc", "op", KindServer, float64(i), dur)}})
	}
	for i := range minBaseline - 1 {
		one(i, 10+float64(i%5))
	}
	if d := one(100, 1000); d.Reason == ReasonSlow {
		t.Fatalf("slow before the baseline had %d durations", minBaseline)
	}
	for i := range 100 {
		one(200+i, 10+float64(i%5))
	}
	if d := one(400, 1000); d.Reason != ReasonSlow {
		t.Fatalf("100× the usual duration: %+v, want slow", d)
	}
	if d := one(401, 12); d.Keep {
		t.Fatalf("a usual duration: %+v", d)
	}
}

// TestSamplerErrorShare: an operation failing more than usual makes its
// healthy traces kept too, as anomalous_operation.
func TestSamplerErrorShare(t *testing.T) {
	s := NewSampler(SamplerOptions{BaseRate: -1})
	rng := rand.New(rand.NewPCG(5, 6))
	mk := func(i int, failed bool) Trace {
		tr := Trace{ID: fmt.Sprint(i), Spans: []Span{
			sp("r", "", "front", "GET /", KindServer, 0, 20+rng.Float64()), sp("c", "r", "front", "GET db", KindClient, 1, 10+rng.Float64()),
		}}
		tr.Spans[1].Error = failed
		return tr
	}
	for i := range 1000 {
		decide(s, mk(i, i%100 == 0)) // 1 % errors is normal here
	}
	if d := decide(s, mk(5000, false)); d.Keep {
		t.Fatalf("healthy trace at the usual error rate: %+v", d)
	}
	for i := range 10 { // 3 of 10 fail: 30 % ≫ 1 % + 5 points
		if d := decide(s, mk(6000+i, i%3 == 0)); i%3 == 0 && d.Reason != ReasonError {
			t.Fatalf("failing trace: %+v", d)
		}
	}
	if d := decide(s, mk(7000, false)); d.Reason != ReasonAnomalous {
		t.Fatalf("healthy trace of an operation failing 30 %% of calls: %+v, want anomalous_operation", d)
	}
}

func TestSamplerConcurrent(t *testing.T) {
	s := NewSampler(SamplerOptions{})
	done := make(chan bool)
	for w := range 4 {
		go func() {
			g := newGen(uint64(70 + w))
			for range 500 {
				decide(s, g.trace())
			}
			done <- true
		}()
	}
	for range 4 {
		<-done
	}
}

func hasKey[K comparable, V any](m map[K]V, k K) bool { _, ok := m[k]; return ok }

// TestDecideAllocations: on a warm sampler, judging a trace of known
// operations and path allocates nothing.
func TestDecideAllocations(t *testing.T) {
	g := newGen(31)
	s := NewSampler(SamplerOptions{})
	traces := g.traces(2000)
	for _, tr := range traces {
		decide(s, tr)
	}
	tree := Build(traces[0])
	if n := testing.AllocsPerRun(200, func() { s.Decide(tree) }); n > 0 {
		t.Errorf("Decide allocates %.1f times a call", n)
	}
	if n := testing.AllocsPerRun(200, func() { tree.Path() }); n > 0 {
		t.Errorf("Path allocates %.1f times a call", n)
	}
}

// TestSamplerIncidentDoesNotMoveBaseline: an incident shorter than the
// absorption time is kept whole, and afterwards the baseline is what it
// was, so the same slowness is still slow.
func TestSamplerIncidentDoesNotMoveBaseline(t *testing.T) {
	s := NewSampler(SamplerOptions{BaseRate: -1})
	rng := rand.New(rand.NewPCG(9, 10))
	n := 0
	one := func(median float64) Decision {
		n++
		d := median * math.Exp(0.2*rng.NormFloat64())
		return decide(s, Trace{ID: fmt.Sprint(n), Spans: []Span{sp("r", "", "api", "GET /x", KindServer, float64(n), d)}})
	}
	for range 1000 {
		one(10)
	}
	kept := 0
	for range 400 { // 0.8 windows of a 5× slowdown
		if one(50).Keep {
			kept++
		}
	}
	if kept < 400-3 {
		t.Errorf("kept %d of 400 incident traces", kept)
	}
	late := 0
	for i := range 300 {
		if d := one(10); d.Keep && i >= 100 {
			late++
		}
	}
	if late > 9 {
		t.Errorf("kept %d of 200 healthy traces after the incident", late)
	}
	if d := one(50); d.Reason != ReasonSlow {
		t.Errorf("the incident's latency after it ended: %+v, want slow", d)
	}
}
