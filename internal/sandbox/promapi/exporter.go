package promapi

import (
	"math"
	"strconv"

	"github.com/watchkeeper/watchkeeper/internal/sandbox/world"
)

// Histogram buckets, as client libraries default them (seconds) and as
// Istio exports them (milliseconds).
var (
	secondBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	msBuckets     = []float64{1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000}
)

// Exporter writes snapshots as the samples the shop's exporters would
// produce at each scrape:
//
//   - application instrumentation: http_requests_total,
//     http_request_duration_seconds (histogram), process_cpu_seconds_total
//   - cAdvisor: container_cpu_usage_seconds_total,
//     container_memory_working_set_bytes, container_network_*_bytes_total
//   - kube-state-metrics: kube_pod_container_status_restarts_total,
//     kube_pod_container_status_last_terminated_reason,
//     kube_pod_container_resource_limits, kube_deployment_spec_replicas,
//     kube_deployment_status_replicas_available
//   - Istio, per call edge: istio_requests_total,
//     istio_request_duration_milliseconds (histogram)
//   - redis_exporter and postgres_exporter basics, and up for every target.
//
// It keeps a handle per series so that a step writes samples without
// building label sets.
//
// An Exporter is not safe for concurrent use: one owner steps the world.
type Exporter struct {
	m     *Store
	w     *writer
	topo  world.Topology
	pods  map[string]*podSeries
	deps  []depSeries
	edges []edgeSeries
}

type depSeries struct{ spec, available *series }

type podSeries struct {
	up, cpu, mem, rx, tx, restarts, limitCPU, limitMem, process *series
	lastReason                                                  map[string]*series
	exporterUp, exporterA, exporterB                            *series
	routes                                                      []histSeries
}

// histSeries is a request counter pair and a latency histogram.
type histSeries struct {
	ok, fail          *series
	buckets           []*series // the finite bounds, then +Inf
	sum, count        *series
	bounds            []float64
	share             float64
	toMillis, isRoute bool
}

type edgeSeries histSeries

// NewExporter returns an exporter of topo's snapshots into m.
func NewExporter(m *Store, topo world.Topology) *Exporter {
	e := &Exporter{m: m, w: m.writer(), topo: topo, pods: map[string]*podSeries{}}
	for _, s := range topo.Services {
		e.deps = append(e.deps, depSeries{
			spec:      m.handle("kube_deployment_spec_replicas", "deployment", s.Name, "namespace", world.Namespace),
			available: m.handle("kube_deployment_status_replicas_available", "deployment", s.Name, "namespace", world.Namespace),
		})
	}
	for _, edge := range topo.Edges {
		kv := []string{"destination_workload", edge.To, "destination_workload_namespace", world.Namespace, "reporter", "source",
			"source_workload", edge.From, "source_workload_namespace", world.Namespace}
		h := newHist(m, "istio_request_duration_milliseconds", msBuckets, kv)
		h.ok = m.handle("istio_requests_total", "destination_workload", edge.To, "destination_workload_namespace", world.Namespace, "reporter", "source",
			"response_code", "200", "source_workload", edge.From, "source_workload_namespace", world.Namespace)
		h.fail = m.handle("istio_requests_total", "destination_workload", edge.To, "destination_workload_namespace", world.Namespace, "reporter", "source",
			"response_code", "503", "source_workload", edge.From, "source_workload_namespace", world.Namespace)
		h.toMillis = true
		e.edges = append(e.edges, edgeSeries(h))
	}
	return e
}

func newHist(m *Store, name string, bounds []float64, kv []string) histSeries {
	h := histSeries{bounds: bounds}
	lv := append(append([]string(nil), kv...), "le", "")
	for _, b := range bounds {
		lv[len(lv)-1] = strconv.FormatFloat(b, 'f', -1, 64)
		h.buckets = append(h.buckets, m.handle(name+"_bucket", lv...))
	}
	lv[len(lv)-1] = "+Inf"
	h.buckets = append(h.buckets, m.handle(name+"_bucket", lv...))
	h.sum = m.handle(name+"_sum", kv...)
	h.count = m.handle(name+"_count", kv...)
	return h
}

func (e *Exporter) pod(spec world.ServiceSpec, name string) *podSeries {
	if p, ok := e.pods[name]; ok {
		return p
	}
	m := e.m
	instance := name + ":" + targetPort(spec.Kind)
	target := []string{"instance", instance, "job", spec.Name, "namespace", world.Namespace, "pod", name, "service", spec.Name}
	container := []string{"container", spec.Name, "namespace", world.Namespace, "pod", name}
	p := &podSeries{
		up:         m.handle("up", target...),
		cpu:        m.handle("container_cpu_usage_seconds_total", container...),
		mem:        m.handle("container_memory_working_set_bytes", container...),
		rx:         m.handle("container_network_receive_bytes_total", "namespace", world.Namespace, "pod", name),
		tx:         m.handle("container_network_transmit_bytes_total", "namespace", world.Namespace, "pod", name),
		restarts:   m.handle("kube_pod_container_status_restarts_total", container...),
		limitCPU:   m.handle("kube_pod_container_resource_limits", append(container, "resource", "cpu", "unit", "core")...),
		limitMem:   m.handle("kube_pod_container_resource_limits", append(container, "resource", "memory", "unit", "byte")...),
		lastReason: map[string]*series{},
	}
	exp := []string{"instance", instance, "namespace", world.Namespace, "pod", name, "service", spec.Name}
	switch spec.Kind {
	case world.KindHTTP:
		p.process = m.handle("process_cpu_seconds_total", target...)
		for _, r := range spec.Routes {
			method := "GET"
			switch r.Path {
			case "/checkout", "/charge", "/cart/add", "/send", "/ship":
				method = "POST"
			}
			kv := []string{"method", method, "namespace", world.Namespace, "pod", name, "route", r.Path, "service", spec.Name}
			h := newHist(m, "http_request_duration_seconds", secondBuckets, kv)
			h.ok = m.handle("http_requests_total", append([]string{"code", "200"}, kv...)...)
			h.fail = m.handle("http_requests_total", append([]string{"code", "500"}, kv...)...)
			h.share, h.isRoute = r.Share, true
			p.routes = append(p.routes, h)
		}
	case world.KindRedis:
		p.exporterUp = m.handle("redis_up", exp...)
		p.exporterA = m.handle("redis_commands_processed_total", exp...)
		p.exporterB = m.handle("redis_connected_clients", exp...)
	case world.KindPostgres:
		p.exporterUp = m.handle("pg_up", exp...)
		p.exporterA = m.handle("pg_stat_database_xact_commit", append([]string{"datname", "shop"}, exp...)...)
		p.exporterB = m.handle("pg_stat_activity_max_tx_duration", append([]string{"datname", "shop"}, exp...)...)
	}
	e.pods[name] = p
	return p
}

// Export writes one snapshot. Samples are committed in batches; Flush
// commits the rest, which queries then see.
func (e *Exporter) Export(s *world.Snapshot) error {
	w := e.w
	w.begin(s.Step, s.Time)
	sec := world.Step.Seconds()
	for i, st := range s.Services {
		spec := e.topo.Services[i]
		w.set(e.deps[i].spec, float64(st.Replicas))
		w.set(e.deps[i].available, float64(st.Ready))
		for _, p := range st.Pods {
			h := e.pod(spec, p.Name)
			w.set(h.up, b2f(p.Ready))
			w.addExact(h.cpu, p.CPUCores*sec)
			w.set(h.mem, p.Memory)
			w.add(h.rx, p.RPS*sec*spec.BytesPerRequest*0.25)
			w.add(h.tx, p.RPS*sec*spec.BytesPerRequest)
			w.set(h.restarts, float64(p.Restarts))
			w.set(h.limitCPU, spec.CPULimit)
			w.set(h.limitMem, spec.MemoryLimit)
			if p.LastReason != "" {
				r, ok := h.lastReason[p.LastReason]
				if !ok {
					r = e.m.handle("kube_pod_container_status_last_terminated_reason",
						"container", spec.Name, "namespace", world.Namespace, "pod", p.Name, "reason", p.LastReason)
					h.lastReason[p.LastReason] = r
				}
				w.set(r, 1)
			}
			if h.exporterUp != nil {
				// A datastore's exporter reports it down rather than
				// vanishing.
				w.set(h.exporterUp, b2f(p.Ready))
			}
			if !p.Ready {
				continue // a target that is down exports nothing else
			}
			switch spec.Kind {
			case world.KindHTTP:
				w.addExact(h.process, p.CPUCores*sec)
				for k := range h.routes {
					r := &h.routes[k]
					e.observe(r, p.RPS*r.share*sec, st.ErrorRate, st.Latency, st.Sigma)
				}
			case world.KindRedis:
				w.add(h.exporterA, p.RPS*sec)
				w.set(h.exporterB, math.Round(8+p.RPS/4))
			case world.KindPostgres:
				w.add(h.exporterA, p.RPS*sec)
				w.set(h.exporterB, world.Quantile(st.Latency, st.Sigma, 0.99))
			}
		}
	}
	for k, edge := range s.Edges {
		h := histSeries(e.edges[k])
		e.observe(&h, edge.RPS*sec, edge.ErrorRate, edge.Latency, edge.Sigma)
	}
	return w.end()
}

// observe adds n requests, a share failing, with lognormal latency
// (median m seconds, shape sigma) to a counter pair and histogram.
func (e *Exporter) observe(h *histSeries, n, errorRate, m, sigma float64) {
	w := e.w
	w.add(h.ok, n*(1-errorRate))
	w.add(h.fail, n*errorRate)
	if h.toMillis {
		m *= 1000
	}
	for i, bound := range h.bounds {
		w.add(h.buckets[i], n*world.LognormCDF(bound, m, sigma))
	}
	w.add(h.buckets[len(h.bounds)], n)
	w.addExact(h.sum, n*m*math.Exp(sigma*sigma/2))
	w.add(h.count, n)
}

// Flush commits the samples written so far.
func (e *Exporter) Flush() error { return e.w.commit() }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func targetPort(k world.Kind) string {
	switch k {
	case world.KindRedis:
		return "9121"
	case world.KindPostgres:
		return "9187"
	}
	return "8080"
}

type metricInfo struct{ name, typ, help string }

// metricMetadata describes the exported metrics, as /api/v1/metadata does.
func metricMetadata() []metricInfo {
	return []metricInfo{
		{"up", "gauge", "1 if the target was scraped successfully, 0 if not."},
		{"http_requests_total", "counter", "HTTP requests handled, by route, method and status code."},
		{"http_request_duration_seconds", "histogram", "HTTP request latency in seconds."},
		{"process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds."},
		{"container_cpu_usage_seconds_total", "counter", "Cumulative CPU time consumed by the container in core-seconds."},
		{"container_memory_working_set_bytes", "gauge", "Current working set of the container in bytes."},
		{"container_network_receive_bytes_total", "counter", "Cumulative count of bytes received."},
		{"container_network_transmit_bytes_total", "counter", "Cumulative count of bytes transmitted."},
		{"kube_pod_container_status_restarts_total", "counter", "The number of container restarts per container."},
		{"kube_pod_container_status_last_terminated_reason", "gauge", "Describes the last reason the container was in terminated state."},
		{"kube_pod_container_resource_limits", "gauge", "The number of requested limit resource by a container."},
		{"kube_deployment_spec_replicas", "gauge", "Number of desired pods for a deployment."},
		{"kube_deployment_status_replicas_available", "gauge", "The number of available replicas per deployment."},
		{"istio_requests_total", "counter", "Requests between workloads, as reported by the source's sidecar."},
		{"istio_request_duration_milliseconds", "histogram", "Latency of requests between workloads in milliseconds."},
		{"redis_up", "gauge", "Information about the Redis instance."},
		{"redis_commands_processed_total", "counter", "Total number of commands processed."},
		{"redis_connected_clients", "gauge", "Number of client connections."},
		{"pg_up", "gauge", "Whether the last scrape of metrics from PostgreSQL was able to connect to the server."},
		{"pg_stat_database_xact_commit", "counter", "Number of transactions in this database that have been committed."},
		{"pg_stat_activity_max_tx_duration", "gauge", "Max duration in seconds any active transaction has been running."},
	}
}
