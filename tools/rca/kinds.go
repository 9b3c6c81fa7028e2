package rca

import (
	"strings"
	"unicode"
)

// Role is how a metric's anomaly travels over the call graph, which decides
// who can explain it.
type Role string

// The roles.
const (
	// RoleResource is local to the service (CPU, memory, restarts): no
	// other service explains it.
	RoleResource Role = "resource"
	// RoleLatency rises in callers when a callee is slow; a service's own
	// latency is explained by a callee's that rose as much.
	RoleLatency Role = "latency"
	// RoleClient is latency of the service's outgoing calls: it points at
	// its callees (or the network to them), not at the service.
	RoleClient Role = "client"
	// RoleErrors propagate to callers as failed calls.
	RoleErrors Role = "errors"
	// RoleTraffic propagates down: a callee's requests follow its callers'.
	RoleTraffic Role = "traffic"
	// RoleOther is anything else (network bytes, unknown names).
	RoleOther Role = "other"
	// RoleCollapse is a service's CPU, latency or requests falling to a
	// fraction of their level: it stopped working, which explains its
	// callers' errors.
	RoleCollapse Role = "collapse"
)

// kind is what a metric measures, read from its name: which way is bad,
// on which scale its deviations are measured, how much its direction is
// trusted, and its role in propagation. A name the table does not know is
// scored both ways at a lower weight rather than guessed.
type kind struct {
	name string
	role Role
	// dir is +1 when up is bad, -1 when down is bad, 0 when either may be.
	dir int
	// weight is the trust in the metric as root-cause evidence, in (0, 1].
	weight float64
	// bounded kinds are percentages (or ratios scaled to them) measured in
	// points; the others on a log scale (relative change).
	bounded bool
	// floor is the noise floor of a relative change (on the log scale):
	// memory moves smoothly, so 3 % is already a move; latency jitters,
	// so 10 % is not yet one. Zero takes the default.
	floor float64
	// collapses marks metrics whose fall to a fraction of their level
	// means the service stopped working (the CPU and latency of a crashed
	// service), whichever way is bad otherwise.
	collapses bool
	// events marks counts of bad events (errors, restarts, throttles),
	// measured against Poisson noise when they are whole numbers.
	events bool
}

// kindRule matches a metric name's words.
type kindRule struct {
	// all must each be present (any word of a group matches the group).
	all  [][]string
	kind kind
}

var (
	wClient  = []string{"client", "outgoing", "outbound", "upstream", "downstream"}
	wLatency = []string{"latency", "duration", "time", "rtt", "delay", "wait", "elapsed", "p50", "p90", "p95", "p99", "seconds"}
	wSuccess = []string{"success", "successful", "availability", "available", "avail", "ok", "uptime", "apdex"}
	wErrors  = []string{"error", "errors", "err", "fail", "failed", "failure", "failures", "5xx", "exception", "exceptions",
		"fault", "faults", "rejected", "rollback", "rollbacks", "timeout", "timeouts", "dropped", "refused", "unavailable"}
	wSaturation = []string{"throttle", "throttles", "throttled", "throttling", "saturation", "queue", "backlog", "pending", "waiting"}
	wRestarts   = []string{"restart", "restarts", "oom", "oomkilled", "crash", "crashes", "killed", "evicted"}
	wCPU        = []string{"cpu", "processor", "cores"}
	wMemory     = []string{"mem", "memory", "heap", "rss", "workingset", "working", "swap"}
	wFree       = []string{"free", "freeable", "available", "idle", "remaining"}
	wTraffic    = []string{"request", "requests", "req", "ops", "rps", "qps", "tps", "count", "invocations", "calls", "connections",
		"throughput", "operations", "commit", "processed", "hits", "messages", "workload", "load"}
	wNetwork = []string{"net", "network", "bytes", "rx", "tx", "receive", "received", "transmit", "transmitted", "io", "packets", "bandwidth"}
	wPct     = []string{"pct", "percent", "percentage", "utilization", "utilisation", "ratio"}
)

// kindRules are tried in order; the first whose groups all match wins.
var kindRules = []kindRule{
	// Self time (a span's duration less its children's) and errors that
	// began in the service are its own, whatever its callees do.
	{[][]string{{"self"}, wLatency}, kind{name: "self time", role: RoleResource, dir: 1, weight: 1, floor: 0.1}},
	{[][]string{{"own"}, wErrors}, kind{name: "own errors", role: RoleResource, dir: 1, weight: 1}},
	{[][]string{wClient, wLatency}, kind{name: "client latency", role: RoleClient, dir: 1, weight: 0.8, floor: 0.1}},
	{[][]string{wFree, wMemory}, kind{name: "free memory", role: RoleResource, dir: -1, weight: 0.8, floor: 0.03}},
	// The share of a service's targets that answer (Prometheus's up): a
	// fall is the service stopping, which explains its callers' errors.
	{[][]string{{"available", "up", "uptime"}, wPct}, kind{name: "availability", role: RoleCollapse, dir: -1, weight: 1, bounded: true}},
	{[][]string{wSuccess}, kind{name: "success", role: RoleErrors, dir: -1, weight: 1, bounded: true}},
	{[][]string{wErrors}, kind{name: "errors", role: RoleErrors, dir: 1, weight: 1, events: true}},
	{[][]string{wRestarts}, kind{name: "restarts", role: RoleResource, dir: 1, weight: 1, events: true}},
	{[][]string{wSaturation}, kind{name: "saturation", role: RoleResource, dir: 1, weight: 1, events: true}},
	{[][]string{wCPU}, kind{name: "cpu", role: RoleResource, dir: 1, weight: 1, floor: 0.05, collapses: true}},
	{[][]string{wMemory}, kind{name: "memory", role: RoleResource, dir: 1, weight: 1, floor: 0.03}},
	{[][]string{wLatency}, kind{name: "latency", role: RoleLatency, dir: 1, weight: 1, floor: 0.1, collapses: true}},
	{[][]string{wTraffic}, kind{name: "traffic", role: RoleTraffic, dir: 0, weight: 0.6, floor: 0.05}},
	{[][]string{wNetwork}, kind{name: "network", role: RoleOther, dir: 0, weight: 0.5, floor: 0.1}},
}

// unknownKind is a name the table does not know: either direction may be
// bad, and its evidence counts for half.
var unknownKind = kind{name: "unknown", role: RoleOther, dir: 0, weight: 0.5}

// kindOf reads a metric's kind from its name. A `<component>/` prefix
// (CloudWatch-style `AWS::Lambda::Function/latency_p90_s`) is ignored; the
// unit words (pct, ratio, utilization) make percentages bounded.
func kindOf(metric string) kind {
	name := metric
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	words := splitWords(name)
	has := func(group []string) bool {
		for _, w := range words {
			for _, g := range group {
				if w == g {
					return true
				}
			}
		}
		return false
	}
	k := unknownKind
	for _, r := range kindRules {
		ok := true
		for _, g := range r.all {
			if !has(g) {
				ok = false
				break
			}
		}
		if ok {
			k = r.kind
			break
		}
	}
	k.bounded = has(wPct) && (k.role == RoleResource || k.name == "success" || k.name == "errors" || k.name == "unknown")
	if k.name == "success" && !has(wPct) {
		// "successful_requests" is a count, not a share: traffic that
		// falls when things fail.
		k = kind{name: "successes", role: RoleTraffic, dir: -1, weight: 0.6, floor: 0.05}
	}
	return k
}

// splitWords splits a metric name into lower-case words at punctuation,
// digits-to-letters and camelCase boundaries: "CPUUtilization_pct" →
// cpu, utilization, pct; "http.server.request.duration" → http, server,
// request, duration; "http_5xx_count" → http, 5xx, count.
func splitWords(s string) []string {
	var out []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	rs := []rune(s)
	for i, r := range rs {
		switch {
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			flush()
		case unicode.IsUpper(r) && len(cur) > 0 && (unicode.IsLower(cur[len(cur)-1]) ||
			(i+1 < len(rs) && unicode.IsLower(rs[i+1]) && unicode.IsUpper(cur[len(cur)-1]))):
			flush()
			cur = append(cur, r)
		default:
			cur = append(cur, r)
		}
	}
	flush()
	// Words joined without separators that the table knows in parts:
	// "workingset" stays one word and is listed; "p90" is a word.
	return out
}
