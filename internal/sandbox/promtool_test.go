package sandbox_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/watchkeeper/watchkeeper/internal/testserver"
)

// TestPromtoolQueriesTheSandbox points the real promtool at the served API.
func TestPromtoolQueriesTheSandbox(t *testing.T) {
	promtool := testserver.Need(t, "promtool", "/usr/bin/promtool")
	e := start(t, "bad-deploy")
	at := ts(e.sb.World().Now())
	out, err := exec.Command(promtool, "query", "instant", "--time="+at, e.srv.URL,
		`sum by (code) (rate(http_requests_total{service="checkout"}[2m]))`).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool query instant: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `{code="500"} =>`) || !strings.Contains(string(out), `{code="200"} =>`) {
		t.Errorf("promtool output:\n%s", out)
	}
	out, err = exec.Command(promtool, "query", "labels", e.srv.URL, "service").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "checkout") {
		t.Errorf("promtool query labels: %v\n%s", err, out)
	}
	out, err = exec.Command(promtool, "query", "series", "--match=up{service=\"redis\"}", e.srv.URL).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `service="redis"`) {
		t.Errorf("promtool query series: %v\n%s", err, out)
	}
}
