// Package eval measures the agent: it runs scenarios — a question or an
// alert, recorded tool outputs, and what a good answer must and must not
// contain — through the real agent loop and tool registry, judges the
// answers deterministically and, when configured, with a language model,
// checks safety invariants on every run, and reports pass@1 and pass^K.
//
// Tool calls never reach a live backend during an evaluation: every tool in
// the registry keeps its production spec (so the model sees exactly what it
// sees in production) but answers from the scenario's recordings.
package eval

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/watchkeeper/watchkeeper/agent/llm/scripted"
	"github.com/watchkeeper/watchkeeper/internal/incident"
)

// ScenarioFile is the file that defines a scenario inside its folder.
const ScenarioFile = "scenario.yaml"

// RecordingsDir is the folder of recorded tool outputs inside a scenario.
const RecordingsDir = "tools"

// Scenario is one evaluation case.
type Scenario struct {
	// Name defaults to the folder's name.
	Name        string   `yaml:"name,omitempty" json:"name"`
	Description string   `yaml:"description,omitempty" json:"description,omitempty"`
	Tags        []string `yaml:"tags,omitempty" json:"tags,omitempty"`
	// Now is the time of the observed systems: the system prompt's clock
	// and the current_time tool's. Recordings were taken at this time.
	Now time.Time `yaml:"now" json:"now"`

	// Question is what a person asks. Exactly one of Question and Alert.
	Question string `yaml:"question,omitempty" json:"question,omitempty"`
	// Alert is an Alertmanager webhook notification (version 4). It opens
	// an incident; the automatic investigation runs against the recordings
	// and the agent writes the assessment, as in production.
	Alert     *incident.Message `yaml:"-" json:"alert,omitempty"`
	AlertNode yaml.Node         `yaml:"alert,omitempty" json:"-"`

	// Namespaces limits the run like a Slack channel's scope; empty allows
	// every namespace.
	Namespaces []string `yaml:"namespaces,omitempty" json:"namespaces,omitempty"`

	// ReadOnly scenarios fail on any proposal.
	ReadOnly bool `yaml:"read_only,omitempty" json:"read_only,omitempty"`
	// MustMention are facts the answer must state. A plain entry is a
	// case-insensitive substring; "re:" starts a regular expression
	// (case-insensitive). With an LLM judge, the judge decides each fact.
	MustMention []string `yaml:"must_mention,omitempty" json:"must_mention,omitempty"`
	// MustNotMention are patterns the answer must not contain, in the same
	// syntax; always checked deterministically.
	MustNotMention []string `yaml:"must_not_mention,omitempty" json:"must_not_mention,omitempty"`
	// ExpectTools must each be matched by at least one tool call.
	ExpectTools []CallRule `yaml:"expect_tools,omitempty" json:"expect_tools,omitempty"`
	// ForbidTools must match no tool call made by the agent.
	ForbidTools []CallRule `yaml:"forbid_tools,omitempty" json:"forbid_tools,omitempty"`
	// ExpectProposals must each be matched by a proposal of the run.
	ExpectProposals []CallRule `yaml:"expect_proposals,omitempty" json:"expect_proposals,omitempty"`
	// Secrets are values in the recordings that must never reach the
	// answer, in addition to those the redactor's rules recognise.
	Secrets []string `yaml:"secrets,omitempty" json:"-"`
	// Budget bounds the run's tool use; a run beyond it fails the safety
	// invariant "no tool loop".
	Budget Budget `yaml:"budget,omitempty" json:"budget"`

	// MinGroundedness, when above 0, fails a run whose answer cites fewer
	// of its claims than this share, or cites a tool call that was not
	// made (see Grounding). Unset, groundedness is reported and decides
	// nothing: the claim heuristic is approximate, and pass rates should
	// not move with it unless a scenario asks.
	MinGroundedness float64 `yaml:"min_groundedness,omitempty" json:"min_groundedness,omitempty"`

	// Strict marks the script as a recorded run (`eval record`, `eval
	// --record-to`): replayed with its script, the run must make exactly
	// the recorded calls — every call answered by a recording, every
	// recording used, every scripted turn consumed — or it fails the
	// "replay" check. A real model may take another path, so Strict has
	// no effect with --model.
	Strict bool `yaml:"strict,omitempty" json:"strict,omitempty"`

	// Source says where the recordings come from; `watchkeeper eval
	// capture` refreshes them from it.
	Source *Source `yaml:"source,omitempty" json:"source,omitempty"`

	// Script is the scripted model's transcript, used by --model scripted
	// (CI) to prove the harness without a language model.
	Script *scripted.Script `yaml:"script,omitempty" json:"-"`

	// Recordings are the tool outputs, from the tools/ folder.
	Recordings []Recording `yaml:"-" json:"-"`
	// Dir is the scenario's folder.
	Dir string `yaml:"-" json:"-"`
}

// Source is where a scenario's recordings were captured.
type Source struct {
	// Sandbox is the built-in sandbox scenario (bad-deploy, slow-db, ...),
	// pinned at the scenario's now.
	Sandbox string `yaml:"sandbox,omitempty" json:"sandbox,omitempty"`
	// Seed overrides the sandbox scenario's seed.
	Seed uint64 `yaml:"seed,omitempty" json:"seed,omitempty"`
}

// Budget bounds a run.
type Budget struct {
	// ToolCalls is the most tool calls the agent may make (default 16).
	ToolCalls int `yaml:"tool_calls,omitempty" json:"tool_calls"`
	// Steps is the most model calls (default: the agent's limit, 12).
	Steps int `yaml:"steps,omitempty" json:"steps"`
}

// Defaults of a scenario's budget.
const (
	DefaultBudgetToolCalls = 16
	DefaultBudgetSteps     = 12
)

func (b Budget) withDefaults() Budget {
	if b.ToolCalls <= 0 {
		b.ToolCalls = DefaultBudgetToolCalls
	}
	if b.Steps <= 0 {
		b.Steps = DefaultBudgetSteps
	}
	return b
}

// Match kinds for arguments.
const (
	// MatchExact requires the call's arguments to equal the rule's.
	MatchExact = "exact"
	// MatchSubset requires every argument the rule names to be equal in
	// the call; others may be anything.
	MatchSubset = "subset"
	// MatchRegex treats every argument the rule names as a regular
	// expression that the call's value (as text) must match.
	MatchRegex = "regex"
)

// CallRule matches tool calls (or proposals) by tool name and arguments.
type CallRule struct {
	Tool string `yaml:"tool" json:"tool"`
	// Args, with Match, restrict the arguments; none matches any call of
	// the tool.
	Args map[string]any `yaml:"args,omitempty" json:"args,omitempty"`
	// Match is exact, subset (default) or regex.
	Match string `yaml:"match,omitempty" json:"match,omitempty"`

	line int
	res  map[string]*regexp.Regexp
}

// String describes the rule for reports.
func (r CallRule) String() string {
	if len(r.Args) == 0 {
		return r.Tool
	}
	b, _ := json.Marshal(r.Args)
	return fmt.Sprintf("%s %s %s", r.Tool, r.matchKind(), b)
}

func (r CallRule) matchKind() string {
	if r.Match == "" {
		return MatchSubset
	}
	return r.Match
}

// compile checks the rule and prepares its expressions.
func (r *CallRule) compile() error {
	if r.Tool == "" {
		return errors.New("tool is empty")
	}
	norm, err := normalize(r.Args)
	if err != nil {
		return fmt.Errorf("args: %w", err)
	}
	if norm != nil {
		r.Args = norm.(map[string]any)
	}
	switch r.matchKind() {
	case MatchExact, MatchSubset:
	case MatchRegex:
		r.res = map[string]*regexp.Regexp{}
		for k, v := range r.Args {
			s, ok := v.(string)
			if !ok {
				return fmt.Errorf("args.%s: a regex rule needs string patterns, got %v", k, v)
			}
			re, err := regexp.Compile(s)
			if err != nil {
				return fmt.Errorf("args.%s: %w", k, err)
			}
			r.res[k] = re
		}
	default:
		return fmt.Errorf("match %q must be exact, subset or regex", r.Match)
	}
	return nil
}

// Matches reports whether a call of tool with JSON args satisfies the rule.
func (r CallRule) Matches(tool string, args json.RawMessage) bool {
	if tool != r.Tool {
		return false
	}
	if len(r.Args) == 0 && r.matchKind() != MatchExact {
		return true
	}
	var got map[string]any
	if len(bytes.TrimSpace(args)) > 0 {
		if err := json.Unmarshal(args, &got); err != nil {
			return false
		}
	}
	switch r.matchKind() {
	case MatchExact:
		return jsonEqual(r.Args, got)
	case MatchRegex:
		for k, re := range r.res {
			v, ok := got[k]
			if !ok || !re.MatchString(asText(v)) {
				return false
			}
		}
		return true
	default:
		return subset(r.Args, got)
	}
}

// specificity orders matching recordings: exact rules first, then the
// rules that constrain more arguments, subset before regex among equals,
// and a rule without arguments (any call of the tool) last.
func (r CallRule) specificity() int {
	switch r.matchKind() {
	case MatchExact:
		return 10_000 + len(r.Args)
	case MatchSubset:
		return 10*len(r.Args) + 2
	default:
		return 10*len(r.Args) + 1
	}
}

// Recording is one recorded tool output.
type Recording struct {
	CallRule `yaml:",inline"`
	// Output is the text the tool returned.
	Output string `yaml:"output,omitempty"`
	// Error is a failure the model can fix (bad query, unknown service),
	// returned as the tool's error result.
	Error string `yaml:"error,omitempty"`
	// Proposal describes the change a mutating tool proposes (its preview);
	// the proposal's arguments are the call's.
	Proposal *RecordedProposal `yaml:"proposal,omitempty"`
	// Keep marks a recording written by hand (data the source cannot
	// produce): capture leaves it as it is.
	Keep bool `yaml:"keep,omitempty"`

	// File is the recording's path, for reports.
	File string `yaml:"-"`
}

// RecordedProposal is what a mutating tool's dry run showed.
type RecordedProposal struct {
	Summary string `yaml:"summary"`
	// Reason is why the change was asked for, shown apart from the
	// details so it can never pass for the tool's own description.
	Reason  string `yaml:"reason,omitempty"`
	Details string `yaml:"details,omitempty"`
	Risk    string `yaml:"risk,omitempty"`
}

// LoadSuite loads every scenario in dir's subfolders (those that hold a
// scenario.yaml), sorted by name. A malformed scenario does not stop the
// others: it is returned in errs with its file and line, and the run
// reports it.
func LoadSuite(dir string) (scenarios []*Scenario, errs []LoadError, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("read the suite %s: %w", dir, err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		sub := filepath.Join(dir, e.Name())
		if _, err := os.Stat(filepath.Join(sub, ScenarioFile)); err != nil {
			continue
		}
		s, err := LoadScenario(sub)
		if err != nil {
			errs = append(errs, LoadError{Scenario: e.Name(), Err: err})
			continue
		}
		scenarios = append(scenarios, s)
	}
	if len(scenarios) == 0 && len(errs) == 0 {
		return nil, nil, fmt.Errorf("the suite %s has no scenarios: each scenario is a folder holding %s", dir, ScenarioFile)
	}
	sort.Slice(scenarios, func(i, j int) bool { return scenarios[i].Name < scenarios[j].Name })
	seen := map[string]string{}
	for _, s := range scenarios {
		if prev, dup := seen[s.Name]; dup {
			return nil, nil, fmt.Errorf("scenarios %s and %s are both named %q", prev, s.Dir, s.Name)
		}
		seen[s.Name] = s.Dir
	}
	return scenarios, errs, nil
}

// LoadError is a scenario that could not be loaded.
type LoadError struct {
	Scenario string
	Err      error
}

func (e LoadError) Error() string { return e.Scenario + ": " + e.Err.Error() }

// LoadScenario reads the scenario in dir: scenario.yaml and tools/*.yaml.
func LoadScenario(dir string) (*Scenario, error) {
	path := filepath.Join(dir, ScenarioFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, yamlError(path, err)
	}
	if root.Kind == 0 {
		return nil, fmt.Errorf("%s: the file is empty", path)
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: must be a mapping of scenario fields (question, must_mention, ...)", path)
	}
	doc := root.Content[0]
	var s Scenario
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return nil, yamlError(path, err)
	}
	s.Dir = dir
	if s.Name == "" {
		s.Name = filepath.Base(dir)
	}
	if s.AlertNode.Kind != 0 {
		// Decoded as the webhook's JSON, so its field names are
		// Alertmanager's own.
		m, err := decodeAlert(&s.AlertNode)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: alert: %w", path, s.AlertNode.Line, err)
		}
		s.Alert = &m
	}
	if err := s.validate(path, doc); err != nil {
		return nil, err
	}
	recs, err := loadRecordings(filepath.Join(dir, RecordingsDir))
	if err != nil {
		return nil, err
	}
	s.Recordings = recs
	s.Budget = s.Budget.withDefaults()
	return &s, nil
}

func decodeAlert(n *yaml.Node) (incident.Message, error) {
	var raw any
	if err := n.Decode(&raw); err != nil {
		return incident.Message{}, err
	}
	norm, err := normalize(raw)
	if err != nil {
		return incident.Message{}, err
	}
	b, _ := json.Marshal(norm)
	var m incident.Message
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return incident.Message{}, fmt.Errorf("not an Alertmanager webhook notification: %w", err)
	}
	if err := m.Validate(); err != nil {
		return incident.Message{}, err
	}
	return m, nil
}

// validate checks what decoding cannot, pointing at the offending line.
func (s *Scenario) validate(path string, doc *yaml.Node) error {
	at := func(key string) string {
		if n := keyNode(doc, key); n != nil {
			return fmt.Sprintf("%s:%d", path, n.Line)
		}
		return path
	}
	var errs []string
	add := func(where, format string, a ...any) { errs = append(errs, where+": "+fmt.Sprintf(format, a...)) }
	switch {
	case strings.TrimSpace(s.Question) == "" && s.Alert == nil:
		add(path, "needs a question or an alert")
	case s.Question != "" && s.Alert != nil:
		add(at("alert"), "has both a question and an alert; a scenario is one or the other")
	}
	if s.Now.IsZero() {
		add(path, "now is missing: the time the recordings were taken (RFC 3339), e.g. now: 2026-11-20T14:30:00Z")
	}
	for i, p := range s.MustMention {
		if _, err := compilePattern(p); err != nil {
			add(itemLine(path, doc, "must_mention", i), "%v", err)
		}
	}
	for i, p := range s.MustNotMention {
		if _, err := compilePattern(p); err != nil {
			add(itemLine(path, doc, "must_not_mention", i), "%v", err)
		}
	}
	for _, list := range []struct {
		key   string
		rules []CallRule
	}{{"expect_tools", s.ExpectTools}, {"forbid_tools", s.ForbidTools}, {"expect_proposals", s.ExpectProposals}} {
		for i := range list.rules {
			if err := list.rules[i].compile(); err != nil {
				add(itemLine(path, doc, list.key, i), "%s: %v", list.key, err)
			}
		}
	}
	if s.ReadOnly && len(s.ExpectProposals) > 0 {
		add(at("expect_proposals"), "a read_only scenario cannot expect proposals")
	}
	if len(s.MustMention) == 0 && len(s.ExpectTools) == 0 && len(s.ExpectProposals) == 0 && len(s.MustNotMention) == 0 {
		add(path, "expects nothing: give must_mention, must_not_mention, expect_tools or expect_proposals")
	}
	if s.MinGroundedness < 0 || s.MinGroundedness > 1 {
		add(at("min_groundedness"), "min_groundedness %v is outside 0..1 (the share of claims that cite a tool call)", s.MinGroundedness)
	}
	if s.Strict && s.Script == nil {
		add(at("strict"), "strict needs a script: it replays a recorded run's replies")
	}
	for i, sec := range s.Secrets {
		if len(sec) < 4 {
			add(itemLine(path, doc, "secrets", i), "secret %q is too short to check (4 characters at least)", sec)
		}
	}
	if s.Script != nil && len(s.Script.Turns) == 0 {
		add(at("script"), "script has no turns")
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

func keyNode(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i]
		}
	}
	return nil
}

func itemLine(path string, doc *yaml.Node, key string, i int) string {
	for j := 0; j+1 < len(doc.Content); j += 2 {
		if doc.Content[j].Value == key {
			v := doc.Content[j+1]
			if v.Kind == yaml.SequenceNode && i < len(v.Content) {
				return fmt.Sprintf("%s:%d", path, v.Content[i].Line)
			}
			return fmt.Sprintf("%s:%d", path, doc.Content[j].Line)
		}
	}
	return path
}

// loadRecordings reads every *.yaml file of dir, in name order. A scenario
// without recordings is valid (a question answered without tools).
func loadRecordings(dir string) ([]Recording, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read recordings: %w", err)
	}
	var out []Recording
	for _, e := range entries {
		if e.IsDir() || (filepath.Ext(e.Name()) != ".yaml" && filepath.Ext(e.Name()) != ".yml") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		var r Recording
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&r); err != nil {
			return nil, yamlError(path, err)
		}
		if err := r.compile(); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if r.Output == "" && r.Error == "" && r.Proposal == nil {
			return nil, fmt.Errorf("%s: the recording has no output, error or proposal", path)
		}
		if r.Proposal != nil && r.Proposal.Summary == "" {
			return nil, fmt.Errorf("%s: proposal.summary is empty", path)
		}
		r.File = filepath.Join(RecordingsDir, e.Name())
		out = append(out, r)
	}
	return out, nil
}

var yamlLineRe = regexp.MustCompile(`line (\d+): `)

// yamlError turns the YAML library's "line N: msg" into "path:N: msg".
func yamlError(path string, err error) error {
	if err.Error() == "EOF" {
		return fmt.Errorf("%s: the file is empty", path)
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	var lines []string
	for _, l := range strings.Split(msg, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if m := yamlLineRe.FindStringSubmatchIndex(l); m != nil && m[0] == 0 {
			l = fmt.Sprintf("%s:%s: %s", path, l[m[2]:m[3]], l[m[1]:])
		} else {
			l = path + ": " + l
		}
		lines = append(lines, l)
	}
	return errors.New(strings.Join(lines, "\n"))
}

// normalize turns YAML values into their JSON form (numbers as float64,
// times as RFC 3339 strings), so rules compare like the calls they match.
func normalize(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// jsonEqual compares values by their JSON; a nil map equals an empty one
// (no arguments).
func jsonEqual(a, b any) bool {
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	if string(ab) == "null" {
		ab = []byte("{}")
	}
	if string(bb) == "null" {
		bb = []byte("{}")
	}
	return bytes.Equal(ab, bb)
}

// subset reports whether every field of want is in got with an equal value
// (objects compare as subsets too).
func subset(want, got map[string]any) bool {
	for k, wv := range want {
		gv, ok := got[k]
		if !ok {
			return false
		}
		wm, wIsMap := wv.(map[string]any)
		gm, gIsMap := gv.(map[string]any)
		if wIsMap && gIsMap {
			if !subset(wm, gm) {
				return false
			}
			continue
		}
		if !jsonEqual(wv, gv) {
			return false
		}
	}
	return true
}

func asText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}
