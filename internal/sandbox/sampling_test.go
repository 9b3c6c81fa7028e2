package sandbox_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/sandbox/world"
	"github.com/watchkeeper/watchkeeper/internal/spans"
)

// samplingCase is one sandbox incident for the sampler: a fault of the
// catalogue on a service of the shop it applies to.
var samplingCases = []world.FaultSpec{
	{Kind: world.FaultBadDeploy, Service: "checkout"},
	{Kind: world.FaultConfigChange, Service: "payments"},
	{Kind: world.FaultCPUSaturation, Service: "catalog"},
	{Kind: world.FaultDependencyDown, Service: "redis"},
	{Kind: world.FaultException, Service: "cart"},
	{Kind: world.FaultMemoryLeak, Service: "cart", Params: map[string]float64{"mib_per_minute": 40}},
	{Kind: world.FaultNetworkDelay, Service: "catalog"},
	{Kind: world.FaultNetworkLatency, Service: "checkout", Target: "payments"},
	{Kind: world.FaultPacketLoss, Service: "payments"},
	{Kind: world.FaultSlowDB, Service: "postgres"},
	{Kind: world.FaultTrafficSurge, Service: "frontend"},
}

// samplingFigures are what the sampler kept of one incident.
type samplingFigures struct {
	traces, spans, keptTraces, keptSpans int
	// errors and touched: traces with an error / a span a fault changed,
	// and how many of them were kept.
	errors, errorsKept, touched, touchedKept int
	// window: the incident's 15 minutes; last3h: the last 3 h 15 min,
	// as a store holding only that would have them.
	windowSpans, windowKept int
	last3hSpans, last3hKept int
	// restSpans are the spans of traces with neither an error nor a
	// fault's touch: what a sampler should drop; restKept what it kept.
	restSpans, restKept int
	restBy              map[spans.Reason]int
}

// sampleIncident streams the shop's traces for the store's whole
// retention, with a 15-minute fault at the end, through the adaptive
// sampler with its decision wait, as a trace store holds them.
func sampleIncident(t testing.TB, f world.FaultSpec, seed uint64, retention time.Duration, share, base float64) samplingFigures {
	t.Helper()
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	w, err := world.New(world.DefaultTopology(), seed, start)
	if err != nil {
		t.Fatal(err)
	}
	f.Duration = 15 * time.Minute
	onset := start.Add(retention - f.Duration)
	last3h := onset.Add(-3 * time.Hour)
	if _, err := w.Inject(f, onset); err != nil {
		t.Fatalf("%s: %v", f.Kind, err)
	}
	gen := world.NewTraceGenerator(w.Topology(), seed, world.TraceOptions{Share: share})
	waiter := spans.NewWaiter(spans.NewSampler(spans.SamplerOptions{BaseRate: base}), 0)
	fig := samplingFigures{restBy: map[spans.Reason]int{}}
	count := func(vs []spans.Verdict) {
		for _, v := range vs {
			tr, keep := v.Trace, v.Decision.Keep
			n := len(tr.Spans)
			fig.traces++
			fig.spans += n
			if keep {
				fig.keptTraces++
				fig.keptSpans += n
			}
			at := tr.Spans[0].Start
			if !at.Before(onset) {
				fig.windowSpans += n
				if keep {
					fig.windowKept += n
				}
			}
			if !at.Before(last3h) {
				fig.last3hSpans += n
				if keep {
					fig.last3hKept += n
				}
			}
			if tr.HasError() {
				fig.errors++
				if keep {
					fig.errorsKept++
				}
			}
			if tr.Touched() {
				fig.touched++
				if keep {
					fig.touchedKept++
				}
			}
			if !tr.Touched() && !tr.HasError() {
				fig.restSpans += n
				if keep {
					fig.restKept += n
					fig.restBy[v.Decision.Reason] += n
				}
			}
		}
	}
	w.Advance(onset.Add(f.Duration), func(snap *world.Snapshot) {
		for _, tr := range gen.Traces(snap) {
			count(waiter.Offer(tr))
		}
	})
	count(waiter.Flush())
	return fig
}

func pct(a, b int) float64 {
	if b == 0 {
		return 100
	}
	return 100 * float64(a) / float64(b)
}

// TestSamplerOnSandboxIncidents measures issue 19's claim on every fault
// of the catalogue, for a store holding a day of the shop's traces (a
// short retention: Tempo's default is 14 days, Jaeger's Badger 3) with a
// 15-minute incident at its end: how many fewer spans are stored, and the
// share of error traces and of the traces the fault touched that is kept
// (issue 19's targets: ≥ 90 % fewer, ≥ 99 % kept). It also reports the
// figures for the last 3 h only and for the incident's own window, where
// a fault under every request (a slow database) must be kept whole, and
// the reduction of the traces nothing happened to (the "95 % less" of the
// claim). It runs without the race detector (make test-accuracy): a day
// of traces is ten times slower there, with nothing concurrent to check.
func TestSamplerOnSandboxIncidents(t *testing.T) {
	skipUnderRace(t)
	type row struct {
		f   world.FaultSpec
		fig samplingFigures
	}
	rows := make([]row, len(samplingCases))
	t.Run("faults", func(t *testing.T) {
		for i, f := range samplingCases {
			t.Run(string(f.Kind), func(t *testing.T) {
				t.Parallel()
				fig := sampleIncident(t, f, 7, 24*time.Hour, 0.02, 0)
				rows[i] = row{f, fig}
				if red := 100 - pct(fig.keptSpans, fig.spans); red < 90 {
					t.Errorf("%s: %.1f %% fewer spans stored over a day, want ≥ 90 %%", f.Kind, red)
				}
				if fig.errorsKept != fig.errors {
					t.Errorf("%s: %d of %d error traces kept, want all", f.Kind, fig.errorsKept, fig.errors)
				}
				if pct(fig.touchedKept, fig.touched) < 99 {
					t.Errorf("%s: %d of %d fault-touched traces kept, want ≥ 99 %%", f.Kind, fig.touchedKept, fig.touched)
				}
				if rest := 100 - pct(fig.restKept, fig.restSpans); rest < 94 {
					t.Errorf("%s: %.1f %% fewer spans of the traces nothing happened to, want ≥ 94 %%", f.Kind, rest)
				}
			})
		}
	})
	var lines []string
	for _, r := range rows {
		fig := r.fig
		lines = append(lines, fmt.Sprintf("| %s | %d | **%.1f %%** | %.1f %% | %.1f %% | %.1f %% | %d/%d (%.1f %%) | %d/%d (%.1f %%) |",
			r.f.Kind, fig.spans, 100-pct(fig.keptSpans, fig.spans), 100-pct(fig.last3hKept, fig.last3hSpans), 100-pct(fig.windowKept, fig.windowSpans),
			100-pct(fig.restKept, fig.restSpans), fig.errorsKept, fig.errors, pct(fig.errorsKept, fig.errors),
			fig.touchedKept, fig.touched, pct(fig.touchedKept, fig.touched)))
		t.Logf("%s: untouched kept by %v", r.f.Kind, fig.restBy)
	}
	sort.Strings(lines)
	t.Logf("a day of traffic, 15-minute fault at its end, trace share 0.02:\n| fault | spans | fewer spans (day) | fewer (last 3 h) | in the incident window | of the untouched | error traces kept | touched traces kept |\n|---|---|---|---|---|---|---|---|\n%s", strings.Join(lines, "\n"))
}

// skipUnderRace skips an accuracy measurement under the race detector,
// saying so: `make test` runs it in a step of its own without it (make
// test-accuracy), so CI always runs it.
func skipUnderRace(t *testing.T) {
	t.Helper()
	if raceDetector {
		t.Skip("!!! an accuracy measurement: not run under the race detector; make test runs it in its own step (make test-accuracy)")
	}
}
