package gitops

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/watchkeeper/watchkeeper/tools"
)

// stubForge answers Find with a fixed pull request and state, or err.
type stubForge struct {
	st  PRState
	err error
}

func (stubForge) Open(context.Context, PullRequest) (Opened, error) {
	return Opened{}, errors.New("not used")
}
func (f stubForge) State(context.Context, int) (PRState, error) { return f.st, f.err }
func (f stubForge) Find(context.Context, string) (Opened, PRState, error) {
	return Opened{Number: 7, URL: "https://github.com/acme/deploy/pull/7"}, f.st, f.err
}

func checkoutDeployment(image string, replicas int32, rolled bool) *appsv1.Deployment {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "checkout", Namespace: "shop", Generation: 2},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "checkout", Image: image}}}}},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: replicas, UpdatedReplicas: replicas, AvailableReplicas: replicas}}
	if !rolled {
		d.Status.UpdatedReplicas = 1
	}
	return d
}

// Following a pull request: each state of the forge and the cluster says
// what it waits for, or decides; failures to look are tried again within
// the time a pull request is followed.
func TestFollowingAPullRequest(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	image := Change{Kind: ChangeImage, Container: "checkout", Image: "r/checkout:1.4.2", From: "r/checkout:1.5.0",
		Workload: Workload{Kind: "Deployment", Namespace: "shop", Name: "checkout"}}
	scale := Change{Kind: ChangeReplicas, Replicas: 4, Workload: image.Workload}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "checkout", Namespace: "shop"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "checkout"}}}
	merged := PRState{State: StateMerged, MergeCommit: "0123456789abcdef", MergedAt: now.Add(-2 * time.Minute)}
	for _, tc := range []struct {
		name    string
		forge   stubForge
		change  Change
		objects []runtime.Object
		applied time.Time
		want    string
		again   bool
		wantErr string
	}{
		{"open", stubForge{st: PRState{State: StateOpen}}, image, nil, now.Add(-time.Hour), "is open; waiting for it to be merged", true, ""},
		{"open for too long", stubForge{st: PRState{State: StateOpen}}, image, nil, now.Add(-8 * 24 * time.Hour), "is still open after 168h0m0s; Watchkeeper stopped following it", false, ""},
		{"closed", stubForge{st: PRState{State: StateClosed}}, image, nil, now, "was closed without being merged: nothing changed", false, ""},
		{"not found", stubForge{err: ErrPRNotFound}, image, nil, now, "no pull request from branch watchkeeper/rollback-checkout-1 was found", false, ""},
		{"the forge rate-limits", stubForge{err: &ForgeError{kind: ErrRateLimited, Message: "API rate limit exceeded"}}, image, nil, now, "failed", true, ""},
		{"the forge keeps failing", stubForge{err: errors.New("503")}, image, nil, now.Add(-8 * 24 * time.Hour), "", false, "stopped following pull request branch"},
		{"merged, not synced", stubForge{st: merged}, image, []runtime.Object{checkoutDeployment("r/checkout:1.5.0", 2, true)}, now, "was merged; waiting for Argo CD Application argocd/shop to sync it (it still runs r/checkout:1.5.0)", true, ""},
		{"merged, rollout under way", stubForge{st: merged}, image, []runtime.Object{checkoutDeployment("r/checkout:1.4.2", 2, false)}, now, "its rollout is not complete", true, ""},
		{"merged long ago, never synced", stubForge{st: PRState{State: StateMerged, MergedAt: now.Add(-time.Hour)}}, image, []runtime.Object{checkoutDeployment("r/checkout:1.5.0", 2, true)}, now, "has not applied it after 10m0s", false, ""},
		{"synced", stubForge{st: merged}, image, []runtime.Object{checkoutDeployment("r/checkout:1.4.2", 2, true)}, now, "merged (commit 01234567) and Argo CD Application argocd/shop synced it; checking its effect", true, ""},
		{"scaled, an HPA runs more", stubForge{st: merged}, scale, []runtime.Object{checkoutDeployment("r/checkout:1.5.0", 6, true), hpa}, now, "synced it; checking its effect", true, ""},
		{"scaled, more without an HPA", stubForge{st: merged}, scale, []runtime.Object{checkoutDeployment("r/checkout:1.5.0", 6, true)}, now, "(it has 6 replicas)", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Changes{Client: fake.NewClientset(tc.objects...), Now: func() time.Time { return now },
				Remote: func(string) (Remote, error) { return Remote{Repo: &Repo{}, Forge: tc.forge}, nil },
				Check: func(context.Context, Workload, time.Time) (tools.Verification, error) {
					return tools.Verification{Text: "error ratio better"}, nil
				}, Window: 5 * time.Minute}
			args, _ := json.Marshal(prArgs{Owner: Ref{Tool: ToolArgoCD, Kind: KindApplication, Namespace: "argocd", Name: "shop"},
				Source: Source{RepoURL: "https://github.com/acme/deploy.git"}, Change: tc.change, Branch: "watchkeeper/rollback-checkout-1"})
			got, err := c.Verify(context.Background(), tools.Proposal{Args: args}, tc.applied)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !strings.Contains(got.Text, tc.want) || (got.Again > 0) != tc.again {
				t.Errorf("got %+v, %v\nwant %q, again %v", got, err, tc.want, tc.again)
			}
		})
	}
}
