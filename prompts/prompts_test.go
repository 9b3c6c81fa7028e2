package prompts

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/tools"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./prompts -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s; if the change is intended, run go test ./prompts -update and review the diff.\n--- got ---\n%s", name, path, got)
	}
}

var now = time.Date(2026, 11, 24, 14, 5, 0, 0, time.UTC)

var specs = []tools.Spec{
	{Name: "current_time", Description: "Returns the current time.", Parameters: tools.Object(map[string]*tools.Schema{
		"timezone": tools.String("IANA zone")})},
	{Name: "restart_deployment", Description: "Restart a deployment.", Mutating: true, Parameters: tools.Object(map[string]*tools.Schema{
		"name": tools.String("deployment")}, "name")},
}

func TestSystemGolden(t *testing.T) {
	for _, tt := range []struct {
		name string
		data SystemData
	}{
		{"system_native", SystemData{Now: now, Source: "terminal chat", Tools: specs}},
		{"system_react", SystemData{Now: now, Source: "Slack thread", Tools: specs, ReAct: true}},
		{"system_react_no_tools", SystemData{Now: now, ReAct: true}},
		{"system_scoped", SystemData{Now: now, Source: "Slack thread in #shop-oncall", Tools: specs, Namespaces: []string{"shop", "payments"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := System(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, got)
		})
	}
}

func TestSummarizeGolden(t *testing.T) {
	got, err := Summarize(SummaryData{Transcript: "user: why is checkout slow?\nassistant: p99 is 2.3s since 14:00.\n", MaxWords: 300})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "summarize", got)
}

func TestPostmortemGolden(t *testing.T) {
	got, err := Postmortem(PostmortemData{ID: "inc_0123", Facts: "# Postmortem: HighErrorRate — shop/checkout\n\n## Timeline (UTC)\n- 14:02:00 opened: incident opened\n"})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "postmortem", got)
}
