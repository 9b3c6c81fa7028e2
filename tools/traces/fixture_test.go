package traces

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/spans"
)

// shop makes traces of a small shop: frontend → checkout → payments (→
// postgres, uninstrumented) and checkout → cart, cart called extra more
// times. A fault can delay the checkout → payments call on the wire (the
// client span grows, the server span does not) or make payments fail.
type shop struct {
	seed  uint64
	extra int // extra cart calls per trace
	// delay is added on the wire of checkout → payments; failEvery makes
	// every n-th payment fail with an exception.
	delay     time.Duration
	failEvery int
	// fraud adds a new call checkout → fraud.
	fraud bool
}

func (s shop) traces(start time.Time, n int, every time.Duration) []spans.Trace {
	r := rand.New(rand.NewPCG(s.seed, 7))
	out := make([]spans.Trace, 0, n)
	for i := range n {
		at := start.Add(time.Duration(i) * every)
		out = append(out, s.trace(r, fmt.Sprintf("%016x%016x", s.seed, i+1), at, i))
	}
	return out
}

func (s shop) trace(r *rand.Rand, id string, at time.Time, i int) spans.Trace {
	t := spans.Trace{ID: id}
	next := 0
	add := func(parent, svc, name, kind string, start time.Time, d time.Duration, attrs map[string]string) *spans.Span {
		next++
		sp := spans.Span{TraceID: id, SpanID: fmt.Sprintf("%016x", next), Service: svc, Name: name, Kind: kind, Start: start, Duration: d, Attrs: attrs}
		if parent != "" {
			sp.ParentID = parent
		}
		t.Spans = append(t.Spans, sp)
		return &t.Spans[len(t.Spans)-1]
	}
	jitter := func(d time.Duration) time.Duration { return d + time.Duration(r.Int64N(int64(d/5)+1)) }
	pay := jitter(40 * time.Millisecond)
	payClient := pay + 2*time.Millisecond + s.delay
	cartD := jitter(8 * time.Millisecond)
	carts := 1 + s.extra
	fraudD := time.Duration(0)
	if s.fraud {
		fraudD = jitter(15 * time.Millisecond)
	}
	coServer := 5*time.Millisecond + payClient + time.Duration(carts)*(cartD+time.Millisecond) + fraudD
	feServer := coServer + 6*time.Millisecond
	root := add("", "frontend", "GET /checkout", spans.KindServer, at, feServer, map[string]string{"http.request.method": "GET", "http.route": "/checkout"})
	rootID := root.SpanID
	fc := add(rootID, "frontend", "POST checkout", spans.KindClient, at.Add(2*time.Millisecond), coServer+2*time.Millisecond, map[string]string{"peer.service": "checkout"})
	fcID := fc.SpanID
	co := add(fcID, "checkout", "POST /checkout", spans.KindServer, at.Add(3*time.Millisecond), coServer, map[string]string{"http.route": "/checkout"})
	coID := co.SpanID
	cur := at.Add(5 * time.Millisecond)
	for range carts {
		cc := add(coID, "checkout", "GET cart", spans.KindClient, cur, cartD+time.Millisecond, map[string]string{"peer.service": "cart"})
		add(cc.SpanID, "cart", "GET /cart", spans.KindServer, cur.Add(500*time.Microsecond), cartD, nil)
		cur = cur.Add(cartD + time.Millisecond)
	}
	if s.fraud {
		fc := add(coID, "checkout", "GET fraud", spans.KindClient, cur, fraudD, map[string]string{"peer.service": "fraud"})
		add(fc.SpanID, "fraud", "GET /score", spans.KindServer, cur.Add(time.Millisecond), fraudD-2*time.Millisecond, nil)
		cur = cur.Add(fraudD)
	}
	failed := s.failEvery > 0 && i%s.failEvery == 0
	pc := add(coID, "checkout", "POST payments", spans.KindClient, cur, payClient, map[string]string{"peer.service": "payments", "server.address": "payments"})
	pcID := pc.SpanID
	ps := add(pcID, "payments", "POST /charge", spans.KindServer, cur.Add(payClient-pay-time.Millisecond), pay, map[string]string{"http.route": "/charge"})
	psID, psStart := ps.SpanID, ps.Start
	db := add(psID, "payments", "INSERT charges", spans.KindClient, psStart.Add(5*time.Millisecond), pay-10*time.Millisecond, map[string]string{"db.system.name": "postgresql", "peer.service": "postgres"})
	if failed {
		db.Error, db.Status = true, "deadlock detected"
		db.Events = []spans.Event{{Time: db.Start.Add(time.Millisecond), Name: "exception", Attrs: map[string]string{"exception.type": "PGError", "exception.message": "deadlock detected"}}}
		for k := range t.Spans {
			if sp := &t.Spans[k]; sp.SpanID == psID || sp.SpanID == pcID || sp.SpanID == coID || sp.SpanID == fcID || sp.SpanID == rootID {
				sp.Error = true
			}
		}
	}
	return t
}

// memBackend serves traces from memory, filtering as Jaeger does.
type memBackend struct {
	traces []spans.Trace
	// searches counts Search calls; err fails them.
	err error
}

func (m *memBackend) Name() string { return "memory" }

func (m *memBackend) Search(ctx context.Context, q spans.Query) ([]spans.Trace, error) {
	if m.err != nil {
		return nil, m.err
	}
	var out []spans.Trace
	for _, t := range m.traces {
		if spans.Match(spans.Build(t), q) {
			out = append(out, t)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Spans[0].Start.After(out[j].Spans[0].Start) })
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

func (m *memBackend) Trace(ctx context.Context, id string) (spans.Trace, error) {
	for _, t := range m.traces {
		if t.ID == id {
			return t, nil
		}
	}
	return spans.Trace{}, fmt.Errorf("memory: %s: %w", id, ErrNotFound)
}

func (m *memBackend) Services(ctx context.Context) ([]string, error) {
	set := map[string]bool{}
	for _, t := range m.traces {
		for _, s := range t.Spans {
			set[s.ServiceName()] = true
		}
	}
	var out []string
	for s := range set {
		out = append(out, s)
	}
	return out, nil
}

func (m *memBackend) Link(id string) string { return "http://jaeger.test/trace/" + id }
