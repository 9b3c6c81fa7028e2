package chat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/tools"
)

// renderer turns agent events into terminal output: progress on err, the
// answer on out, so `chat --once` can be piped. It numbers the tool calls
// as the run does ([n], agent.EvidenceOf) and keeps the last run's calls
// for /work.
type renderer struct {
	out, err io.Writer
	color    bool

	// mu guards the calls: events arrive from the run's goroutines, /work
	// from the session's.
	mu sync.Mutex
	// calls are the current run's tool calls; last are those of the run
	// that ended last (nil before the first).
	calls, last []call
}

// call is one tool call of a run, as /work shows it.
type call struct {
	tool, callID string
	args         string
	outcome      string
	text         string
	duration     time.Duration
	ended        bool
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

// observe renders one event. The agent calls it in order, a run's tool
// calls in call order, so the n-th start is call [n].
func (r *renderer) observe(_ context.Context, e agent.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch e.Kind {
	case agent.EventRunStarted:
		r.calls = []call{} // not nil: a run, if one without calls
	case agent.EventToolStart:
		r.calls = append(r.calls, call{tool: e.Tool, callID: e.CallID, args: string(e.Args)})
		fmt.Fprintln(r.err, r.paint(dim, fmt.Sprintf("  [%d] → %s %s", len(r.calls), e.Tool, shorten(string(e.Args), 160))))
	case agent.EventToolEnd:
		n := r.end(e)
		d := e.Duration.Round(time.Millisecond)
		switch e.Outcome {
		case agent.OutcomeOK, agent.OutcomeProposed:
			note := ""
			if e.Truncated {
				note = " (output cut to budget)"
			}
			fmt.Fprintln(r.err, r.paint(dim, fmt.Sprintf("  [%d] ✓ %s %s%s", n, e.Tool, d, note)))
		default:
			first, _, _ := strings.Cut(strings.TrimPrefix(e.Text, "Error: "), "\n")
			fmt.Fprintln(r.err, r.paint(dim, fmt.Sprintf("  [%d] ✗ %s %s %s: %s", n, e.Tool, d, e.Outcome, shorten(first, 200))))
		}
	case agent.EventFinal:
		// The calls numbered above are the evidence; a number that is
		// none of them is marked, and an answer without any says so.
		text, _ := agent.MarkInvalidCitations(e.Text, len(r.calls))
		fmt.Fprintln(r.out, text)
		if note := agent.Note(text, len(r.calls)); note != "" {
			fmt.Fprintln(r.err, r.paint(dim, note))
		}
		r.last = r.calls
		if e.Run != nil {
			fmt.Fprintln(r.err, r.paint(dim, "— "+e.Run.Footer()))
		}
	case agent.EventError:
		r.errorf("%s", e.Err)
		r.last = r.calls
		if e.Run != nil {
			fmt.Fprintln(r.err, r.paint(dim, "— "+e.Run.Footer()))
		}
	}
}

// end records e's call as ended and returns its number: the earliest open
// call with its ID (answers without a model reuse the tool's name as ID).
func (r *renderer) end(e agent.Event) int {
	for i := range r.calls {
		if c := &r.calls[i]; !c.ended && c.callID == e.CallID && c.tool == e.Tool {
			c.outcome, c.text, c.duration, c.ended = e.Outcome, e.Text, e.Duration, true
			return i + 1
		}
	}
	return 0
}

// maxWorkLines bounds each result /work lists; /work N shows one whole.
const maxWorkLines = 12

// work is /work: the last run's tool calls by number, with what each
// returned (cut to maxWorkLines), or with arg a number, that call whole.
func (r *renderer) work(arg string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		return errors.New("no question has been answered in this session yet; /work shows the tool calls of the last answer")
	}
	if arg != "" {
		n, err := strconv.Atoi(strings.Trim(arg, "[] "))
		if err != nil || n < 1 || n > len(r.last) {
			return fmt.Errorf("usage: /work [N]; the last answer made %d tool calls, [1] to [%d]", len(r.last), len(r.last))
		}
		r.writeCall(n, r.last[n-1], 0)
		return nil
	}
	if len(r.last) == 0 {
		fmt.Fprintln(r.out, agent.NoEvidenceNote)
		return nil
	}
	fmt.Fprintf(r.out, "The last answer's %d tool calls, as it cites them (/work N shows one in full):\n", len(r.last))
	for i, c := range r.last {
		r.writeCall(i+1, c, maxWorkLines)
	}
	return nil
}

// writeCall prints call n and its result, indented, at most maxLines
// lines of it (0: all). People read the result without the markers the
// model reads around untrusted data.
func (r *renderer) writeCall(n int, c call, maxLines int) {
	mark, status := "✓", ""
	if c.outcome != agent.OutcomeOK && c.outcome != agent.OutcomeProposed {
		mark, status = "✗", " "+c.outcome
	}
	if !c.ended {
		mark, status = "…", " (did not finish)"
	}
	took := ""
	if d := c.duration.Round(time.Millisecond); d > 0 {
		took = r.paint(dim, " "+d.String())
	}
	fmt.Fprintf(r.out, "[%d] %s %s %s%s%s\n", n, mark, c.tool, shorten(c.args, 300), took, status)
	lines := strings.Split(strings.TrimRight(tools.StripMarkers(c.text), "\n"), "\n")
	cut := 0
	if maxLines > 0 && len(lines) > maxLines {
		lines, cut = lines[:maxLines], len(lines)-maxLines
	}
	for _, l := range lines {
		if l != "" {
			fmt.Fprintln(r.out, "    "+l)
		}
	}
	if cut > 0 {
		fmt.Fprintln(r.out, r.paint(dim, fmt.Sprintf("    … %d more lines (/work %d)", cut, n)))
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
