package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/watchkeeper/watchkeeper/tools"
)

// Evidence is one tool call of a run, under the number its result carried
// when the model read it ([n]), which is the number an answer cites it by.
// Calls are numbered 1, 2, 3 … in the order they were made, and within a
// step in the order the model listed them, whatever order they finished
// in. Refused and failed calls are numbered too: the model read their
// results.
type Evidence struct {
	N      int             `json:"n"`
	Step   int             `json:"step"`
	CallID string          `json:"call_id,omitempty"`
	Tool   string          `json:"tool"`
	Args   json.RawMessage `json:"args,omitempty"`
	// Outcome is the call's (OutcomeOK, OutcomeToolError …); empty while
	// the call runs.
	Outcome  string        `json:"outcome,omitempty"`
	Duration time.Duration `json:"duration,omitempty"`
	// Result is the start of what the call returned, on one line, without
	// the untrusted-data markers (at most resultRunes runes). It is for
	// people: without its markers, it is not to be shown to a model.
	Result string `json:"result,omitempty"`
}

// resultRunes bounds Evidence.Result: enough to recognise a result, not to
// repeat it (the transcript keeps it whole).
const resultRunes = 200

// NoEvidenceNote is shown under an answer of a run that called no tool.
// The surfaces add it, not the model: an answer from the model's own
// knowledge reads just like one from evidence.
const NoEvidenceNote = "No tool was called for this answer: it rests on no tool evidence."

// UncitedNote is shown under an answer that called tools but cites none of
// them, so nothing ties its claims to what the tools returned.
const UncitedNote = "This answer cites none of its tool calls: check them before relying on it."

// Note returns the note a surface shows under the answer of a run that
// made calls tool calls: NoEvidenceNote, UncitedNote when the answer cites
// none of them (a made-up number is no citation), or "".
func Note(answer string, calls int) string {
	if calls == 0 {
		return NoEvidenceNote
	}
	for _, n := range Citations(answer) {
		if n >= 1 && n <= calls {
			return ""
		}
	}
	return UncitedNote
}

// label heads the result of call n as the model reads it (and, in ReAct,
// its Observation), so that the model can cite it as [n].
func label(n int, tool string) string {
	// The name is the model's own and may be invented: one short line.
	name := strings.Join(strings.Fields(tool), "_")
	if utf8.RuneCountInString(name) > 64 {
		name = string([]rune(name)[:64]) + "…"
	}
	return fmt.Sprintf("[%d] %s\n", n, name)
}

// shortResult is Evidence.Result of a call that returned text.
func shortResult(text string) string {
	s := strings.Join(strings.Fields(tools.StripMarkers(text)), " ")
	if utf8.RuneCountInString(s) > resultRunes {
		s = string([]rune(s)[:resultRunes-1]) + "…"
	}
	return s
}

// EvidenceOf numbers the tool calls in a run's events as the run numbered
// them: in the order of their EventToolStart events, which a run emits in
// call order. It is for those who have only the events (a stored
// transcript, a surface's observer); a run's Result.Evidence is the same
// list. An EventToolEnd completes the earliest unfinished call with its
// call ID.
func EvidenceOf(events []Event) []Evidence {
	var out []Evidence
	for _, e := range events {
		switch e.Kind {
		case EventToolStart:
			out = append(out, Evidence{N: len(out) + 1, Step: e.Step, CallID: e.CallID, Tool: e.Tool, Args: e.Args})
		case EventToolEnd:
			for i := range out {
				if out[i].CallID == e.CallID && out[i].Tool == e.Tool && out[i].Outcome == "" {
					out[i].Outcome, out[i].Duration, out[i].Result = e.Outcome, e.Duration, shortResult(e.Text)
					break
				}
			}
		}
	}
	return out
}

// A citation is [n], [n, m] or [n-m] outside code; several may follow one
// another ([2][5]). The optional "(" after it marks a Markdown link
// ([3](https://…)), which is not a citation.
var (
	citationRE = regexp.MustCompile(`\[(\d{1,4}(?:\s*[,–-]\s*\d{1,4})*)\](\()?`)
	codeRE     = regexp.MustCompile("(?s)```.*?```|`[^`\n]*`")
)

// maxRange bounds [n-m]: a wider "range" is not a citation (a year span).
const maxRange = 50

// citation is one bracketed group in a text, at text[start:end].
type citation struct {
	start, end int
	nums       []int
}

func citationsIn(text string) []citation {
	code := codeRE.FindAllStringIndex(text, -1)
	var out []citation
	for _, m := range citationRE.FindAllStringSubmatchIndex(text, -1) {
		if m[4] >= 0 || slices.ContainsFunc(code, func(c []int) bool { return c[0] <= m[0] && m[0] < c[1] }) {
			continue
		}
		if nums, ok := parseCitation(text[m[2]:m[3]]); ok {
			out = append(out, citation{start: m[0], end: m[1], nums: nums})
		}
	}
	return out
}

// parseCitation reads "2", "2, 5" or "2-4".
func parseCitation(s string) ([]int, bool) {
	var nums []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(strings.ReplaceAll(part, "–", "-"), "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil {
			return nil, false
		}
		if !isRange {
			nums = append(nums, a)
			continue
		}
		b, err := strconv.Atoi(strings.TrimSpace(hi))
		if err != nil || b < a || b-a > maxRange {
			return nil, false
		}
		for n := a; n <= b; n++ {
			nums = append(nums, n)
		}
	}
	return nums, true
}

// Citations returns the numbers text cites ([3], [2][5], [2, 5], [2-4]),
// each once, in ascending order. Brackets in code (`x[1]`) and Markdown
// links ([1](https://…)) are not citations.
func Citations(text string) []int {
	var out []int
	for _, c := range citationsIn(text) {
		out = append(out, c.nums...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// MarkInvalidCitations returns text with every citation of a number that
// is no tool call of the run (not in 1..calls) rewritten as
// "[7: no such tool call]", and those numbers in ascending order. Valid
// citations are kept as written.
//
// A made-up number is marked rather than removed: it is a sign that the
// claim beside it rests on nothing, which a reader should see; removed,
// the claim would read as merely uncited.
func MarkInvalidCitations(text string, calls int) (string, []int) {
	var b strings.Builder
	var invalid []int
	last := 0
	for _, c := range citationsIn(text) {
		var good, bad []int
		for _, n := range c.nums {
			if n >= 1 && n <= calls {
				good = append(good, n)
			} else {
				bad = append(bad, n)
			}
		}
		if len(bad) == 0 {
			continue
		}
		invalid = append(invalid, bad...)
		b.WriteString(text[last:c.start])
		if len(good) > 0 {
			parts := make([]string, len(good))
			for i, n := range good {
				parts[i] = strconv.Itoa(n)
			}
			b.WriteString("[" + strings.Join(parts, ", ") + "]")
		}
		for _, n := range bad {
			fmt.Fprintf(&b, "[%d: no such tool call]", n)
		}
		last = c.end
	}
	if last == 0 {
		return text, nil
	}
	b.WriteString(text[last:])
	slices.Sort(invalid)
	return b.String(), slices.Compact(invalid)
}

// stepEvents passes on the events of one step's calls, which run in
// parallel, in call order: the EventToolStart of every call in the order
// the model listed them, and likewise every EventToolEnd (with the call's
// EventProposal after it). A surface that numbers the calls it is told of
// then numbers them as the model saw them, and a later call that finished
// first waits only for the earlier ones to be passed on, not to run again.
type stepEvents struct {
	r            *run
	mu           sync.Mutex
	starts, ends eventQueue
}

type eventQueue struct {
	next int
	held map[int][]heldEvent
}

type heldEvent struct {
	ctx context.Context
	e   Event
}

func newStepEvents(r *run) *stepEvents {
	return &stepEvents{r: r, starts: eventQueue{held: map[int][]heldEvent{}}, ends: eventQueue{held: map[int][]heldEvent{}}}
}

// start passes on call i's EventToolStart once every earlier call's has been.
func (s *stepEvents) start(ctx context.Context, i int, e Event) {
	s.pass(&s.starts, i, []heldEvent{{ctx, s.stamp(e)}})
}

// end passes on call i's closing events once every earlier call's have been.
func (s *stepEvents) end(ctx context.Context, i int, evs ...Event) {
	held := make([]heldEvent, len(evs))
	for j, e := range evs {
		held[j] = heldEvent{ctx, s.stamp(e)}
	}
	s.pass(&s.ends, i, held)
}

// stamp dates an event when it happens, not when it is passed on.
func (s *stepEvents) stamp(e Event) Event {
	if e.Time.IsZero() {
		e.Time = s.r.a.opts.Now()
	}
	return e
}

func (s *stepEvents) pass(q *eventQueue, i int, evs []heldEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q.held[i] = evs
	for {
		ready, ok := q.held[q.next]
		if !ok {
			return
		}
		delete(q.held, q.next)
		q.next++
		for _, h := range ready {
			s.r.emit(h.ctx, h.e)
		}
	}
}

// relabelHistory returns history with the labels of earlier questions'
// tool results ("[2] prom_query") renamed ("[earlier] prom_query"): each
// question numbers its calls from 1, and an answer citing [2] must mean
// this question's second call, not an older one the model still sees.
func relabelHistory(history []Message) []Message {
	var out []Message
	for i, m := range history {
		prefix := ""
		switch {
		case m.Role == RoleTool:
		case m.Role == RoleUser && strings.HasPrefix(m.Content, "Observation: "):
			prefix = "Observation: "
		default:
			continue
		}
		rest := strings.TrimPrefix(m.Content, prefix)
		first, body, ok := strings.Cut(rest, "\n")
		if !ok || !labelLine.MatchString(first) {
			continue
		}
		if out == nil {
			out = append([]Message(nil), history...)
		}
		out[i].Content = prefix + labelLine.ReplaceAllString(first, "[earlier]") + "\n" + body
	}
	if out == nil {
		return history
	}
	return out
}

// labelLine matches the number of a result's label line.
var labelLine = regexp.MustCompile(`^\[\d+\]`)
