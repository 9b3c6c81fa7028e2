package alerting_test

import (
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/sandbox/alerting"
)

func TestLineForPeople(t *testing.T) {
	fired := time.Date(2026, 11, 24, 14, 2, 0, 0, time.UTC)
	ended := time.Date(2026, 11, 24, 14, 12, 15, 0, time.UTC)
	errAlert := func(status string) alerting.WebhookAlert {
		a := alerting.WebhookAlert{Status: status, StartsAt: fired,
			Labels:      map[string]string{"alertname": "HighErrorRate", "namespace": "shop", "service": "checkout", "severity": "critical"},
			Annotations: map[string]string{"summary": "checkout: 24.1% of requests fail"}}
		if status == "resolved" {
			a.EndsAt = ended
		}
		return a
	}
	edge := func(from, to, p99 string) alerting.WebhookAlert {
		return alerting.WebhookAlert{Status: "firing", StartsAt: fired,
			Labels:      map[string]string{"alertname": "UpstreamLatencyHigh", "severity": "warning", "source_workload": from, "destination_workload": to},
			Annotations: map[string]string{"summary": "calls from " + from + " to " + to + ": p99 " + p99}}
	}
	errGroup := map[string]string{"alertname": "HighErrorRate", "namespace": "shop", "service": "checkout"}
	tests := []struct {
		name string
		msg  alerting.WebhookMessage
		want string
	}{
		{
			name: "one firing alert",
			msg: alerting.WebhookMessage{Status: "firing", GroupLabels: errGroup, Alerts: []alerting.WebhookAlert{errAlert("firing")},
				CommonAnnotations: map[string]string{"summary": "checkout: 24.1% of requests fail"}},
			want: "🔔 [FIRING] HighErrorRate {namespace=shop, service=checkout} — checkout: 24.1% of requests fail",
		},
		{
			name: "resolved: the last value is labelled, not quoted as current",
			msg: alerting.WebhookMessage{Status: "resolved", GroupLabels: errGroup, Alerts: []alerting.WebhookAlert{errAlert("resolved")},
				CommonAnnotations: map[string]string{"summary": "checkout: 24.1% of requests fail"}},
			want: "🔔 [RESOLVED] HighErrorRate {namespace=shop, service=checkout} — resolved at 14:12:15 UTC (while firing: checkout: 24.1% of requests fail)",
		},
		{
			name: "a group its grouping labels do not describe: the shared labels and the count, never {}",
			msg: alerting.WebhookMessage{Status: "firing", GroupLabels: map[string]string{"alertname": "UpstreamLatencyHigh"},
				CommonLabels: map[string]string{"alertname": "UpstreamLatencyHigh", "severity": "warning"},
				Alerts:       []alerting.WebhookAlert{edge("frontend", "checkout", "2339ms"), edge("checkout", "payments", "2142ms")}},
			want: "🔔 [FIRING] UpstreamLatencyHigh (2 alerts) — calls from frontend to checkout: p99 2339ms; calls from checkout to payments: p99 2142ms",
		},
		{
			name: "shared labels beyond severity are shown",
			msg: alerting.WebhookMessage{Status: "firing", GroupLabels: map[string]string{"alertname": "UpstreamLatencyHigh"},
				CommonLabels: map[string]string{"alertname": "UpstreamLatencyHigh", "severity": "warning", "destination_workload": "payments"},
				Alerts:       []alerting.WebhookAlert{edge("checkout", "payments", "900ms"), edge("cart", "payments", "700ms"), edge("frontend", "payments", "600ms")}},
			want: "🔔 [FIRING] UpstreamLatencyHigh {destination_workload=payments} (3 alerts) — calls from checkout to payments: p99 900ms; calls from cart to payments: p99 700ms; +1 more",
		},
		{
			name: "a group partly resolved quotes only what still fires",
			msg: alerting.WebhookMessage{Status: "firing", GroupLabels: map[string]string{"alertname": "UpstreamLatencyHigh"},
				Alerts: []alerting.WebhookAlert{edge("frontend", "checkout", "2339ms"),
					func() alerting.WebhookAlert {
						a := edge("checkout", "payments", "2142ms")
						a.Status = "resolved"
						return a
					}()}},
			want: "🔔 [FIRING] UpstreamLatencyHigh (2 alerts, 1 resolved) — calls from frontend to checkout: p99 2339ms",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := alerting.Line(tt.msg)
			if got != tt.want {
				t.Errorf("Line =\n  %s\nwant\n  %s", got, tt.want)
			}
			if strings.Contains(got, "{}") {
				t.Errorf("empty label set in %q", got)
			}
		})
	}
}
