package kube_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/watchkeeper/watchkeeper/tools"
	"github.com/watchkeeper/watchkeeper/tools/kube"
)

// Memory is written as people read it, for them and the model alike:
// a quantity Kubernetes keeps in plain bytes is humanised with the
// original beside it, one already in its unit stays. People see the
// cluster's text without the untrusted-data markers the model gets.
func TestMemoryIsHumanisedAndPeopleSeeNoMarkers(t *testing.T) {
	now := time.Date(2026, 11, 24, 14, 30, 0, 0, time.UTC)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "cart-1", Namespace: "shop", CreationTimestamp: metav1.NewTime(now.Add(-time.Hour))},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "cart", Image: "shop/cart:v3",
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceMemory: *resource.NewQuantity(123456789, resource.BinarySI), corev1.ResourceCPU: resource.MustParse("250m")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("384Mi"), corev1.ResourceEphemeralStorage: resource.MustParse("500M")},
			}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1", CreationTimestamp: metav1.NewTime(now.Add(-48 * time.Hour))},
		Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"),
			corev1.ResourceMemory: resource.MustParse("16318836Ki"), corev1.ResourcePods: resource.MustParse("110")},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	c := fake.NewClientset(pod, node)
	byTool := map[string]tools.Tool{}
	for _, tl := range kube.Tools(kube.Config{Client: c, Namespace: "shop", Now: func() time.Time { return now }}) {
		byTool[tl.Spec().Name] = tl
	}
	call := func(name, args string) tools.Result {
		t.Helper()
		res, err := byTool[name].Run(context.Background(), json.RawMessage(args))
		if err != nil || res.Error != "" {
			t.Fatalf("%s %s: %v %s", name, args, err, res.Error)
		}
		return res
	}

	res := call("kube_describe", `{"kind": "pods", "name": "cart-1"}`)
	want := "requests cpu=250m,memory=118 MiB (123456789); limits ephemeral-storage=477 MiB (500M),memory=384Mi\n"
	if !strings.Contains(res.Text, want) {
		t.Errorf("describe pod, want %q:\n%s", want, res.Text)
	}
	res = call("kube_describe", `{"kind": "nodes", "name": "node-1"}`)
	if !strings.Contains(res.Text, "Allocatable: cpu 4, memory 15.6 GiB (16318836Ki), pods 110\n") {
		t.Errorf("describe node:\n%s", res.Text)
	}
	res = call("kube_get", `{"kind": "nodes"}`)
	if !strings.Contains(res.Text, "15.6 GiB (16318836Ki)") {
		t.Errorf("get nodes:\n%s", res.Text)
	}
	for _, r := range []tools.Result{res, call("kube_get", `{"kind": "pods"}`), call("kube_describe", `{"kind": "pods", "name": "cart-1"}`)} {
		if !strings.Contains(r.Text, "<untrusted-data source=\"kubernetes\">") {
			t.Errorf("the model's text is not marked:\n%s", r.Text)
		}
		people := r.ForPeople()
		if strings.Contains(people, "untrusted-data") || strings.Count(people, "\n") != strings.Count(r.Text, "\n")-2 {
			t.Errorf("people's text:\n%s", people)
		}
	}
}
