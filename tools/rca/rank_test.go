package rca

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)

// synthetic builds a case: n services in a chain s0 → s1 → … with metrics
// every step for the duration; fault(svc, metric, t) returns a multiplier.
func synthetic(n int, step, dur time.Duration, fault func(svc int, metric string, t time.Duration) float64) *Case {
	rng := rand.New(rand.NewPCG(1, 2))
	c := &Case{Metrics: map[string]map[string][]Sample{}}
	metrics := map[string]float64{"cpu_usage_pct": 20, "mem_usage_pct": 40, "latency_server_p90_s": 0.05, "latency_client_p90_s": 0.1,
		"requests_ops": 50, "success_rate_pct": 99.9, "net_tx_bytes": 1e5, "net_rx_bytes": 2e4}
	names := make([]string, 0, len(metrics))
	for m := range metrics {
		names = append(names, m)
	}
	sort.Strings(names) // a fixed order of random draws: the same case every run
	for i := range n {
		svc := fmt.Sprintf("s%d", i)
		c.Metrics[svc] = map[string][]Sample{}
		for _, m := range names {
			base := metrics[m]
			for d := time.Duration(0); d < dur; d += step {
				v := base * (1 + 0.05*rng.NormFloat64()) * fault(i, m, d)
				c.Metrics[svc][m] = append(c.Metrics[svc][m], Sample{t0.Add(d), v})
			}
		}
		if i > 0 {
			c.Edges = append(c.Edges, [2]string{fmt.Sprintf("s%d", i-1), svc})
		}
	}
	return c
}

func TestRankFindsTheCause(t *testing.T) {
	onset := 30 * time.Minute
	for _, tt := range []struct {
		name    string
		cause   int
		fault   func(svc int, m string, d time.Duration) float64
		sigKind string
	}{
		{"cpu in the middle of the chain", 3, func(svc int, m string, d time.Duration) float64 {
			if d < onset {
				return 1
			}
			switch {
			case svc == 3 && m == "cpu_usage_pct":
				return 4.5
			case svc == 3 && m == "latency_server_p90_s":
				return 6
			case svc < 3 && strings.HasPrefix(m, "latency"):
				return 3 // the callers suffer too
			}
			return 1
		}, "cpu"},
		{"memory leak at the leaf", 5, func(svc int, m string, d time.Duration) float64 {
			if svc == 5 && m == "mem_usage_pct" && d >= onset {
				return 1 + float64(d-onset)/float64(5*time.Minute)
			}
			return 1
		}, "memory"},
	} {
		c := synthetic(6, 15*time.Second, 45*time.Minute, tt.fault)
		c.Onset = t0.Add(onset)
		res := Analyze(c, Options{})
		if res.Ranking[0].Service != fmt.Sprintf("s%d", tt.cause) || res.Signature.Kind != tt.sigKind || res.Confidence <= 0.3 {
			t.Errorf("%s: top %s (%.1f), signature %+v, confidence %.2f; ranking %v", tt.name, res.Ranking[0].Service, res.Ranking[0].Score,
				res.Signature, res.Confidence, names(res.Ranking))
		}
		// Without the onset, it is found from the metrics.
		c.Onset = time.Time{}
		if r := Rank(c, Options{}); r[0].Service != fmt.Sprintf("s%d", tt.cause) {
			t.Errorf("%s without an onset: %v", tt.name, names(r))
		}
	}
}

func TestChangeBoostAndSignature(t *testing.T) {
	c := synthetic(4, time.Minute, 45*time.Minute, func(svc int, m string, d time.Duration) float64 {
		if d >= 30*time.Minute && m == "success_rate_pct" && svc == 2 {
			return 0.8
		}
		if d >= 30*time.Minute && m == "latency_server_p90_s" && svc == 1 {
			return 1.6 // a caller feels it a little
		}
		return 1
	})
	c.Onset = t0.Add(30 * time.Minute)
	c.Events = []Event{{Time: t0.Add(28 * time.Minute), Service: "s2", Kind: "deploy"}, {Time: t0.Add(time.Minute), Service: "s0", Kind: "deploy"}}
	res := Analyze(c, Options{})
	if res.Ranking[0].Service != "s2" || res.Ranking[0].Change == nil || res.Signature.Kind != "change" || !strings.Contains(res.Signature.Steps[0], "roll back s2") {
		t.Errorf("%+v", res)
	}
	for _, r := range res.Ranking {
		if r.Service == "s0" && r.Change != nil {
			t.Error("s0's deploy, 29 minutes before the onset, is not 'just before' it")
		}
	}
}

func TestDegenerateCases(t *testing.T) {
	// Constant metrics, one service, samples only after the onset, NaN-free
	// but flat: defined rankings, finite scores, no panic.
	c := &Case{Onset: t0.Add(10 * time.Minute), Metrics: map[string]map[string][]Sample{
		"flat":  {"cpu_usage_pct": {{t0, 5}, {t0.Add(time.Minute), 5}, {t0.Add(2 * time.Minute), 5}, {t0.Add(11 * time.Minute), 5}}},
		"late":  {"cpu_usage_pct": {{t0.Add(11 * time.Minute), 50}}},
		"zeros": {"success_rate_pct": {{t0, 0}, {t0.Add(time.Minute), 0}, {t0.Add(2 * time.Minute), 0}, {t0.Add(12 * time.Minute), 0}}},
	}, Edges: [][2]string{{"flat", "ghost"}, {"ghost", "late"}}}
	res := Analyze(c, Options{})
	if len(res.Ranking) != 3 {
		t.Fatalf("%+v", res.Ranking)
	}
	for _, r := range res.Ranking {
		if math.IsNaN(r.Score) || math.IsInf(r.Score, 0) {
			t.Errorf("%s: score %v", r.Service, r.Score)
		}
	}
	if res := Analyze(&Case{Metrics: map[string]map[string][]Sample{}}, Options{}); len(res.Ranking) != 0 {
		t.Errorf("empty case: %+v", res)
	}
}

func names(r []Ranked) []string {
	out := make([]string, len(r))
	for i, x := range r {
		out[i] = x.Service
	}
	return out
}

// BenchmarkRank50Services is the figure: 50 services × 1 h at a
// 15 s step (8 metrics each, 192,000 samples) ranked.
func BenchmarkRank50Services(b *testing.B) {
	c := synthetic(50, 15*time.Second, time.Hour, func(svc int, m string, d time.Duration) float64 {
		if svc == 17 && m == "cpu_usage_pct" && d >= 40*time.Minute {
			return 4
		}
		return 1
	})
	c.Onset = t0.Add(40 * time.Minute)
	b.ResetTimer()
	for b.Loop() {
		if r := Rank(c, Options{}); r[0].Service != "s17" {
			b.Fatal(names(r)[:3])
		}
	}
}
