package world

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

// A vocabulary is how a monitoring stack names and scales the same
// quantities: the common RCA case format's names, Prometheus exporters'
// (with cumulative counters), OpenTelemetry's semantic conventions
// (ratios, milliseconds for RPC), or CloudWatch's per-component names
// with a `<kind>/` prefix. Exported cases in several vocabularies keep a
// root-cause ranker from learning one set of names.

// Vocabularies lists the names ExportOptions.Shape.Vocabulary accepts.
func Vocabularies() []string {
	out := make([]string, 0, len(vocabularies))
	for name := range vocabularies {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// quantity is what the world knows about a service in one sample.
type quantity int

const (
	qCPUPct        quantity = iota // mean pod CPU, % of its limit
	qCPURatio                      // the same as a fraction
	qCPUSeconds                    // cumulative core-seconds (a counter)
	qMemPct                        // mean pod memory, % of its limit
	qMemBytes                      // memory of all pods
	qFreeMemBytes                  // limit minus use: falls when memory grows
	qRPS                           // requests per second
	qRequests                      // requests in the sample's interval
	qRequestsTotal                 // cumulative requests (a counter)
	qErrors                        // failed requests in the interval
	qErrorsTotal                   // cumulative failed requests (a counter)
	qSuccessPct                    // 100 × (1 − error ratio)
	qLatencyP90                    // server-side P90 latency, seconds
	qLatencyP99                    // server-side P99 latency, seconds
	qClientP90                     // P90 latency of the service's outgoing calls
	qNetRx                         // bytes received in the interval
	qNetTx                         // bytes sent in the interval
	qNetRxTotal                    // cumulative bytes received (a counter)
	qNetTxTotal                    // cumulative bytes sent (a counter)
	qRestartsTotal                 // container restarts so far (mostly 0)
	qThrottles                     // requests refused for lack of capacity
)

// counter reports whether q is cumulative, and the per-interval quantity
// it accumulates.
func (q quantity) counter() (quantity, bool) {
	switch q {
	case qCPUSeconds:
		return qCPUSeconds, true
	case qRequestsTotal:
		return qRequests, true
	case qErrorsTotal:
		return qErrors, true
	case qNetRxTotal:
		return qNetRx, true
	case qNetTxTotal:
		return qNetTx, true
	}
	return q, false
}

// vocabMetric is one name of a vocabulary.
type vocabMetric struct {
	name  string
	q     quantity
	scale float64 // unit: 1000 writes seconds as milliseconds
	// only limits the metric to some services: those with callees, or of
	// a flavour (below).
	only string
}

// A flavour is how one service of a system is instrumented within a
// vocabulary: OpenTelemetry services speak HTTP or gRPC (milliseconds),
// CloudWatch services are Lambda functions, ECS services behind a load
// balancer, or either behind an API gateway.
type flavour struct {
	name    string
	metrics []vocabMetric
}

// vocabulary maps a service (its kind and a flavour drawn from the seed)
// to the metrics it reports.
type vocabulary struct {
	// flavours per service kind; a service takes one, by hash.
	flavours map[Kind][]flavour
}

var commonMetrics = []vocabMetric{
	{"cpu_usage_pct", qCPUPct, 1, ""}, {"latency_client_p90_s", qClientP90, 1, "callees"},
	{"latency_server_p90_s", qLatencyP90, 1, ""}, {"mem_usage_pct", qMemPct, 1, ""},
	{"net_rx_bytes", qNetRx, 1, ""}, {"net_tx_bytes", qNetTx, 1, ""},
	{"requests_ops", qRPS, 1, ""}, {"success_rate_pct", qSuccessPct, 1, ""},
}

var containerMetrics = []vocabMetric{
	{"container_cpu_usage_seconds_total", qCPUSeconds, 1, ""},
	{"container_memory_working_set_bytes", qMemBytes, 1, ""},
	{"container_network_receive_bytes_total", qNetRxTotal, 1, ""},
	{"container_network_transmit_bytes_total", qNetTxTotal, 1, ""},
	{"kube_pod_container_status_restarts_total", qRestartsTotal, 1, ""},
}

var otelContainer = []vocabMetric{
	{"container.cpu.utilization", qCPURatio, 1, ""},
	{"container.memory.usage", qMemBytes, 1, ""},
	{"container.network.io.receive", qNetRx, 1, ""},
	{"container.network.io.transmit", qNetTx, 1, ""},
}

var vocabularies = map[string]vocabulary{
	"common": {flavours: map[Kind][]flavour{
		KindHTTP: {{"common", commonMetrics}}, KindRedis: {{"common", commonMetrics}}, KindPostgres: {{"common", commonMetrics}},
	}},
	"prometheus": {flavours: map[Kind][]flavour{
		KindHTTP: {{"http", append([]vocabMetric{
			{"http_requests_total", qRequestsTotal, 1, ""},
			{"http_requests_errors_total", qErrorsTotal, 1, ""},
			{"http_request_duration_seconds_p90", qLatencyP90, 1, ""},
			{"http_request_duration_seconds_p99", qLatencyP99, 1, ""},
			{"http_client_request_duration_seconds_p90", qClientP90, 1, "callees"},
		}, containerMetrics...)}},
		KindRedis: {{"redis", append([]vocabMetric{
			{"redis_commands_processed_total", qRequestsTotal, 1, ""},
			{"redis_commands_duration_seconds_p90", qLatencyP90, 1, ""},
			{"redis_rejected_connections_total", qErrorsTotal, 1, ""},
		}, containerMetrics...)}},
		KindPostgres: {{"postgres", append([]vocabMetric{
			{"pg_stat_database_xact_commit_total", qRequestsTotal, 1, ""},
			{"pg_stat_database_xact_rollback_total", qErrorsTotal, 1, ""},
			{"pg_query_duration_seconds_p90", qLatencyP90, 1, ""},
		}, containerMetrics...)}},
	}},
	"otel": {flavours: map[Kind][]flavour{
		KindHTTP: {
			{"http", append([]vocabMetric{
				{"http.server.request.duration", qLatencyP90, 1, ""},
				{"http.client.request.duration", qClientP90, 1, "callees"},
				{"http.server.request.count", qRequests, 1, ""},
				{"http.server.request.errors", qErrors, 1, ""},
			}, otelContainer...)},
			{"grpc", append([]vocabMetric{
				{"rpc.server.duration", qLatencyP90, 1000, ""},
				{"rpc.client.duration", qClientP90, 1000, "callees"},
				{"rpc.server.requests_per_rpc", qRequests, 1, ""},
				{"rpc.server.failed_requests", qErrors, 1, ""},
			}, otelContainer...)},
		},
		KindRedis: {{"redis", append([]vocabMetric{
			{"db.server.operation.duration", qLatencyP90, 1000, ""},
			{"db.server.operations", qRequests, 1, ""},
		}, otelContainer...)}},
		KindPostgres: {{"postgres", append([]vocabMetric{
			{"db.server.operation.duration", qLatencyP90, 1, ""},
			{"db.server.operations", qRequests, 1, ""},
			{"db.server.rollbacks", qErrors, 1, ""},
		}, otelContainer...)}},
	}},
	"cloudwatch": {flavours: map[Kind][]flavour{
		KindHTTP: {
			{"lambda", []vocabMetric{
				{"AWS::Lambda::Function/latency_p90_s", qLatencyP90, 1, ""},
				{"AWS::Lambda::Function/latency_p99_s", qLatencyP99, 1, ""},
				{"AWS::Lambda::Function/requests_count", qRequests, 1, ""},
				{"AWS::Lambda::Function/errors_count", qErrors, 1, ""},
				{"AWS::Lambda::Function/availability_pct", qSuccessPct, 1, ""},
				{"AWS::Lambda::Function/throttles_count", qThrottles, 1, ""},
				{"AWS::Lambda::Function/memory_utilization_pct", qMemPct, 1, ""},
			}},
			{"ecs", []vocabMetric{
				{"AWS::ECS::Service/cpu_utilization_pct", qCPUPct, 1, ""},
				{"AWS::ECS::Service/memory_utilization_pct", qMemPct, 1, ""},
				{"AWS::ElasticLoadBalancingV2::TargetGroup/latency_p90_s", qLatencyP90, 1, ""},
				{"AWS::ElasticLoadBalancingV2::TargetGroup/requests_count", qRequests, 1, ""},
				{"AWS::ElasticLoadBalancingV2::TargetGroup/http_5xx_count", qErrors, 1, ""},
			}},
			{"apigateway+lambda", []vocabMetric{
				{"AWS::ApiGateway::RestApi/latency_p90_s", qLatencyP90, 1, ""},
				{"AWS::ApiGateway::RestApi/requests_count", qRequests, 1, ""},
				{"AWS::ApiGateway::RestApi/5xx_error_count", qErrors, 1, ""},
				{"AWS::Lambda::Function/latency_p90_s", qLatencyP90, 1, ""},
				{"AWS::Lambda::Function/errors_count", qErrors, 1, ""},
				{"AWS::Lambda::Function/memory_utilization_pct", qMemPct, 1, ""},
				{"availability_pct", qSuccessPct, 1, ""},
				{"requests_count", qRequests, 1, ""},
			}},
		},
		KindRedis: {{"elasticache", []vocabMetric{
			{"AWS::ElastiCache::CacheCluster/cpu_utilization_pct", qCPUPct, 1, ""},
			{"AWS::ElastiCache::CacheCluster/latency_p90_s", qLatencyP90, 1, ""},
			{"AWS::ElastiCache::CacheCluster/requests_count", qRequests, 1, ""},
			{"AWS::ElastiCache::CacheCluster/freeable_memory_bytes", qFreeMemBytes, 1, ""},
		}}},
		KindPostgres: {{"rds", []vocabMetric{
			{"AWS::RDS::DBInstance/cpu_utilization_pct", qCPUPct, 1, ""},
			{"AWS::RDS::DBInstance/read_latency_s", qLatencyP90, 1, ""},
			{"AWS::RDS::DBInstance/database_connections_count", qRequests, 1, ""},
			{"AWS::RDS::DBInstance/freeable_memory_bytes", qFreeMemBytes, 1, ""},
		}}},
	}},
}

func lookupVocabulary(name string) (vocabulary, error) {
	if name == "" {
		name = "common"
	}
	v, ok := vocabularies[name]
	if !ok {
		return vocabulary{}, fmt.Errorf("unknown vocabulary %q; choose one of %s", name, strings.Join(Vocabularies(), ", "))
	}
	return v, nil
}

// metricsFor returns the metrics a service reports, sorted by name, as the
// common format sorts rows.
func (v vocabulary) metricsFor(seed uint64, spec ServiceSpec, hasCallees bool) []vocabMetric {
	fl := v.flavours[spec.Kind]
	if len(fl) == 0 {
		return nil
	}
	f := fl[Hash64(seed, spec.Name, "flavour")%uint64(len(fl))]
	var out []vocabMetric
	for _, m := range f.metrics {
		if m.only == "callees" && !hasCallees {
			continue
		}
		out = append(out, m)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].name < out[j].name })
	return slices.Clip(out)
}

// sample is a service's quantities averaged over one sampling interval.
type sample struct {
	steps                             int
	cpuPct, memPct, memBytes, memFree float64
	cpuCores, rps, errRatio           float64
	latP90, latP99, client, success   float64
	restarts                          float64
	throttled                         float64
	interval                          float64 // seconds
	bytesPerRequest                   float64
}

// add folds one simulation step into the sample. The sums keep the order
// of the steps, so the common vocabulary's averages are what they were
// before vocabularies existed.
func (s *sample) add(st ServiceState, spec ServiceSpec) {
	var c, m float64
	n := 0
	restarts := 0
	for _, p := range st.Pods {
		c += p.CPUCores
		m += p.Memory
		restarts += p.Restarts
		n++
	}
	if n > 0 {
		s.cpuPct += c / float64(n) / spec.CPULimit * 100
		s.memPct += m / float64(n) / spec.MemoryLimit * 100
	}
	s.cpuCores += c
	s.memBytes += m
	s.memFree += math.Max(float64(n)*spec.MemoryLimit-m, 0)
	s.rps += st.RPS
	s.errRatio += st.ErrorRate
	s.latP90 += Quantile(st.Latency, st.Sigma, 0.9)
	s.latP99 += Quantile(st.Latency, st.Sigma, 0.99)
	s.client += Quantile(math.Max(st.ClientLatency, 1e-6), 0.45, 0.9)
	s.success += (1 - st.ErrorRate) * 100
	s.restarts = float64(restarts)
	if st.Utilization > 1 {
		s.throttled += st.RPS * (1 - 1/st.Utilization)
	}
	s.steps++
}

// value is q over the sample (for counters: the interval's increment).
func (s *sample) value(q quantity) float64 {
	k := float64(s.steps)
	switch q {
	case qCPUPct:
		return s.cpuPct / k
	case qCPURatio:
		return s.cpuPct / k / 100
	case qCPUSeconds:
		return s.cpuCores / k * s.interval
	case qMemPct:
		return s.memPct / k
	case qMemBytes:
		return s.memBytes / k
	case qFreeMemBytes:
		return s.memFree / k
	case qRPS:
		return s.rps / k
	case qRequests:
		return s.rps / k * s.interval
	case qErrors:
		return s.rps / k * s.interval * s.errRatio / k
	case qSuccessPct:
		return s.success / k
	case qLatencyP90:
		return s.latP90 / k
	case qLatencyP99:
		return s.latP99 / k
	case qClientP90:
		return s.client / k
	case qNetRx:
		return s.rps / k * s.interval * s.bytesPerRequest * 0.25
	case qNetTx:
		return s.rps / k * s.interval * s.bytesPerRequest
	case qRestartsTotal:
		return s.restarts
	case qThrottles:
		return s.throttled / k * s.interval
	}
	return math.NaN()
}
