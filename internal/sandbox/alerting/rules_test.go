package alerting_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// promtoolPath finds the real promtool (Debian package prometheus). Under
// CI it must be there: `make test` installs it.
func promtoolPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed; `make test` installs the Debian package prometheus")
		}
		t.Skip("promtool not installed (apt-get install prometheus); `make test` installs it")
	}
	return p
}

// TestRulesFileIsValidPrometheus checks the shipped rules with promtool.
func TestRulesFileIsValidPrometheus(t *testing.T) {
	promtool := promtoolPath(t)
	out, err := exec.Command(promtool, "check", "rules", "rules/shop.rules.yml").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS: 9 rules found") {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
}
