package forgefake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

func gitlabError(w http.ResponseWriter, status int, message any) {
	writeJSON(w, status, map[string]any{"message": message})
}

func (f *Fake) gitlab(w http.ResponseWriter, r *http.Request) {
	// The project's path is one escaped segment (group%2Fsub%2Fproject):
	// split the escaped path, not the decoded one.
	seg := splitPath(r.URL.EscapedPath())
	if len(seg) < 5 || seg[0] != "api" || seg[1] != "v4" || seg[2] != "projects" || seg[4] != "merge_requests" || len(seg) > 6 {
		gitlabError(w, http.StatusNotFound, "404 Not Found")
		return
	}
	// GitLab takes PRIVATE-TOKEN, or an OAuth/personal token as a bearer.
	tok := r.Header.Get("PRIVATE-TOKEN")
	if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && tok == "" {
		tok = b
	}
	if f.token != "" && !tokenOK(tok, f.token) {
		gitlabError(w, http.StatusUnauthorized, "401 Unauthorized")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	name := unescape(seg[3])
	if id, err := strconv.Atoi(name); err == nil {
		if names := f.repoNames(); id >= 1 && id <= len(names) {
			name = names[id-1]
		}
	}
	bare, ok := f.bare(name)
	if !ok {
		gitlabError(w, http.StatusNotFound, "404 Project Not Found")
		return
	}
	switch {
	case len(seg) == 5 && r.Method == http.MethodPost:
		f.gitlabCreate(w, r, name, bare)
	case len(seg) == 5 && r.Method == http.MethodGet:
		// Newest first, filtered by source_branch and state (all by
		// default; opened, closed, merged).
		q := r.URL.Query()
		list := []map[string]any{}
		for i := len(f.prs) - 1; i >= 0; i-- {
			p := f.prs[i]
			mr := gitlabMR(p)
			if p.Repo != name || (q.Get("source_branch") != "" && q.Get("source_branch") != p.Head) ||
				(q.Get("state") != "" && q.Get("state") != "all" && q.Get("state") != mr["state"]) {
				continue
			}
			list = append(list, mr)
		}
		writeJSON(w, http.StatusOK, list)
	case len(seg) == 6 && r.Method == http.MethodGet:
		n, ok := number(seg[5])
		p := f.find(n)
		if !ok || p == nil || p.Repo != name {
			gitlabError(w, http.StatusNotFound, "404 Not found")
			return
		}
		writeJSON(w, http.StatusOK, gitlabMR(p))
	default:
		gitlabError(w, http.StatusNotFound, "404 Not Found")
	}
}

func (f *Fake) gitlabCreate(w http.ResponseWriter, r *http.Request, name, bare string) {
	var in struct {
		Source      string `json:"source_branch"`
		Target      string `json:"target_branch"`
		Title       string `json:"title"`
		Description string `json:"description"`
	}
	// GitLab takes JSON, or form fields when the body is not declared JSON.
	if isJSON(r) {
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "The provided content-type 'application/json' is not supported or the body is not valid JSON"})
			return
		}
	} else {
		if err := r.ParseForm(); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
			return
		}
		in.Source, in.Target, in.Title, in.Description = r.PostForm.Get("source_branch"), r.PostForm.Get("target_branch"), r.PostForm.Get("title"), r.PostForm.Get("description")
	}
	var missing []string
	for _, field := range []struct{ name, v string }{{"source_branch", in.Source}, {"target_branch", in.Target}, {"title", in.Title}} {
		if field.v == "" {
			missing = append(missing, field.name+" is missing")
		}
	}
	if len(missing) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": strings.Join(missing, ", ")})
		return
	}
	invalid := map[string][]string{}
	if !branchExists(bare, in.Source) {
		invalid["source_branch"] = []string{"does not exist"}
	}
	if !branchExists(bare, in.Target) {
		invalid["target_branch"] = []string{"does not exist"}
	}
	if len(invalid) > 0 {
		gitlabError(w, http.StatusBadRequest, invalid)
		return
	}
	for _, p := range f.prs {
		if p.Repo == name && p.Head == in.Source && p.State == "open" {
			gitlabError(w, http.StatusConflict, []string{fmt.Sprintf("Another open merge request already exists for this source branch: !%d", p.Number)})
			return
		}
	}
	p := f.open(&PR{Repo: name, Title: in.Title, Body: in.Description, Head: in.Source, Base: in.Target}, webBase(r))
	writeJSON(w, http.StatusCreated, gitlabMR(p))
}

// gitlabMR is the part of GitLab's merge request object Watchkeeper
// reads, and a little more.
func gitlabMR(p *PR) map[string]any {
	state := p.State
	if state == "open" {
		state = "opened"
	}
	var mergeSHA, mergedAt any
	if p.State == "merged" {
		mergeSHA, mergedAt = p.MergeCommit, p.MergedAt.Format(time.RFC3339Nano)
	}
	return map[string]any{
		"id": 1000 + p.Number, "iid": p.Number, "web_url": p.URL, "state": state, "title": p.Title, "description": p.Body,
		"source_branch": p.Head, "target_branch": p.Base, "merge_commit_sha": mergeSHA, "squash_commit_sha": nil, "merged_at": mergedAt,
	}
}
