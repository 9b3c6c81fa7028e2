package spans

import "testing"

// runStream offers n traces of g to a sampler, through a Waiter of wait
// traces when wait is not 0, and counts what it kept of the traces a
// fault touched and of the rest.
type streamCount struct {
	touched, touchedKept, rest, restKept, late int
}

func (c *streamCount) add(vs []Verdict) {
	for _, v := range vs {
		if v.Trace.Touched() {
			c.touched++
			if v.Decision.Keep {
				c.touchedKept++
			}
		} else {
			c.rest++
			if v.Decision.Keep {
				c.restKept++
			}
		}
		if v.Decision.Reason == ReasonLate {
			c.late++
		}
	}
}

// A fault's first calls look normal until enough of them show it: the
// sampler alone drops some of the traces it touched, the decision wait
// keeps them all (as anomalous_operation_late) and still drops most of
// the rest.
func TestWaiterKeepsTheFirstCallsOfAFault(t *testing.T) {
	faults := []struct {
		name  string
		fault genFault
	}{
		// Errors on a third of the calls and a little latency: the
		// calls that do not fail are found only once the error share
		// is up.
		{"payments fails a third of its calls, +5ms", genFault{service: "payments", name: "POST /charge", errRate: 0.33, extra: 5}},
		// A shift of about the p90: the median of 16 calls must move first.
		{"catalog +4ms", genFault{service: "catalog", name: "GET /products/{id}", extra: 4}},
	}
	for i, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			count := func(wait int) streamCount {
				g := newGen(uint64(70 + i))
				g.errScale = 0
				s := NewSampler(SamplerOptions{})
				w := NewWaiter(s, wait)
				var c streamCount
				for range scale(10_000) {
					c.add(w.Offer(g.trace()))
				}
				g.faults = []genFault{f.fault}
				for range scale(3_000) {
					c.add(w.Offer(g.trace()))
					if w.Held() > w.wait {
						t.Fatalf("%d traces held, wait %d", w.Held(), w.wait)
					}
				}
				c.add(w.Flush())
				if w.Held() != 0 {
					t.Fatalf("%d held after Flush", w.Held())
				}
				return c
			}
			plain, waited := count(-1), count(0)
			t.Logf("touched kept: %d/%d without a wait, %d/%d with (%d late); rest kept %d/%d, %d/%d",
				plain.touchedKept, plain.touched, waited.touchedKept, waited.touched, waited.late, plain.restKept, plain.rest, waited.restKept, waited.rest)
			if plain.touched != waited.touched || plain.touched == 0 {
				t.Fatalf("the streams differ: %+v %+v", plain, waited)
			}
			if plain.touchedKept == plain.touched {
				t.Errorf("the sampler alone kept every touched trace: the case tests nothing")
			}
			if plain.late != 0 {
				t.Errorf("late verdicts without a wait: %d", plain.late)
			}
			if float64(waited.touchedKept) < 0.99*float64(waited.touched) || waited.late == 0 {
				t.Errorf("with the wait %d of %d touched traces kept (%d late), want ≥ 99 %%", waited.touchedKept, waited.touched, waited.late)
			}
			// The look-back is the 64 calls before an anomaly, not the
			// whole wait: few healthy traces come back with the late ones.
			before, after := float64(plain.restKept)/float64(plain.rest), float64(waited.restKept)/float64(waited.rest)
			if after > 0.12 || after-before > 0.03 {
				t.Errorf("untouched traces kept: %.1f %% with the wait, %.1f %% without; want ≤ 12 %% and ≤ 3 points more", 100*after, 100*before)
			}
		})
	}
}

// Without a wait every verdict is final at once; with one, a dropped
// trace comes back after exactly wait more traces, in order, and Flush
// returns the rest.
func TestWaiterOrderAndFlush(t *testing.T) {
	g := newGen(3)
	g.errScale = 0
	w := NewWaiter(NewSampler(SamplerOptions{}), -1)
	for range 100 {
		if vs := w.Offer(g.trace()); len(vs) != 1 {
			t.Fatalf("no wait: %d verdicts", len(vs))
		}
	}
	if vs := w.Flush(); len(vs) != 0 || w.Held() != 0 {
		t.Fatalf("no wait: flush %d, held %d", len(vs), w.Held())
	}

	w = NewWaiter(NewSampler(SamplerOptions{}), 10)
	var offered, got []string
	for range 2000 {
		tr := g.trace()
		offered = append(offered, tr.ID)
		for _, v := range w.Offer(tr) {
			got = append(got, v.Trace.ID)
		}
		if w.Held() > 10 {
			t.Fatalf("held %d", w.Held())
		}
	}
	for _, v := range w.Flush() {
		got = append(got, v.Trace.ID)
	}
	if len(got) != len(offered) {
		t.Fatalf("offered %d, got %d verdicts", len(offered), len(got))
	}
	seen := map[string]bool{}
	for _, id := range got {
		if seen[id] {
			t.Fatalf("trace %s judged twice", id)
		}
		seen[id] = true
	}
	if vs := w.Offer(Trace{ID: "empty"}); len(vs) != 0 {
		t.Errorf("an empty trace was judged: %+v", vs)
	}
}
