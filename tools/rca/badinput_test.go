package rca

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// checkRanking asserts what every ranking promises: each service once,
// scores finite, in [0, 1] and non-increasing.
func checkRanking(t *testing.T, c *Case, r []Ranked) {
	t.Helper()
	if len(r) != len(c.Metrics) {
		t.Errorf("%d ranked, %d services", len(r), len(c.Metrics))
	}
	seen := map[string]bool{}
	for i, x := range r {
		if seen[x.Service] {
			t.Errorf("%s ranked twice", x.Service)
		}
		seen[x.Service] = true
		if math.IsNaN(x.Score) || x.Score < 0 || x.Score > 1 || math.IsNaN(x.Own) || x.Own < 0 || x.Own > 1 {
			t.Errorf("%s: score %v, own %v: want both in [0, 1]", x.Service, x.Score, x.Own)
		}
		if i > 0 && x.Score > r[i-1].Score {
			t.Errorf("%s (%.3f) ranked below %s (%.3f)", x.Service, x.Score, r[i-1].Service, r[i-1].Score)
		}
		for _, e := range x.Evidence {
			if math.IsNaN(e.Score) || e.Score < 0 || e.Score > 1 {
				t.Errorf("%s %s: evidence score %v", x.Service, e.Metric, e.Score)
			}
		}
	}
}

// cpuFault makes s3 the cause: its CPU and latency jump at the onset and
// its callers' latency follows.
func cpuFault(onset time.Duration) func(svc int, m string, d time.Duration) float64 {
	return func(svc int, m string, d time.Duration) float64 {
		switch {
		case d < onset:
			return 1
		case svc == 3 && m == "cpu_usage_pct":
			return 4.5
		case svc == 3 && m == "latency_server_p90_s":
			return 6
		case svc < 3 && strings.HasPrefix(m, "latency"):
			return 3
		}
		return 1
	}
}

// TestRankBadInput: what Prometheus or a hand-made case can hand the
// ranker — values that are not numbers, samples out of order or repeated,
// one service and no call graph, flat series, services that appear after
// the onset — gives a defined ranking that still finds the cause where
// there is one, never a NaN or a panic.
func TestRankBadInput(t *testing.T) {
	onset := 30 * time.Minute
	base := func() *Case {
		c := synthetic(6, 15*time.Second, 45*time.Minute, cpuFault(onset))
		c.Onset = t0.Add(onset)
		return c
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tt := range []struct {
		name   string
		mutate func(c *Case)
		want   string // the first service; "" when there is no cause to find
	}{
		{"clean", func(*Case) {}, "s3"},
		{"NaN and Inf values", func(c *Case) {
			for _, m := range c.Metrics {
				for k, s := range m {
					for i := range s {
						switch i % 7 {
						case 0:
							s[i].V = math.NaN()
						case 3:
							s[i].V = math.Inf(1)
						case 5:
							s[i].V = math.Inf(-1)
						}
					}
					m[k] = s
				}
			}
		}, "s3"},
		{"every series NaN", func(c *Case) {
			for _, m := range c.Metrics {
				for _, s := range m {
					for i := range s {
						s[i].V = math.NaN()
					}
				}
			}
		}, ""},
		{"samples out of order", func(c *Case) {
			for _, m := range c.Metrics {
				for _, s := range m {
					rng.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
				}
			}
		}, "s3"},
		{"every sample twice", func(c *Case) {
			for _, m := range c.Metrics {
				for k, s := range m {
					m[k] = slices.Concat(s, s)
				}
			}
		}, "s3"},
		{"one service, no call graph", func(c *Case) {
			for svc := range c.Metrics {
				if svc != "s3" {
					delete(c.Metrics, svc)
				}
			}
			c.Edges = nil
		}, "s3"},
		{"no call graph", func(c *Case) { c.Edges = nil }, "s3"},
		{"edges to unknown services and loops", func(c *Case) {
			c.Edges = append(c.Edges, [2]string{"s3", "ghost"}, [2]string{"s3", "s0"}, [2]string{"s2", "s2"})
		}, "s3"},
		{"flat series", func(c *Case) {
			for _, m := range c.Metrics {
				for _, s := range m {
					for i := range s {
						s[i].V = 7
					}
				}
			}
		}, ""},
		{"zero series", func(c *Case) {
			for _, m := range c.Metrics {
				for _, s := range m {
					for i := range s {
						s[i].V = 0
					}
				}
			}
		}, ""},
		{"a service that appears after the onset", func(c *Case) {
			var s []Sample
			for d := 35 * time.Minute; d < 45*time.Minute; d += 15 * time.Second {
				s = append(s, Sample{t0.Add(d), 90})
			}
			c.Metrics["late"] = map[string][]Sample{"cpu_usage_pct": s}
		}, "s3"},
		{"one sample at the window's end", func(c *Case) {
			c.Metrics["once"] = map[string][]Sample{"cpu_usage_pct": {{t0.Add(45*time.Minute - 15*time.Second), 50}}}
		}, "s3"},
		{"empty series", func(c *Case) { c.Metrics["s0"]["cpu_usage_pct"] = nil }, "s3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.mutate(c)
			res := Analyze(c, Options{})
			checkRanking(t, c, res.Ranking)
			if math.IsNaN(res.Confidence) || res.Confidence < 0 || res.Confidence > 1 {
				t.Errorf("confidence %v", res.Confidence)
			}
			if tt.want != "" && (len(res.Ranking) == 0 || res.Ranking[0].Service != tt.want) {
				t.Errorf("want %s first: %v", tt.want, names(res.Ranking))
			}
			if tt.want == "" && len(res.Ranking) > 0 && res.Ranking[0].Score >= clearAnomaly {
				t.Errorf("nothing moved, yet %s scores %.2f: %s", res.Ranking[0].Service, res.Ranking[0].Score, res.Ranking[0].Decided)
			}
			// Without the onset, it is found from the metrics, and the
			// answer does not change.
			c.Onset = time.Time{}
			r := Rank(c, Options{})
			checkRanking(t, c, r)
			if tt.want != "" && r[0].Service != tt.want {
				t.Errorf("without an onset: want %s first: %v", tt.want, names(r))
			}
		})
	}
}

// TestShortLeadIn: two samples before the onset at a five-minute step is
// all some cases have. The cause still ranks first — not the first name
// in the alphabet — and more so with a baseline from another period.
func TestShortLeadIn(t *testing.T) {
	step := 5 * time.Minute
	onset := 2 * step
	for _, withBaseline := range []bool{false, true} {
		t.Run(fmt.Sprintf("baseline %v", withBaseline), func(t *testing.T) {
			c := synthetic(8, step, onset+4*step, cpuFault(onset))
			c.Onset = t0.Add(onset)
			if withBaseline {
				b := synthetic(8, step, 3*time.Hour, func(int, string, time.Duration) float64 { return 1 })
				c.Baseline = b.Metrics
			}
			r := Rank(c, Options{})
			checkRanking(t, c, r)
			if r[0].Service != "s3" {
				t.Errorf("want s3 first: %v", names(r))
			}
		})
	}
	// Nothing moves: the order is decided by the call graph (shared,
	// deeper services first), not by the names.
	c := synthetic(5, step, onset+4*step, func(int, string, time.Duration) float64 { return 1 })
	c.Onset = t0.Add(onset)
	c.Edges = [][2]string{{"s0", "s4"}, {"s1", "s4"}, {"s2", "s4"}, {"s3", "s4"}}
	r := Rank(c, Options{})
	checkRanking(t, c, r)
	if r[0].Service != "s4" && r[0].Score < clearAnomaly {
		t.Errorf("with nothing clear, the shared dependency s4 should lead, not the alphabet: %v", names(r))
	}
}

// TestLoadCaseBadInput: a case folder's mistakes are errors that name the
// file and line, and oddities a warning; nothing panics.
func TestLoadCaseBadInput(t *testing.T) {
	const header = "timestamp,service,metric,value\n"
	for _, tt := range []struct {
		name                 string
		files                map[string]string
		wantErr, wantWarning string
	}{
		{"no case.json", map[string]string{"metrics.csv": header + "1,a,cpu,1\n"}, "case.json:", ""},
		{"case.json not JSON", map[string]string{"case.json": "{", "metrics.csv": header + "1,a,cpu,1\n"}, "case.json: unexpected end", ""},
		{"no metrics.csv", map[string]string{"case.json": "{}"}, "metrics.csv:", ""},
		{"a bad header", map[string]string{"case.json": "{}", "metrics.csv": "time,svc\n1,a\n"}, "metrics.csv:", ""},
		{"header only", map[string]string{"case.json": "{}", "metrics.csv": header}, "no metric rows with a finite value", ""},
		{"a timestamp that is not a number", map[string]string{"case.json": "{}", "metrics.csv": header + "1,a,cpu,1\nnoon,a,cpu,2\n"}, "line 3: timestamp \"noon\"", ""},
		{"too few fields", map[string]string{"case.json": "{}", "metrics.csv": header + "1,a,cpu\n"}, "line 2", ""},
		{"an empty service", map[string]string{"case.json": "{}", "metrics.csv": header + "1,,cpu,1\n"}, "line 2: empty service or metric", ""},
		{"NaN and Inf values", map[string]string{"case.json": "{}", "metrics.csv": header + "1,a,cpu,NaN\n2,a,cpu,+Inf\n3,a,cpu,4\n"}, "", "2 rows without a finite value were skipped"},
		{"out of order", map[string]string{"case.json": "{}", "metrics.csv": header + "3,a,cpu,1\n1,a,cpu,2\n2,a,cpu,3\n"}, "", "out of time order and were sorted"},
		{"duplicate timestamps", map[string]string{"case.json": "{}", "metrics.csv": header + "1,a,cpu,1\n1,a,cpu,3\n2,a,cpu,3\n"}, "", "1 samples repeated a timestamp and were averaged"},
		{"a 5 MB line", map[string]string{"case.json": "{}", "metrics.csv": header + "1,a,cpu,1\n2,a," + strings.Repeat("x", 5<<20) + ",2\n"}, "", ""},
		{"unknown services in the topology", map[string]string{"case.json": "{}", "metrics.csv": header + "1,a,cpu,1\n", "topology.csv": "caller,callee\na,ghost\n"}, "", ""},
		{"a spans.jsonl line that is not JSON", map[string]string{"case.json": "{}", "metrics.csv": header + "1,a,cpu,1\n",
			"spans.jsonl": `{"trace_id":"t","span_id":"s","service":"a","start":"2026-11-01T00:00:00Z","duration_us":5}` + "\n{oops\n"}, "spans.jsonl: line 2: not a span", ""},
		{"a span without ids", map[string]string{"case.json": "{}", "metrics.csv": header + "1,a,cpu,1\n", "spans.jsonl": `{"service":"a"}`}, "spans.jsonl: line 1: a span needs trace_id and span_id", ""},
		{"spans in a loop, orphans, skew", map[string]string{"case.json": "{}", "metrics.csv": header + "1,a,cpu,1\n", "spans.jsonl": strings.Join([]string{
			`{"trace_id":"t","span_id":"a","parent_span_id":"b","service":"a","kind":"server","start":"2026-11-01T00:00:00Z","duration_us":5}`,
			`{"trace_id":"t","span_id":"b","parent_span_id":"a","service":"","kind":"client","start":"2026-11-01T00:00:00Z","duration_us":-5}`,
			`{"trace_id":"u","span_id":"c","parent_span_id":"gone","service":"b","start":"2026-10-31T23:59:59Z","duration_us":5}`}, "\n")}, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			c, err := LoadCase(dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantWarning != "" && !strings.Contains(strings.Join(c.Warnings, "\n"), tt.wantWarning) {
				t.Errorf("warnings %q, want %q", c.Warnings, tt.wantWarning)
			}
			for _, m := range c.Metrics {
				for k, s := range m {
					for i := 1; i < len(s); i++ {
						if !s[i].T.After(s[i-1].T) {
							t.Errorf("%s: samples not in strict time order", k)
						}
					}
				}
			}
			checkRanking(t, c, Rank(c, Options{}))
		})
	}
}

// BenchmarkRank60x20 is the size: 60 services × 20 metrics × 2 h
// at a 15 s step (576,000 samples), in three vocabularies, ranked.
func BenchmarkRank60x20(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	metrics := []struct {
		name string
		base float64
	}{
		{"cpu_usage_pct", 20}, {"mem_usage_pct", 40}, {"latency_server_p90_s", 0.05}, {"latency_client_p90_s", 0.1},
		{"requests_ops", 50}, {"success_rate_pct", 99.9}, {"net_tx_bytes", 1e5}, {"net_rx_bytes", 2e4},
		{"http.server.request.duration", 0.04}, {"http.client.request.duration", 0.08}, {"container_cpu_usage_seconds_total", 0},
		{"AWS::Lambda/latency_p99_s", 0.2}, {"availability_pct", 99.95}, {"requests_count", 0}, {"errors_count", 0},
		{"gc_pause_seconds", 0.002}, {"threads", 40}, {"queue_depth", 3}, {"disk_io_bytes", 5e5}, {"open_fds", 120},
	}
	const services, step, dur = 60, 15 * time.Second, 2 * time.Hour
	onset := 100 * time.Minute
	c := &Case{Onset: t0.Add(onset), Metrics: map[string]map[string][]Sample{}}
	for i := range services {
		svc := fmt.Sprintf("svc-%02d", i)
		c.Metrics[svc] = map[string][]Sample{}
		for _, m := range metrics {
			total := 0.0
			s := make([]Sample, 0, dur/step)
			for d := time.Duration(0); d < dur; d += step {
				v := m.base * (1 + 0.05*rng.NormFloat64())
				if m.base == 0 { // a counter
					total += 10 + rng.Float64()
					v = total
				}
				if i == 41 && d >= onset && (m.name == "cpu_usage_pct" || m.name == "http.server.request.duration") {
					v *= 5
				}
				s = append(s, Sample{t0.Add(d), v})
			}
			c.Metrics[svc][m.name] = s
		}
		if i > 0 {
			c.Edges = append(c.Edges, [2]string{fmt.Sprintf("svc-%02d", (i-1)/3), svc})
		}
	}
	b.ResetTimer()
	for b.Loop() {
		if r := Rank(c, Options{}); r[0].Service != "svc-41" {
			b.Fatal(names(r)[:3])
		}
	}
}
