package prom

import (
	"strings"
	"testing"
	"time"
)

func TestValueUnit(t *testing.T) {
	for q, want := range map[string]string{
		`container_memory_working_set_bytes{namespace="shop", container="cart"}`:                                                  unitBytes,
		`max by (pod) (container_memory_working_set_bytes{container=~"a/b*c"})`:                                                   unitBytes,
		`max_over_time(container_memory_working_set_bytes[1h:1m])`:                                                                unitBytes,
		`sum(rate(container_network_receive_bytes_total[5m]))`:                                                                    unitBytesPerSec,
		`increase(container_network_receive_bytes_total[1h])`:                                                                     unitBytes,
		`histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))`:                                  unitSeconds,
		`sum(rate(http_request_duration_seconds_sum[5m])) / sum(rate(http_request_duration_seconds_count[5m]))`:                   unitSeconds,
		`sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))`:                                    unitRatio,
		`sum by (service) (rate(http_requests_total{code=~"5.."}[5m])) / sum by (service) (rate(http_requests_total[5m])) > 0.05`: unitRatio,
		`slo:availability_ratio`:                         unitRatio,
		`job:errors:ratio_rate5m`:                        "",
		`slo_availability_ratio`:                         unitRatio,
		`topk(5, node_filesystem_avail_bytes offset 1h)`: unitBytes,
		`node_filesystem_avail_bytes < 1e9`:              unitBytes,
		`process_cpu_seconds_total`:                      unitSeconds,
		// Unknown or changed by the query: a plain number is better than
		// a wrong unit.
		`up`: "",
		`rate(container_cpu_usage_seconds_total[5m])`:                                                           "",
		`container_memory_working_set_bytes / 1024`:                                                             "",
		`100 * sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))`:            "",
		`container_memory_working_set_bytes / on(pod) kube_pod_container_resource_limits{resource="memory"}`:    "",
		`count(container_memory_working_set_bytes)`:                                                             "",
		`http_request_duration_seconds_bucket`:                                                                  "",
		`histogram_quantile(0.9, rate(http_requests_total[5m]))`:                                                "",
		`container_memory_working_set_bytes > bool 1e9`:                                                         unitBytes,
		`container_memory_working_set_bytes and on(pod) up`:                                                     "",
		`sum(rate(http_request_duration_seconds_count[5m])) / sum(rate(http_request_duration_seconds_sum[5m]))`: "",
	} {
		if got := valueUnit(q); got != want {
			t.Errorf("valueUnit(%s) = %q, want %q", q, got, want)
		}
	}
}

func TestSeriesUnit(t *testing.T) {
	mem := map[string]string{"resource": "memory", "unit": "byte"}
	for q, want := range map[string]string{
		`kube_pod_container_resource_limits{namespace="shop"}`:                      unitBytes,
		`max by (pod, unit) (kube_pod_container_resource_limits)`:                   unitBytes,
		`kube_pod_container_resource_limits / 2`:                                    "",
		`count by (unit) (kube_pod_container_resource_limits)`:                      "",
		`kube_pod_container_resource_limits{resource="memory"} / ignoring(unit) up`: "",
	} {
		if got := seriesUnit(q, mem); got != want {
			t.Errorf("seriesUnit(%s) = %q, want %q", q, got, want)
		}
	}
	if got := seriesUnit("kube_pod_container_resource_limits", map[string]string{"unit": "core"}); got != "" {
		t.Errorf("cores: %q", got)
	}
}

func TestWithExact(t *testing.T) {
	for _, tt := range []struct {
		unit string
		v    float64
		want string
	}{
		{unitBytes, 402653184, "384 MiB (402653184 bytes)"},
		{unitBytes, 1.159e8 + 0.25, "111 MiB (115900000 bytes)"},
		{unitBytesPerSec, 2048, "2 KiB/s (2048 bytes/s)"},
		{unitSeconds, 0.825, "825 ms (0.825 s)"},
		{unitRatio, 0.2544, "25.4% (0.2544)"},
		{"", 402653184, "4.027e+08"},
		{unitSeconds, 2, "2 s"},
	} {
		if got := withExact(tt.unit, tt.v); got != tt.want {
			t.Errorf("withExact(%q, %v) = %q, want %q", tt.unit, tt.v, got, tt.want)
		}
	}
}

// A range of a metric in bytes reads in bytes, trend and shifts too.
func TestRenderInUnits(t *testing.T) {
	s := wave(map[string]string{"pod": "cart-1"}, 240, 15*time.Second, func(i int) float64 {
		if i >= 120 {
			return 380 << 20
		}
		return 110 << 20
	})
	out := Render(Rendering{Query: "container_memory_working_set_bytes", Start: base, End: base.Add(time.Hour), Step: 15 * time.Second,
		RankBy: RankMax, TopK: 10, Unit: unitBytes}, []Summary{Summarize(s)})
	for _, want := range []string{"last 380 MiB", "min 110 MiB", "from 110 MiB to 380 MiB", "trend +"} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "e+08") {
		t.Errorf("exponents:\n%s", out)
	}
}
