package runbook_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/watchkeeper/watchkeeper/runbooks"
	"github.com/watchkeeper/watchkeeper/tools/runbook"
)

func TestFindAndReadTheShippedRunbooks(t *testing.T) {
	l, err := runbook.New(runbooks.Examples)
	if err != nil {
		t.Fatal(err)
	}
	ms := l.Find("HighErrorRate", "checkout", "")
	if len(ms) == 0 || ms[0].Path != "high-error-rate.md" || !strings.Contains(strings.Join(ms[0].Why, ","), "covers alert HighErrorRate") {
		t.Fatalf("find: %+v", ms)
	}
	if ms := l.Find("", "", "pods out of memory OOMKilled"); len(ms) == 0 || ms[0].Path != "pod-restarts.md" {
		t.Errorf("text search: %+v", ms)
	}
	tl := l.Tools()
	res, _ := tl[0].Run(context.Background(), json.RawMessage(`{"alert": "DatabaseSlowQueries"}`))
	if !strings.HasPrefix(res.Text, "1. high-latency.md — High latency") {
		t.Errorf("runbook_find: %s", res.Text)
	}
	res, _ = tl[1].Run(context.Background(), json.RawMessage(`{"path": "rollbacks.md"}`))
	if !strings.Contains(res.Text, "kube_rollout_undo") {
		t.Errorf("runbook_read: %s", res.Text)
	}
	res, _ = tl[1].Run(context.Background(), json.RawMessage(`{"path": "nope.md"}`))
	if !strings.Contains(res.Error, "no such runbook") {
		t.Errorf("missing: %+v", res)
	}
	// The shipped runbooks lint clean against the sandbox's alerts they cover.
	if problems := runbook.Lint(l.All(), []string{"HighErrorRate", "PodRestarting"}); len(problems) != 0 {
		t.Errorf("shipped runbooks: %v", problems)
	}
}

func TestLint(t *testing.T) {
	fsys := fstest.MapFS{
		"ok.md":          {Data: []byte("---\ntitle: OK\nalerts: [A]\n---\nsee [b](sub/b.md) and [web](https://x.example/y.md)\n")},
		"sub/b.md":       {Data: []byte("---\ntitle: B\n---\nback to [ok](../ok.md), missing [c](c.md)\n")},
		"nofm.md":        {Data: []byte("# no front matter\n")},
		"bad.md":         {Data: []byte("---\ntitle: [unclosed\n---\n")},
		"untitled.md":    {Data: []byte("---\nalerts: [B]\n---\nbody\n")},
		"README.md":      {Data: []byte("not a runbook")},
		".git/config.md": {Data: []byte("ignored")},
	}
	books, err := runbook.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(runbook.Lint(books, []string{"A", "B", "C"}), "\n")
	for _, want := range []string{"alert C has no runbook", "bad.md: front matter:", "nofm.md: no front matter",
		"sub/b.md: dead link to c.md", "untitled.md: front matter has no title"} {
		if !strings.Contains(got, want) {
			t.Errorf("lint lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "ok.md: dead link") || strings.Contains(got, "README") || strings.Contains(got, ".git") {
		t.Errorf("false problems:\n%s", got)
	}
}
