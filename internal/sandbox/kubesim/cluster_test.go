package kubesim_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/watchkeeper/watchkeeper/internal/sandbox/kubesim"
	"github.com/watchkeeper/watchkeeper/internal/sandbox/world"
	"github.com/watchkeeper/watchkeeper/tools"
	"github.com/watchkeeper/watchkeeper/tools/kube"
)

// end is when every test world's history ends: a Tuesday afternoon.
var end = time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)

// cluster runs an hour of scenario's world and mirrors its end, with the
// last hour's events, as the sandbox does.
func cluster(t *testing.T, scenario string) (*world.World, *kubesim.Cluster) {
	t.Helper()
	topo := world.DefaultTopology()
	sc, err := world.LoadScenario(scenario, topo)
	if err != nil {
		t.Fatal(err)
	}
	start := end.Add(-time.Hour)
	w, err := world.New(topo, sc.Seed, start)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range sc.Timeline {
		if _, err := w.Inject(f.FaultSpec, end.Add(f.At)); err != nil {
			t.Fatal(err)
		}
	}
	c, err := kubesim.New(w, start)
	if err != nil {
		t.Fatal(err)
	}
	var last world.Snapshot
	var events []world.Event
	w.Advance(end, func(s *world.Snapshot) {
		last = *s
		events = append(events, s.Events...)
	})
	last.Events = nil
	for _, e := range events {
		if end.Sub(e.Time) <= time.Hour {
			last.Events = append(last.Events, e)
		}
	}
	if err := c.Sync(&last); err != nil {
		t.Fatal(err)
	}
	return w, c
}

// The proposing tools' server-side dry runs reach the sandbox as dry runs:
// proposing changes nothing; applying the approved proposal does.
func TestDryRunsLeaveTheWorldAlone(t *testing.T) {
	ctx := context.Background()
	w, c := cluster(t, "bad-deploy")
	kc := c.Clientset()
	tl := map[string]tools.Tool{}
	for _, x := range kube.ActionTools(kube.ActionConfig{Config: kube.Config{Client: kc, Namespace: "shop"}, RolloutTimeout: 100 * time.Millisecond}) {
		tl[x.Spec().Name] = x
	}
	image := func() string {
		d, _ := kc.AppsV1().Deployments("shop").Get(ctx, "checkout", metav1.GetOptions{})
		return d.Spec.Template.Spec.Containers[0].Image
	}
	bad := image()
	for _, call := range []struct{ tool, args string }{
		{"kube_rollout_undo", `{"name": "checkout", "reason": "bad deploy"}`},
		{"kube_rollout_restart", `{"name": "checkout", "reason": "x"}`},
		{"kube_scale", `{"name": "checkout", "replicas": 7, "reason": "x"}`},
	} {
		res, err := tl[call.tool].Run(ctx, json.RawMessage(call.args))
		if err != nil || res.Proposal == nil {
			t.Fatalf("%s: %+v, %v", call.tool, res, err)
		}
	}
	pods, _ := kc.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{LabelSelector: "app=cart"})
	if res, _ := tl["kube_delete_pod"].Run(ctx, json.RawMessage(`{"name": "`+pods.Items[0].Name+`", "reason": "x"}`)); res.Proposal == nil {
		t.Fatalf("delete pod: %+v", res)
	}
	d, _ := kc.AppsV1().Deployments("shop").Get(ctx, "checkout", metav1.GetOptions{})
	if image() != bad || *d.Spec.Replicas == 7 {
		t.Fatalf("proposing changed the world: image %s, replicas %d", image(), *d.Spec.Replicas)
	}
	if after, _ := kc.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{LabelSelector: "app=cart"}); len(after.Items) != len(pods.Items) ||
		after.Items[0].Name != pods.Items[0].Name {
		t.Fatal("a dry-run delete removed a pod")
	}
	undo, _ := tl["kube_rollout_undo"].Run(ctx, json.RawMessage(`{"name": "checkout", "reason": "bad deploy"}`))
	if _, err := tl["kube_rollout_undo"].(tools.Applier).Apply(ctx, *undo.Proposal); err != nil {
		t.Fatal(err)
	}
	if image() == bad {
		t.Error("the approved rollback did not change the image")
	}
	if f := w.Faults()[0]; f.FixedAt.IsZero() {
		t.Error("the rollback did not end the bad-deploy fault")
	}
}

// A rollback puts the previous template back whole, as kubectl rollout
// undo does: the config revision annotation the bad change added goes
// too, so the world records the config fault fixed. (A strategic merge
// patch kept it, and the "rollback" carried the change it undid.)
func TestRollbackRemovesWhatTheChangeAdded(t *testing.T) {
	ctx := context.Background()
	w, c := cluster(t, "config-change")
	kc := c.Clientset()
	var undo tools.Tool
	for _, x := range kube.ActionTools(kube.ActionConfig{Config: kube.Config{Client: kc, Namespace: "shop"}, RolloutTimeout: 100 * time.Millisecond}) {
		if x.Spec().Name == "kube_rollout_undo" {
			undo = x
		}
	}
	f := w.Faults()[0]
	before, _ := kc.AppsV1().Deployments("shop").Get(ctx, f.Service, metav1.GetOptions{})
	const ann = "shop.example.com/config-revision"
	if before.Spec.Template.Annotations[ann] == "" {
		t.Fatalf("the config change left no %s annotation on %s's template: %v", ann, f.Service, before.Spec.Template.Annotations)
	}
	res, err := undo.Run(ctx, json.RawMessage(`{"name": "`+f.Service+`", "reason": "config change"}`))
	if err != nil || res.Proposal == nil {
		t.Fatalf("propose: %+v, %v", res, err)
	}
	if _, err := undo.(tools.Applier).Apply(ctx, *res.Proposal); err != nil {
		t.Fatal(err)
	}
	after, _ := kc.AppsV1().Deployments("shop").Get(ctx, f.Service, metav1.GetOptions{})
	if v, ok := after.Spec.Template.Annotations[ann]; ok {
		t.Errorf("after the rollback the template still says %s=%s", ann, v)
	}
	if f := w.Faults()[0]; f.FixedAt.IsZero() {
		t.Error("the rollback did not end the config-change fault")
	}
}
