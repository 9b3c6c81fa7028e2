package spans

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// A small traffic generator for the sampler and store tests: a few
// services calling each other along several request shapes, lognormal
// self times, calls that repeat a random number of times, rare branches,
// injected errors, and faults (extra latency or errors at one operation)
// that mark the spans they act on. The tests vary its seed and mix; the
// sampler's constants are not tuned to it.

type shape struct {
	service, name, kind string
	selfMS              float64 // median self time
	sigma               float64 // lognormal spread of the self time
	errRate             float64
	parallel            bool
	calls               []call
}

type call struct {
	to       *shape
	min, max int     // repeat count, uniform in [min, max]
	prob     float64 // chance the call happens at all (0 means always)
}

// rpc builds a client span of caller calling the server shape to.
func rpc(caller string, to *shape, netMS float64) *shape {
	return &shape{service: caller, name: to.name, kind: KindClient, selfMS: netMS, sigma: 0.4, calls: []call{{to: to}}}
}

type genFault struct {
	service, name string  // the operation it acts on
	extra         float64 // extra self time, ms
	errRate       float64 // extra error chance
	share         float64 // share of calls it hits (0: all)
}

type gen struct {
	rng    *rand.Rand
	now    time.Time
	roots  []*shape
	weight []float64
	faults []genFault
	// errScale multiplies every shape's error rate (0 disables errors).
	errScale float64
	n        int
}

func newGen(seed uint64) *gen {
	db := &shape{service: "postgres", name: "SELECT", kind: KindServer, selfMS: 2, sigma: 0.5, errRate: 0.0005}
	dbWrite := &shape{service: "postgres", name: "INSERT", kind: KindServer, selfMS: 4, sigma: 0.5, errRate: 0.0005}
	cache := &shape{service: "redis", name: "GET", kind: KindServer, selfMS: 0.3, sigma: 0.3}
	catalog := &shape{service: "catalog", name: "GET /products/{id}", kind: KindServer, selfMS: 3, sigma: 0.4, errRate: 0.0005,
		calls: []call{{to: rpc("catalog", cache, 0.2), min: 1, max: 1}, {to: rpc("catalog", db, 0.3), min: 1, max: 1, prob: 0.3}}}
	cart := &shape{service: "cart", name: "GET /cart", kind: KindServer, selfMS: 2, sigma: 0.4, errRate: 0.0005,
		calls: []call{{to: rpc("cart", cache, 0.2), min: 1, max: 2}}}
	payments := &shape{service: "payments", name: "POST /charge", kind: KindServer, selfMS: 20, sigma: 0.5, errRate: 0.001,
		calls: []call{{to: rpc("payments", dbWrite, 0.3)}}}
	email := &shape{service: "email", name: "POST /send", kind: KindServer, selfMS: 8, sigma: 0.6, errRate: 0.0005}
	checkout := &shape{service: "checkout", name: "POST /checkout", kind: KindServer, selfMS: 5, sigma: 0.4, errRate: 0.0005,
		calls: []call{
			{to: rpc("checkout", cart, 0.5)},
			{to: rpc("checkout", catalog, 0.5), min: 1, max: 4},
			{to: rpc("checkout", payments, 1)},
			{to: rpc("checkout", email, 0.5), prob: 0.98},
			{to: &shape{service: "checkout", name: "fraud-check", kind: KindInternal, selfMS: 3, sigma: 0.5}, prob: 0.01},
		}}
	home := &shape{service: "frontend", name: "GET /", kind: KindServer, selfMS: 4, sigma: 0.4, errRate: 0.0005, parallel: true,
		calls: []call{{to: rpc("frontend", catalog, 0.5), min: 2, max: 6}, {to: rpc("frontend", cart, 0.5), prob: 0.7}}}
	product := &shape{service: "frontend", name: "GET /product/{id}", kind: KindServer, selfMS: 3, sigma: 0.4, errRate: 0.0005,
		calls: []call{{to: rpc("frontend", catalog, 0.5)}}}
	buy := &shape{service: "frontend", name: "POST /cart/checkout", kind: KindServer, selfMS: 3, sigma: 0.4, errRate: 0.0005,
		calls: []call{{to: rpc("frontend", checkout, 1)}}}
	return &gen{
		rng:      rand.New(rand.NewPCG(seed, seed^0x5eed)),
		now:      time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC),
		roots:    []*shape{home, product, buy},
		weight:   []float64{0.5, 0.3, 0.2},
		errScale: 1,
	}
}

func (g *gen) id(hexDigits int) string {
	const hexd = "0123456789abcdef"
	b := make([]byte, hexDigits)
	for i := range b {
		b[i] = hexd[g.rng.IntN(16)]
	}
	return string(b)
}

// trace makes the next trace; requests arrive 2 ms apart.
func (g *gen) trace() Trace {
	g.n++
	g.now = g.now.Add(2 * time.Millisecond)
	r := g.rng.Float64()
	root := g.roots[len(g.roots)-1]
	for i, w := range g.weight {
		if r < w {
			root = g.roots[i]
			break
		}
		r -= w
	}
	t := Trace{ID: g.id(32)}
	g.emit(&t, root, "", g.now)
	return t
}

func (g *gen) traces(n int) []Trace {
	out := make([]Trace, n)
	for i := range out {
		out[i] = g.trace()
	}
	return out
}

// emit appends the span of sh and its subtree, returning its end and
// whether it failed (a failed call fails its caller half the time).
func (g *gen) emit(t *Trace, sh *shape, parent string, start time.Time) (time.Time, bool) {
	sp := Span{TraceID: t.ID, SpanID: g.id(16), ParentID: parent, Service: sh.service, Name: sh.name, Kind: sh.kind, Start: start,
		Attrs: map[string]string{"http.route": sh.name}}
	self := sh.selfMS * math.Exp(sh.sigma*g.rng.NormFloat64())
	errRate := sh.errRate * g.errScale
	for _, f := range g.faults {
		if f.service == sh.service && f.name == sh.name && (f.share == 0 || g.rng.Float64() < f.share) {
			self += f.extra
			errRate += f.errRate
			sp.Fault = true
		}
	}
	selfD := time.Duration(self * float64(time.Millisecond))
	idx := len(t.Spans)
	t.Spans = append(t.Spans, sp)
	cur := start.Add(selfD / 2)
	end := cur
	failed := g.rng.Float64() < errRate
	for _, c := range sh.calls {
		if c.prob > 0 && g.rng.Float64() >= c.prob {
			continue
		}
		n := 1
		if c.max > c.min {
			n = c.min + g.rng.IntN(c.max-c.min+1)
		} else if c.min > 0 {
			n = c.min
		}
		for range n {
			ce, cf := g.emit(t, c.to, sp.SpanID, cur)
			if cf && g.rng.IntN(2) == 0 {
				failed = true
			}
			if !sh.parallel {
				cur = ce
			}
			if ce.After(end) {
				end = ce
			}
		}
	}
	end = end.Add(selfD - selfD/2)
	s := &t.Spans[idx]
	s.Duration = end.Sub(start)
	if failed {
		s.Error = true
		s.Status = "failed"
		s.Events = []Event{{Time: end, Name: "exception", Attrs: map[string]string{"exception.type": "Error", "exception.message": fmt.Sprintf("%s failed", sh.name)}}}
	}
	return end, failed
}
