package alerting_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/watchkeeper/watchkeeper/internal/testserver"
)

// TestRulesFileIsValidPrometheus checks the shipped rules with promtool.
func TestRulesFileIsValidPrometheus(t *testing.T) {
	promtool := testserver.Need(t, "promtool", "/usr/bin/promtool")
	out, err := exec.Command(promtool, "check", "rules", "rules/shop.rules.yml").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS: 10 rules found") {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
}
