package lokiapi

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/sandbox/world"
)

// Writer turns snapshots into the log lines the shop's containers write.
// It is not safe for concurrent use: one owner steps the world.
type Writer struct {
	store *Store
	topo  world.Topology
	seed  uint64
	// injections are lines planted by a scenario (untrusted text for the
	// agent to resist), by time.
	injections []injection
}

// injection is a planted line at its time.
type injection struct {
	world.LogInjection
	at time.Time
}

// NewWriter returns a writer of topo's lines into store. planted are a
// scenario's lines, at times relative to end, the end of the history.
func NewWriter(store *Store, topo world.Topology, seed uint64, planted []world.LogInjection, end time.Time) *Writer {
	lw := &Writer{store: store, topo: topo, seed: seed}
	for _, inj := range planted {
		lw.injections = append(lw.injections, injection{LogInjection: inj, at: end.Add(inj.At)})
	}
	return lw
}

// Write appends the lines of one step to the store.
func (lw *Writer) Write(s *world.Snapshot) {
	errorsBy := map[string]float64{}
	for _, st := range s.Services {
		errorsBy[st.Name] = st.ErrorRate
	}
	for i, st := range s.Services {
		spec := lw.topo.Services[i]
		worstCallee, worstErr := "", 0.0
		for _, e := range lw.topo.Edges {
			if e.From == st.Name && errorsBy[e.To] > worstErr {
				worstCallee, worstErr = e.To, errorsBy[e.To]
			}
		}
		for _, p := range st.Pods {
			g := lineGen{lw: lw, spec: spec, st: st, pod: p, step: s.Step, t: s.Time, snap: s,
				labels: map[string]string{"namespace": world.Namespace, "app": st.Name, "service": st.Name, "pod": p.Name,
					"container": st.Name, "job": world.Namespace + "/" + st.Name, "node": p.Node}}
			g.generate(worstCallee, worstErr)
		}
	}
	for _, inj := range lw.injections {
		if inj.at.IsZero() || inj.at.Before(s.Time.Add(-world.Step)) || !inj.at.Before(s.Time) {
			continue
		}
		for _, st := range s.Services {
			if st.Name == inj.Service && len(st.Pods) > 0 {
				p := st.Pods[0]
				lw.store.append(map[string]string{"namespace": world.Namespace, "app": st.Name, "service": st.Name, "pod": p.Name,
					"container": st.Name, "job": world.Namespace + "/" + st.Name, "node": p.Node}, inj.at, inj.Line)
			}
		}
	}
}

// lineGen writes one pod's lines for one step.
type lineGen struct {
	lw     *Writer
	spec   world.ServiceSpec
	st     world.ServiceState
	pod    world.PodState
	step   int64
	t      time.Time
	snap   *world.Snapshot
	labels map[string]string
	n      int
}

func (g *lineGen) rand(what string) float64 {
	return float64(world.Hash64(g.lw.seed, g.pod.Name, what, fmt.Sprint(g.step, g.n))>>11) / float64(1<<53)
}

// count turns an expected number of lines into a whole number, fairly.
func (g *lineGen) count(expected float64, what string, cap int) int {
	n := int(expected)
	if g.rand(what) < expected-float64(n) {
		n++
	}
	return min(n, cap)
}

func (g *lineGen) at() time.Time {
	g.n++
	return g.t.Add(-world.Step + time.Duration(g.rand("ts")*float64(world.Step)))
}

func (g *lineGen) emit(ts time.Time, line string) { g.lw.store.append(g.labels, ts, line) }

func (g *lineGen) id(what string, n int) string {
	return fmt.Sprintf("%0*x", n, world.Hash64(g.lw.seed, g.pod.Name, what, fmt.Sprint(g.step, g.n))&(1<<(4*min(n, 15))-1))
}

func (g *lineGen) generate(worstCallee string, worstErr float64) {
	st, p := g.st, g.pod
	if !p.Ready {
		return // a container that is down or restarting writes nothing
	}
	// A container that came back after a kill says so.
	if !p.LastExit.IsZero() && g.t.Sub(p.LastExit) >= 10*time.Second && g.t.Sub(p.LastExit) < 10*time.Second+world.Step {
		g.startup()
	}
	if g.t.Sub(p.Started) < world.Step {
		g.startup()
	}
	switch st.Kind {
	case world.KindRedis:
		g.redis()
		return
	case world.KindPostgres:
		g.postgres()
		return
	}
	reqs := p.RPS * world.Step.Seconds()
	for range g.count(reqs*0.002, "info", 4) {
		g.request(200, "")
	}
	errs := reqs * st.ErrorRate
	for range g.count(math.Min(errs*0.3, 6), "errors", 6) {
		g.failure(worstCallee, worstErr)
	}
	g.faultLines()
}

func (g *lineGen) startup() {
	ts := g.t.Add(-world.Step + time.Second)
	switch g.st.Kind {
	case world.KindRedis:
		g.emit(ts, fmt.Sprintf("1:M %s * Ready to accept connections tcp", ts.UTC().Format("02 Jan 2006 15:04:05.000")))
	case world.KindPostgres:
		g.emit(ts, pgPrefix(ts, g.step)+"LOG:  database system is ready to accept connections")
	default:
		g.line(ts, "info", "starting "+g.st.Name, "version", g.st.Version, "config_revision", fmt.Sprint(g.st.ConfigRev), "listen", ":8080")
	}
}

// line writes a structured line in the service's format.
func (g *lineGen) line(ts time.Time, level, msg string, kv ...string) {
	if g.spec.LogFormat == "json" {
		var b strings.Builder
		fmt.Fprintf(&b, `{"time":%q,"level":%q,"service":%q,"msg":%q`, ts.UTC().Format(time.RFC3339Nano), level, g.st.Name, msg)
		for i := 0; i+1 < len(kv); i += 2 {
			// Identifiers stay strings even when they are all digits, as
			// real services write them.
			if isNumber(kv[i+1]) && !strings.HasSuffix(kv[i], "_id") {
				fmt.Fprintf(&b, `,%q:%s`, kv[i], kv[i+1])
			} else {
				fmt.Fprintf(&b, `,%q:%q`, kv[i], kv[i+1])
			}
		}
		b.WriteByte('}')
		g.emit(ts, b.String())
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ts=%s level=%s msg=%s", ts.UTC().Format(time.RFC3339Nano), level, logfmtValue(msg))
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, " %s=%s", kv[i], logfmtValue(kv[i+1]))
	}
	g.emit(ts, b.String())
}

func (g *lineGen) route() (string, string) {
	x := g.rand("route")
	for _, r := range g.spec.Routes {
		if x < r.Share {
			return r.Path, methodOf(r.Path)
		}
		x -= r.Share
	}
	r := g.spec.Routes[len(g.spec.Routes)-1]
	return r.Path, methodOf(r.Path)
}

func methodOf(path string) string {
	switch path {
	case "/checkout", "/charge", "/cart/add", "/send", "/ship":
		return "POST"
	}
	return "GET"
}

func (g *lineGen) request(status int, errText string) {
	ts := g.at()
	path, method := g.route()
	if path == "/product" || path == "/cart" {
		path += "/" + strings.ToUpper(g.id("item", 10))
	}
	d := world.Quantile(g.st.Latency, g.st.Sigma, 0.05+0.9*g.rand("lat"))
	kv := []string{"method", method, "path", path, "status", fmt.Sprint(status), "duration_ms", fmt.Sprintf("%.1f", d*1000), "trace_id", g.id("trace", 32)}
	level, msg := "info", "request completed"
	if status >= 500 {
		level, msg = "error", "request failed"
		kv = append(kv, "error", errText)
	}
	g.line(ts, level, msg, kv...)
}

// failure writes an error line whose text says why, from the faults acting
// on the service or its worst dependency.
func (g *lineGen) failure(worstCallee string, worstErr float64) {
	st := g.st
	for _, f := range g.snap.Active {
		if f.Service != st.Name {
			continue
		}
		switch f.Kind {
		case world.FaultBadDeploy:
			g.request(500, fmt.Sprintf("runtime error: invalid memory address or nil pointer dereference (version %s)", st.Version))
			return
		case world.FaultConfigChange:
			g.request(500, fmt.Sprintf("pricing lookup failed: tier %q not found in PRICING_TIER_TABLE tiers-v%d", "gold-2026", st.ConfigRev+1))
			return
		case world.FaultCPUSaturation:
			g.request(504, "context deadline exceeded: handler timed out after 2000ms (cpu throttled)")
			return
		}
	}
	if worstCallee != "" && worstErr > 0.02 {
		callee, _ := g.lw.topo.Service(worstCallee)
		msg := fmt.Sprintf("upstream %s returned 503", worstCallee)
		for _, s := range g.snap.Services {
			if s.Name == worstCallee && (s.Down || s.Ready == 0) {
				msg = fmt.Sprintf("dial tcp %s:%d: connect: connection refused", podIPFor(worstCallee), callee.Kind.Port())
				if callee.Kind == world.KindRedis {
					msg = fmt.Sprintf("redis: get cart:%s: dial tcp %s:6379: connect: connection refused", g.id("cart", 8), podIPFor(worstCallee))
				}
			}
		}
		g.request(502, msg)
		return
	}
	g.request(500, "internal error")
}

// faultLines writes the warnings that come before and around failures.
func (g *lineGen) faultLines() {
	st, p := g.st, g.pod
	for _, f := range g.snap.Active {
		switch {
		case f.Kind == world.FaultMemoryLeak && f.Service == st.Name:
			if g.rand("leak") < 0.25 {
				g.line(g.at(), "warn", "session cache above soft limit; eviction is not keeping up",
					"entries", fmt.Sprint(int(p.Memory/4096)), "heap_mb", fmt.Sprintf("%.0f", p.Memory/(1<<20)))
			}
		case f.Kind == world.FaultNetworkLatency && f.Service == st.Name:
			if g.rand("slowcall") < 0.5 {
				g.line(g.at(), "warn", "slow upstream call", "upstream", f.Target,
					"duration_ms", fmt.Sprintf("%.0f", 1000*world.Quantile(st.ClientLatency, 0.4, 0.9)))
			}
		case f.Kind == world.FaultSlowDB && st.Name != f.Service && g.callsDB(f.Service):
			if g.rand("slowq") < 0.6 {
				g.line(g.at(), "warn", "slow query", "db", f.Service, "duration_ms", fmt.Sprintf("%.0f", 1000*world.Quantile(g.dbLatency(f.Service), 0.6, 0.95)),
					"query", "SELECT id, name, price_usd, categories FROM products WHERE id = $1")
			}
		case f.Kind == world.FaultCPUSaturation && f.Service == st.Name:
			if g.rand("cpu") < 0.4 {
				g.line(g.at(), "warn", "request queue is growing", "queue_depth", fmt.Sprint(int(20*st.Utilization)), "in_flight", fmt.Sprint(int(8*st.Utilization)))
			}
		}
	}
}

func (g *lineGen) callsDB(db string) bool { return g.lw.topo.HasEdge(g.st.Name, db) }

func (g *lineGen) dbLatency(db string) float64 {
	for _, s := range g.snap.Services {
		if s.Name == db {
			return s.Latency
		}
	}
	return 0
}

func (g *lineGen) redis() {
	if g.step%20 == 0 {
		ts := g.at()
		g.emit(ts, fmt.Sprintf("1:M %s * %d changes in 300 seconds. Saving...", ts.UTC().Format("02 Jan 2006 15:04:05.000"), 100+int(g.pod.RPS*10)))
		g.emit(ts.Add(40*time.Millisecond), fmt.Sprintf("1:M %s * Background saving started by pid %d", ts.UTC().Format("02 Jan 2006 15:04:05.000"), 1000+g.step%9000))
	}
}

func (g *lineGen) postgres() {
	if g.step%20 == 0 {
		ts := g.at()
		g.emit(ts, pgPrefix(ts, g.step)+"LOG:  checkpoint starting: time")
		g.emit(ts.Add(2*time.Second), pgPrefix(ts.Add(2*time.Second), g.step)+fmt.Sprintf("LOG:  checkpoint complete: wrote %d buffers", 40+g.step%200))
	}
	// Slow statements cross log_min_duration_statement (250ms).
	slow := 1 - world.LognormCDF(0.25, g.st.Latency, g.st.Sigma)
	for range g.count(math.Min(g.pod.RPS*world.Step.Seconds()*slow*0.05, 5), "slow", 5) {
		ts := g.at()
		d := world.Quantile(g.st.Latency, g.st.Sigma, 0.9+0.09*g.rand("d"))
		g.emit(ts, pgPrefix(ts, g.step)+fmt.Sprintf("LOG:  duration: %.3f ms  statement: SELECT id, name, price_usd, categories FROM products WHERE id = '%s'", d*1000, strings.ToUpper(g.id("p", 10))))
	}
}

func pgPrefix(ts time.Time, step int64) string {
	return fmt.Sprintf("%s UTC [%d] ", ts.UTC().Format("2006-01-02 15:04:05.000"), 100+step%4000)
}

func podIPFor(service string) string { return world.PodIP(service) }

func logfmtValue(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\"=") {
		return fmt.Sprintf("%q", s)
	}
	return s
}

// isNumber reports whether s is written as a JSON number: digits only is
// not enough, since "000123" (an ID with leading zeros) is not one and
// would make the line invalid JSON.
func isNumber(s string) bool {
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return false
	}
	return json.Valid([]byte(s))
}
