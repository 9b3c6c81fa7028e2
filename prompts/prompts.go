// Package prompts holds the text Watchkeeper sends to language models, as
// embedded templates rendered with text/template. Every template is covered
// by a golden test, so a change to a prompt shows up in review as a diff.
package prompts

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/watchkeeper/watchkeeper/tools"
)

//go:embed templates/*.tmpl
var files embed.FS

// templates is parsed once; parsing embedded files cannot fail at run time
// unless the binary itself is broken, which the golden tests catch.
var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"join": strings.Join,
	"schema": func(s *tools.Schema) string {
		if s == nil {
			return "{}"
		}
		b, err := json.Marshal(s)
		if err != nil {
			return "{}"
		}
		return string(b)
	},
}).ParseFS(files, "templates/*.tmpl"))

// SystemData is what the system prompt is rendered from.
type SystemData struct {
	// Now anchors relative times in questions.
	Now time.Time
	// Source names the surface ("terminal chat", "Slack thread in #ops").
	Source string
	// Tools are described in the prompt only in ReAct mode; with native
	// tool calling the provider receives their schemas instead.
	Tools []tools.Spec
	// ReAct adds the text protocol for models without native tool calls.
	ReAct bool
	// Namespaces, when set, are the only namespaces this conversation may
	// look at (a Slack channel's scope).
	Namespaces []string
}

// System renders the system prompt.
func System(d SystemData) (string, error) { return render("system.tmpl", d) }

// SummaryData is what the memory-compaction prompt is rendered from.
type SummaryData struct {
	Transcript string
	MaxWords   int
}

// Summarize renders the prompt that compacts old conversation turns.
func Summarize(d SummaryData) (string, error) { return render("summarize.tmpl", d) }

// PostmortemData is what the postmortem prompt is rendered from.
type PostmortemData struct {
	ID string
	// Facts are the incident's recorded facts (the deterministic draft).
	Facts string
}

// Postmortem renders the prompt that asks a model to write a postmortem
// from the recorded facts only.
func Postmortem(d PostmortemData) (string, error) { return render("postmortem.tmpl", d) }

// AnswerNow is appended to the last request of a run, when the tools have
// been withdrawn.
const AnswerNow = "You have no tool calls left in this run. Answer now from the evidence above, without calling tools, citing the results you use as [n], and say what you could not check."

// EmptyReply nudges a model that returned nothing.
const EmptyReply = "Your last reply was empty. Answer the question from the evidence above, or call a tool if you still need evidence."

func render(name string, data any) (string, error) {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		return "", fmt.Errorf("render prompt %s: %w", name, err)
	}
	return b.String(), nil
}
