package gitops

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// GitHub opens pull requests on GitHub or GitHub Enterprise through its
// REST API. The zero value (with Token and Repo) talks to github.com. It is
// safe for concurrent use.
type GitHub struct {
	// APIURL is the REST API's root: https://api.github.com (the
	// default), or https://HOST/api/v3 for GitHub Enterprise Server.
	APIURL string
	// Token is a personal, fine-grained or app token allowed to write pull
	// requests. It is sent as a bearer token and never shown.
	Token string
	// Repo is the repository's URL (https://github.com/o/r,
	// git@github.com:o/r.git) whose pull requests State reads; Open reads
	// pr.Repo, or Repo when pr.Repo is "".
	Repo string
	// HTTP is the client (default: one with a 30-second timeout).
	HTTP *http.Client
	// MaxWait bounds the wait on a rate limit or Retry-After before giving
	// up with ErrRateLimited (default 10s).
	MaxWait time.Duration

	sleep func(context.Context, time.Duration) error // tests
}

const forgeTokenHint = "gitops.forges[].token_file"

func (g *GitHub) api() api {
	return api{forge: "GitHub", client: g.HTTP, maxWait: g.MaxWait, sleep: g.sleep,
		header: func(h http.Header) {
			h.Set("Accept", "application/vnd.github+json")
			h.Set("X-GitHub-Api-Version", "2022-11-28")
			if g.Token != "" {
				h.Set("Authorization", "Bearer "+g.Token)
			}
		}}
}

// ownerRepo reads owner and name from a repository URL.
func (g *GitHub) ownerRepo(repoURL string) (string, string, error) {
	if repoURL == "" {
		repoURL = g.Repo
	}
	if repoURL == "" {
		return "", "", fmt.Errorf("GitHub: no repository: set the repository URL")
	}
	_, p, err := repoPath(repoURL)
	if err != nil {
		return "", "", err
	}
	owner, name, ok := strings.Cut(p, "/")
	if !ok || strings.Contains(name, "/") || owner == "" || name == "" {
		return "", "", fmt.Errorf("GitHub: %q is not a GitHub repository URL (https://github.com/OWNER/REPO)", redactURL(repoURL))
	}
	return owner, name, nil
}

func (g *GitHub) endpoint(owner, name, rest string) string {
	base := strings.TrimRight(g.APIURL, "/")
	if base == "" {
		base = "https://api.github.com"
	}
	return fmt.Sprintf("%s/repos/%s/%s/pulls%s", base, url.PathEscape(owner), url.PathEscape(name), rest)
}

// Open opens the pull request. A pull request already open for the head
// is ErrPRExists; a head GitHub does not know, or one with nothing to
// merge, is a *ForgeError saying so.
func (g *GitHub) Open(ctx context.Context, pr PullRequest) (Opened, error) {
	owner, name, err := g.ownerRepo(pr.Repo)
	if err != nil {
		return Opened{}, err
	}
	op := fmt.Sprintf("open a pull request from %s into %s on %s/%s", pr.Head, pr.Base, owner, name)
	a := g.api()
	ans, err := a.do(ctx, op, http.MethodPost, g.endpoint(owner, name, ""),
		map[string]string{"title": pr.Title, "head": pr.Head, "base": pr.Base, "body": pr.Body})
	if err != nil {
		return Opened{}, err
	}
	switch ans.status {
	case http.StatusCreated, http.StatusOK:
		var out struct {
			Number  int    `json:"number"`
			HTMLURL string `json:"html_url"`
		}
		if err := json.Unmarshal(ans.body, &out); err != nil || out.Number == 0 {
			return Opened{}, &ForgeError{Forge: "GitHub", Op: op, Status: ans.status, Message: fmt.Sprintf("an answer without a pull request number (%v)", err)}
		}
		return Opened{Number: out.Number, URL: out.HTMLURL}, nil
	case http.StatusUnprocessableEntity:
		msg := forgeMessage(ans.body)
		e := &ForgeError{Forge: "GitHub", Op: op, Status: ans.status, Message: msg}
		switch {
		case strings.Contains(msg, "A pull request already exists"):
			e.kind = ErrPRExists
			e.Hint = "an earlier proposal's pull request is still open: review or close it"
		case strings.Contains(msg, "No commits between"):
			e.Hint = fmt.Sprintf("the branch %s has nothing %s lacks: push the change first, or drop the proposal", pr.Head, pr.Base)
		case strings.Contains(msg, "head is invalid"), strings.Contains(msg, "field head"), strings.Contains(msg, "PullRequest head"):
			e.Hint = fmt.Sprintf("GitHub has no branch %s on %s/%s: push it first", pr.Head, owner, name)
		case strings.Contains(msg, "PullRequest base"):
			e.Hint = fmt.Sprintf("GitHub has no branch %s on %s/%s: check the owner's revision", pr.Base, owner, name)
		default:
			e.Hint = "GitHub refused the pull request as given"
		}
		return Opened{}, e
	}
	return Opened{}, a.common(op, ans, forgeTokenHint,
		fmt.Sprintf("GitHub has no repository %s/%s, or the token cannot see it: check the repository URL and the token's access (%s)", owner, name, forgeTokenHint))
}

// State reads pull request number of Repo.
func (g *GitHub) State(ctx context.Context, number int) (PRState, error) {
	owner, name, err := g.ownerRepo("")
	if err != nil {
		return PRState{}, err
	}
	op := fmt.Sprintf("read pull request #%d of %s/%s", number, owner, name)
	a := g.api()
	ans, err := a.do(ctx, op, http.MethodGet, g.endpoint(owner, name, fmt.Sprintf("/%d", number)), nil)
	if err != nil {
		return PRState{}, err
	}
	if ans.status != http.StatusOK {
		return PRState{}, a.common(op, ans, forgeTokenHint,
			fmt.Sprintf("GitHub has no pull request #%d on %s/%s, or the token cannot see the repository (%s)", number, owner, name, forgeTokenHint))
	}
	var out githubPR
	if err := json.Unmarshal(ans.body, &out); err != nil {
		return PRState{}, &ForgeError{Forge: "GitHub", Op: op, Status: ans.status, Message: "an answer that is not a pull request: " + err.Error()}
	}
	return out.state(op)
}

// Find finds the latest pull request from head on Repo (open, merged or
// closed), or ErrPRNotFound.
func (g *GitHub) Find(ctx context.Context, head string) (Opened, PRState, error) {
	owner, name, err := g.ownerRepo("")
	if err != nil {
		return Opened{}, PRState{}, err
	}
	op := fmt.Sprintf("find the pull request from %s on %s/%s", head, owner, name)
	q := url.Values{"head": {owner + ":" + head}, "state": {"all"}, "sort": {"created"}, "direction": {"desc"}, "per_page": {"1"}}
	a := g.api()
	ans, err := a.do(ctx, op, http.MethodGet, g.endpoint(owner, name, "?"+q.Encode()), nil)
	if err != nil {
		return Opened{}, PRState{}, err
	}
	if ans.status != http.StatusOK {
		return Opened{}, PRState{}, a.common(op, ans, forgeTokenHint,
			fmt.Sprintf("GitHub has no repository %s/%s, or the token cannot see it: check the repository URL and the token's access (%s)", owner, name, forgeTokenHint))
	}
	var list []githubPR
	if err := json.Unmarshal(ans.body, &list); err != nil {
		return Opened{}, PRState{}, &ForgeError{Forge: "GitHub", Op: op, Status: ans.status, Message: "an answer that is not a list of pull requests: " + err.Error()}
	}
	if len(list) == 0 {
		return Opened{}, PRState{}, &ForgeError{Forge: "GitHub", Op: op, Status: ans.status, kind: ErrPRNotFound,
			Message: "no pull request from " + head, Hint: "it was never opened, or the branch was renamed: open it by hand or propose again"}
	}
	st, err := list[0].state(op)
	return Opened{Number: list[0].Number, URL: list[0].HTMLURL}, st, err
}

// githubPR is the part of a pull request Watchkeeper reads.
type githubPR struct {
	Number         int    `json:"number"`
	HTMLURL        string `json:"html_url"`
	State          string `json:"state"`
	Merged         bool   `json:"merged"`
	MergedAt       string `json:"merged_at"`
	MergeCommitSHA string `json:"merge_commit_sha"`
}

func (out githubPR) state(op string) (PRState, error) {
	switch {
	case out.Merged || out.MergedAt != "":
		// merge_commit_sha of an open pull request is GitHub's test merge,
		// so it is only read once merged.
		at, _ := time.Parse(time.RFC3339, out.MergedAt) // zero when absent
		return PRState{State: StateMerged, MergeCommit: out.MergeCommitSHA, MergedAt: at}, nil
	case out.State == "open":
		return PRState{State: StateOpen}, nil
	case out.State == "closed":
		return PRState{State: StateClosed}, nil
	}
	return PRState{}, &ForgeError{Forge: "GitHub", Op: op, Message: fmt.Sprintf("unknown pull request state %q", out.State)}
}
