package eval

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
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
	n := 0
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
		n++
		b, err := yaml.Marshal(rec)
		if err != nil {
			return Recorded{}, err
		}
		out.Files[filepath.Join(RecordingsDir, fmt.Sprintf("%02d-%s.yaml", n, e.Tool))] = b
	}
	out.Recordings = n

	sc := scenarioFile{
		Name:        "incident-" + slug(in.ID),
		Description: fmt.Sprintf("Recorded from incident %s (%s), assessed by run %s with %s.", in.ID, in.Title, run.ID, orUnknown(run.Model)),
		Tags:        []string{"recorded", "incident"},
		Now:         run.StartedAt.UTC().Truncate(time.Second),
		Question:    question,
		MustMention: facts,
		Script:      scriptOf(t),
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
	Name        string           `yaml:"name"`
	Description string           `yaml:"description"`
	Tags        []string         `yaml:"tags"`
	Now         time.Time        `yaml:"now"`
	Question    string           `yaml:"question"`
	MustMention []string         `yaml:"must_mention"`
	Script      *scripted.Script `yaml:"script,omitempty"`
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
