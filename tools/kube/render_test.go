package kube_test

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/watchkeeper/watchkeeper/tools/kube"
)

// Rendering details that a kwok cluster does not produce by itself: an
// OOMKilled container, a crash loop, env from a secret.
func TestRenderingOfTroubledObjects(t *testing.T) {
	now := time.Date(2026, 11, 24, 14, 30, 0, 0, time.UTC)
	killed := metav1.NewTime(now.Add(-3 * time.Minute))
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "cart-7f9c-abcde", Namespace: "shop", CreationTimestamp: metav1.NewTime(now.Add(-2 * time.Hour))},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "cart", Image: "shop/cart:v3"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "cart", RestartCount: 7,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137, FinishedAt: killed}}}}}}
	labels := map[string]string{"app": "cart"}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "cart", Namespace: "shop", UID: "dep-uid",
		Annotations: map[string]string{"deployment.kubernetes.io/revision": "2"}},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}}}
	rs := func(rev, image string, env []corev1.EnvVar, created time.Time) *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "cart-" + rev, Namespace: "shop", Labels: labels,
			CreationTimestamp: metav1.NewTime(created),
			Annotations:       map[string]string{"deployment.kubernetes.io/revision": rev},
			OwnerReferences:   []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "cart", UID: "dep-uid", Controller: ptr(true)}}},
			Spec: appsv1.ReplicaSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "cart", Image: image, Env: env}}}}}}
	}
	secretEnv := corev1.EnvVar{Name: "DB_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "cart-db"}, Key: "password"}}}
	c := fake.NewClientset(pod, dep,
		rs("1", "shop/cart:v2", []corev1.EnvVar{{Name: "DB_PASSWORD", Value: "plain-old-password"}}, now.Add(-48*time.Hour)),
		rs("2", "shop/cart:v3", []corev1.EnvVar{secretEnv}, now.Add(-20*time.Minute)))
	tl := byName(kube.Tools(kube.Config{Client: c, Namespace: "shop", Now: func() time.Time { return now }}))

	res := run(t, tl["kube_get"], `{"kind": "pods"}`)
	if !strings.Contains(res.Text, "CrashLoopBackOff") || !strings.Contains(res.Text, "7") || !strings.Contains(res.Text, "OOMKilled (exit 137, cart)") {
		t.Errorf("pods:\n%s", res.Text)
	}
	res = run(t, tl["kube_describe"], `{"kind": "pods", "name": "cart-7f9c-abcde"}`)
	if !strings.Contains(res.Text, "last termination: OOMKilled, exit 137, 3m ago") || !strings.Contains(res.Text, "waiting (CrashLoopBackOff)") {
		t.Errorf("describe:\n%s", res.Text)
	}
	res = run(t, tl["kube_rollout_history"], `{"name": "cart"}`)
	if !strings.Contains(res.Text, `cart env DB_PASSWORD (value hidden, 18 characters) → (from secret cart-db key password)`) || strings.Contains(res.Text, "plain-old-password") ||
		!strings.Contains(res.Text, "cart image shop/cart:v2 → shop/cart:v3") {
		t.Errorf("history:\n%s", res.Text)
	}
	res = run(t, tl["kube_changes"], `{"since": "1h ago"}`)
	if !strings.Contains(res.Text, "rollout of deployment shop/cart to revision 2") || strings.Contains(res.Text, "revision 1 ") {
		t.Errorf("changes:\n%s", res.Text)
	}
	_ = context.Background()
}
