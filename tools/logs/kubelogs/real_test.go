package kubelogs_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/watchkeeper/watchkeeper/internal/testserver"
	"github.com/watchkeeper/watchkeeper/tools"
	"github.com/watchkeeper/watchkeeper/tools/kube"
	"github.com/watchkeeper/watchkeeper/tools/logs"
	"github.com/watchkeeper/watchkeeper/tools/logs/kubelogs"
)

// The backend against a real API server, with kwok serving the pods' logs
// as a kubelet would: the same client-go calls production makes.
func TestAgainstARealControlPlane(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	var lines []string
	var times []time.Time
	for i := range 40 {
		level := "INFO"
		if i%10 == 9 {
			level = "ERROR"
		}
		lines = append(lines, `{"level":"`+level+`","msg":"charge card","order":`+strconv.Itoa(i)+`}`)
		times = append(times, now.Add(time.Duration(i-40)*time.Second))
	}
	// A control plane of its own, not the shared one: kwok is started
	// with these lines as the container's log (its ClusterLogs
	// configuration is read at start), and this is the package's only
	// test on a control plane, so sharing would save no boot.
	k := testserver.StartKubernetes(t, testserver.ContainerLogs{Namespace: "shop", Container: "payments", Lines: lines, Times: times})
	ctx := context.Background()
	c := k.Client
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "payments"}
	one := int32(2)
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "payments", Namespace: "shop"},
		Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "payments", Image: "shop/payments:v1"}}}}}}
	if _, err := c.AppsV1().Deployments("shop").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, err := c.AppsV1().Deployments("shop").Get(ctx, "payments", metav1.GetOptions{})
		if err == nil && got.Status.ReadyReplicas == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("payments did not run")
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, err := kubelogs.New(kubelogs.Config{Client: c, Namespace: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	var got []logs.Entry
	st, err := b.Search(ctx, logs.Query{Service: "payments", Start: now.Add(-time.Hour), End: now.Add(time.Minute), Limit: 1000},
		func(e logs.Entry) error { got = append(got, e); return nil })
	if err != nil {
		t.Fatal(err)
	}
	// Two pods, each serving the 40 lines.
	if len(got) != 80 || st.Truncated {
		t.Fatalf("%d lines (truncated %v), want 80", len(got), st.Truncated)
	}
	if !got[0].Time.Equal(times[0]) || got[0].Labels["container"] != "payments" || !strings.Contains(got[0].Line, "charge card") {
		t.Errorf("first entry %+v", got[0])
	}
	got = got[:0]
	if _, err := b.Search(ctx, logs.Query{Service: "payments", Start: now.Add(-time.Hour), End: now.Add(time.Minute), MinLevel: logs.LevelError, Limit: 1000},
		func(e logs.Entry) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 8 {
		t.Errorf("%d error lines, want 8", len(got))
	}
	// The kube_pod_logs tool reads one pod's tail through the same API.
	pods, _ := c.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{LabelSelector: "app=payments"})
	var logsTool tools.Tool
	for _, tl := range kube.Tools(kube.Config{Client: c, Namespace: "shop"}) {
		if tl.Spec().Name == "kube_pod_logs" {
			logsTool = tl
		}
	}
	res, err := logsTool.Run(ctx, json.RawMessage(`{"pod": "`+pods.Items[0].Name+`", "tail": 5}`))
	if err != nil || !strings.Contains(res.Text, "Last 5 lines of pod shop/"+pods.Items[0].Name) || !strings.Contains(res.Text, `"order":39`) ||
		!strings.Contains(res.Text, "<untrusted-data source=\"pod logs\">") {
		t.Errorf("kube_pod_logs: %+v, %v", res, err)
	}
	// A pod that does not exist: a clear error, as from the API server.
	if _, err := b.Search(ctx, logs.Query{Pod: "ghost", Namespace: "shop", Start: now.Add(-time.Hour), End: now}, func(logs.Entry) error { return nil }); err == nil ||
		!strings.Contains(err.Error(), "ghost") {
		t.Errorf("missing pod: %v", err)
	}
}
