package forgefake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

const githubDocs = "https://docs.github.com/rest/pulls/pulls"

func githubError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, map[string]any{"message": message, "documentation_url": githubDocs, "status": fmt.Sprint(status)})
}

func githubValidation(w http.ResponseWriter, errs ...map[string]string) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed", "errors": errs, "documentation_url": githubDocs + "#create-a-pull-request", "status": "422"})
}

// githubAuthorized checks Authorization: Bearer TOKEN (or token TOKEN).
// Without one GitHub says "Requires authentication"; with a wrong one,
// "Bad credentials".
func (f *Fake) githubAuthorized(w http.ResponseWriter, r *http.Request) bool {
	h := r.Header.Get("Authorization")
	scheme, tok, _ := strings.Cut(h, " ")
	switch {
	case f.token == "":
		return true
	case h == "":
		githubError(w, http.StatusUnauthorized, "Requires authentication")
		return false
	case !strings.EqualFold(scheme, "bearer") && !strings.EqualFold(scheme, "token"),
		!tokenOK(tok, f.token):
		githubError(w, http.StatusUnauthorized, "Bad credentials")
		return false
	}
	return true
}

func (f *Fake) github(w http.ResponseWriter, r *http.Request) {
	seg := splitPath(strings.TrimPrefix(r.URL.Path, "/api/v3"))
	if len(seg) < 4 || seg[0] != "repos" || seg[3] != "pulls" || len(seg) > 5 {
		githubError(w, http.StatusNotFound, "Not Found")
		return
	}
	if !f.githubAuthorized(w, r) {
		return
	}
	name := seg[1] + "/" + seg[2]
	f.mu.Lock()
	defer f.mu.Unlock()
	bare, ok := f.bare(name)
	if !ok {
		githubError(w, http.StatusNotFound, "Not Found")
		return
	}
	switch {
	case len(seg) == 4 && r.Method == http.MethodPost:
		f.githubCreate(w, r, name, seg[1], bare)
	case len(seg) == 4 && r.Method == http.MethodGet:
		f.githubList(w, r, name, seg[1])
	case len(seg) == 5 && r.Method == http.MethodGet:
		n, ok := number(seg[4])
		p := f.find(n)
		if !ok || p == nil || p.Repo != name {
			githubError(w, http.StatusNotFound, "Not Found")
			return
		}
		writeJSON(w, http.StatusOK, githubPR(p))
	default:
		githubError(w, http.StatusNotFound, "Not Found")
	}
}

func (f *Fake) githubCreate(w http.ResponseWriter, r *http.Request, name, owner, bare string) {
	var in struct {
		Title string `json:"title"`
		Head  string `json:"head"`
		Base  string `json:"base"`
		Body  string `json:"body"`
	}
	// GitHub reads the body as JSON whatever the Content-Type says.
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		githubError(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	for _, field := range []struct{ name, v string }{{"head", in.Head}, {"base", in.Base}} {
		if field.v == "" {
			githubError(w, http.StatusUnprocessableEntity, fmt.Sprintf("Invalid request.\n\n%q wasn't supplied.", field.name))
			return
		}
	}
	if in.Title == "" {
		githubValidation(w, map[string]string{"resource": "PullRequest", "field": "title", "code": "missing_field"})
		return
	}
	head := in.Head
	if o, b, ok := strings.Cut(head, ":"); ok {
		if o != owner { // a fork's branch: not served here
			githubValidation(w, map[string]string{"resource": "PullRequest", "field": "head", "code": "invalid"})
			return
		}
		head = b
	}
	if !branchExists(bare, head) {
		githubValidation(w, map[string]string{"resource": "PullRequest", "field": "head", "code": "invalid"})
		return
	}
	if !branchExists(bare, in.Base) {
		githubValidation(w, map[string]string{"resource": "PullRequest", "field": "base", "code": "invalid"})
		return
	}
	for _, p := range f.prs {
		if p.Repo == name && p.Head == head && p.State == "open" {
			githubValidation(w, map[string]string{"resource": "PullRequest", "code": "custom",
				"message": fmt.Sprintf("A pull request already exists for %s:%s.", owner, head)})
			return
		}
	}
	if n, err := git("--git-dir", bare, "rev-list", "--count", "refs/heads/"+in.Base+"..refs/heads/"+head); err != nil || n == "0" {
		githubValidation(w, map[string]string{"resource": "PullRequest", "code": "custom",
			"message": fmt.Sprintf("No commits between %s and %s", in.Base, head)})
		return
	}
	p := f.open(&PR{Repo: name, Title: in.Title, Body: in.Body, Head: head, Base: in.Base}, webBase(r))
	writeJSON(w, http.StatusCreated, githubPR(p))
}

// githubList lists pull requests, newest first, filtered by head
// ("owner:branch") and state (open by default, closed, all).
func (f *Fake) githubList(w http.ResponseWriter, r *http.Request, name, owner string) {
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	list := []map[string]any{}
	for i := len(f.prs) - 1; i >= 0; i-- {
		p := f.prs[i]
		if p.Repo != name || (q.Get("head") != "" && q.Get("head") != owner+":"+p.Head) {
			continue
		}
		if open := p.State == "open"; state == "open" && !open || state == "closed" && open {
			continue
		}
		pr := githubPR(p)
		delete(pr, "merged") // the list leaves it out; merged_at says it
		list = append(list, pr)
	}
	writeJSON(w, http.StatusOK, list)
}

// githubPR is the part of GitHub's pull request object Watchkeeper reads,
// and a little more.
func githubPR(p *PR) map[string]any {
	state := p.State
	if state == "merged" {
		state = "closed"
	}
	var mergedAt, mergeSHA any
	if p.State == "merged" {
		mergedAt, mergeSHA = p.MergedAt.Format(time.RFC3339), p.MergeCommit
	}
	return map[string]any{
		"number": p.Number, "html_url": p.URL, "state": state, "title": p.Title, "body": p.Body,
		"merged": p.State == "merged", "merged_at": mergedAt, "merge_commit_sha": mergeSHA,
		"head": map[string]any{"ref": p.Head}, "base": map[string]any{"ref": p.Base},
	}
}
