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

// GitLab opens merge requests on GitLab (gitlab.com or self-managed)
// through its REST API v4. It is safe for concurrent use.
type GitLab struct {
	// APIURL is the API's root: https://gitlab.com/api/v4 (the default)
	// or https://HOST[/PREFIX]/api/v4.
	APIURL string
	// Token is a personal, project or group access token with the api
	// scope, sent as PRIVATE-TOKEN and never shown.
	Token string
	// Repo is the project's URL (https://gitlab.com/group/sub/project)
	// whose merge requests State reads; Open reads pr.Repo, or Repo when
	// pr.Repo is "".
	Repo string
	// HTTP is the client (default: one with a 30-second timeout).
	HTTP *http.Client
	// MaxWait bounds the wait on a rate limit (default 10s).
	MaxWait time.Duration

	sleep func(context.Context, time.Duration) error // tests
}

func (g *GitLab) api() api {
	return api{forge: "GitLab", client: g.HTTP, maxWait: g.MaxWait, sleep: g.sleep,
		header: func(h http.Header) {
			if g.Token != "" {
				h.Set("PRIVATE-TOKEN", g.Token)
			}
		}}
}

func (g *GitLab) base() string {
	if g.APIURL == "" {
		return "https://gitlab.com/api/v4"
	}
	return strings.TrimRight(g.APIURL, "/")
}

// project reads the project's path (group/sub/project) from its URL. A
// GitLab served under a prefix (https://host/gitlab/api/v4) has the prefix
// in its repositories' URLs too; it is not part of the path.
func (g *GitLab) project(repoURL string) (string, error) {
	if repoURL == "" {
		repoURL = g.Repo
	}
	if repoURL == "" {
		return "", fmt.Errorf("GitLab: no project: set the repository URL")
	}
	_, p, err := repoPath(repoURL)
	if err != nil {
		return "", err
	}
	if u, err := url.Parse(g.base()); err == nil {
		if prefix := strings.Trim(strings.TrimSuffix(u.Path, "/api/v4"), "/"); prefix != "" {
			p = strings.TrimPrefix(p, prefix+"/")
		}
	}
	if !strings.Contains(p, "/") {
		return "", fmt.Errorf("GitLab: %q is not a GitLab project URL (https://gitlab.com/GROUP/PROJECT)", redactURL(repoURL))
	}
	return p, nil
}

func (g *GitLab) endpoint(project, rest string) string {
	// The project's path is one segment of the URL: its slashes are
	// escaped (group%2Fsub%2Fproject), as GitLab requires.
	return fmt.Sprintf("%s/projects/%s/merge_requests%s", g.base(), url.PathEscape(project), rest)
}

const gitlabNotFound = "GitLab has no project %s, or the token cannot see it: check the repository URL and the token's access (%s)"

// Open opens the merge request. One already open for the source branch
// is ErrPRExists.
func (g *GitLab) Open(ctx context.Context, pr PullRequest) (Opened, error) {
	project, err := g.project(pr.Repo)
	if err != nil {
		return Opened{}, err
	}
	op := fmt.Sprintf("open a merge request from %s into %s on %s", pr.Head, pr.Base, project)
	a := g.api()
	ans, err := a.do(ctx, op, http.MethodPost, g.endpoint(project, ""),
		map[string]string{"source_branch": pr.Head, "target_branch": pr.Base, "title": pr.Title, "description": pr.Body})
	if err != nil {
		return Opened{}, err
	}
	switch ans.status {
	case http.StatusCreated, http.StatusOK:
		var out struct {
			IID    int    `json:"iid"`
			WebURL string `json:"web_url"`
		}
		if err := json.Unmarshal(ans.body, &out); err != nil || out.IID == 0 {
			return Opened{}, &ForgeError{Forge: "GitLab", Op: op, Status: ans.status, Message: fmt.Sprintf("an answer without a merge request iid (%v)", err)}
		}
		return Opened{Number: out.IID, URL: out.WebURL}, nil
	case http.StatusConflict:
		return Opened{}, &ForgeError{Forge: "GitLab", Op: op, Status: ans.status, Message: forgeMessage(ans.body), kind: ErrPRExists,
			Hint: "an earlier proposal's merge request is still open: review or close it"}
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return Opened{}, &ForgeError{Forge: "GitLab", Op: op, Status: ans.status, Message: forgeMessage(ans.body),
			Hint: fmt.Sprintf("GitLab refused the merge request as given: both %s and %s must be branches of %s", pr.Head, pr.Base, project)}
	}
	return Opened{}, a.common(op, ans, forgeTokenHint, fmt.Sprintf(gitlabNotFound, project, forgeTokenHint))
}

// State reads merge request iid number of Repo.
func (g *GitLab) State(ctx context.Context, number int) (PRState, error) {
	project, err := g.project("")
	if err != nil {
		return PRState{}, err
	}
	op := fmt.Sprintf("read merge request !%d of %s", number, project)
	a := g.api()
	ans, err := a.do(ctx, op, http.MethodGet, g.endpoint(project, fmt.Sprintf("/%d", number)), nil)
	if err != nil {
		return PRState{}, err
	}
	if ans.status != http.StatusOK {
		return PRState{}, a.common(op, ans, forgeTokenHint,
			fmt.Sprintf("GitLab has no merge request !%d on %s, or the token cannot see the project (%s)", number, project, forgeTokenHint))
	}
	var out gitlabMR
	if err := json.Unmarshal(ans.body, &out); err != nil {
		return PRState{}, &ForgeError{Forge: "GitLab", Op: op, Status: ans.status, Message: "an answer that is not a merge request: " + err.Error()}
	}
	return out.state(op)
}

// Find finds the latest merge request from head on Repo (open, merged or
// closed), or ErrPRNotFound.
func (g *GitLab) Find(ctx context.Context, head string) (Opened, PRState, error) {
	project, err := g.project("")
	if err != nil {
		return Opened{}, PRState{}, err
	}
	op := fmt.Sprintf("find the merge request from %s on %s", head, project)
	q := url.Values{"source_branch": {head}, "state": {"all"}, "order_by": {"created_at"}, "sort": {"desc"}, "per_page": {"1"}}
	a := g.api()
	ans, err := a.do(ctx, op, http.MethodGet, g.endpoint(project, "?"+q.Encode()), nil)
	if err != nil {
		return Opened{}, PRState{}, err
	}
	if ans.status != http.StatusOK {
		return Opened{}, PRState{}, a.common(op, ans, forgeTokenHint, fmt.Sprintf(gitlabNotFound, project, forgeTokenHint))
	}
	var list []gitlabMR
	if err := json.Unmarshal(ans.body, &list); err != nil {
		return Opened{}, PRState{}, &ForgeError{Forge: "GitLab", Op: op, Status: ans.status, Message: "an answer that is not a list of merge requests: " + err.Error()}
	}
	if len(list) == 0 {
		return Opened{}, PRState{}, &ForgeError{Forge: "GitLab", Op: op, Status: ans.status, kind: ErrPRNotFound,
			Message: "no merge request from " + head, Hint: "it was never opened, or the branch was renamed: open it by hand or propose again"}
	}
	st, err := list[0].state(op)
	return Opened{Number: list[0].IID, URL: list[0].WebURL}, st, err
}

// gitlabMR is the part of a merge request Watchkeeper reads.
type gitlabMR struct {
	IID             int    `json:"iid"`
	WebURL          string `json:"web_url"`
	State           string `json:"state"`
	MergeCommitSHA  string `json:"merge_commit_sha"`
	SquashCommitSHA string `json:"squash_commit_sha"`
	SHA             string `json:"sha"`
	MergedAt        string `json:"merged_at"`
}

func (out gitlabMR) state(op string) (PRState, error) {
	switch out.State {
	case "merged":
		// A fast-forward merge makes no merge commit: the branch's head
		// is what landed.
		commit := out.MergeCommitSHA
		if commit == "" {
			commit = out.SquashCommitSHA
		}
		if commit == "" {
			commit = out.SHA
		}
		at, _ := time.Parse(time.RFC3339Nano, out.MergedAt) // zero when absent
		return PRState{State: StateMerged, MergeCommit: commit, MergedAt: at}, nil
	case "opened", "locked":
		return PRState{State: StateOpen}, nil
	case "closed":
		return PRState{State: StateClosed}, nil
	}
	return PRState{}, &ForgeError{Forge: "GitLab", Op: op, Message: fmt.Sprintf("unknown merge request state %q", out.State)}
}
