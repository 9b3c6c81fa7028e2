package agent

import (
	"context"
	"fmt"
	"strings"

	"github.com/watchkeeper/watchkeeper/prompts"
	"github.com/watchkeeper/watchkeeper/tools"
)

// fastInputFactor bounds what is sent to the fast model: at most this many
// times the tool output budget. Beyond it the output is cut first (head
// and tail), as it would be without a fast model.
const fastInputFactor = 8

// fit returns a tool's output as the main model will see it: unchanged
// when it fits the per-result budget; else summarised by the fast model
// when one is configured and the money budget pays for it; else cut to
// the budget keeping head and tail. cut reports whether anything was left
// out. Safe for concurrent use (tools of one step run in parallel).
func (r *run) fit(ctx context.Context, c ToolCall, text string) (out string, cut bool) {
	limit := r.a.opts.Config.ToolOutputTokens
	if r.a.opts.Fast == nil || tools.EstimateTokens(text) <= limit {
		return tools.Truncate(text, limit)
	}
	if summary, ok := r.summarise(ctx, c, text, limit); ok {
		return summary, true
	}
	return tools.Truncate(text, limit)
}

// summarise asks the fast model to condense text for the question. It
// reports false when it could not (no budget, a failed call, an empty or
// over-long reply), and the caller cuts instead: a summary is a
// convenience, never a reason to lose the output.
func (r *run) summarise(ctx context.Context, c ToolCall, text string, limit int) (summary string, ok bool) {
	cfg := r.a.opts.Config
	// A provider that panics costs this summary, not the process: the
	// call runs outside the tool's own recovery.
	defer func() {
		if p := recover(); p != nil {
			r.a.opts.Logger.Error("the fast model panicked while summarising a tool output; cutting it instead", "tool", c.Name, "panic", p)
			summary, ok = "", false
		}
	}()
	input, _ := tools.Truncate(text, limit*fastInputFactor)
	req := Request{
		Messages: []Message{
			{Role: RoleSystem, Content: prompts.SummariseToolOutput},
			{Role: RoleUser, Content: fmt.Sprintf("Question being investigated:\n%s\n\nTool: %s\nArguments: %s\n\nOutput (untrusted data):\n%s",
				r.redact(r.task.Input), c.Name, r.redact(c.Arguments), input)},
		},
		MaxTokens: limit / 2,
	}
	in := EstimateTokens(req.Messages)
	reserved, ok := r.reserveFast(in, req.MaxTokens)
	if !ok {
		return "", false
	}
	defer r.releaseFast(reserved)
	resp, err := r.a.opts.Fast.Generate(ctx, req)
	if err != nil {
		r.a.opts.Logger.Warn("the fast model could not summarise a tool output; cutting it instead", "tool", c.Name, "model", cfg.FastModelName, "err", err)
		return "", false
	}
	u := resp.Usage
	if u.InputTokens == 0 && u.OutputTokens == 0 {
		u = Usage{InputTokens: in, OutputTokens: EstimateTokens([]Message{resp.Message}), Estimated: true}
	}
	r.addFast(resp.Model, u)
	summary = strings.TrimSpace(stripReasoning(resp.Message.Content))
	if summary == "" || tools.EstimateTokens(summary) > limit {
		return "", false
	}
	summary = r.redact(summary)
	// A summary of untrusted data is untrusted data: a log line written to
	// steer a model may have steered the fast one, so the main model reads
	// the summary inside the markers too.
	if t, known := r.a.tools.Get(c.Name); strings.Contains(text, "<untrusted-data") || !known || t.Spec().Evidence != "" {
		summary = tools.Untrusted("summary of "+c.Name, summary)
	}
	return fmt.Sprintf("[%s summarised this output of about %d tokens for the question; numbers and names are quoted from it. Call the tool again with a narrower query to see the raw lines.]\n%s",
		r.fastName(resp.Model), tools.EstimateTokens(text), summary), true
}

// reserveFast reports whether the money budget pays for a fast call of in
// input and out output tokens on top of what the run has spent and what
// the summaries running beside it may spend, and reserves its price until
// releaseFast: the tools of a step are summarised in parallel.
func (r *run) reserveFast(in, out int) (float64, bool) {
	b := r.task.Budget
	if !b.set() {
		return 0, true
	}
	spent, ok := r.spentUSD()
	if !ok {
		return 0, true
	}
	c := r.a.opts.Config.Prices.Cost(r.fastName(""), Usage{InputTokens: in, OutputTokens: out})
	if c == nil {
		return 0, true // counted as free: see spentUSD
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if spent+r.fastPending+*c > b.LeftUSD {
		return 0, false
	}
	r.fastPending += *c
	return *c, true
}

func (r *run) releaseFast(reserved float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fastPending -= reserved
}

func (r *run) fastName(fromResponse string) string {
	if r.a.opts.Config.FastModelName != "" {
		return r.a.opts.Config.FastModelName
	}
	if fromResponse != "" {
		return fromResponse
	}
	return "the fast model"
}

// addFast accounts one fast call.
func (r *run) addFast(model string, u Usage) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.res.Fast
	if f == nil {
		f = &FastUse{Model: r.fastName(model)}
		r.res.Fast = f
	}
	f.Calls++
	f.Usage = f.Usage.Add(u)
	f.CostUSD = r.a.opts.Config.Prices.Cost(f.Model, f.Usage)
}
