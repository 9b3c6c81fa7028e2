package slack_test

import (
	"testing"

	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/slack"
)

func TestAlertRouting(t *testing.T) {
	routes := []config.AlertRoute{
		{Channel: "CPAGE", Match: map[string]string{"severity": "critical", "namespace": "~shop|payments"}},
		{Channel: "CSHOP", Match: map[string]string{"namespace": "shop"}},
		{Channel: "CALL"},
	}
	for _, tt := range []struct {
		labels map[string]string
		want   string
	}{
		{map[string]string{"severity": "critical", "namespace": "payments"}, "CPAGE"},
		{map[string]string{"severity": "critical", "namespace": "shopping"}, "CALL"}, // anchored: no partial match
		{map[string]string{"severity": "warning", "namespace": "shop"}, "CSHOP"},
		{map[string]string{"alertname": "Watchdog"}, "CALL"},
	} {
		if got, ok := slack.AlertChannel(routes, tt.labels); !ok || got != tt.want {
			t.Errorf("AlertChannel(%v) = %q, %v; want %q", tt.labels, got, ok, tt.want)
		}
	}
	if _, ok := slack.AlertChannel(routes[:2], map[string]string{"namespace": "infra"}); ok {
		t.Error("an unmatched alert was routed")
	}
}
