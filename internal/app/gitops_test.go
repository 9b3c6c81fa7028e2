package app_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/app"
	"github.com/watchkeeper/watchkeeper/internal/approval"
	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/testserver"
	"github.com/watchkeeper/watchkeeper/tools"
)

// Issue 23's acceptance, in the sandbox's gitops world (the shop owned by
// an Argo CD Application over a repository the sandbox serves, a fake
// GitHub beside it): reads name the owner; "roll back checkout" is a pull
// request with the right diff; approving it pushes a branch to the real
// git server and opens the pull request; a direct rollback is refused
// with the reason; once merged and synced, the change is verified.
func TestGitOpsRollbackIsAPullRequest(t *testing.T) {
	testserver.Need(t, "git", "/usr/bin/git")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cfg := config.Default()
	cfg.Store.Path = filepath.Join(t.TempDir(), "wk.db")
	sbc := cfg.Sandbox
	// A simulated minute a second: the sync (every 3 minutes) and the
	// check's window (5 minutes) pass while the test polls, and a look
	// that is slow under the race detector costs seconds of the window,
	// not minutes.
	sbc.Listen, sbc.Scenario, sbc.Speed = "127.0.0.1:0", "gitops", 60
	sb, err := app.StartSandbox(ctx, sbc, app.SandboxOptions{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	g := sb.Sandbox.GitOps()
	if g == nil {
		t.Fatal("the gitops scenario has no GitOps")
	}
	a, err := app.New(ctx, app.DemoConfig(cfg, sb), app.Options{Clock: sb.Sandbox.Now, Kubernetes: sb.Sandbox.Kubernetes(), Dynamic: sb.Sandbox.Dynamic()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	invoke := func(tool, args string) tools.Invoked {
		t.Helper()
		out := a.Invoker().Invoke(ctx, tools.Invocation{Tool: tool, Args: json.RawMessage(args), Source: "test"})
		if out.Result == nil {
			t.Fatalf("%s %s: %s: %s", tool, args, out.Outcome, out.Reason)
		}
		return out
	}

	// Reads name the owner and where its desired state lives.
	desc := invoke("kube_describe", `{"kind": "deployments", "name": "checkout", "namespace": "shop"}`)
	if want := "Managed by: Argo CD Application argocd/shop — repo " + g.RepoURL + ", path apps/shop, revision main (changes are made by pull request)"; !strings.Contains(desc.Result.Text, want) {
		t.Errorf("kube_describe does not say who owns checkout (%s):\n%s", want, desc.Result.Text)
	}

	// "Roll back checkout": the pull request, with the kustomization's diff.
	undo := invoke("kube_rollout_undo", `{"name": "checkout", "namespace": "shop", "reason": "errors since 1.5.0"}`)
	p := undo.Result.Proposal
	if p == nil || p.Tool != "kube_rollout_undo" || !strings.HasPrefix(p.Summary, "Pull request: ") {
		t.Fatalf("kube_rollout_undo of a GitOps-owned deployment: %+v (%s)", undo.Result.Proposal, undo.Reason)
	}
	for _, want := range []string{
		"Managed by Argo CD Application argocd/shop, so this is a change to its repository, not to the cluster.",
		"--- a/apps/shop/kustomization.yaml\n+++ b/apps/shop/kustomization.yaml\n",
		"-    newTag: \"1.5.0\"\n+    newTag: \"1.4.2\"\n",
		"Approving pushes a new branch watchkeeper/rollback-checkout-",
	} {
		if !strings.Contains(p.Details, want) {
			t.Errorf("the proposal lacks %q:\n%s", want, p.Details)
		}
	}

	// A direct rollback is refused, with the reason, when applied.
	undoTool, _ := a.Tools().Get("kube_rollout_undo")
	_, err = undoTool.(tools.Applier).Apply(ctx, tools.Proposal{Tool: "kube_rollout_undo", Args: json.RawMessage(`{"namespace": "shop", "name": "checkout"}`)})
	if err == nil || !strings.Contains(err.Error(), "shop/checkout is managed by Argo CD Application argocd/shop: a direct rollback would be reverted at its next sync, so nothing was done") {
		t.Errorf("a direct rollback: %v", err)
	}

	// A remediation plan's step made a pull request is judged, by the
	// approval rules, as the action it means on the workload it names: a
	// rule for rollbacks in shop covers it, one for another namespace
	// does not.
	plan := invoke("kube_remediate", `{"name": "checkout", "namespace": "shop", "signature": "change", "reason": "errors since 1.5.0"}`).Result.Proposal
	if plan == nil || !strings.HasPrefix(plan.Summary, "Pull request: ") {
		t.Fatalf("the plan's first step: %+v", plan)
	}
	proposed, err := a.Approvals().Propose(ctx, "test", *plan)
	if err != nil {
		t.Fatal(err)
	}
	storedPlan, err := a.Approvals().Get(ctx, proposed.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ns   string
		want bool
	}{{"shop", true}, {"payments", false}} {
		policy := &approval.RulePolicy{Rules: []approval.Rule{{Actions: []string{"kube_rollout_undo"}, Namespaces: []string{tc.ns}, Users: []string{"U_ONCALL"}}}}
		err := a.Approvals().Check(ctx, policy, approval.Request{Actor: "U_ONCALL", ChannelMember: true, Approve: true, Proposal: storedPlan})
		if (err == nil) != tc.want {
			t.Errorf("a rollback rule for namespace %s judging the plan's pull request: %v", tc.ns, err)
		}
	}

	// Approved: the branch is on the git server, the pull request open.
	stored, err := a.Approvals().Propose(ctx, "test", *p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Approvals().Decide(ctx, stored.ID, "terminal:alice", true); err != nil {
		t.Fatal(err)
	}
	res, err := a.Approvals().Execute(ctx, stored.ID, "terminal:alice")
	if err != nil {
		t.Fatalf("execute: %v", err)
	}
	if !strings.Contains(res.Text, "Opened pull request #1: ") {
		t.Fatalf("applied: %s", res.Text)
	}
	branch := regexp.MustCompile(`watchkeeper/rollback-checkout-[0-9a-f]+`).FindString(res.Text)
	out, err := exec.Command("git", "ls-remote", strings.Replace(g.RepoURL, "://", "://x:"+g.Token+"@", 1)).CombinedOutput()
	if err != nil || branch == "" || !strings.Contains(string(out), "refs/heads/"+branch) {
		t.Fatalf("the git server's branches (%v):\n%s\nwant %q", err, out, branch)
	}

	// Followed: open, then merged and waiting for the sync, then synced.
	// The tool that proposed it follows it.
	v := undoTool.(tools.Verifier)
	check := func(want string) tools.Verification {
		t.Helper()
		got, err := v.Verify(ctx, *p, time.Time{})
		if err != nil || !strings.Contains(got.Text, want) {
			t.Fatalf("check: %+v, %v\nwant %q", got, err, want)
		}
		return got
	}
	if got := check("is open; waiting for it to be merged"); got.Again <= 0 {
		t.Errorf("an open pull request is checked again: %+v", got)
	}
	if _, err := g.Merge(1); err != nil {
		t.Fatal(err)
	}
	// Merged: each look says what it waits for (the sync, then the
	// window after it) and asks to be made again, until the check decides.
	var seen []string
	var got tools.Verification
	testserver.Eventually(t, 60*time.Second, "the merged rollback to be synced and checked", func() bool {
		var err error
		got, err = v.Verify(ctx, *p, time.Time{})
		if err != nil {
			t.Fatalf("check: %v", err)
		}
		if got.Again == 0 {
			return true
		}
		for _, want := range []string{"was merged; waiting for Argo CD Application argocd/shop to sync it", "and Argo CD Application argocd/shop synced it; checking its effect once it has run for 5m0s"} {
			if strings.Contains(got.Text, want) && !slices.Contains(seen, want) {
				seen = append(seen, want)
			}
		}
		time.Sleep(50 * time.Millisecond)
		return false
	})
	if len(seen) == 0 || !strings.Contains(seen[len(seen)-1], "synced it; checking its effect") {
		t.Errorf("the looks after the merge said %q", seen)
	}
	if !strings.Contains(got.Text, "was merged (commit ") || !strings.Contains(got.Text, "error ratio") {
		t.Errorf("the decided check: %+v", got)
	}
	t.Logf("decided: %s", got.Text)
	if got.Again != 0 || got.Worse || got.Rollback != nil {
		t.Errorf("the synced rollback's check: %+v", got)
	}
}
