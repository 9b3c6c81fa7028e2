package runbook_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/watchkeeper/watchkeeper/internal/testserver"
	"github.com/watchkeeper/watchkeeper/tools"
	"github.com/watchkeeper/watchkeeper/tools/runbook"
)

var git = testserver.Git

// remote is a bare repository with one runbook on main.
func remote(t *testing.T) string {
	return testserver.GitRemote(t, map[string]string{
		"high-error-rate.md": "---\ntitle: High error rate\nalerts: [HighErrorRate]\n---\nbody\n"})
}

func TestRepoCommitsOnABranchAndPushes(t *testing.T) {
	bare := remote(t)
	ctx := context.Background()
	r := &runbook.Repo{URL: bare, Dir: filepath.Join(t.TempDir(), "wc"), PRLink: "https://git.example/runbooks/compare/{branch}"}
	dir, err := r.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "high-error-rate.md")); err != nil {
		t.Fatalf("sync: %v", err)
	}
	hash, err := r.Commit(ctx, "watchkeeper/inc_1", map[string][]byte{"postmortems/2026-11-24-high-error-rate.md": []byte("# Postmortem\n")}, "Postmortem of inc_1")
	if err != nil || len(hash) != 40 {
		t.Fatalf("commit: %q, %v", hash, err)
	}
	if got := git(t, bare, "rev-parse", "watchkeeper/inc_1"); got != hash {
		t.Errorf("the remote branch is at %s, want %s", got, hash)
	}
	if got := git(t, bare, "show", "watchkeeper/inc_1:postmortems/2026-11-24-high-error-rate.md"); got != "# Postmortem" {
		t.Errorf("pushed content %q", got)
	}
	if got := git(t, bare, "rev-parse", "main"); got == hash {
		t.Error("the base branch was changed")
	}
	// Someone else pushes to the incident branch: the next commit goes on
	// top of theirs, nothing is forced or lost.
	other := filepath.Join(t.TempDir(), "other")
	git(t, filepath.Dir(other), "clone", "-q", "-b", "watchkeeper/inc_1", bare, other)
	os.WriteFile(filepath.Join(other, "notes.md"), []byte("theirs\n"), 0o644)
	git(t, other, "add", ".")
	git(t, other, "commit", "-q", "-m", "their change")
	git(t, other, "push", "-q", "origin", "watchkeeper/inc_1")
	if _, err := r.Commit(ctx, "watchkeeper/inc_1", map[string][]byte{"high-error-rate.md": []byte("---\ntitle: High error rate\nalerts: [HighErrorRate]\n---\nbody\n\n## Learned\nroll back first\n")}, "Runbook update from inc_1"); err != nil {
		t.Fatal(err)
	}
	log := git(t, bare, "log", "--format=%s", "watchkeeper/inc_1")
	if !strings.HasPrefix(log, "Runbook update from inc_1\ntheir change\nPostmortem of inc_1") {
		t.Errorf("branch history:\n%s", log)
	}
	if r.Link("watchkeeper/inc_1") != "https://git.example/runbooks/compare/watchkeeper/inc_1" {
		t.Error("PR link")
	}
	// A remote that is gone: a clear error and the commit kept locally.
	r2 := &runbook.Repo{URL: filepath.Join(t.TempDir(), "missing.git"), Dir: filepath.Join(t.TempDir(), "wc2")}
	if _, err := r2.Sync(ctx); err == nil || !strings.Contains(err.Error(), "clone the runbooks repository") {
		t.Errorf("missing remote: %v", err)
	}
}

// A remote that refuses the push: the error says so and where the commit
// is kept; nothing is lost.
func TestRepoPushRefused(t *testing.T) {
	bare := remote(t)
	ctx := context.Background()
	r := &runbook.Repo{URL: bare, Dir: filepath.Join(t.TempDir(), "wc")}
	if _, err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// The remote goes away after the clone: the push cannot succeed.
	if err := os.Rename(bare, bare+".moved"); err != nil {
		t.Fatal(err)
	}
	hash, err := r.Commit(ctx, "watchkeeper/inc_2", map[string][]byte{"postmortems/x.md": []byte("x\n")}, "Postmortem of inc_2")
	if err == nil || len(hash) != 40 || !strings.Contains(err.Error(), "stays in "+r.Dir) {
		t.Fatalf("refused push: %q, %v", hash, err)
	}
	if got := git(t, r.Dir, "show", hash+":postmortems/x.md"); got != "x" {
		t.Errorf("the commit was lost: %q", got)
	}
	// A path outside the repository is refused.
	os.Rename(bare+".moved", bare)
	if _, err := r.Commit(ctx, "watchkeeper/inc_3", map[string][]byte{"../escape.md": []byte("x")}, "m"); err == nil || !strings.Contains(err.Error(), "outside the repository") {
		t.Errorf("escape: %v", err)
	}
}

func TestRunbookUpdateProposalAndApply(t *testing.T) {
	bare := remote(t)
	ctx := context.Background()
	r := &runbook.Repo{URL: bare, Dir: filepath.Join(t.TempDir(), "wc")}
	up := runbook.UpdateTool{Repo: r}
	res, err := up.Run(ctx, json.RawMessage(`{"path": "high-error-rate.md", "append": "## Learned from inc_1\n- roll back first", "branch": "watchkeeper/inc_1", "reason": "postmortem"}`))
	if err != nil || res.Proposal == nil {
		t.Fatalf("%+v, %v", res, err)
	}
	p := res.Proposal
	if p.Summary != "Update runbook high-error-rate.md on branch watchkeeper/inc_1" || !strings.Contains(p.Details, "+ ## Learned from inc_1") ||
		!strings.Contains(p.Details, "The base branch main is not changed") || p.Reason != "postmortem" {
		t.Errorf("proposal: %+v", p)
	}
	// Nothing is pushed before approval.
	if out := git(t, bare, "branch", "--list", "watchkeeper/inc_1"); out != "" {
		t.Fatal("pushed before approval")
	}
	p.ID = "prop_x"
	out, err := tools.Applier(up).Apply(tools.WithApprover(ctx, "UADMIN"), *p)
	if err != nil || !strings.Contains(out.Text, "on watchkeeper/inc_1 and pushed") {
		t.Fatalf("apply: %+v, %v", out, err)
	}
	if got := git(t, bare, "show", "watchkeeper/inc_1:high-error-rate.md"); !strings.HasSuffix(got, "## Learned from inc_1\n- roll back first") {
		t.Errorf("pushed runbook:\n%s", got)
	}
	if msg := git(t, bare, "log", "-1", "--format=%s", "watchkeeper/inc_1"); !strings.Contains(msg, "approved by UADMIN") {
		t.Errorf("commit message %q", msg)
	}
	for _, tt := range []struct{ args, want string }{
		{`{"path": "../etc/passwd.md", "append": "x"}`, "relative .md path"},
		{`{"path": "high-error-rate.md", "content": "x"}`, "exists; append"},
		{`{"path": "new.md", "content": "no front matter"}`, "not valid: no front matter"},
		{`{"path": "new.md"}`, "give append"},
	} {
		res, _ := up.Run(ctx, json.RawMessage(tt.args))
		if !strings.Contains(res.Error, tt.want) {
			t.Errorf("%s: %+v", tt.args, res)
		}
	}
}

// runbook_update never pushes to the base branch or outside watchkeeper/,
// whatever the model asks for or the stored proposal says, and its
// proposal describes exactly the commit and push that approval makes.
func TestSecurityRunbookUpdateNeverPushesToBase(t *testing.T) {
	bare := remote(t)
	ctx := context.Background()
	r := &runbook.Repo{URL: bare, Dir: filepath.Join(t.TempDir(), "wc")}
	up := runbook.UpdateTool{Repo: r}
	mainBefore := git(t, bare, "rev-parse", "main")
	for _, branch := range []string{"main", "refs/heads/main", "release", "watchkeeper/", "watchkeeper/../main",
		"watchkeeper/x..y", "watchkeeper/-x", "watchkeeper/a.lock", "watchkeeper/a@{1}", "watchkeeper/a b"} {
		res, err := up.Run(ctx, json.RawMessage(`{"path": "high-error-rate.md", "append": "x", "branch": "`+branch+`"}`))
		if err != nil || res.Proposal != nil || res.Error == "" {
			t.Errorf("branch %q: proposal %+v, error %q, %v; want a refusal", branch, res.Proposal, res.Error, err)
		}
		if _, err := r.Commit(ctx, branch, map[string][]byte{"x.md": []byte("x")}, "m"); err == nil {
			t.Errorf("Commit to %q succeeded", branch)
		}
	}
	// A stored proposal whose arguments were changed after it was checked
	// (or written by an older version) is refused when applied.
	res, err := up.Run(ctx, json.RawMessage(`{"path": "high-error-rate.md", "append": "## Learned", "branch": "watchkeeper/inc_9"}`))
	if err != nil || res.Proposal == nil {
		t.Fatalf("%+v, %v", res, err)
	}
	p := *res.Proposal
	for _, want := range []string{"new branch watchkeeper/inc_9 from main (at " + mainBefore[:8] + ")",
		"git push " + bare + " refs/heads/watchkeeper/inc_9:refs/heads/watchkeeper/inc_9", "never forced", "The base branch main is not changed"} {
		if !strings.Contains(p.Details, want) {
			t.Errorf("the proposal does not say %q:\n%s", want, p.Details)
		}
	}
	var args map[string]any
	_ = json.Unmarshal(p.Args, &args)
	args["branch"] = "main"
	p.Args, _ = json.Marshal(args)
	if _, err := tools.Applier(up).Apply(ctx, p); err == nil || !strings.Contains(err.Error(), "nothing was committed") {
		t.Errorf("apply with the branch changed to main: %v", err)
	}
	if got := git(t, bare, "rev-parse", "main"); got != mainBefore {
		t.Fatalf("main moved from %s to %s", mainBefore, got)
	}
}
