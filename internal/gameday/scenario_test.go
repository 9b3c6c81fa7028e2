package gameday_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/agent/llm/fakeopenai"
	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/gameday"
)

// A game-day file says what to play; what it leaves out keeps its default,
// and what it gets wrong is said before anything runs.
func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "f.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f, err := gameday.LoadFile(write(`name: checkout's game day
seeds: 3
limit: 20m
thresholds: {detect: 4m}
runs:
  - fault: bad_deploy
    service: checkout
    params: {error_rate: 0.1}
  - name: slow payments call
    fault: network_latency
    service: checkout
    target: payments
  - fault: memory_leak
`))
	if err != nil {
		t.Fatal(err)
	}
	if f.Seeds != 3 || f.Limit.D() != 20*time.Minute || f.Thresholds == nil || f.Thresholds.Detect.D() != 4*time.Minute ||
		len(f.Runs) != 3 || f.Runs[0].Params["error_rate"] != 0.1 || f.Runs[1].Name != "slow payments call" || f.Runs[1].Target != "payments" {
		t.Errorf("file = %+v", f)
	}
	for _, c := range []struct{ body, want string }{
		{"runs:\n  - fault: network_latency\n    service: checkout\n", "runs[0]: network_latency needs a target service (the callee), e.g. "},
		{"runs:\n  - fault: network_latency\n    target: payments\n", "a target (payments) needs the service that calls it"},
		{"runs:\n  - fault: bad_deploy\n    service: redis\n", "bad_deploy applies to an application service, not redis"},
		{"runs:\n  - fault: bad_deploy\n    params: {eror_rate: 0.1}\n", `bad_deploy has no parameter "eror_rate"`},
		{"runs:\n  - fault: bad_deploy\n    params: {error_rate: 3}\n", "error_rate is a fraction between 0 and 1, got 3"},
		{"runs:\n  - name: mine\n    fault: slow_db\n    service: cart\n", "mine: slow_db applies to a database"},
		{"runs:\n  - fault: meteor\n", `unknown fault "meteor"`},
		{"runs: []\n", "has no runs"},
		{"", "is empty"},
		{"seeds: -1\nruns:\n  - fault: bad_deploy\n", "seeds -1"},
		{"thresholds: {availability: 2}\nruns:\n  - fault: bad_deploy\n", "availability 2 is a share"},
		{"thresholds: {detekt: 5m}\nruns:\n  - fault: bad_deploy\n", "field detekt not found"},
		{"runs:\n  - fault: bad_deploy\n    when: 5m\n", "field when not found"},
	} {
		if _, err := gameday.LoadFile(write(c.body)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.body, err, c.want)
		}
	}
}

// With a model the agent assesses each incident after the playbook, over
// the wire as in Slack, under the model name asked for; what it proposes
// outside the remediation plan goes to the approver, who rejects it, and
// the bad deploy is still rolled back by the plan's step and recovers.
func TestGameDayWithAModel(t *testing.T) {
	skipUnderRace(t)
	srv := fakeopenai.New(nil, fakeopenai.WithAPIKey("sk-gameday"), fakeopenai.WithFallback(func(r fakeopenai.ChatRequest) fakeopenai.Reply {
		if last := r.Messages[len(r.Messages)-1]; last.Role == "tool" {
			return fakeopenai.Reply{Content: "checkout's new release fails a tenth of its requests; the plan's rollback is proposed."}
		}
		return fakeopenai.Reply{ToolCalls: []fakeopenai.ToolCall{{ID: "call_1", Name: "kube_scale",
			Arguments: `{"name": "frontend", "replicas": 5, "reason": "more capacity while checkout fails"}`}}}
	}))
	defer srv.Close()
	rep, err := gameday.Play(context.Background(), gameday.Options{
		Runs:  []gameday.RunSpec{{Name: "checkout release", Fault: "bad_deploy", Service: "checkout", Params: map[string]float64{"error_rate": 0.1}}},
		Seeds: 1, Speed: 100, Dir: t.TempDir(), Limit: 15 * time.Minute,
		Model: "model-under-test", LLM: config.LLM{Provider: config.ProviderCompatible, BaseURL: srv.URL, APIKey: "sk-gameday"},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Runs[0]
	if r.Name != "checkout release" || r.Service != "checkout" || r.Params["error_rate"] != 0.1 {
		t.Errorf("the file's run was not played as written: %+v", r)
	}
	if len(r.Assessments) == 0 || !strings.Contains(r.Assessments[0], "rollback is proposed") || len(r.AssessmentErrors) > 0 {
		t.Errorf("assessments %q, errors %q", r.Assessments, r.AssessmentErrors)
	}
	if r.Rejected < 1 || r.Wrong != 0 || !r.Recovered || r.Approved < 1 {
		t.Errorf("the model's scale-out was not rejected, or the rollback not applied: %+v", r)
	}
	models := map[string]int{}
	for _, req := range srv.Requests() {
		models[req.Body.Model]++
	}
	if models["model-under-test"] == 0 || len(models) != 1 {
		t.Errorf("models asked: %v", models)
	}
}
