package config

import (
	"os"
	"strings"
	"testing"
)

func TestReferenceCoversEverySetting(t *testing.T) {
	entries, err := Reference()
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]RefEntry{}
	for _, e := range entries {
		byKey[e.Key] = e
		if e.Doc == "" {
			t.Errorf("%s has no doc comment in config.go", e.Key)
		}
	}
	// Every variable the loader accepts is in the reference, and back.
	fields := envFields()
	for env, f := range fields {
		e, ok := byKey[f.path]
		if !ok || e.Env != env {
			t.Errorf("%s (%s) is not in the reference: %+v", f.path, env, e)
		}
	}
	for _, want := range []struct{ key, typ, def, doc string }{
		{"llm.model", "string", "", ""},
		{"llm.timeout", "duration", "2m0s", "one model request"},
		{"store.dsn", "secret", "", "PostgreSQL connection URL"},
		{"agent.max_steps", "integer", "12", "model calls in one run"},
		{"slack.alerts[].channel", "string", "", ""},
		{"leader_election.lease_duration", "duration", "15s", "dead leader"},
	} {
		e, ok := byKey[want.key]
		if !ok || e.Type != want.typ || e.Default != want.def || !strings.Contains(e.Doc, want.doc) {
			t.Errorf("%s = %+v, want type %s default %q doc ~%q", want.key, e, want.typ, want.def, want.doc)
		}
	}
	if byKey["slack.alerts[].channel"].Env != "" {
		t.Error("a setting inside a list has an environment variable")
	}
}

// TestDeployDocHasTheReference: docs/deploy.md carries the generated
// reference, so it cannot drift (regenerate with
// `watchkeeper config reference`).
func TestDeployDocHasTheReference(t *testing.T) {
	md, err := ReferenceMarkdown()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- config-reference:begin -->\n", "<!-- config-reference:end -->"
	s := string(doc)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatal("docs/deploy.md has no config-reference markers")
	}
	if got := s[i+len(begin) : j]; got != md {
		t.Error("the configuration reference in docs/deploy.md is stale; run: go run ./cmd/bot config reference --update docs/deploy.md")
	}
}
