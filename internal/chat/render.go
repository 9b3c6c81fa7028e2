package chat

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/tools"
)

// renderer turns agent events into terminal output: progress on err, the
// answer on out, so `chat --once` can be piped.
type renderer struct {
	out, err io.Writer
	color    bool
}

const (
	dim   = "\x1b[2m"
	red   = "\x1b[31m"
	bold  = "\x1b[1m"
	reset = "\x1b[0m"
)

func (r *renderer) paint(code, s string) string {
	if !r.color {
		return s
	}
	return code + s + reset
}

// observe renders one event. The agent calls it in order.
func (r *renderer) observe(_ context.Context, e agent.Event) {
	switch e.Kind {
	case agent.EventToolStart:
		fmt.Fprintln(r.err, r.paint(dim, fmt.Sprintf("  → %s %s", e.Tool, shorten(string(e.Args), 160))))
	case agent.EventToolEnd:
		d := e.Duration.Round(time.Millisecond)
		switch e.Outcome {
		case agent.OutcomeOK, agent.OutcomeProposed:
			note := ""
			if e.Truncated {
				note = " (output cut to budget)"
			}
			fmt.Fprintln(r.err, r.paint(dim, fmt.Sprintf("  ✓ %s %s%s", e.Tool, d, note)))
		default:
			first, _, _ := strings.Cut(strings.TrimPrefix(e.Text, "Error: "), "\n")
			fmt.Fprintln(r.err, r.paint(dim, fmt.Sprintf("  ✗ %s %s %s: %s", e.Tool, d, e.Outcome, shorten(first, 200))))
		}
	case agent.EventFinal:
		fmt.Fprintln(r.out, e.Text)
		if e.Run != nil {
			fmt.Fprintln(r.err, r.paint(dim, "— "+e.Run.Footer()))
		}
	case agent.EventError:
		r.errorf("%s", e.Err)
		if e.Run != nil {
			fmt.Fprintln(r.err, r.paint(dim, "— "+e.Run.Footer()))
		}
	}
}

func (r *renderer) errorf(format string, a ...any) {
	fmt.Fprintln(r.err, r.paint(red, "error: "+fmt.Sprintf(format, a...)))
}

// proposal shows a proposed change in full before the approval prompt.
func (r *renderer) proposal(p tools.Proposal) {
	risk := ""
	if p.Risk != "" {
		risk = " [risk: " + p.Risk + "]"
	}
	fmt.Fprintln(r.out, r.paint(bold, fmt.Sprintf("Proposed change %s: %s%s", p.ID, p.Summary, risk)))
	if p.Details != "" {
		for _, l := range strings.Split(strings.TrimRight(p.Details, "\n"), "\n") {
			fmt.Fprintln(r.out, "  "+l)
		}
	}
	if p.Reason != "" {
		// After the tool's own findings, and marked: nothing checked it.
		fmt.Fprintln(r.out, "  Reason given by the requester (not checked by Watchkeeper): "+strings.Join(strings.Fields(p.Reason), " "))
	}
	fmt.Fprintln(r.out, "Nothing changes unless you approve.")
}

// tools lists the tools, one line of description each (its first
// sentence: "e.g." does not end one) and a line of argument names.
func (r *renderer) tools(specs []tools.Spec) {
	if len(specs) == 0 {
		fmt.Fprintln(r.out, "No tools are available yet.")
		return
	}
	fmt.Fprintln(r.out, "Tools (/tools NAME shows one's arguments and an example; /run NAME … runs it):")
	for _, s := range specs {
		mark := ""
		if s.Mutating {
			mark = " (proposes changes; needs approval)"
		}
		desc := strings.TrimSuffix(tools.FirstSentence(s.Description), ".")
		fmt.Fprintf(r.out, "  %-22s %s%s\n", s.Name, desc, mark)
		fmt.Fprintf(r.out, "  %-22s %s\n", "", r.paint(dim, argSummary(s)))
	}
}
