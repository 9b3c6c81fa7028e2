package tools_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/tools"
)

// probe is a tool whose behaviour each case sets.
type probe struct {
	spec tools.Spec
	run  func(ctx context.Context, args json.RawMessage) (tools.Result, error)
}

func (p probe) Spec() tools.Spec { return p.spec }
func (p probe) Run(ctx context.Context, args json.RawMessage) (tools.Result, error) {
	return p.run(ctx, args)
}

// lookup is the smallest tools.Lookup.
type lookup map[string]tools.Tool

func (l lookup) Get(name string) (tools.Tool, bool) { t, ok := l[name]; return t, ok }

// nsPolicy allows every tool but "forbidden", fills an omitted namespace
// with "shop" and refuses any other.
type nsPolicy struct{}

func (nsPolicy) AllowsTool(name string) bool { return name != "forbidden" }
func (nsPolicy) Limit(_ tools.Spec, args json.RawMessage) (json.RawMessage, error) {
	var m map[string]any
	if err := json.Unmarshal(args, &m); err != nil {
		return nil, err
	}
	switch ns, _ := m["namespace"].(string); ns {
	case "":
		m["namespace"] = "shop"
	case "shop":
	default:
		return nil, errors.New(`namespace "` + ns + `" is outside this conversation's scope`)
	}
	return json.Marshal(m)
}

func nsSpec(name string, mutating bool) tools.Spec {
	return tools.Spec{Name: name, Description: "A probe.", Mutating: mutating, Parameters: tools.Object(map[string]*tools.Schema{
		"namespace": tools.String("namespace"), "n": tools.Integer("a number", 0, 100)})}
}

// TestInvoke: every step of the one invocation path, on each way a call
// can go.
func TestInvoke(t *testing.T) {
	echo := func(_ context.Context, args json.RawMessage) (tools.Result, error) {
		return tools.Result{Text: "ran with " + string(args) + " token=s3cr3t-value"}, nil
	}
	for _, tt := range []struct {
		name        string
		tool        probe
		call        string // the tool called
		args        string
		policy      tools.Policy
		outcome     string
		reason      string // in Reason
		text        string // in the result's text
		failed      bool
		wantArgs    string
		hasProposal bool
	}{
		{name: "ok, redacted, namespace filled", tool: probe{nsSpec("probe", false), echo}, call: "probe", args: `{}`, policy: nsPolicy{},
			outcome: tools.OutcomeOK, text: `ran with {"namespace":"shop"} token=[REDACTED]`, wantArgs: `{"namespace":"shop"}`},
		{name: "no policy limits nothing", tool: probe{nsSpec("probe", false), echo}, call: "probe", args: `{"namespace":"prod"}`,
			outcome: tools.OutcomeOK, text: `ran with {"namespace":"prod"}`},
		{name: "empty arguments are an empty object", tool: probe{nsSpec("probe", false), echo}, call: "probe",
			outcome: tools.OutcomeOK, text: `ran with {}`},
		{name: "namespace outside the scope", tool: probe{nsSpec("probe", false), echo}, call: "probe", args: `{"namespace":"prod"}`, policy: nsPolicy{},
			outcome: tools.OutcomeRefused, reason: `namespace "prod" is outside`},
		{name: "tool outside the scope", tool: probe{nsSpec("forbidden", false), echo}, call: "forbidden", args: `{}`, policy: nsPolicy{},
			outcome: tools.OutcomeRefused, reason: `the tool "forbidden" is not allowed here`},
		{name: "no such tool", tool: probe{nsSpec("probe", false), echo}, call: "nope", args: `{}`,
			outcome: tools.OutcomeRefused, reason: `there is no tool called "nope"`},
		{name: "schema refuses", tool: probe{nsSpec("probe", false), echo}, call: "probe", args: `{"n":"three"}`,
			outcome: tools.OutcomeToolError, reason: "invalid arguments for probe"},
		{name: "the tool refuses, redacted", tool: probe{nsSpec("probe", false), func(context.Context, json.RawMessage) (tools.Result, error) {
			return tools.Result{Error: "unknown service; token=s3cr3t-value"}, nil
		}}, call: "probe", args: `{}`, outcome: tools.OutcomeToolError, reason: "unknown service; token=[REDACTED]"},
		{name: "the backend fails", tool: probe{nsSpec("probe", false), func(context.Context, json.RawMessage) (tools.Result, error) {
			return tools.Result{}, errors.New("connection refused to token=s3cr3t-value")
		}}, call: "probe", args: `{}`, outcome: tools.OutcomeError, reason: "tool probe failed: connection refused to token=[REDACTED]", failed: true},
		{name: "timeout keeps its cause", tool: probe{nsSpec("probe", false), func(ctx context.Context, _ json.RawMessage) (tools.Result, error) {
			<-ctx.Done()
			return tools.Result{}, ctx.Err()
		}}, call: "probe", args: `{}`, outcome: tools.OutcomeError, reason: "tool probe timed out after 50ms", failed: true},
		{name: "panic contained", tool: probe{nsSpec("probe", false), func(context.Context, json.RawMessage) (tools.Result, error) {
			panic("index out of range")
		}}, call: "probe", args: `{}`, outcome: tools.OutcomePanic, reason: "tool probe crashed (index out of range)"},
		{name: "a read-only tool may not propose", tool: probe{nsSpec("probe", false), func(context.Context, json.RawMessage) (tools.Result, error) {
			return tools.Result{Proposal: &tools.Proposal{Summary: "delete everything"}}, nil
		}}, call: "probe", args: `{}`, outcome: tools.OutcomeError, reason: "not declared as mutating"},
		{name: "a mutating tool must propose", tool: probe{nsSpec("change", true), echo}, call: "change", args: `{}`,
			outcome: tools.OutcomeError, reason: "returned no proposal"},
		{name: "a proposal is redacted and named", tool: probe{nsSpec("change", true), func(_ context.Context, args json.RawMessage) (tools.Result, error) {
			return tools.Result{Proposal: &tools.Proposal{Summary: "restart with token=s3cr3t-value", Details: "token=s3cr3t-value", Args: args}}, nil
		}}, call: "change", args: `{}`, policy: nsPolicy{}, outcome: tools.OutcomeOK, wantArgs: `{"namespace":"shop"}`, hasProposal: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reg := lookup{tt.tool.spec.Name: tt.tool}
			var mu sync.Mutex
			var observed []string
			iv := tools.Invoker{Tools: reg, Timeout: 50 * time.Millisecond,
				Redact: func(s string) string { return strings.ReplaceAll(s, "s3cr3t-value", "[REDACTED]") },
				Observe: func(tool, outcome string, _ time.Duration) {
					mu.Lock()
					defer mu.Unlock()
					observed = append(observed, tool+"/"+outcome)
				}}
			got := iv.Invoke(context.Background(), tools.Invocation{Tool: tt.call, Args: json.RawMessage(tt.args), Policy: tt.policy, Source: "test"})
			if got.Outcome != tt.outcome || !strings.Contains(got.Reason, tt.reason) || got.Failed != tt.failed {
				t.Errorf("outcome %s, reason %q, failed %v; want %s, %q, %v", got.Outcome, got.Reason, got.Failed, tt.outcome, tt.reason, tt.failed)
			}
			if tt.outcome == tools.OutcomeOK && got.Reason != "" {
				t.Errorf("reason %q on success", got.Reason)
			}
			if tt.text != "" && (got.Result == nil || !strings.Contains(got.Result.Text, tt.text)) {
				t.Errorf("result %+v, want text %q", got.Result, tt.text)
			}
			if strings.Contains(got.Reason, "s3cr3t") || (got.Result != nil && strings.Contains(got.Result.Text+got.Result.Error, "s3cr3t")) {
				t.Errorf("a secret got out: %+v", got)
			}
			if tt.wantArgs != "" && string(got.Args) != tt.wantArgs {
				t.Errorf("args %s, want %s", got.Args, tt.wantArgs)
			}
			if tt.hasProposal {
				p := got.Result.Proposal
				if p == nil || p.Tool != tt.call || strings.Contains(p.Summary+p.Details, "s3cr3t") || string(p.Args) != tt.wantArgs {
					t.Errorf("proposal %+v", p)
				}
			}
			if len(observed) != 1 || observed[0] != tt.call+"/"+tt.outcome {
				t.Errorf("observed %v", observed)
			}
		})
	}
}

// TestInvokeZeroValue: an Invoker without tools refuses, without a panic.
func TestInvokeZeroValue(t *testing.T) {
	if got := (tools.Invoker{}).Invoke(context.Background(), tools.Invocation{Tool: "x"}); got.Outcome != tools.OutcomeRefused {
		t.Errorf("%+v", got)
	}
}
