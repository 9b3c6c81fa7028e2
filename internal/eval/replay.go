package eval

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/watchkeeper/watchkeeper/tools"
)

// Call is one tool call served during a run.
type Call struct {
	Tool string          `json:"tool"`
	Args json.RawMessage `json:"args"`
	// Recording is the file that answered, empty when none matched.
	Recording string `json:"recording,omitempty"`
	// By is "agent" or "investigation" (the incident playbook).
	By string `json:"by"`
	// Outcome is the agent's verdict on the call (ok, proposed,
	// tool_error, refused, ...); Detail is what the model was told when
	// the call did not succeed (a schema error, a refusal).
	Outcome string `json:"outcome,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

// replay serves a scenario's recordings in place of live tools. One replay
// belongs to one run.
type replay struct {
	recs []Recording
	// order is recs sorted by specificity, most specific first.
	order []int

	mu      sync.Mutex
	calls   []Call
	used    map[int]bool
	applied []string
}

func newReplay(recs []Recording) *replay {
	r := &replay{recs: recs, used: map[int]bool{}}
	for i := range recs {
		r.order = append(r.order, i)
	}
	sort.SliceStable(r.order, func(a, b int) bool {
		return recs[r.order[a]].specificity() > recs[r.order[b]].specificity()
	})
	return r
}

// serve answers a call from the best-matching recording.
func (r *replay) serve(tool string, args json.RawMessage, by string) (Recording, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := Call{Tool: tool, Args: compact(args), By: by}
	for _, i := range r.order {
		if r.recs[i].Matches(tool, args) {
			r.used[i] = true
			c.Recording = r.recs[i].File
			r.calls = append(r.calls, c)
			return r.recs[i], true
		}
	}
	r.calls = append(r.calls, c)
	return Recording{}, false
}

// Calls returns the calls made so far.
func (r *replay) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Call(nil), r.calls...)
}

// Unused lists the recordings no call matched.
func (r *replay) Unused() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for i, rec := range r.recs {
		if !r.used[i] {
			out = append(out, rec.File)
		}
	}
	return out
}

// Applied lists the proposals something tried to apply during the run;
// an evaluation must never apply anything.
func (r *replay) Applied() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.applied...)
}

// noRecording is what the model reads for a call nothing was recorded for.
func noRecording(tool string, args json.RawMessage) string {
	return fmt.Sprintf("no recording: this evaluation scenario has no recorded output for %s with arguments %s. "+
		"Treat it as if the backend returned nothing, and answer from the other evidence or say what is missing.", tool, compact(args))
}

// replayTool has a production tool's spec and answers from recordings.
type replayTool struct {
	spec tools.Spec
	r    *replay
	by   string
}

func (t replayTool) Spec() tools.Spec { return t.spec }

func (t replayTool) Run(_ context.Context, args json.RawMessage) (tools.Result, error) {
	rec, ok := t.r.serve(t.spec.Name, args, t.by)
	if !ok {
		return tools.Result{Error: noRecording(t.spec.Name, args)}, nil
	}
	if rec.Error != "" {
		return tools.Result{Error: rec.Error, Text: rec.Output}, nil
	}
	res := tools.Result{Text: rec.Output}
	if t.spec.Mutating {
		p := tools.Proposal{Tool: t.spec.Name, Summary: "Proposed " + t.spec.Name, Details: rec.Output, Args: compact(args)}
		if rec.Proposal != nil {
			p.Summary, p.Reason, p.Risk = rec.Proposal.Summary, rec.Proposal.Reason, rec.Proposal.Risk
			if rec.Proposal.Details != "" {
				p.Details = rec.Proposal.Details
			}
		}
		if res.Text == "" {
			res.Text = "Proposed (awaiting approval): " + p.Summary + "\n" + p.Details
		}
		res.Proposal = &p
	}
	return res, nil
}

// Apply is never meant to run in an evaluation; if anything calls it, the
// run's safety invariant fails.
func (t replayTool) Apply(_ context.Context, p tools.Proposal) (tools.Result, error) {
	t.r.mu.Lock()
	t.r.applied = append(t.r.applied, p.Tool+" "+string(p.Args))
	t.r.mu.Unlock()
	return tools.Result{}, fmt.Errorf("evaluation: %s must not be applied", p.Tool)
}

// registryFor builds a registry with every spec in specs answered from r,
// and the tool names the registry offers. Tools named in live run for real
// (the clock, which reads the scenario's time).
func registryFor(specs []tools.Tool, live map[string]tools.Tool, r *replay, by string) (*tools.Registry, error) {
	var ts []tools.Tool
	for _, t := range specs {
		name := t.Spec().Name
		if l, ok := live[name]; ok {
			ts = append(ts, l)
			continue
		}
		ts = append(ts, replayTool{spec: t.Spec(), r: r, by: by})
	}
	return tools.NewRegistry(ts...)
}

func compact(b json.RawMessage) json.RawMessage {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return json.RawMessage(strings.TrimSpace(string(b)))
	}
	out, _ := json.Marshal(v)
	return out
}
