package kube

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/watchkeeper/watchkeeper/tools"
)

// kindSamples holds one object, named "sample", of every kind in kindTable
// (an event is about a pod named "sample"). A kind added to the table
// needs a sample here, or TestKindTableIsTheOnlySourceOfKinds fails.
func kindSamples() map[string]runtime.Object {
	meta := metav1.ObjectMeta{Name: "sample", Namespace: "shop", Labels: map[string]string{"app": "sample"}}
	cluster := metav1.ObjectMeta{Name: "sample", Labels: map[string]string{"app": "sample"}}
	pod := corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "shop/sample:v1"}}}
	return map[string]runtime.Object{
		"pods":         &corev1.Pod{ObjectMeta: meta, Spec: pod},
		"deployments":  &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: pod}}},
		"statefulsets": &appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Template: corev1.PodTemplateSpec{Spec: pod}}},
		"daemonsets":   &appsv1.DaemonSet{ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: pod}}},
		"replicasets":  &appsv1.ReplicaSet{ObjectMeta: meta, Spec: appsv1.ReplicaSetSpec{Template: corev1.PodTemplateSpec{Spec: pod}}},
		"jobs":         &batchv1.Job{ObjectMeta: meta, Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: pod}}},
		"cronjobs": &batchv1.CronJob{ObjectMeta: meta, Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: pod}}}}},
		"services": &corev1.Service{ObjectMeta: meta, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "sample"}}},
		"hpa": &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: meta, Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "sample"}, MaxReplicas: 3}},
		"pvc":        &corev1.PersistentVolumeClaim{ObjectMeta: meta},
		"nodes":      &corev1.Node{ObjectMeta: cluster},
		"namespaces": &corev1.Namespace{ObjectMeta: cluster},
		"configmaps": &corev1.ConfigMap{ObjectMeta: meta, Data: map[string]string{"k": "v"}},
		"events": &corev1.Event{ObjectMeta: meta, InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: "sample"},
			Type: corev1.EventTypeWarning, Reason: "BackOff", Message: "restarting"},
	}
}

// Every kind the tools accept comes from kindTable, and every entry works
// end to end: kube_get lists it under its name and each alias, with the
// entry's columns; kube_describe describes it exactly when the entry has a
// describe, and its enum says so; the unknown-kind message and kube_get's
// schema list the table's names.
func TestKindTableIsTheOnlySourceOfKinds(t *testing.T) {
	samples := kindSamples()
	objs := make([]runtime.Object, 0, len(samples))
	for _, o := range samples {
		objs = append(objs, o)
	}
	now := time.Date(2026, 11, 24, 14, 30, 0, 0, time.UTC)
	cfg := Config{Client: fake.NewClientset(objs...), Namespace: "shop", Now: func() time.Time { return now }}.withDefaults()
	get, describe := getTool{cfg}, describeTool{cfg}
	run := func(t *testing.T, tl tools.Tool, args string) tools.Result {
		t.Helper()
		res, err := tl.Run(context.Background(), json.RawMessage(args))
		if err != nil {
			t.Fatalf("%s %s: %v", tl.Spec().Name, args, err)
		}
		return res
	}
	enum := describe.Spec().Parameters.Properties["kind"].Enum

	seen := map[string]string{} // name or alias → the kind it means
	for _, k := range kindTable {
		t.Run(k.name, func(t *testing.T) {
			if samples[k.name] == nil {
				t.Fatalf("no sample object for kind %s: add one to kindSamples", k.name)
			}
			if k.noun == "" || k.apiKind == "" || len(k.columns) == 0 || k.list == nil {
				t.Fatalf("incomplete entry: noun %q, apiKind %q, %d columns, list set %v", k.noun, k.apiKind, len(k.columns), k.list != nil)
			}
			for _, n := range append([]string{k.name}, k.aliases...) {
				if other, dup := seen[n]; dup {
					t.Errorf("%q names both %s and %s", n, other, k.name)
				}
				seen[n] = k.name
				if n != strings.ToLower(strings.TrimSpace(n)) {
					t.Errorf("%q cannot match: names are matched in lower case", n)
				}
			}

			res := run(t, get, `{"kind": "`+k.name+`"}`)
			if res.Error != "" || !strings.Contains(res.Text, "sample") {
				t.Fatalf("kube_get %s: %+v", k.name, res)
			}
			if data, _ := res.Data.(map[string]any); data["kind"] != k.name || data["count"] != 1 {
				t.Errorf("kube_get %s data: %v", k.name, res.Data)
			}
			if !containsColumns(res.Text, k.columns) {
				t.Errorf("kube_get %s lacks the columns %v:\n%s", k.name, k.columns, res.Text)
			}
			for _, alias := range append([]string{strings.ToUpper(k.name)}, k.aliases...) {
				if got := run(t, get, `{"kind": "`+alias+`"}`); got.Text != res.Text || got.Error != res.Error {
					t.Errorf("kube_get %s differs from %s:\n%s%s", alias, k.name, got.Text, got.Error)
				}
			}

			all := run(t, get, `{"kind": "`+k.name+`", "namespace": "all"}`)
			if perNamespace := strings.Contains(all.Text, "NAMESPACE"); perNamespace == k.clusterScoped {
				t.Errorf("listing every namespace, clusterScoped %v, NAMESPACE column %v:\n%s", k.clusterScoped, perNamespace, all.Text)
			}

			res = run(t, describe, `{"kind": "`+k.name+`", "name": "sample"}`)
			if k.describe == nil {
				if want := "kube_describe does not cover " + k.name + "; use kube_get"; res.Error != want {
					t.Errorf("kube_describe %s: %q, want %q", k.name, res.Error, want)
				}
				if slices.Contains(enum, k.name) {
					t.Errorf("kube_describe's enum offers %s, which it does not cover", k.name)
				}
				return
			}
			if res.Error != "" || !strings.Contains(res.Text, "sample") {
				t.Errorf("kube_describe %s: %+v", k.name, res)
			}
			if !slices.Contains(enum, k.name) {
				t.Errorf("kube_describe's enum %v lacks %s", enum, k.name)
			}
			if err := describe.Spec().Parameters.Validate(json.RawMessage(`{"kind": "` + k.name + `", "name": "sample"}`)); err != nil {
				t.Errorf("kube_describe's schema refuses %s: %v", k.name, err)
			}
			want := k.noun + " shop/ghost: not found"
			if k.clusterScoped {
				want = k.noun + " ghost: not found"
			}
			if res := run(t, describe, `{"kind": "`+k.name+`", "name": "ghost"}`); !strings.HasPrefix(res.Error, want) {
				t.Errorf("kube_describe a missing %s: %q, want %q…", k.noun, res.Error, want)
			}
		})
	}
	for name := range samples {
		if _, ok := seen[name]; !ok {
			t.Errorf("kindSamples has %s, which kindTable does not", name)
		}
	}
	if len(enum) != len(describableKinds()) {
		t.Errorf("kube_describe's enum %v, describable kinds %v", enum, describableKinds())
	}

	res := run(t, get, `{"kind": "widgets"}`)
	desc := get.Spec().Parameters.Properties["kind"].Description
	for _, k := range kindTable {
		if !strings.Contains(res.Error, k.name) || !strings.Contains(desc, k.name) {
			t.Errorf("%s is missing from the unknown-kind message %q or kube_get's schema %q", k.name, res.Error, desc)
		}
	}
	for _, secret := range []string{"secret", "Secrets"} {
		if res := run(t, get, `{"kind": "`+secret+`"}`); !strings.Contains(res.Error, "Secrets are never read") {
			t.Errorf("kube_get %s: %+v", secret, res)
		}
	}
}

// containsColumns reports whether one line of text holds the columns in
// order, however the table aligned them.
func containsColumns(text string, columns []string) bool {
	for _, line := range strings.Split(text, "\n") {
		rest, ok := line, true
		for _, c := range columns {
			i := strings.Index(rest, c)
			if i < 0 {
				ok = false
				break
			}
			rest = rest[i+len(c):]
		}
		if ok {
			return true
		}
	}
	return false
}
