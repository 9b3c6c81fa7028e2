package world

import (
	"fmt"
	"time"
)

// Namespace is where the shop runs.
const Namespace = "shop"

// Step is the simulation's resolution, and the scrape interval of the
// metrics it exports.
const Step = 15 * time.Second

// Kind is what a service is, which decides its exporter metrics and logs.
type Kind string

// Service kinds.
const (
	KindHTTP     Kind = "http"
	KindRedis    Kind = "redis"
	KindPostgres Kind = "postgres"
)

// Port is the port a service of kind k listens on.
func (k Kind) Port() int32 {
	switch k {
	case KindRedis:
		return 6379
	case KindPostgres:
		return 5432
	}
	return 8080
}

// PodIP is the address of the pod named name: stable, so that Kubernetes
// objects and the logs that mention the pod agree.
func PodIP(name string) string {
	h := Hash64(0, name)
	return fmt.Sprintf("10.244.%d.%d", h%4, 2+(h>>8)%250)
}

// ServiceSpec is a service's healthy behaviour.
type ServiceSpec struct {
	Name     string
	Kind     Kind
	Replicas int
	// Image is the repository; Version the tag deployed at the start.
	Image   string
	Version string
	// Latency is the median of the service's own work per request;
	// Sigma the shape of its lognormal distribution.
	Latency time.Duration
	Sigma   float64
	// CPUPerRequest is core-seconds per request; CPUIdle cores per pod at
	// rest; CPULimit the pod's limit in cores.
	CPUPerRequest float64
	CPUIdle       float64
	CPULimit      float64
	// MemoryBase and MemoryLimit are bytes per pod.
	MemoryBase  float64
	MemoryLimit float64
	// ErrorRate is the healthy fraction of failing requests.
	ErrorRate float64
	// Routes split the service's requests (HTTP services).
	Routes []Route
	// BytesPerRequest is the average payload, for network metrics.
	BytesPerRequest float64
	// LogFormat is json or logfmt for HTTP services.
	LogFormat string
}

// Route is an HTTP route and its share of a service's requests.
type Route struct {
	Path  string
	Share float64
}

// Edge is a call dependency: every request to From makes Ratio calls to
// To on average.
type Edge struct {
	From, To string
	Ratio    float64
}

// Topology is the shop: its services and who calls whom.
type Topology struct {
	Services []ServiceSpec
	Edges    []Edge
	// Entry is the service receiving user traffic.
	Entry string
	// PeakRPS and TroughRPS bound the daily traffic at the entry.
	PeakRPS, TroughRPS float64
}

// DefaultTopology is the online shop every scenario runs by default:
//
//	frontend → checkout → {payments, shipping, email, cart → redis, catalog → postgres}
//	frontend → cart, catalog, recommendations → catalog
func DefaultTopology() Topology {
	ms := time.Millisecond
	const mib = 1 << 20
	http := func(name string, replicas int, lat time.Duration, cpu, memBase, memLimit float64, format string, routes ...Route) ServiceSpec {
		return ServiceSpec{Name: name, Kind: KindHTTP, Replicas: replicas, Image: "registry.example.com/shop/" + name, Version: "1.4.2",
			Latency: lat, Sigma: 0.45, CPUPerRequest: cpu, CPUIdle: 0.01, CPULimit: 0.5,
			MemoryBase: memBase * mib, MemoryLimit: memLimit * mib, ErrorRate: 0.001, Routes: routes,
			BytesPerRequest: 4096, LogFormat: format}
	}
	return Topology{
		Entry: "frontend", PeakRPS: 140, TroughRPS: 45,
		Services: []ServiceSpec{
			http("frontend", 3, 18*ms, 0.004, 120, 512, "json", Route{"/", 0.35}, Route{"/product", 0.45}, Route{"/cart", 0.15}, Route{"/checkout", 0.05}),
			http("checkout", 2, 35*ms, 0.05, 150, 512, "logfmt", Route{"/checkout", 1}),
			http("payments", 2, 60*ms, 0.04, 100, 384, "logfmt", Route{"/charge", 1}),
			http("shipping", 2, 12*ms, 0.01, 80, 256, "json", Route{"/quote", 0.6}, Route{"/ship", 0.4}),
			http("email", 1, 25*ms, 0.015, 90, 256, "json", Route{"/send", 1}),
			http("cart", 2, 6*ms, 0.006, 110, 384, "logfmt", Route{"/cart/get", 0.7}, Route{"/cart/add", 0.3}),
			http("catalog", 3, 9*ms, 0.003, 140, 512, "json", Route{"/products", 0.6}, Route{"/product", 0.4}),
			http("recommendations", 2, 22*ms, 0.005, 200, 768, "json", Route{"/recommend", 1}),
			{Name: "redis", Kind: KindRedis, Replicas: 1, Image: "redis", Version: "7.2.4", Latency: 400 * time.Microsecond, Sigma: 0.3,
				CPUPerRequest: 0.00005, CPUIdle: 0.005, CPULimit: 1, MemoryBase: 180 * mib, MemoryLimit: 1024 * mib,
				ErrorRate: 0, BytesPerRequest: 512},
			{Name: "postgres", Kind: KindPostgres, Replicas: 1, Image: "postgres", Version: "16.2", Latency: 4 * ms, Sigma: 0.6,
				CPUPerRequest: 0.0015, CPUIdle: 0.02, CPULimit: 2, MemoryBase: 600 * mib, MemoryLimit: 2048 * mib,
				ErrorRate: 0.0002, BytesPerRequest: 2048},
		},
		Edges: []Edge{
			{"frontend", "catalog", 0.8}, {"frontend", "cart", 0.3}, {"frontend", "recommendations", 0.5}, {"frontend", "checkout", 0.05},
			{"checkout", "payments", 1}, {"checkout", "shipping", 1}, {"checkout", "email", 1}, {"checkout", "cart", 1}, {"checkout", "catalog", 1},
			{"recommendations", "catalog", 1}, {"cart", "redis", 2}, {"catalog", "postgres", 1.5},
		},
	}
}

// Service returns the spec of the service named name.
func (t Topology) Service(name string) (ServiceSpec, bool) {
	for _, s := range t.Services {
		if s.Name == name {
			return s, true
		}
	}
	return ServiceSpec{}, false
}

func (t Topology) names() []string {
	var out []string
	for _, s := range t.Services {
		out = append(out, s.Name)
	}
	return out
}

func (t Topology) callees(s string) []string {
	var out []string
	for _, e := range t.Edges {
		if e.From == s {
			out = append(out, e.To)
		}
	}
	return out
}

// HasEdge reports whether from calls to.
func (t Topology) HasEdge(from, to string) bool {
	for _, e := range t.Edges {
		if e.From == from && e.To == to {
			return true
		}
	}
	return false
}

// validate checks the topology is a DAG of known services.
func (t Topology) validate() error {
	names := map[string]bool{}
	for _, s := range t.Services {
		if names[s.Name] {
			return fmt.Errorf("service %s defined twice", s.Name)
		}
		if s.Replicas < 1 || s.CPULimit <= 0 || s.MemoryLimit <= 0 || s.Latency <= 0 {
			return fmt.Errorf("service %s: replicas, CPU and memory limits and latency must be positive", s.Name)
		}
		names[s.Name] = true
	}
	if !names[t.Entry] {
		return fmt.Errorf("entry service %q is not defined", t.Entry)
	}
	for _, e := range t.Edges {
		if !names[e.From] || !names[e.To] {
			return fmt.Errorf("edge %s→%s names an unknown service", e.From, e.To)
		}
	}
	if _, err := topoOrder(t); err != nil {
		return err
	}
	return nil
}

// topoOrder returns service indexes with every caller before its callees.
func topoOrder(t Topology) ([]int, error) {
	idx := map[string]int{}
	for i, s := range t.Services {
		idx[s.Name] = i
	}
	indeg := make([]int, len(t.Services))
	out := make([][]int, len(t.Services))
	for _, e := range t.Edges {
		out[idx[e.From]] = append(out[idx[e.From]], idx[e.To])
		indeg[idx[e.To]]++
	}
	var order, queue []int
	for i := range t.Services {
		if indeg[i] == 0 {
			queue = append(queue, i)
		}
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		order = append(order, n)
		for _, m := range out[n] {
			if indeg[m]--; indeg[m] == 0 {
				queue = append(queue, m)
			}
		}
	}
	if len(order) != len(t.Services) {
		return nil, fmt.Errorf("the call graph has a cycle")
	}
	return order, nil
}
