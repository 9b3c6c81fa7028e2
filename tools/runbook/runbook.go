// Package runbook finds and reads the team's Markdown runbooks: files with
// front matter naming the alerts and services they cover, ranked for an
// alert or a question.
package runbook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/watchkeeper/watchkeeper/tools"
)

// Runbook is one parsed file.
type Runbook struct {
	Path     string
	Title    string   `yaml:"title"`
	Alerts   []string `yaml:"alerts"`
	Services []string `yaml:"services"`
	Owners   []string `yaml:"owners"`
	Body     string
	// Problem says what is wrong with the file (lint), or "".
	Problem string
}

// Load reads every .md file under fsys.
func Load(fsys fs.FS) ([]Runbook, error) {
	var out []Runbook
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && p != "." {
			return fs.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".md") || strings.EqualFold(path.Base(p), "README.md") {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		out = append(out, parse(p, string(b)))
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, err
}

// parse splits front matter from the body.
func parse(p, text string) Runbook {
	rb := Runbook{Path: p, Body: text}
	rest, ok := strings.CutPrefix(text, "---\n")
	if !ok {
		rb.Problem = "no front matter (a --- block with title, alerts, services, owners)"
		return rb
	}
	fm, body, ok := strings.Cut(rest, "\n---\n")
	if !ok {
		rb.Problem = "front matter is not closed with ---"
		return rb
	}
	if err := yaml.Unmarshal([]byte(fm), &rb); err != nil {
		rb.Problem = "front matter: " + err.Error()
	}
	rb.Body = strings.TrimLeft(body, "\n")
	if rb.Problem == "" && rb.Title == "" {
		rb.Problem = "front matter has no title"
	}
	return rb
}

// Library is a loaded set of runbooks. It is safe for concurrent use.
type Library struct {
	books []Runbook
	index []index // the words of books[i], for free text
}

// New loads fsys.
func New(fsys fs.FS) (*Library, error) {
	books, err := Load(fsys)
	if err != nil {
		return nil, fmt.Errorf("runbooks: %w", err)
	}
	l := &Library{books: books}
	for _, rb := range books {
		l.index = append(l.index, newIndex(rb))
	}
	return l, nil
}

// Match is a ranked runbook.
type Match struct {
	Runbook
	Score float64
	Why   []string
}

// Find ranks runbooks for an alert name, a service and free text. An
// alert a runbook covers counts most, then a service it covers, then the
// words of text: each counts fully when the runbook's title, alerts or
// services have it and half when only its body does. Runbooks that match
// nothing are left out; ties keep path order.
func (l *Library) Find(alert, service, text string) []Match {
	var out []Match
	terms := words(text)
	for i, rb := range l.books {
		m := Match{Runbook: rb}
		for _, a := range rb.Alerts {
			if alert != "" && strings.EqualFold(a, alert) {
				m.Score += 10
				m.Why = append(m.Why, "covers alert "+a)
			}
		}
		for _, s := range rb.Services {
			if service != "" && strings.EqualFold(s, service) {
				m.Score += 4
				m.Why = append(m.Why, "covers service "+s)
			}
		}
		if len(terms) > 0 {
			ix := l.index[i]
			weight := 0.0
			var hits []string
			for _, t := range terms {
				switch {
				case ix.meta[t]:
					weight++
				case ix.body[t]:
					weight += 0.5
				default:
					continue
				}
				hits = append(hits, t)
			}
			if len(hits) > 0 {
				m.Score += weight / float64(len(terms)) * 3
				m.Why = append(m.Why, fmt.Sprintf("%d of %d words (%s)", len(hits), len(terms), strings.Join(hits, ", ")))
			}
		}
		if m.Score > 0 {
			out = append(out, m)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Score > out[j].Score })
	return out
}

// Get returns a runbook by path.
func (l *Library) Get(p string) (Runbook, bool) {
	for _, rb := range l.books {
		if rb.Path == p {
			return rb, true
		}
	}
	return Runbook{}, false
}

// All returns every runbook.
func (l *Library) All() []Runbook { return append([]Runbook(nil), l.books...) }

// Tools returns runbook_find and runbook_read.
func (l *Library) Tools() []tools.Tool { return []tools.Tool{findTool{l}, readTool{l}} }

type findTool struct{ l *Library }

func (findTool) Spec() tools.Spec {
	return tools.Spec{Name: "runbook_find",
		Description: "Find the team's runbooks for an alert, a service or a question, ranked; read one with runbook_read.",
		Evidence:    tools.EvidenceNone,
		Parameters: tools.Object(map[string]*tools.Schema{
			"alert": tools.String("alert name, e.g. HighErrorRate"), "service": tools.String("service"),
			"text": tools.String("words to look for")})}
}

func (t findTool) Run(_ context.Context, raw json.RawMessage) (tools.Result, error) {
	var a struct{ Alert, Service, Text string }
	if err := tools.DecodeArgs(raw, &a); err != nil {
		return tools.Errorf("%v", err), nil
	}
	if a.Alert == "" && a.Service == "" && strings.TrimSpace(a.Text) == "" {
		return tools.Errorf("give an alert, a service or some words"), nil
	}
	ms := t.l.Find(a.Alert, a.Service, a.Text)
	if len(ms) == 0 {
		// The advice is for the model; people are told what was looked for.
		return tools.Result{Text: "No runbook matches. The team may not have one yet — say so, and suggest writing it after the incident.",
			Display: "No runbook matches " + lookedFor(a.Alert, a.Service, a.Text) + ".\n"}, nil
	}
	// The model gets the scores to weigh the ranking; people the reasons.
	var b, d strings.Builder
	for i, m := range ms {
		if i == 5 {
			break
		}
		why := strings.Join(m.Why, ", ")
		fmt.Fprintf(&b, "%d. %s — %s (score %.1f: %s)", i+1, m.Path, m.Title, m.Score, why)
		fmt.Fprintf(&d, "%d. %s — %s (%s)", i+1, m.Path, m.Title, why)
		if len(m.Owners) > 0 {
			fmt.Fprintf(&b, "; owners %s", strings.Join(m.Owners, ", "))
			fmt.Fprintf(&d, "; owners %s", strings.Join(m.Owners, ", "))
		}
		b.WriteByte('\n')
		d.WriteByte('\n')
	}
	return tools.Result{Text: b.String(), Display: d.String(), Data: ms[0].Path}, nil
}

// lookedFor says what runbook_find was asked for: "alert X, service Y or
// the words "…"".
func lookedFor(alert, service, text string) string {
	var parts []string
	if alert != "" {
		parts = append(parts, "alert "+alert)
	}
	if service != "" {
		parts = append(parts, "service "+service)
	}
	if text = strings.TrimSpace(text); text != "" {
		parts = append(parts, fmt.Sprintf("the words %q", text))
	}
	if len(parts) > 1 {
		return strings.Join(parts[:len(parts)-1], ", ") + " or " + parts[len(parts)-1]
	}
	return strings.Join(parts, "")
}

type readTool struct{ l *Library }

func (readTool) Spec() tools.Spec {
	return tools.Spec{Name: "runbook_read", Description: "Read a runbook by its path (from runbook_find).",
		Evidence:   tools.EvidenceNone,
		Parameters: tools.Object(map[string]*tools.Schema{"path": tools.String("runbook path, e.g. high-error-rate.md")}, "path")}
}

var errNoRunbook = errors.New("no such runbook")

func (t readTool) Run(_ context.Context, raw json.RawMessage) (tools.Result, error) {
	var a struct{ Path string }
	if err := tools.DecodeArgs(raw, &a); err != nil {
		return tools.Errorf("%v", err), nil
	}
	rb, ok := t.l.Get(a.Path)
	if !ok {
		return tools.Errorf("%v %q; runbook_find lists them", errNoRunbook, a.Path), nil
	}
	return tools.Text(fmt.Sprintf("# %s (%s)\n\n%s", rb.Title, rb.Path, rb.Body)), nil
}

var linkRE = regexp.MustCompile(`\]\(([^)\s#]+\.md)(#[^)]*)?\)`)

// Lint reports problems: files without valid front matter, links to
// runbooks that do not exist, and alerts (from rules) no runbook covers.
func Lint(books []Runbook, alerts []string) []string {
	var out []string
	paths := map[string]bool{}
	covered := map[string]bool{}
	for _, rb := range books {
		paths[rb.Path] = true
		for _, a := range rb.Alerts {
			covered[a] = true
		}
	}
	for _, rb := range books {
		if rb.Problem != "" {
			out = append(out, rb.Path+": "+rb.Problem)
		}
		for _, m := range linkRE.FindAllStringSubmatch(rb.Body, -1) {
			target := path.Clean(path.Join(path.Dir(rb.Path), m[1]))
			if strings.HasPrefix(m[1], "http://") || strings.HasPrefix(m[1], "https://") {
				continue
			}
			if !paths[target] {
				out = append(out, fmt.Sprintf("%s: dead link to %s", rb.Path, m[1]))
			}
		}
	}
	for _, a := range alerts {
		if !covered[a] {
			out = append(out, "alert "+a+" has no runbook")
		}
	}
	sort.Strings(out)
	return out
}
