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
	// and how many of them were kept; in the incident's own window too.
	errors, errorsKept, touched, touchedKept int
	windowSpans, windowKept                  int
	// restSpans are the spans of traces with neither an error nor a
	// fault's touch: what a sampler should drop; restKept what it kept.
	restSpans, restKept int
}

// sampleIncident streams hours of the shop's traces, with a 15-minute
// fault at the end, through the adaptive sampler, as a trace store holds
// them: the incident is a small part of what it holds.
func sampleIncident(t testing.TB, f world.FaultSpec, seed uint64, normal time.Duration, share float64) samplingFigures {
	t.Helper()
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	w, err := world.New(world.DefaultTopology(), seed, start)
	if err != nil {
		t.Fatal(err)
	}
	onset := start.Add(normal)
	f.Duration = 15 * time.Minute
	if _, err := w.Inject(f, onset); err != nil {
		t.Fatalf("%s: %v", f.Kind, err)
	}
	gen := world.NewTraceGenerator(w.Topology(), seed, world.TraceOptions{Share: share})
	s := spans.NewSampler(spans.SamplerOptions{})
	var fig samplingFigures
	w.Advance(onset.Add(f.Duration), func(snap *world.Snapshot) {
		inIncident := !snap.Time.Before(onset)
		for _, tr := range gen.Traces(snap) {
			d := s.Decide(spans.Build(tr))
			n := len(tr.Spans)
			fig.traces++
			fig.spans += n
			if d.Keep {
				fig.keptTraces++
				fig.keptSpans += n
			}
			if inIncident {
				fig.windowSpans += n
				if d.Keep {
					fig.windowKept += n
				}
			}
			if tr.HasError() {
				fig.errors++
				if d.Keep {
					fig.errorsKept++
				}
			}
			if tr.Touched() {
				fig.touched++
				if d.Keep {
					fig.touchedKept++
				}
			}
			if !tr.Touched() && !tr.HasError() {
				fig.restSpans += n
				if d.Keep {
					fig.restKept += n
				}
			}
		}
	})
	return fig
}

func pct(a, b int) float64 {
	if b == 0 {
		return 100
	}
	return 100 * float64(a) / float64(b)
}

// TestSamplerOnSandboxIncidents measures issue 19's claim on every fault
// of the catalogue, for a store holding three hours of the shop's traces
// with a 15-minute incident at the end: the share of error traces and of
// the traces the fault touched that is kept, and how many spans are
// stored — overall, in the incident's window, and of the traces that
// mattered to nothing (neither failing nor touched). A fault that touches
// every request (a slow database under every page) must be kept whole, so
// the overall reduction depends on how much of the store the incident
// fills; the reduction of what did not matter does not, and is held to
// ≥ 90 %. Floors: every error trace (the rule is unconditional), ≥ 90 % of
// the touched ones (issue 19's target is 99 %; docs/benchmarks.md says
// which fault misses it and why).
func TestSamplerOnSandboxIncidents(t *testing.T) {
	var lines []string
	for _, f := range samplingCases {
		t.Run(string(f.Kind), func(t *testing.T) {
			fig := sampleIncident(t, f, 7, 3*time.Hour, 0.02)
			red := 100 - pct(fig.keptSpans, fig.spans)
			rest := 100 - pct(fig.restKept, fig.restSpans)
			line := fmt.Sprintf("| %s | %d | %.1f %% | %.1f %% | %.1f %% | %d/%d (%.1f %%) | %d/%d (%.1f %%) |",
				f.Kind, fig.spans, red, 100-pct(fig.windowKept, fig.windowSpans), rest, fig.errorsKept, fig.errors, pct(fig.errorsKept, fig.errors),
				fig.touchedKept, fig.touched, pct(fig.touchedKept, fig.touched))
			lines = append(lines, line)
			if rest < 90 {
				t.Errorf("%s: %.1f %% fewer spans of the traces nothing happened to, want ≥ 90 %%", f.Kind, rest)
			}
			if fig.errorsKept != fig.errors {
				t.Errorf("%s: %d of %d error traces kept, want all", f.Kind, fig.errorsKept, fig.errors)
			}
			if pct(fig.touchedKept, fig.touched) < 90 {
				t.Errorf("%s: %d of %d fault-touched traces kept, want ≥ 90 %%", f.Kind, fig.touchedKept, fig.touched)
			}
		})
	}
	sort.Strings(lines)
	t.Logf("3 h of traffic, 15-minute fault, trace share 0.02:\n| fault | spans | fewer spans | in the incident window | of the untouched | error traces kept | touched traces kept |\n|---|---|---|---|---|---|---|\n%s", strings.Join(lines, "\n"))
}
