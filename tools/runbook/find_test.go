package runbook_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/watchkeeper/watchkeeper/runbooks"
	"github.com/watchkeeper/watchkeeper/tools"
	"github.com/watchkeeper/watchkeeper/tools/runbook"
)

// library writes runbooks into a temporary directory and loads it, as
// runbooks.dir does.
func library(t *testing.T, files map[string]string) *runbook.Library {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l, err := runbook.New(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func paths(ms []runbook.Match) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Path)
	}
	return out
}

func TestFindFreeTextMatchesMetadataAndBody(t *testing.T) {
	l := library(t, map[string]string{
		"errors.md": "---\ntitle: High error rate\nalerts: [HighErrorRate]\nservices: [checkout, payments]\n---\nWhen requests fail, look at the deploys.\n",
		"latency.md": "---\ntitle: High latency\nalerts: [HighLatencyP99]\nservices: [checkout, catalog]\n---\n" +
			"Slow requests. Errors may follow when timeouts fire.\n",
		"disk.md":  "---\ntitle: Disk filling up\nalerts: [DiskAlmostFull]\nservices: []\n---\nDelete old files.\n",
		"redis.md": "---\ntitle: Cache\nalerts: []\nservices: []\n---\nWhen redis is down, cart degrades.\n",
	})
	tests := []struct {
		text string
		want []string // in rank order
	}{
		// The case: a service name and a plural, in free text.
		{"checkout errors", []string{"errors.md", "latency.md"}},
		// Question words are not searched for; "failing" meets "fail".
		{"why is checkout failing?", []string{"errors.md", "latency.md"}},
		// An alert's name, split into words.
		{"HighLatencyP99", []string{"latency.md", "errors.md"}},
		// Only in a body.
		{"redis down", []string{"redis.md"}},
		{"disks", []string{"disk.md"}},
		// Nothing that says anything.
		{"why is it so", nil},
		{"kafka lag", nil},
	}
	for _, tt := range tests {
		got := paths(l.Find("", "", tt.text))
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("Find(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
	// A word in the title or the services counts more than one in a body.
	ms := l.Find("", "", "checkout errors")
	if ms[0].Score <= ms[1].Score || !strings.Contains(strings.Join(ms[0].Why, ","), "2 of 2 words (checkout, error)") {
		t.Errorf("ranking: %+v", ms)
	}
	// The alert still counts most.
	if got := paths(l.Find("HighLatencyP99", "", "checkout errors")); got[0] != "latency.md" {
		t.Errorf("alert and words: %v", got)
	}
}

func TestFindToolForModelAndPeople(t *testing.T) {
	l := library(t, map[string]string{
		"high-error-rate.md": "---\ntitle: High error rate\nalerts: [HighErrorRate]\nservices: [checkout, payments]\nowners: [team-shop]\n---\nRoll back a bad deploy.\n",
		"high-latency.md":    "---\ntitle: High latency\nalerts: [HighLatencyP99]\nservices: [checkout]\nowners: [team-shop]\n---\nSlow requests.\n",
	})
	find := l.Tools()[0]
	run := func(args string) tools.Result {
		t.Helper()
		res, err := find.Run(context.Background(), json.RawMessage(args))
		if err != nil || res.Error != "" {
			t.Fatalf("%s: %v %s", args, err, res.Error)
		}
		return res
	}
	byText := run(`{"text": "checkout errors"}`)
	if byText.Data != "high-error-rate.md" || !strings.HasPrefix(byText.Text, "1. high-error-rate.md — High error rate (score 3.0: 2 of 2 words (checkout, error)); owners team-shop\n") {
		t.Errorf("model's text:\n%s", byText.Text)
	}
	if people := byText.ForPeople(); !strings.HasPrefix(people, "1. high-error-rate.md — High error rate (2 of 2 words (checkout, error)); owners team-shop\n") ||
		strings.Contains(people, "score") {
		t.Errorf("people's text:\n%s", people)
	}
	// No match: the model is told what to do, people what was looked for.
	none := run(`{"service": "redis", "text": "redis down"}`)
	if !strings.HasPrefix(none.Text, "No runbook matches.") || !strings.Contains(none.Text, "suggest writing it") {
		t.Errorf("model's text: %q", none.Text)
	}
	if got := none.ForPeople(); got != "No runbook matches service redis or the words \"redis down\".\n" {
		t.Errorf("people's text: %q", got)
	}
}

// The case on the shipped runbooks: free text finds what the
// service argument finds, best first.
func TestFindShippedRunbooksByFreeText(t *testing.T) {
	l, err := runbook.New(runbooks.Examples)
	if err != nil {
		t.Fatal(err)
	}
	byService, byText := paths(l.Find("", "checkout", "")), paths(l.Find("", "", "checkout errors"))
	if len(byText) < len(byService) || byText[0] != "high-error-rate.md" {
		t.Errorf("by service %v, by text %v", byService, byText)
	}
	for _, p := range byService {
		found := false
		for _, q := range byText {
			found = found || p == q
		}
		if !found {
			t.Errorf("free text misses %s, which the service finds (%v)", p, byText)
		}
	}
}
