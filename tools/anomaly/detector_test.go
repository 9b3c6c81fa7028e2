package anomaly

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func series(n int, f func(i int) float64) ([]time.Time, []float64) {
	ts := make([]time.Time, n)
	vs := make([]float64, n)
	for i := range n {
		ts[i] = t0.Add(time.Duration(i) * 5 * time.Minute)
		vs[i] = f(i)
	}
	return ts, vs
}

func scoreAllKinds(t *testing.T, ts []time.Time, vs []float64) map[string][]float64 {
	t.Helper()
	out := map[string][]float64{}
	for _, k := range Kinds {
		d, err := NewDetector(k, Options{})
		if err != nil {
			t.Fatal(err)
		}
		scores := make([]float64, len(vs))
		for i := range vs {
			scores[i] = d.Score(ts[i], vs[i])
			if math.IsNaN(scores[i]) || scores[i] < 0 || scores[i] > 1 {
				t.Fatalf("%s: score %v at %d", k, scores[i], i)
			}
		}
		out[k] = scores
	}
	return out
}

// TestCausal: a point's score never depends on later points. Scores of a
// prefix equal the scores of the whole series over that prefix, whatever
// follows.
func TestCausal(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ts, vs := series(2500, func(i int) float64 { return 50 + 10*math.Sin(float64(i)/40) + rng.NormFloat64() })
	alt := append([]float64(nil), vs...)
	for i := 1500; i < len(alt); i++ {
		alt[i] = 1000 * rng.Float64() // a wildly different future
	}
	a, b := scoreAllKinds(t, ts, vs), scoreAllKinds(t, ts, alt)
	for _, k := range Kinds {
		for i := range 1500 {
			if a[k][i] != b[k][i] {
				t.Fatalf("%s: score at %d changed with the future (%v vs %v)", k, i, a[k][i], b[k][i])
			}
		}
	}
}

func TestDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	ts, vs := series(2000, func(i int) float64 { return rng.ExpFloat64() })
	a, b := scoreAllKinds(t, ts, vs), scoreAllKinds(t, ts, vs)
	for _, k := range Kinds {
		for i := range vs {
			if a[k][i] != b[k][i] {
				t.Fatalf("%s differs between runs at %d", k, i)
			}
		}
	}
}

func TestFindsTheObviousAnomalies(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, tt := range []struct {
		name string
		f    func(i int) float64
		at   int
	}{
		{"spike", func(i int) float64 {
			if i == 1800 {
				return 40
			}
			return 10 + rng.NormFloat64()
		}, 1800},
		{"level shift", func(i int) float64 {
			if i >= 1800 {
				return 20 + rng.NormFloat64()
			}
			return 10 + rng.NormFloat64()
		}, 1800},
		{"daily rhythm breaks", func(i int) float64 {
			day := 10 * math.Sin(2*math.Pi*float64(i%288)/288)
			if i >= 2000 && i < 2100 {
				day = 0 // the rhythm goes flat for a while
			}
			return 50 + day + 0.3*rng.NormFloat64()
		}, 2000},
	} {
		ts, vs := series(2600, tt.f)
		d := New(Options{})
		best, at := -1.0, -1
		for i := range vs {
			s := d.Score(ts[i], vs[i])
			if i > 600 && s > best {
				best, at = s, i
			}
		}
		if at < tt.at || at > tt.at+60 || best < 0.8 {
			t.Errorf("%s: strongest score %.3f at %d, the anomaly starts at %d", tt.name, best, at, tt.at)
		}
	}
}

func TestDegenerateSeries(t *testing.T) {
	for _, tt := range []struct {
		name string
		f    func(i int) float64
	}{
		{"constant", func(int) float64 { return 7 }},
		{"zero", func(int) float64 { return 0 }},
		{"NaN and Inf mixed in", func(i int) float64 {
			switch i % 7 {
			case 3:
				return math.NaN()
			case 5:
				return math.Inf(1 - 2*(i%2))
			}
			return float64(i % 13)
		}},
		{"huge values", func(i int) float64 { return 1e300 * float64(i%3) }},
		{"tiny values", func(i int) float64 { return 1e-300 * float64(i%5) }},
	} {
		ts, vs := series(1500, tt.f)
		scores := scoreAllKinds(t, ts, vs) // asserts range and NaN-freedom
		if tt.name == "constant" || tt.name == "zero" {
			for k, s := range scores {
				for i, x := range s {
					if x > 0.05 {
						t.Errorf("%s %s: score %.3f at %d on a flat line", tt.name, k, x, i)
						break
					}
				}
			}
		}
	}
	// One point, no points, and gaps and repeated or backward times.
	d := New(Options{})
	if s := d.Score(t0, 1); s != 0 {
		t.Errorf("first point scored %v", s)
	}
	d = New(Options{})
	for i := range 800 {
		ts := t0.Add(time.Duration(i) * time.Minute)
		switch {
		case i%50 == 0:
			ts = ts.Add(-time.Hour) // backwards
		case i%60 == 0:
			ts = ts.Add(48 * time.Hour) // a gap
		}
		if s := d.Score(ts, float64(i%10)); math.IsNaN(s) || s < 0 || s > 1 {
			t.Fatalf("score %v", s)
		}
	}
}

func TestReadCSV(t *testing.T) {
	rows, warnings, err := ReadCSV(strings.NewReader("\ufefftimestamp,value\r\n2026-01-01 00:00:00,1\r\n2026-01-01 00:00:00,x\r\n2025-12-31 23:55:00.5,3\r\n\r\n1767225600,4\r\n2026-01-01T00:10:00Z,5"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 || rows[3].Time != time.Unix(1767225600, 0).UTC() || !math.IsNaN(rows[1].Value) || rows[4].Value != 5 {
		t.Errorf("rows %+v", rows)
	}
	want := []string{"1 value is not a finite number", "1 timestamp goes back in time", "1 timestamp repeats"}
	for i, w := range want {
		if i >= len(warnings) || !strings.HasPrefix(warnings[i], w) {
			t.Errorf("warnings %q, want %q", warnings, want)
			break
		}
	}
}

func FuzzReadCSV(f *testing.F) {
	f.Add("timestamp,value\n2026-01-01 00:00:00,1\n")
	f.Add("timestamp,value\n1700000000,NaN\n1700000060,-Inf\n")
	f.Add("timestamp,value\n\"2026-01-01 00:00:00\",\"1,5\"\n")
	f.Add("")
	f.Add("timestamp,value\n2026-13-45 99:99:99,1\n")
	f.Fuzz(func(t *testing.T, in string) {
		rows, _, err := ReadCSV(strings.NewReader(in))
		if err != nil {
			return
		}
		d := New(Options{})
		scores := ScoreRows(d, rows)
		if len(scores) != len(rows) {
			t.Fatalf("%d scores for %d rows", len(scores), len(rows))
		}
		for _, s := range scores {
			if math.IsNaN(s) || s < 0 || s > 1 {
				t.Fatalf("score %v", s)
			}
		}
		var b strings.Builder
		if err := WriteScores(&b, rows, scores); err != nil {
			t.Fatal(err)
		}
		// Scoring as the input streams in gives the same output.
		var streamed strings.Builder
		if _, err := ScoreCSV(strings.NewReader(in), &streamed, New(Options{})); err != nil || streamed.String() != b.String() {
			t.Fatalf("streamed output differs (%v):\n%s\nvs\n%s", err, streamed.String(), b.String())
		}
		again, _, err := ReadCSV(strings.NewReader(strings.Replace(b.String(), "timestamp,value,anomaly_score", "timestamp,value,s", 1)))
		if err != nil || len(again) != len(rows) {
			t.Fatalf("output does not read back: %v (%d vs %d rows)", err, len(again), len(rows))
		}
	})
}
