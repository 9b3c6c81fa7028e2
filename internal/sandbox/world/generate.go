package world

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// The generator makes systems other than the shop, and cases of them, so
// that a root-cause ranker is measured on systems it was not developed on:
// random call graphs of 5 to 60 services, random service behaviour, every
// fault of the catalogue at a random severity, and the ways real cases
// differ (sampling interval, lead-in, metric names, gaps, baseline data).
// Everything is a function of the seed. The world that runs is the same
// World as the shop's: this is a generator of worlds, not a simulator.

// rnd draws deterministic numbers for one seed and purpose.
type rnd struct {
	seed uint64
	tag  string
	n    int
}

func newRnd(seed uint64, tag string) *rnd { return &rnd{seed: seed, tag: tag} }

// float returns a value in [0, 1).
func (r *rnd) float() float64 {
	r.n++
	return float64(Hash64(r.seed, r.tag, fmt.Sprint(r.n))>>11) / float64(1<<53)
}

func (r *rnd) between(lo, hi float64) float64 { return lo + (hi-lo)*r.float() }

// logBetween is uniform in log scale: as likely 2–4 as 60–120.
func (r *rnd) logBetween(lo, hi float64) float64 {
	return math.Exp(r.between(math.Log(lo), math.Log(hi)))
}

func (r *rnd) intn(n int) int { return int(r.float() * float64(n)) }

func (r *rnd) chance(p float64) bool { return r.float() < p }

// nameWords are the domains services are named after; nameStyles how a
// system spells them (as the shop, Online Boutique or Train-Ticket do).
var nameWords = []string{
	"account", "ads", "analytics", "assurance", "audit", "auth", "basket", "billing", "booking", "cart",
	"catalog", "chat", "checkout", "comment", "config", "consign", "contact", "coupon", "currency", "delivery",
	"discount", "email", "feed", "food", "fraud", "geo", "gift", "image", "inventory", "invoice",
	"ledger", "loyalty", "media", "notification", "order", "payment", "preserve", "price", "profile", "quote",
	"rating", "recommendation", "refund", "report", "returns", "review", "risk", "route", "schedule", "search",
	"seat", "security", "session", "shipping", "sms", "station", "stock", "supplier", "tax", "ticket",
	"timeline", "train", "travel", "user", "voucher", "wallet", "warehouse",
}

var nameStyles = []func(word string) string{
	func(w string) string { return w },
	func(w string) string { return w + "service" },
	func(w string) string { return "ts-" + w + "-service" },
	func(w string) string { return w + "-svc" },
	func(w string) string { return w + "-api" },
}

var entryNames = []string{"frontend", "gateway", "api-gateway", "web", "edge", "bff"}

// GenerateTopology returns a random system of n services (at least 5):
// an entry service, application services in a call DAG of random depth,
// and data stores (at least one PostgreSQL) at the leaves. Healthy CPU use
// is 10–50 % of the limit at peak traffic.
func GenerateTopology(seed uint64, n int) (Topology, error) {
	if n < 5 {
		return Topology{}, fmt.Errorf("%d services: a generated system has at least 5", n)
	}
	r := newRnd(seed, "topology")
	style := nameStyles[r.intn(len(nameStyles))]
	stores := max(1, int(math.Round(float64(n)*r.between(0.1, 0.25))))
	apps := n - stores
	if apps < 2 {
		apps, stores = 2, n-2
	}
	used := map[string]bool{}
	pick := func() string {
		for {
			w := nameWords[r.intn(len(nameWords))]
			name := style(w)
			if used[name] {
				name = style(w + "-" + nameWords[r.intn(len(nameWords))])
			}
			if !used[name] {
				used[name] = true
				return name
			}
		}
	}
	const mib = 1 << 20
	t := Topology{PeakRPS: r.between(20, 300)}
	t.TroughRPS = t.PeakRPS * r.between(0.2, 0.5)
	format := []string{"json", "logfmt"}
	for i := 0; i < apps; i++ {
		name := entryNames[r.intn(len(entryNames))]
		if i > 0 {
			name = pick()
		} else {
			used[name] = true
			t.Entry = name
		}
		base := r.between(60, 600)
		t.Services = append(t.Services, ServiceSpec{
			Name: name, Kind: KindHTTP, Replicas: 1 + r.intn(4), Image: "registry.example.com/" + name, Version: "2.3.1",
			Latency: time.Duration(r.logBetween(2, 60) * float64(time.Millisecond)), Sigma: r.between(0.3, 0.6),
			CPUIdle: 0.01, CPULimit: []float64{0.25, 0.5, 1, 2}[r.intn(4)],
			MemoryBase: base * mib, MemoryLimit: base * r.between(1.6, 4) * mib, ErrorRate: r.between(0, 0.003),
			Routes: []Route{{"/" + strings.TrimSuffix(name, "service"), 1}}, BytesPerRequest: r.logBetween(512, 16384),
			LogFormat: format[r.intn(2)],
		})
	}
	for i := 0; i < stores; i++ {
		if i == 0 || r.chance(0.5) {
			name := "postgres"
			if used[name] {
				name = pick() + "-db"
			}
			used[name] = true
			t.Services = append(t.Services, ServiceSpec{Name: name, Kind: KindPostgres, Replicas: 1, Image: "postgres", Version: "16.2",
				Latency: time.Duration(r.logBetween(1, 10) * float64(time.Millisecond)), Sigma: r.between(0.4, 0.7),
				CPUIdle: 0.02, CPULimit: 2, MemoryBase: 600 * mib, MemoryLimit: 2048 * mib, ErrorRate: 0.0002, BytesPerRequest: 2048})
			continue
		}
		name := "redis"
		if used[name] {
			name = pick() + "-cache"
		}
		used[name] = true
		t.Services = append(t.Services, ServiceSpec{Name: name, Kind: KindRedis, Replicas: 1, Image: "redis", Version: "7.2.4",
			Latency: time.Duration(r.between(0.2, 1) * float64(time.Millisecond)), Sigma: 0.3,
			CPUIdle: 0.005, CPULimit: 1, MemoryBase: 180 * mib, MemoryLimit: 1024 * mib, BytesPerRequest: 512})
	}
	// Calls: every application service but the entry has one to three
	// callers among the services before it (mostly recent ones, so the
	// graph has depth); every store one to three application callers.
	has := map[[2]int]bool{}
	edge := func(from, to int) {
		if from == to || has[[2]int{from, to}] {
			return
		}
		has[[2]int{from, to}] = true
		t.Edges = append(t.Edges, Edge{t.Services[from].Name, t.Services[to].Name, r.between(0.3, 1)})
	}
	for i := 1; i < apps; i++ {
		callers := 1 + r.intn(3)
		for k := 0; k < callers; k++ {
			lo := max(0, i-1-r.intn(6))
			edge(lo+r.intn(i-lo), i)
		}
	}
	for i := apps; i < n; i++ {
		callers := 1 + r.intn(3)
		for k := 0; k < callers; k++ {
			edge(1+r.intn(max(apps-1, 1))%apps, i)
		}
	}
	// CPU per request from the traffic each service sees at peak: 10–50 %
	// of its pods' limits.
	peak := t.expectedRPS(t.PeakRPS)
	for i := range t.Services {
		s := &t.Services[i]
		util := r.between(0.1, 0.5)
		s.CPUPerRequest = math.Max(util*s.CPULimit-s.CPUIdle, 0.001*s.CPULimit) * float64(s.Replicas) / math.Max(peak[s.Name], 0.01)
	}
	if err := t.validate(); err != nil {
		return Topology{}, err
	}
	return t, nil
}

// expectedRPS propagates an entry rate through the call graph.
func (t Topology) expectedRPS(entry float64) map[string]float64 {
	out := map[string]float64{t.Entry: entry}
	order, err := topoOrder(t)
	if err != nil {
		return out
	}
	for _, i := range order {
		name := t.Services[i].Name
		for _, e := range t.Edges {
			if e.From == name {
				out[e.To] += out[name] * e.Ratio
			}
		}
	}
	return out
}

// GeneratedCase is one case of the generalisation suite: the options to
// export it and what it varies, for reports.
type GeneratedCase struct {
	Options ExportOptions
	// Services is the size of the system.
	Services int
}

// GenerateCase returns the export options of a generated case with the
// root cause's fault of the given kind: a random system, a service the
// fault applies to, a random severity, half the time an earlier fault on
// another service, and a random shape (interval 15 s, 1 min or 5 min;
// 2–120 samples before the fault; any vocabulary; with or without
// baseline.csv, events.csv and topology.csv; gaps, missing series,
// services appearing mid-window, zero-valued series). out is the case
// folder to write.
func GenerateCase(kind FaultKind, seed uint64, out string) (GeneratedCase, error) {
	info, err := LookupFault(string(kind))
	if err != nil {
		return GeneratedCase{}, err
	}
	r := newRnd(seed, "case/"+string(kind))
	n := int(math.Round(r.logBetween(5, 60)))
	topo, err := GenerateTopology(Hash64(seed, "topology", string(kind)), n)
	if err != nil {
		return GeneratedCase{}, err
	}
	fault, err := generateFault(r, topo, info)
	if err != nil {
		return GeneratedCase{}, err
	}
	shape := CaseShape{
		Interval:   []time.Duration{15 * time.Second, time.Minute, 5 * time.Minute}[r.intn(3)],
		Lead:       int(math.Round(r.logBetween(2, 120))),
		Vocabulary: []string{"common", "prometheus", "otel", "cloudwatch"}[r.intn(4)],
		NoEvents:   r.chance(0.5),
		NoTopology: r.chance(0.1),
		Realistic:  true,
	}
	shape.Tail = max(2, int(r.between(5, 20)*float64(time.Minute)/float64(shape.Interval)))
	if r.chance(0.5) {
		shape.BaselineSamples = int(r.between(30, 120))
		shape.BaselineGap = time.Duration(1+r.intn(6))*24*time.Hour + time.Duration(r.between(-2, 2)*float64(time.Hour))
	}
	if r.chance(0.3) {
		shape.Gaps = r.between(0.05, 0.3)
	}
	if r.chance(0.3) {
		shape.MissingSeries = r.between(0.03, 0.15)
	}
	if r.chance(0.3) {
		shape.Late = map[string]int{}
		for k := 1 + r.intn(3); k > 0; k-- {
			s := topo.Services[r.intn(len(topo.Services))].Name
			if s != fault.Service && s != topo.Entry {
				shape.Late[s] = 1 + r.intn(shape.Lead+shape.Tail-1)
			}
		}
	}
	if shape.Vocabulary == "common" && r.chance(0.3) {
		for k := 1 + r.intn(3); k > 0; k-- {
			shape.ZeroSuccess = append(shape.ZeroSuccess, topo.Services[r.intn(len(topo.Services))].Name)
		}
	}
	if kind == FaultDependencyDown && r.chance(0.5) {
		// A crashed service's exporters go quiet with it.
		shape.Silent = map[string]int{fault.Service: shape.Lead + 1}
	}
	opts := ExportOptions{Scenario: "healthy", Seed: seed, Fault: &fault, Out: out, Topology: &topo, Shape: shape}
	// A blip of another service around the onset, as busy systems have:
	// a cron job's CPU, a short burst of traffic, a slow moment of a
	// database; background activity, not a second incident.
	if r.chance(0.5) {
		blips := []struct {
			kind   FaultKind
			params map[string]float64
		}{
			{FaultCPUSaturation, map[string]float64{"factor": r.between(1.2, 1.6)}},
			{FaultTrafficSurge, map[string]float64{"factor": r.between(1.2, 1.5)}},
			{FaultSlowDB, map[string]float64{"factor": r.between(1.5, 2)}},
		}
		b := blips[r.intn(len(blips))]
		svc := topo.Services[r.intn(len(topo.Services))]
		if b.kind == FaultSlowDB && svc.Kind != KindPostgres {
			b.kind, b.params = FaultCPUSaturation, map[string]float64{"factor": r.between(1.2, 1.6)}
		}
		if svc.Name != fault.Service {
			opts.Blips = append(opts.Blips, TimedFault{
				At:        time.Duration(r.between(-5, 5) * float64(time.Minute)),
				FaultSpec: FaultSpec{Kind: b.kind, Service: svc.Name, Params: b.params, Duration: time.Duration(r.between(1, 3) * float64(time.Minute))},
			})
		}
	}
	// An earlier incident in the lead-in, on another service, as in
	// benchmarks that inject faults every few minutes.
	lead := time.Duration(shape.Lead) * shape.Interval
	if lead >= 10*time.Minute && r.chance(0.5) {
		kinds := Catalogue()
		for try := 0; try < 5; try++ {
			other, err := generateFault(r, topo, kinds[r.intn(len(kinds))])
			if err != nil || other.Service == fault.Service {
				continue
			}
			at := -time.Duration(r.between(0.3, 0.9) * float64(lead))
			other.Duration = time.Duration(r.between(0.2, 0.6) * float64(-at))
			opts.Distractors = append(opts.Distractors, TimedFault{At: at, FaultSpec: other})
			break
		}
	}
	return GeneratedCase{Options: opts, Services: n}, nil
}

// generateFault picks a service the fault applies to and a severity a
// person would call an incident, from mild to severe.
func generateFault(r *rnd, topo Topology, info FaultInfo) (FaultSpec, error) {
	var apps, stores, dbs, callees []string
	called := map[string]bool{}
	for _, e := range topo.Edges {
		called[e.To] = true
	}
	for _, s := range topo.Services {
		switch s.Kind {
		case KindHTTP:
			apps = append(apps, s.Name)
		case KindPostgres:
			dbs = append(dbs, s.Name)
			stores = append(stores, s.Name)
		default:
			stores = append(stores, s.Name)
		}
		if called[s.Name] {
			callees = append(callees, s.Name)
		}
	}
	sort.Strings(callees)
	one := func(xs []string) string { return xs[r.intn(len(xs))] }
	f := FaultSpec{Kind: info.Kind, Params: map[string]float64{}}
	switch info.Kind {
	case FaultBadDeploy:
		f.Service = one(apps)
		f.Params["error_rate"] = r.logBetween(0.05, 0.5)
		f.Params["latency_factor"] = r.between(1, 2)
	case FaultConfigChange:
		f.Service = one(apps)
		f.Params["error_rate"] = r.logBetween(0.05, 0.5)
	case FaultException:
		f.Service = one(apps)
		f.Params["error_rate"] = r.logBetween(0.02, 0.2)
	case FaultCPUSaturation:
		f.Service = one(apps)
		f.Params["factor"] = r.between(3, 8)
	case FaultMemoryLeak:
		f.Service = one(apps)
		spec, _ := topo.Service(f.Service)
		// 2–10 % of the healthy memory a minute.
		f.Params["mib_per_minute"] = spec.MemoryBase / (1 << 20) * r.between(0.02, 0.1)
	case FaultSlowDB:
		f.Service = one(dbs)
		f.Params["factor"] = r.logBetween(5, 60)
	case FaultDependencyDown:
		f.Service = one(callees)
	case FaultNetworkLatency:
		e := topo.Edges[r.intn(len(topo.Edges))]
		f.Service, f.Target = e.From, e.To
		f.Params["delay_ms"] = r.logBetween(100, 800)
	case FaultNetworkDelay:
		f.Service = one(callees)
		f.Params["delay_ms"] = r.logBetween(50, 500)
	case FaultPacketLoss:
		f.Service = one(callees)
		f.Params["loss_rate"] = r.between(0.2, 0.6)
	case FaultTrafficSurge:
		f.Service = one(append(append([]string(nil), apps...), stores...))
		f.Params["factor"] = r.between(3, 8)
	default:
		return FaultSpec{}, fmt.Errorf("the generator does not know fault %s", info.Kind)
	}
	if len(f.Params) == 0 {
		f.Params = nil
	}
	return f, validateFault(f, topo)
}

// PickFault chooses where a fault of kind acts in topo and how hard, as
// the generated suites do (a service its kind applies to, a callee for an
// edge fault, a severity drawn from a range around the catalogue's), the
// same for the same seed. Game days inject what it picks.
func PickFault(topo Topology, kind FaultKind, seed uint64) (FaultSpec, error) {
	info, err := LookupFault(string(kind))
	if err != nil {
		return FaultSpec{}, err
	}
	return generateFault(newRnd(seed, "gameday/"+string(kind)), topo, info)
}
