package runbook

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/watchkeeper/watchkeeper/tools"
)

// PostmortemTool proposes committing an incident's postmortem to the
// runbooks repository. Drafting a postmortem changes nothing; committing
// and pushing it is a write like any other, so it waits for an approver
// (a forged "resolved" notification, or any channel member clicking
// Draft postmortem, gets a draft and a proposal — never a push).
type PostmortemTool struct{ Repo *Repo }

type postmortemArgs struct {
	Incident string `json:"incident"`
	Title    string `json:"title"`
	// Date is the incident's start, YYYY-MM-DD (the file's name).
	Date    string `json:"date"`
	Content string `json:"content"`
	Branch  string `json:"branch,omitempty"`
}

// maxPostmortem bounds a postmortem's size (a long one is a few kB).
const maxPostmortem = 256 << 10

var incidentID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Spec implements tools.Tool.
func (PostmortemTool) Spec() tools.Spec {
	return tools.Spec{Name: "postmortem_commit",
		Description: "Propose committing an incident's postmortem (Markdown) to the runbooks repository, on the incident's " +
			"branch for review. Approved, it is committed and pushed; nothing changes before that.",
		Mutating: true,
		Parameters: tools.Object(map[string]*tools.Schema{
			"incident": tools.String("incident ID, e.g. inc_3f2a9c"),
			"title":    tools.String("the incident's title"),
			"date":     tools.String("the incident's start date, YYYY-MM-DD"),
			"content":  tools.String("the postmortem in Markdown"),
			"branch":   tools.String("branch under watchkeeper/ (default watchkeeper/<incident>)"),
		}, "incident", "title", "date", "content")}
}

var slugRE = regexp.MustCompile(`[^a-z0-9]+`)

func (a postmortemArgs) path() string {
	slug := strings.Trim(slugRE.ReplaceAllString(strings.ToLower(a.Title), "-"), "-")
	if len(slug) > 60 {
		slug = strings.Trim(slug[:60], "-")
	}
	if slug == "" {
		slug = "incident"
	}
	return fmt.Sprintf("postmortems/%s-%s.md", a.Date, slug)
}

func (t PostmortemTool) check(a *postmortemArgs) error {
	if !incidentID.MatchString(a.Incident) {
		return fmt.Errorf("incident %q is not an incident ID", a.Incident)
	}
	if _, err := time.Parse("2006-01-02", a.Date); err != nil {
		return fmt.Errorf("date %q is not YYYY-MM-DD", a.Date)
	}
	if strings.TrimSpace(a.Content) == "" || len(a.Content) > maxPostmortem {
		return fmt.Errorf("the postmortem must be non-empty and under %d kB", maxPostmortem>>10)
	}
	if a.Branch == "" {
		a.Branch = BranchPrefix + a.Incident
	}
	return t.Repo.CheckBranch(a.Branch)
}

// Run implements tools.Tool.
func (t PostmortemTool) Run(ctx context.Context, raw json.RawMessage) (tools.Result, error) {
	var a postmortemArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return tools.Errorf("%v", err), nil
	}
	if err := t.check(&a); err != nil {
		return tools.Errorf("%v", err), nil
	}
	git, err := t.Repo.Describe(ctx, a.Branch)
	if err != nil {
		return tools.Result{}, err
	}
	lines := strings.Split(strings.TrimRight(a.Content, "\n"), "\n")
	shown := lines
	if len(shown) > 15 {
		shown = shown[:15]
	}
	var preview strings.Builder
	for _, l := range shown {
		preview.WriteString("+ " + l + "\n")
	}
	if len(lines) > len(shown) {
		fmt.Fprintf(&preview, "+ … %d more lines (attached to the thread)\n", len(lines)-len(shown))
	}
	args, _ := json.Marshal(a)
	return tools.Result{Proposal: &tools.Proposal{Tool: "postmortem_commit",
		Summary: fmt.Sprintf("Commit the postmortem of %s as %s on branch %s", a.Incident, a.path(), a.Branch),
		Details: fmt.Sprintf("Add %s (%d lines):\n%s%s", a.path(), len(lines), preview.String(), git),
		Risk:    fmt.Sprintf("low: a commit on %s for review; %s is not changed", a.Branch, t.Repo.base()), Args: args}}, nil
}

// Apply implements tools.Applier.
func (t PostmortemTool) Apply(ctx context.Context, p tools.Proposal) (tools.Result, error) {
	var a postmortemArgs
	if err := json.Unmarshal(p.Args, &a); err != nil {
		return tools.Result{}, err
	}
	if err := t.check(&a); err != nil {
		return tools.Result{}, fmt.Errorf("%w; nothing was committed", err)
	}
	msg := fmt.Sprintf("Postmortem of %s: %s (Watchkeeper proposal %s, approved by %s)", a.Incident, a.Title, p.ID, tools.Approver(ctx))
	hash, err := t.Repo.Commit(ctx, a.Branch, map[string][]byte{a.path(): []byte(a.Content)}, msg)
	if err != nil {
		return tools.Result{}, err
	}
	out := fmt.Sprintf("committed %s as %s on %s and pushed", short(hash), a.path(), a.Branch)
	if link := t.Repo.Link(a.Branch); link != "" {
		out += "; review: " + link
	}
	return tools.Text(out), nil
}
