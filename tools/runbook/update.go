package runbook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/watchkeeper/watchkeeper/tools"
)

// UpdateTool proposes a change to a runbook in the repository; approved,
// it is committed on a branch of its own and pushed for review.
type UpdateTool struct{ Repo *Repo }

type updateArgs struct {
	Path    string `json:"path"`
	Append  string `json:"append,omitempty"`
	Content string `json:"content,omitempty"`
	Branch  string `json:"branch,omitempty"`
	Reason  string `json:"reason,omitempty"`
	// Base is the hash of the file when proposed ("" for a new file).
	Base string `json:"base_sha,omitempty"`
}

// Spec implements tools.Tool.
func (UpdateTool) Spec() tools.Spec {
	return tools.Spec{Name: "runbook_update",
		Description: "Propose a change to a runbook (append a section of what was learned, or a new runbook's full content). " +
			"Approved, it is committed on a branch and pushed for review; nothing changes before that.",
		Mutating: true,
		Parameters: tools.Object(map[string]*tools.Schema{
			"path":    tools.String("runbook path, e.g. high-error-rate.md (a new file for a new runbook)"),
			"append":  tools.String("Markdown to add at the end"),
			"content": tools.String("full content of a new runbook, with front matter"),
			"branch":  tools.String("branch to commit on, under watchkeeper/ (default watchkeeper/runbooks); never the base branch"),
			"reason":  tools.String("why, for the reviewer"),
		}, "path")}
}

var safePath = regexp.MustCompile(`^[A-Za-z0-9_./-]+\.md$`)

func (t UpdateTool) current(ctx context.Context, p string) (string, error) {
	dir, err := t.Repo.Sync(ctx)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(dir, filepath.Clean(p)))
	if os.IsNotExist(err) {
		return "", nil
	}
	return string(b), err
}

func sha(s string) string {
	if s == "" {
		return ""
	}
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}

func (a updateArgs) apply(cur string) (string, error) {
	switch {
	case a.Content != "" && cur != "":
		return "", fmt.Errorf("%s exists; append to it instead of replacing it", a.Path)
	case a.Content != "":
		return a.Content, nil
	case a.Append != "":
		return strings.TrimRight(cur, "\n") + "\n\n" + strings.TrimSpace(a.Append) + "\n", nil
	}
	return "", fmt.Errorf("give append (a section to add) or content (a new runbook)")
}

// Run implements tools.Tool.
func (t UpdateTool) Run(ctx context.Context, raw json.RawMessage) (tools.Result, error) {
	var a updateArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return tools.Errorf("%v", err), nil
	}
	if !safePath.MatchString(a.Path) || strings.Contains(a.Path, "..") {
		return tools.Errorf("path %q must be a relative .md path inside the repository", a.Path), nil
	}
	if a.Branch == "" {
		a.Branch = BranchPrefix + "runbooks"
	}
	if err := t.Repo.CheckBranch(a.Branch); err != nil {
		return tools.Errorf("%v", err), nil
	}
	cur, err := t.current(ctx, a.Path)
	if err != nil {
		return tools.Result{}, err
	}
	next, err := a.apply(cur)
	if err != nil {
		return tools.Errorf("%v", err), nil
	}
	if cur == "" {
		if p := parse(a.Path, next); p.Problem != "" {
			return tools.Errorf("the new runbook is not valid: %s", p.Problem), nil
		}
	}
	a.Base = sha(cur)
	args, _ := json.Marshal(a)
	verb := "Update"
	if cur == "" {
		verb = "Add"
	}
	git, err := t.Repo.Describe(ctx, a.Branch)
	if err != nil {
		return tools.Result{}, err
	}
	details := fmt.Sprintf("%s runbook %s:\n%s\n%s", verb, a.Path, diff(cur, next), git)
	return tools.Result{Proposal: &tools.Proposal{Tool: "runbook_update", Summary: fmt.Sprintf("%s runbook %s on branch %s", verb, a.Path, a.Branch),
		Details: details, Reason: a.Reason, Risk: fmt.Sprintf("low: a commit on %s for review; %s is not changed", a.Branch, t.Repo.base()), Args: args}}, nil
}

// Apply implements tools.Applier.
func (t UpdateTool) Apply(ctx context.Context, p tools.Proposal) (tools.Result, error) {
	var a updateArgs
	if err := json.Unmarshal(p.Args, &a); err != nil {
		return tools.Result{}, err
	}
	// Checked again: stored arguments outlive the code that checked them.
	if err := t.Repo.CheckBranch(a.Branch); err != nil {
		return tools.Result{}, fmt.Errorf("%w; nothing was committed", err)
	}
	cur, err := t.current(ctx, a.Path)
	if err != nil {
		return tools.Result{}, err
	}
	if sha(cur) != a.Base {
		return tools.Result{}, fmt.Errorf("%s changed since this was proposed; nothing was committed — ask for a fresh proposal", a.Path)
	}
	next, err := a.apply(cur)
	if err != nil {
		return tools.Result{}, err
	}
	msg := fmt.Sprintf("%s (Watchkeeper proposal %s, approved by %s)", p.Summary, p.ID, tools.Approver(ctx))
	hash, err := t.Repo.Commit(ctx, a.Branch, map[string][]byte{a.Path: []byte(next)}, msg)
	if err != nil {
		return tools.Result{}, err
	}
	out := fmt.Sprintf("committed %s on %s and pushed", hash[:8], a.Branch)
	if link := t.Repo.Link(a.Branch); link != "" {
		out += "; open a pull request: " + link
	}
	return tools.Text(out), nil
}

// diff shows added and removed lines (enough for an append or a new file).
func diff(old, new string) string {
	ol, nl := strings.Split(old, "\n"), strings.Split(new, "\n")
	i := 0
	for i < len(ol) && i < len(nl) && ol[i] == nl[i] {
		i++
	}
	var b strings.Builder
	if i > 0 {
		fmt.Fprintf(&b, "  … %d unchanged lines\n", i)
	}
	for _, l := range ol[i:] {
		if l != "" {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range nl[i:] {
		b.WriteString("+ " + l + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}
