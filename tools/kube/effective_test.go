package kube_test

import (
	"encoding/json"
	"testing"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/watchkeeper/watchkeeper/tools"
	"github.com/watchkeeper/watchkeeper/tools/kube"
)

// A remediation plan's step names the action it carries out, so approval
// rules judge a rollback as a rollback.
func TestRemediateNamesItsEffectiveAction(t *testing.T) {
	var plan tools.Tool
	for _, tl := range kube.ActionTools(kube.ActionConfig{Config: kube.Config{Client: fake.NewClientset()}}) {
		if tl.Spec().Name == "kube_remediate" {
			plan = tl
		}
	}
	d, ok := plan.(tools.Delegator)
	if !ok {
		t.Fatal("kube_remediate does not say what its steps do")
	}
	for _, tt := range []struct {
		signature string
		step      int
		want      string
	}{
		{"change", 0, "kube_rollout_undo"},
		{"crashloop", 1, "kube_rollout_restart"},
		{"cpu", 0, "kube_scale"},
	} {
		args, _ := json.Marshal(map[string]any{"namespace": "prod", "name": "checkout", "signature": tt.signature, "step": tt.step,
			"action": map[string]any{"namespace": "prod", "name": "checkout"}})
		eff, err := d.Effective(tools.Proposal{Tool: "kube_remediate", Args: args})
		var inner struct{ Namespace string }
		_ = json.Unmarshal(eff.Args, &inner)
		if err != nil || eff.Tool != tt.want || inner.Namespace != "prod" {
			t.Errorf("%s step %d: %+v (namespace %q), %v; want %s in prod", tt.signature, tt.step, eff, inner.Namespace, err, tt.want)
		}
	}
	if _, err := d.Effective(tools.Proposal{Tool: "kube_remediate", Args: json.RawMessage(`{"signature":"change","step":7}`)}); err == nil {
		t.Error("a step the plan does not have was accepted")
	}
}
