package world

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/spans"
)

// DefaultTraceShare is the share of requests traced when TraceOptions
// gives none: the head sampling of the simulated services' OpenTelemetry
// SDKs, which decide at the entry service whether a request is traced.
const DefaultTraceShare = 0.1

// TraceOptions configure a TraceGenerator.
type TraceOptions struct {
	// Share is the head-sampling share of the simulated SDKs: the
	// fraction of the entry service's requests that become traces, in
	// (0, 1] (DefaultTraceShare when zero).
	Share float64
}

// TraceGenerator turns snapshots into the traces of their requests. A step
// of Snapshot s yields round(entry RPS × Step × Share) traces, started
// evenly over the step's 15 seconds, each walked from the entry service
// along the call graph:
//
//   - the service answers with a server span (name "GET /route" for HTTP
//     services, the OpenTelemetry database conventions for Redis and
//     PostgreSQL: "GET", "SELECT shop.products"); the entry service's
//     route is drawn by its route shares, a callee's is the one its
//     caller's route asks for (drawn by the callee's shares once, when
//     the generator is made);
//   - each edge is called floor(Ratio) times and frac(Ratio) of the
//     requests once more; each call is a client span of the caller whose
//     child is the callee's server span. As in real code, a route makes
//     the same calls every time: the extra call is given to whole routes
//     (those named like the callee or one of its routes first), so only
//     the route where the share runs out draws it by chance, and each
//     call asks the callee for the same operation;
//   - own work is lognormal around ServiceState.OwnLatency with the
//     service's Sigma, half before its calls and half after; calls run
//     one after another;
//   - a client span lasts its callee's server span plus the network: a
//     fraction of a millisecond, plus the edge's Delay under
//     network_latency, network_delay and packet_loss. The delay is in the
//     client span only, never in the callee's server span;
//   - a server span fails on its own with probability OwnErrorRate
//     (status ERROR, http.response.status_code 500, an "exception"
//     event); a failed call fails the client span, and the caller's
//     server span with probability 0.9, as the simulation's error rates
//     assume;
//   - a callee that is down or has no ready pod answers nothing: the
//     client span fails within a millisecond with a connection-refused
//     exception and there is no server span. A call lost to packet loss
//     (probability EdgeState.Loss) times out after a second, also without
//     a server span. A down entry service yields no trace.
//
// Span.Fault is true exactly when a fault acting at that span changed it:
//
//   - a server span of a service whose faults multiply its own latency by
//     more than 1.1 (ServiceState.FaultLatencyFactor), or whose own error
//     was drawn from the error rate its faults add (FaultErrorRate);
//   - a client span crossing an edge with a fault's Delay or Loss;
//   - a client span refused by a callee that is down or has no ready pod
//     while a fault acts on it (dependency_down, OOM kills of a leak).
//
// Spans that fail only because a callee failed are not marked: the fault
// acted elsewhere in their trace (spans.Trace.Touched still sees it).
//
// Trace and span IDs derive from the seed, the step and the request, so
// the same seed gives the same traces. A TraceGenerator holds no state
// between calls and is safe for concurrent use.
type TraceGenerator struct {
	seed     uint64
	share    float64
	entry    int
	services []traceService
	// perRequest is the mean spans of a request, to size buffers.
	perRequest float64
}

// traceService is what spans need of one service, computed once.
type traceService struct {
	name, host, port string
	kind             Kind
	routes           []traceRoute
	// plans are each route's calls, by route.
	plans [][]traceCall
}

// traceRoute is one operation a service serves and its cumulative share.
type traceRoute struct {
	cum float64
	// name is the server span's name and, for callers, their client
	// span's; method and path or the database operation and collection
	// fill the attributes.
	name, method, path, url string
	operation, collection   string
	errType, errMessage     string
}

// traceCall is what one route does with one edge: whole calls, one more
// with probability extra, each asking for the callee's route.
type traceCall struct {
	to    int
	edge  int // index in Topology.Edges and Snapshot.Edges
	whole int
	extra float64
	route []int // the callee's route of each call (the last repeats)
}

// NewTraceGenerator returns a generator for topo's snapshots. A Share
// outside (0, 1] is clamped: at most every request is traced.
func NewTraceGenerator(topo Topology, seed uint64, opts TraceOptions) *TraceGenerator {
	share := opts.Share
	if share <= 0 {
		share = DefaultTraceShare
	}
	share = math.Min(share, 1)
	index := map[string]int{}
	for i, s := range topo.Services {
		index[s.Name] = i
	}
	g := &TraceGenerator{seed: seed, share: share, entry: index[topo.Entry], services: make([]traceService, len(topo.Services)),
		perRequest: SpansPerRequest(topo)}
	for i, s := range topo.Services {
		ts := &g.services[i]
		ts.name, ts.host, ts.kind, ts.port = s.Name, s.Name, s.Kind, strconv.Itoa(int(s.Kind.Port()))
		ts.routes = traceRoutes(s)
	}
	for i := range g.services {
		g.services[i].plans = make([][]traceCall, len(g.services[i].routes))
	}
	for k, e := range topo.Edges {
		from, to := &g.services[index[e.From]], &g.services[index[e.To]]
		whole, frac := math.Modf(math.Max(e.Ratio, 0))
		extra := routeShares(from, to, frac)
		for r := range from.routes {
			c := traceCall{to: index[e.To], edge: k, whole: int(whole), extra: extra[r]}
			for n := range max(c.whole+1, 1) {
				u := float64(Hash64(0, from.name, from.routes[r].name, to.name, strconv.Itoa(n))>>11) / (1 << 53)
				c.route = append(c.route, to.pick(u))
			}
			from.plans[r] = append(from.plans[r], c)
		}
	}
	return g
}

// routeShares spreads frac, the share of from's requests that call to
// once more, over from's routes: routes named like to or one of its
// routes first, then in an order fixed by their names, each taking its
// whole share until frac is spent. It returns each route's probability
// of the extra call: 1 or 0 but for the route where frac runs out.
func routeShares(from, to *traceService, frac float64) []float64 {
	n := len(from.routes)
	order := make([]int, n)
	key := make([]uint64, n)
	for r := range order {
		order[r] = r
		key[r] = Hash64(0, from.name, from.routes[r].name, to.name) >> 1
		if from.routes[r].path != "" && (strings.Contains(from.routes[r].path, to.name) || to.serves(from.routes[r].path)) {
			key[r] = 0 // first
		}
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(key[a], key[b]) })
	out := make([]float64, n)
	for _, r := range order {
		share := from.routes[r].cum
		if r > 0 {
			share -= from.routes[r-1].cum
		}
		switch {
		case frac <= 0 || share <= 0:
		case share <= frac:
			out[r], frac = 1, frac-share
		default:
			out[r], frac = frac/share, 0
		}
	}
	return out
}

// serves reports whether ts has a route with path.
func (ts *traceService) serves(path string) bool {
	return slices.ContainsFunc(ts.routes, func(r traceRoute) bool { return r.path == path })
}

// Share returns the head-sampling share in use.
func (g *TraceGenerator) Share() float64 { return g.share }

// traceRoutes are the operations of a service: its HTTP routes, or the
// commands and queries a data store answers.
func traceRoutes(s ServiceSpec) []traceRoute {
	var out []traceRoute
	add := func(share float64, r traceRoute) {
		prev := 0.0
		if len(out) > 0 {
			prev = out[len(out)-1].cum
		}
		r.cum = prev + share
		out = append(out, r)
	}
	switch s.Kind {
	case KindRedis:
		for _, c := range []struct {
			op    string
			share float64
		}{{"GET", 0.7}, {"SET", 0.2}, {"EXPIRE", 0.1}} {
			add(c.share, traceRoute{name: c.op, operation: c.op,
				errType: "redis.Error", errMessage: "LOADING Redis is loading the dataset in memory"})
		}
	case KindPostgres:
		for _, q := range []struct {
			op, table string
			share     float64
		}{{"SELECT", "products", 0.6}, {"SELECT", "orders", 0.25}, {"INSERT", "orders", 0.1}, {"UPDATE", "inventory", 0.05}} {
			add(q.share, traceRoute{name: q.op + " " + Namespace + "." + q.table, operation: q.op, collection: q.table,
				errType: "*pgconn.PgError", errMessage: "ERROR: canceling statement due to statement timeout (SQLSTATE 57014)"})
		}
	default:
		routes := s.Routes
		if len(routes) == 0 {
			routes = []Route{{Path: "/", Share: 1}}
		}
		for _, r := range routes {
			method := "GET"
			for _, w := range []string{"add", "charge", "checkout", "send", "ship"} {
				if strings.Contains(r.Path, w) {
					method = "POST"
				}
			}
			add(r.Share, traceRoute{name: method + " " + r.Path, method: method, path: r.Path,
				url:     "http://" + s.Name + ":" + strconv.Itoa(int(s.Kind.Port())) + r.Path,
				errType: "*errors.errorString", errMessage: "handle " + method + " " + r.Path + ": internal error"})
		}
	}
	if n := len(out); n > 0 && out[n-1].cum > 0 {
		total := out[n-1].cum
		for i := range out {
			out[i].cum /= total
		}
	}
	return out
}

// Requests returns how many traces s yields.
func (g *TraceGenerator) Requests(s *Snapshot) int {
	if g.entry >= len(s.Services) {
		return 0
	}
	n := math.Round(s.Services[g.entry].RPS * Step.Seconds() * g.share)
	if !(n > 0) || n > 1e6 { // NaN, nothing, or no rate a step could hold
		return 0
	}
	return int(n)
}

// Traces returns the traces of the requests of s's step, in the order they
// started. The traces' spans share one backing array, each trace's slice
// capped at its own spans.
func (g *TraceGenerator) Traces(s *Snapshot) []spans.Trace {
	n := g.Requests(s)
	if n == 0 || len(s.Services) != len(g.services) {
		return nil
	}
	entry := &s.Services[g.entry]
	if entry.Down || entry.Ready == 0 {
		return nil
	}
	type bounds struct {
		id         string
		start, end int
	}
	at := make([]bounds, 0, n)
	w := walk{g: g, s: s, spans: make([]spans.Span, 0, int(float64(n)*g.perRequest*1.2)+16)}
	begin := s.Time.Add(-Step)
	for k := range n {
		r := traceRand{x: splitmix(g.seed ^ 0x7472616365 ^ uint64(s.Step)*0x9e3779b97f4a7c15 ^ uint64(k)*0xbf58476d1ce4e5b9)}
		start := begin.Add(time.Duration((float64(k) + r.float()) / float64(n) * float64(Step)))
		w.r = &r
		w.trace = hex128(r.next(), r.next())
		first := len(w.spans)
		w.server(g.entry, g.services[g.entry].pick(r.float()), "", start)
		at = append(at, bounds{w.trace, first, len(w.spans)})
	}
	out := make([]spans.Trace, len(at))
	for i, b := range at {
		out[i] = spans.Trace{ID: b.id, Spans: w.spans[b.start:b.end:b.end]}
	}
	return out
}

// pick returns the route at cumulative share u.
func (ts *traceService) pick(u float64) int {
	for i, r := range ts.routes {
		if u < r.cum {
			return i
		}
	}
	return len(ts.routes) - 1
}

// walk builds one trace.
type walk struct {
	g     *TraceGenerator
	s     *Snapshot
	r     *traceRand
	trace string
	spans []spans.Span
}

// networkTime is the round trip of a call on a healthy network, seconds.
const networkTime = 0.0003

// lostAfter is how long a client waits for a call lost to packet loss.
const lostAfter = time.Second

// server appends service i's server span for route, child of parent,
// starting at start, with everything beneath it; it returns the span's
// duration and whether it failed.
func (w *walk) server(i, route int, parent string, start time.Time) (time.Duration, bool) {
	ts, st := &w.g.services[i], &w.s.Services[i]
	rt := &ts.routes[route]
	id := hex64(w.r.next())
	at := len(w.spans)
	w.spans = append(w.spans, spans.Span{TraceID: w.trace, SpanID: id, ParentID: parent, Service: ts.name,
		Name: rt.name, Kind: spans.KindServer, Start: start})
	own := st.OwnLatency * math.Exp(st.Sigma*w.r.normal())
	t := start.Add(seconds(own / 2))
	failedCall := ""
	for _, c := range ts.plans[route] {
		calls := c.whole
		if c.extra >= 1 || (c.extra > 0 && w.r.float() < c.extra) {
			calls++
		}
		for n := range calls {
			d, failed := w.client(i, c, c.route[min(n, len(c.route)-1)], id, t)
			t = t.Add(d)
			if failed && failedCall == "" {
				failedCall = w.g.services[c.to].name
			}
		}
	}
	end := t.Add(seconds(own / 2))
	sp := &w.spans[at] // the calls may have moved the slice
	sp.Duration = end.Sub(start)
	sp.Fault = st.FaultLatencyFactor > 1.1
	sp.Attrs = ts.serverAttrs(rt, st, w.r)
	u := w.r.float()
	var errType, errMessage string
	switch {
	case u < st.OwnErrorRate:
		errType, errMessage = rt.errType, rt.errMessage
		if u >= st.OwnErrorRate-st.FaultErrorRate {
			sp.Fault = true
		}
	case failedCall != "" && w.r.float() < 0.9:
		errType, errMessage = "*fmt.wrapError", "call "+failedCall+": upstream request failed"
	}
	if errType != "" {
		sp.Error, sp.Status = true, errMessage
		if ts.kind == KindHTTP {
			sp.Attrs["http.response.status_code"] = "500"
		}
		sp.Attrs["error.type"] = errType
		sp.Events = []spans.Event{exception(end, errType, errMessage)}
	} else if ts.kind == KindHTTP {
		sp.Attrs["http.response.status_code"] = "200"
	}
	return sp.Duration, sp.Error
}

// client appends the client span of one call from service i over c,
// starting at start, and the callee's server span beneath it.
func (w *walk) client(i int, c traceCall, route int, parent string, start time.Time) (time.Duration, bool) {
	callee, st := &w.g.services[c.to], &w.s.Services[c.to]
	var edge EdgeState
	if c.edge < len(w.s.Edges) {
		edge = w.s.Edges[c.edge]
	}
	rt := &callee.routes[route]
	id := hex64(w.r.next())
	at := len(w.spans)
	w.spans = append(w.spans, spans.Span{TraceID: w.trace, SpanID: id, ParentID: parent, Service: w.g.services[i].name,
		Name: rt.name, Kind: spans.KindClient, Start: start, Attrs: callee.clientAttrs(rt)})
	net := networkTime * math.Exp(0.3*w.r.normal())
	if edge.Delay > 0 {
		// netem's jitter: within 5 % either way.
		net += edge.Delay * (0.95 + 0.1*w.r.float())
	}
	lost := edge.Loss > 0 && w.r.float() < edge.Loss
	var d time.Duration
	var failed bool
	var errType, errMessage string
	switch {
	case st.Down || st.Ready == 0:
		d = seconds(0.001 * math.Exp(0.3*w.r.normal()))
		failed = true
		errType = "*net.OpError"
		errMessage = "dial tcp " + callee.host + ":" + callee.port + ": connect: connection refused"
	case lost:
		d = seconds(net) + lostAfter
		failed = true
		errType = "*url.Error"
		errMessage = "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
	default:
		sd, sfailed := w.server(c.to, route, id, start.Add(seconds(net/2)))
		d = sd + seconds(net)
		failed = sfailed
	}
	sp := &w.spans[at]
	sp.Duration = d
	sp.Fault = edge.Delay > 0 || edge.Loss > 0 || ((st.Down || st.Ready == 0) && len(st.Effects) > 0)
	if failed {
		sp.Error = true
		if errType != "" {
			sp.Status = errMessage
			sp.Attrs["error.type"] = errType
			sp.Events = []spans.Event{exception(start.Add(d), errType, errMessage)}
		} else {
			if callee.kind == KindHTTP {
				sp.Attrs["http.response.status_code"] = "500"
			}
			sp.Attrs["error.type"] = "500"
			if callee.kind != KindHTTP {
				sp.Attrs["error.type"] = rt.errType
			}
		}
	} else if callee.kind == KindHTTP {
		sp.Attrs["http.response.status_code"] = "200"
	}
	return d, failed
}

// serverAttrs are a server span's attributes in OpenTelemetry's semantic
// conventions, with the pod that served it.
func (ts *traceService) serverAttrs(rt *traceRoute, st *ServiceState, r *traceRand) map[string]string {
	a := make(map[string]string, 9)
	a["server.address"], a["server.port"] = ts.host, ts.port
	// The resource attribute the collector's k8sattributes processor
	// adds; namespace-limited conversations filter on it.
	a["k8s.namespace.name"] = Namespace
	if pods := st.Pods; len(pods) > 0 {
		// A ready pod served it.
		k := int(r.next() % uint64(len(pods)))
		for j := range pods {
			if p := pods[(k+j)%len(pods)]; p.Ready {
				a["k8s.pod.name"] = p.Name
				break
			}
		}
	}
	ts.operationAttrs(a, rt)
	if ts.kind == KindHTTP {
		a["url.path"], a["url.scheme"] = rt.path, "http"
	}
	return a
}

// clientAttrs are the attributes of a call to ts.
func (ts *traceService) clientAttrs(rt *traceRoute) map[string]string {
	a := make(map[string]string, 9)
	a["server.address"], a["server.port"], a["peer.service"] = ts.host, ts.port, ts.name
	a["k8s.namespace.name"] = Namespace
	ts.operationAttrs(a, rt)
	if ts.kind == KindHTTP {
		a["url.full"] = rt.url
		delete(a, "http.route")
	}
	return a
}

func (ts *traceService) operationAttrs(a map[string]string, rt *traceRoute) {
	switch ts.kind {
	case KindRedis:
		a["db.system.name"], a["db.operation.name"] = "redis", rt.operation
	case KindPostgres:
		a["db.system.name"], a["db.operation.name"] = "postgresql", rt.operation
		a["db.namespace"], a["db.collection.name"] = Namespace, rt.collection
	default:
		a["http.request.method"], a["http.route"] = rt.method, rt.path
	}
}

// exception is the event OpenTelemetry's RecordError adds.
func exception(at time.Time, typ, message string) spans.Event {
	return spans.Event{Time: at, Name: "exception", Attrs: map[string]string{"exception.type": typ, "exception.message": message}}
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// traceRand is a splitmix64 stream: cheap, allocation-free and
// deterministic.
type traceRand struct{ x uint64 }

func (r *traceRand) next() uint64 {
	r.x += 0x9e3779b97f4a7c15
	return splitmix(r.x)
}

// float returns a value in [0, 1).
func (r *traceRand) float() float64 { return float64(r.next()>>11) / float64(1<<53) }

// normal returns a standard normal value (Box–Muller).
func (r *traceRand) normal() float64 {
	u1 := r.float()
	if u1 < 1e-12 {
		u1 = 1e-12
	}
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*r.float())
}

const hexDigits = "0123456789abcdef"

// hex64 is a span ID: 16 lower-case hex digits, never all zero.
func hex64(x uint64) string {
	var b [16]byte
	putHex(b[:], x|boolBit(x == 0))
	return string(b[:])
}

// hex128 is a trace ID: 32 lower-case hex digits.
func hex128(hi, lo uint64) string {
	var b [32]byte
	putHex(b[:16], hi)
	putHex(b[16:], lo|boolBit(hi == 0 && lo == 0))
	return string(b[:])
}

func putHex(b []byte, x uint64) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = hexDigits[x&15]
		x >>= 4
	}
}

func boolBit(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
