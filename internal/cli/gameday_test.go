package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bad input to gameday is refused with exit 2 and a clear message before
// any world starts.
func TestGameDayBadInput(t *testing.T) {
	home := isolate(t)
	unknownKey := filepath.Join(home, "thresholds.yaml")
	if err := os.WriteFile(unknownKey, []byte("detect: 5m\nrecovr: 10m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badValue := filepath.Join(home, "bad.yaml")
	if err := os.WriteFile(badValue, []byte("availability: 1.5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(home, "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) string {
		p := filepath.Join(home, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noTarget := write("no-target.yaml", "runs:\n  - fault: network_latency\n    service: checkout\n")
	unknownService := write("unknown-service.yaml", "runs:\n  - fault: bad_deploy\n    service: chekout\n")
	noRuns := write("no-runs.yaml", "name: empty\n")
	typo := write("typo.yaml", "runs:\n  - fault: bad_deploy\n    servce: checkout\n")
	good := write("good.yaml", "runs:\n  - fault: bad_deploy\n")
	out := filepath.Join(home, "out")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--faults", "bad_deplyo", "--out", out}, `unknown fault "bad_deplyo"; the catalogue has`},
		{[]string{"--seeds", "0", "--out", out}, "--seeds 0: play at least one seed"},
		{[]string{"--speed", "5000", "--out", out}, "--speed 5000"},
		{[]string{"--thresholds", unknownKey, "--out", out}, "field recovr not found"},
		{[]string{"--thresholds", badValue, "--out", out}, "availability 1.5 is a share between 0 and 1"},
		{[]string{"--thresholds", filepath.Join(home, "missing.yaml"), "--out", out}, "--thresholds:"},
		{[]string{"--out", filepath.Join(file, "sub")}, "--out:"},
		{[]string{}, "--out DIR is required"},
		{[]string{"--model", "gpt-4o", "--out", out}, "--model gpt-4o: no provider to reach it through; set llm.provider"},
		{[]string{"--scenario", noTarget, "--out", out}, "runs[0]: network_latency needs a target service (the callee)"},
		{[]string{"--scenario", unknownService, "--out", out}, `unknown service "chekout"`},
		{[]string{"--scenario", noRuns, "--out", out}, "has no runs"},
		{[]string{"--scenario", typo, "--out", out}, "field servce not found"},
		{[]string{"--scenario", filepath.Join(home, "missing.yaml"), "--out", out}, "--scenario:"},
		{[]string{"--scenario", good, "--faults", "bad_deploy", "--out", out}, "--faults and --scenario: choose one"},
	} {
		r := run(t, home, "", nil, append([]string{"gameday"}, c.args...)...)
		if r.code != 2 || !strings.Contains(r.err, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, r.code, r.err, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "report.json")); !os.IsNotExist(err) {
		t.Errorf("a report was written for bad input: %v", err)
	}
}
