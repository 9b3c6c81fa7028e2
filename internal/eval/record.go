package eval

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/agent/llm/scripted"
	"github.com/watchkeeper/watchkeeper/internal/incident"
	"github.com/watchkeeper/watchkeeper/internal/store"
)

// Recorded is a scenario made from an incident, ready to write.
type Recorded struct {
	// Files maps paths inside the scenario folder to their content.
	Files map[string][]byte
	// Facts are the expected facts (the root cause).
	Facts []string
	// Recordings counts the tool outputs recorded.
	Recordings int
}

// RecordIncident turns an incident and the agent run that assessed it into
// a scenario: the run's input as the question, every tool output the run
// saw as an exact-match recording, the run's own replies as the scripted
// transcript, and facts (the root cause from the postmortem) as
// must_mention.
func RecordIncident(in incident.Incident, run store.Run, facts []string) (Recorded, error) {
	if len(facts) == 0 {
		return Recorded{}, errors.New("no expected fact: the postmortem names no root cause; pass --fact")
	}
	var t agent.Transcript
	if err := json.Unmarshal(run.Transcript, &t); err != nil {
		return Recorded{}, fmt.Errorf("run %s: the transcript cannot be read: %w", run.ID, err)
	}
	question := t.Input
	if question == "" {
		question = run.Question
	}
	if strings.TrimSpace(question) == "" {
		return Recorded{}, fmt.Errorf("run %s has no question", run.ID)
	}
	out := Recorded{Files: map[string][]byte{}, Facts: facts}

	// Tool outputs, as the model saw them (redacted, cut to budget).
	starts := map[string]agent.Event{}
	proposals := map[string]agent.Event{}
	for _, e := range t.Events {
		switch e.Kind {
		case agent.EventToolStart:
			starts[e.CallID] = e
		case agent.EventProposal:
			proposals[e.CallID] = e
		}
	}
	var recs recordingSet
	for _, e := range t.Events {
		if e.Kind != agent.EventToolEnd {
			continue
		}
		st, ok := starts[e.CallID]
		if !ok || !json.Valid(st.Args) {
			continue
		}
		var args map[string]any
		_ = json.Unmarshal(st.Args, &args)
		rec := recordingFile{Tool: e.Tool, Match: MatchExact, Args: args}
		switch e.Outcome {
		case agent.OutcomeOK:
			rec.Output = e.Text
		case agent.OutcomeToolError:
			rec.Error = strings.TrimPrefix(e.Text, "Error: ")
		case agent.OutcomeProposed:
			p := proposals[e.CallID].Proposal
			if p == nil {
				continue
			}
			rec.Proposal = &RecordedProposal{Summary: p.Summary, Reason: p.Reason, Details: p.Details, Risk: p.Risk}
		default:
			// Refusals and infrastructure failures are the agent's own
			// doing, not a tool output to replay.
			continue
		}
		if err := recs.add(rec); err != nil {
			return Recorded{}, err
		}
	}
	recs.writeTo(out.Files)
	out.Recordings = len(recs.files)

	sc := scenarioFile{
		Name:        "incident-" + slug(in.ID),
		Description: fmt.Sprintf("Recorded from incident %s (%s), assessed by run %s with %s.", in.ID, in.Title, run.ID, orUnknown(run.Model)),
		Tags:        []string{"recorded", "incident"},
		Now:         run.StartedAt.UTC().Truncate(time.Second),
		Question:    question,
		MustMention: facts,
		Script:      scriptOf(t),
		Strict:      true,
	}
	if len(in.Data.CommonLabels["namespace"]) > 0 {
		sc.Tags = append(sc.Tags, "namespace:"+in.Data.CommonLabels["namespace"])
	}
	b, err := yaml.Marshal(sc)
	if err != nil {
		return Recorded{}, err
	}
	header := fmt.Sprintf("# Recorded by `watchkeeper eval record --incident %s`. The expected fact is the\n"+
		"# postmortem's root cause; edit must_mention to the team's confirmed cause.\n", in.ID)
	out.Files[ScenarioFile] = append([]byte(header), b...)
	return out, nil
}

// RecordRun turns a passing run of s into a strict scenario that replays
// it: s's question or alert, checks and budget; one exact recording per
// distinct call the run made, answering what the recording that served it
// answered (a call nothing answered keeps its "no recording" error); and
// the model's own replies as the script. Replayed with its script (in CI),
// the agent must then make exactly the model's recorded calls and reach an
// answer that passes the same checks. r must carry its transcript
// (Options.KeepTranscripts); model names who replied, at when.
func RecordRun(s *Scenario, r RunResult, model string, at time.Time) (Recorded, error) {
	if !r.Pass {
		why := r.Error
		if f := r.Failures(); len(f) > 0 {
			why = describe(f[0])
		}
		return Recorded{}, fmt.Errorf("the run failed (%s); only a passing run makes a regression test", why)
	}
	if len(r.Transcript) == 0 {
		return Recorded{}, errors.New("the run kept no transcript; evaluate with Options.KeepTranscripts")
	}
	for _, c := range r.Checks {
		if c.Name != "must_mention" || c.By != "llm" {
			continue
		}
		if re, err := compilePattern(c.Target); err == nil && !re.MatchString(r.Answer) {
			return Recorded{}, fmt.Errorf("the fact %q passed by the LLM judge's verdict only, and the replay has no judge; record another run, or record this one by hand with a must_mention the answer contains", c.Target)
		}
	}
	var t agent.Transcript
	if err := json.Unmarshal(r.Transcript, &t); err != nil {
		return Recorded{}, fmt.Errorf("the run's transcript cannot be read: %w", err)
	}
	script := scriptOf(t)
	if script == nil {
		return Recorded{}, errors.New("the run's transcript holds no reply of the model")
	}
	script.Model = "recorded:" + model

	byFile := map[string]Recording{}
	for _, rec := range s.Recordings {
		byFile[rec.File] = rec
	}
	var recs recordingSet
	for _, c := range callOrder(r.Calls, t) {
		var args map[string]any
		if err := json.Unmarshal(c.Args, &args); err != nil {
			return Recorded{}, fmt.Errorf("the call %s %s: arguments that are not a JSON object cannot be recorded: %w", c.Tool, c.Args, err)
		}
		f := recordingFile{Tool: c.Tool, Match: MatchExact, Args: args}
		if rec, ok := byFile[c.Recording]; ok {
			f.Output, f.Error, f.Proposal = rec.Output, rec.Error, rec.Proposal
		} else {
			f.Error = noRecording(c.Tool, c.Args)
		}
		if err := recs.add(f); err != nil {
			return Recorded{}, err
		}
	}
	out := Recorded{Files: map[string][]byte{}, Facts: s.MustMention, Recordings: len(recs.files)}
	recs.writeTo(out.Files)

	sc := scenarioFile{
		Name:        s.Name,
		Description: strings.TrimSpace(fmt.Sprintf("%s Recorded from a passing run of %s.", s.Description, model)),
		Tags:        append(slices.Clone(s.Tags), "recorded"),
		Now:         s.Now.UTC(),
		Question:    s.Question,
		Namespaces:  s.Namespaces, ReadOnly: s.ReadOnly,
		MustMention: s.MustMention, MustNotMention: s.MustNotMention,
		ExpectTools: s.ExpectTools, ForbidTools: s.ForbidTools, ExpectProposals: s.ExpectProposals,
		Secrets: s.Secrets, MinGroundedness: s.MinGroundedness,
		Strict: true, Script: script,
	}
	if b := s.Budget; b != (Budget{}) {
		sc.Budget = &b
	}
	if s.Alert != nil {
		n := s.AlertNode
		sc.Alert = &n
	}
	b, err := yaml.Marshal(sc)
	if err != nil {
		return Recorded{}, fmt.Errorf("write the scenario: %w", err)
	}
	header := fmt.Sprintf("# Recorded by `watchkeeper eval --record-to` from a passing run of the scenario %s by %s on %s.\n"+
		"# The script is the model's replies and tools/ what each of its calls returned; replayed with\n"+
		"# --model scripted (as CI does), the agent must make exactly these calls and pass the same checks.\n",
		s.Name, model, at.UTC().Format("2006-01-02"))
	out.Files[ScenarioFile] = append([]byte(header), b...)
	return out, nil
}

// callOrder sorts served calls as the model asked for them: the incident
// investigation's first, then the agent's in the order of the model's
// replies. Tools of one step run in parallel and reach the recordings in
// any order; the model's order keeps re-recorded files stable.
func callOrder(calls []Call, t agent.Transcript) []Call {
	asked := map[string]int{}
	for _, m := range t.Messages {
		for _, c := range m.ToolCalls {
			key := c.Name + "\x00" + string(compact(json.RawMessage(c.Arguments)))
			if _, ok := asked[key]; !ok {
				asked[key] = len(asked)
			}
		}
	}
	rank := func(c Call) int {
		if c.By == "investigation" {
			return -1
		}
		if i, ok := asked[c.Tool+"\x00"+string(c.Args)]; ok {
			return i
		}
		return len(asked)
	}
	out := slices.Clone(calls)
	slices.SortStableFunc(out, func(a, b Call) int { return rank(a) - rank(b) })
	return out
}

// WriteRecorded writes r into dir, which must not exist or be empty.
func WriteRecorded(dir string, r Recorded) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s is not empty; choose a new folder for the scenario", dir)
	}
	for name, b := range r.Files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// scriptOf replays the run's own replies, so the recorded scenario runs in
// CI with the scripted model.
func scriptOf(t agent.Transcript) *scripted.Script {
	s := &scripted.Script{Model: "recorded:" + orUnknown(t.Summary.Model), NoToolCalling: t.Summary.Mode == agent.ModeReAct}
	// The run's messages start after the system prompt and the history;
	// its replies are the assistant messages after its input.
	start := 0
	for i, m := range t.Messages {
		if m.Role == agent.RoleUser && m.Content == t.Input {
			start = i
		}
	}
	var last string
	for _, m := range t.Messages[start:] {
		if m.Role != agent.RoleAssistant {
			continue
		}
		turn := scripted.Turn{Text: m.Content}
		for _, c := range m.ToolCalls {
			turn.ToolCalls = append(turn.ToolCalls, scripted.Call{Name: c.Name, RawArgs: c.Arguments})
		}
		s.Turns = append(s.Turns, turn)
		last = m.Content
	}
	if t.Answer != "" && last != t.Answer {
		s.Turns = append(s.Turns, scripted.Turn{Text: t.Answer})
	}
	if len(s.Turns) == 0 {
		return nil
	}
	return s
}

// recordingSet numbers a recorded run's recordings in call order, one per
// distinct call: a call the run repeated is answered once, and a second
// recording of it would go unused.
type recordingSet struct {
	seen  map[string]bool
	files [][]byte
	tools []string
}

func (r *recordingSet) add(rec recordingFile) error {
	args, _ := json.Marshal(rec.Args)
	key := rec.Tool + "\x00" + string(compact(args))
	if r.seen[key] {
		return nil
	}
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	r.seen[key] = true
	b, err := yaml.Marshal(rec)
	if err != nil {
		return fmt.Errorf("write the recording of %s: %w", rec.Tool, err)
	}
	r.files = append(r.files, b)
	r.tools = append(r.tools, rec.Tool)
	return nil
}

func (r *recordingSet) writeTo(files map[string][]byte) {
	for i, b := range r.files {
		files[filepath.Join(RecordingsDir, fmt.Sprintf("%02d-%s.yaml", i+1, r.tools[i]))] = b
	}
}

// recordingFile is a Recording as written.
type recordingFile struct {
	Tool     string            `yaml:"tool"`
	Match    string            `yaml:"match"`
	Args     map[string]any    `yaml:"args,omitempty"`
	Output   string            `yaml:"output,omitempty"`
	Error    string            `yaml:"error,omitempty"`
	Proposal *RecordedProposal `yaml:"proposal,omitempty"`
}

// scenarioFile is a Scenario as written.
type scenarioFile struct {
	Name            string           `yaml:"name"`
	Description     string           `yaml:"description"`
	Tags            []string         `yaml:"tags"`
	Now             time.Time        `yaml:"now"`
	Question        string           `yaml:"question,omitempty"`
	Alert           *yaml.Node       `yaml:"alert,omitempty"`
	Namespaces      []string         `yaml:"namespaces,omitempty"`
	ReadOnly        bool             `yaml:"read_only,omitempty"`
	MustMention     []string         `yaml:"must_mention,omitempty"`
	MustNotMention  []string         `yaml:"must_not_mention,omitempty"`
	ExpectTools     []CallRule       `yaml:"expect_tools,omitempty"`
	ForbidTools     []CallRule       `yaml:"forbid_tools,omitempty"`
	ExpectProposals []CallRule       `yaml:"expect_proposals,omitempty"`
	Secrets         []string         `yaml:"secrets,omitempty"`
	Budget          *Budget          `yaml:"budget,omitempty"`
	MinGroundedness float64          `yaml:"min_groundedness,omitempty"`
	Strict          bool             `yaml:"strict,omitempty"`
	Script          *scripted.Script `yaml:"script,omitempty"`
}

var candidateRe = regexp.MustCompile(`(?m)^\s*1\.\s+([A-Za-z0-9][\w.-]*)\s+—`)

// RootCause reads the expected facts from a postmortem's "Root cause"
// section: the top-ranked candidate's service when the section lists the
// investigation's ranking, else the section's first line as written by the
// team. It returns nil when the section says nothing was determined.
func RootCause(postmortem string) []string {
	sec := section(postmortem, "root cause")
	if sec == "" {
		return nil
	}
	if m := candidateRe.FindStringSubmatch(sec); m != nil {
		return []string{m[1]}
	}
	for _, l := range strings.Split(sec, "\n") {
		l = strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(l), "-*"))
		if l == "" || strings.HasPrefix(strings.ToLower(l), "not determined") || strings.HasPrefix(l, "<!--") {
			continue
		}
		return []string{l}
	}
	return nil
}

// section returns the body of the Markdown "## title" section.
func section(md, title string) string {
	var b strings.Builder
	in := false
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(l, "## ") {
			if in {
				break
			}
			in = strings.EqualFold(strings.TrimSpace(strings.TrimPrefix(l, "## ")), title)
			continue
		}
		if in {
			b.WriteString(l + "\n")
		}
	}
	return strings.TrimSpace(b.String())
}

func slug(s string) string {
	s = strings.ToLower(s)
	return strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(s, "-"), "-")
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown model"
	}
	return s
}
