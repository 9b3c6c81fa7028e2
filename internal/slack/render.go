package slack

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	slackapi "github.com/slack-go/slack"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/internal/approval"
	"github.com/watchkeeper/watchkeeper/tools"
)

// Slack's limits, enforced here before anything is sent: a message over
// them is refused by Slack (invalid_blocks, msg_too_long) and the person
// would see nothing.
const (
	maxBlocks      = 50
	maxModalBlocks = 100
	maxSectionText = 3000
	maxContextText = 3000
	maxContextElem = 10
	maxButtonValue = 2000
	// maxAnswerSections leaves room for evidence, buttons and the footer.
	maxAnswerSections = 30
	// maxEvidence calls are listed under an answer; the rest are behind
	// "Show my work".
	maxEvidence = 8
	// fallbackText is the notification text (top-level text) limit we keep.
	maxFallback = 3000
)

// Escape escapes text for mrkdwn: Slack reads &, < and > as markup.
func Escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

var (
	mdLink    = regexp.MustCompile(`\[([^\]\n]+)\]\((https?://[^)\s]+)\)`)
	mdBold    = regexp.MustCompile(`\*\*([^*\n]+)\*\*|__([^_\n]+)__`)
	mdHeading = regexp.MustCompile(`(?m)^#{1,6}\s+(.+)$`)
	mdBullet  = regexp.MustCompile(`(?m)^(\s*)[-*]\s+`)
	codeSpan  = regexp.MustCompile("(?s)```.*?```|`[^`\n]*`")
)

// Mrkdwn turns the model's Markdown into Slack mrkdwn, escaping
// everything so that text from tools or the model cannot form mentions
// (<!channel>) or links whose label hides their destination. Code is
// escaped but otherwise kept.
func Mrkdwn(md string) string {
	// Protect code first: nothing inside it is rewritten.
	var codes []string
	md = codeSpan.ReplaceAllStringFunc(md, func(c string) string {
		codes = append(codes, Escape(c))
		return fmt.Sprintf("\x00%d\x00", len(codes)-1)
	})
	type link struct{ text, url string }
	var links []link
	md = mdLink.ReplaceAllStringFunc(md, func(m string) string {
		sm := mdLink.FindStringSubmatch(m)
		links = append(links, link{sm[1], sm[2]})
		return fmt.Sprintf("\x01%d\x01", len(links)-1)
	})
	md = Escape(md)
	md = mdHeading.ReplaceAllString(md, "*$1*")
	md = mdBold.ReplaceAllStringFunc(md, func(m string) string {
		sm := mdBold.FindStringSubmatch(m)
		return "*" + sm[1] + sm[2] + "*"
	})
	md = mdBullet.ReplaceAllString(md, "$1• ")
	for i, l := range links {
		// In a link, | and > end the URL or label; escape them. The label
		// never hides where a link goes: the text the model wrote may come
		// from a log line ("[Runbook: approve the fix](https://evil…)"),
		// so the destination is shown beside it.
		u := "<" + Escape(strings.NewReplacer("|", "%7C", ">", "%3E", "<", "%3C").Replace(l.url)) + ">"
		label := Escape(l.text)
		repl := label + " (" + u + ")"
		if l.text == l.url {
			repl = u
		}
		md = strings.Replace(md, fmt.Sprintf("\x01%d\x01", i), repl, 1)
	}
	for i, c := range codes {
		md = strings.Replace(md, fmt.Sprintf("\x00%d\x00", i), c, 1)
	}
	return md
}

// split cuts s into pieces of at most max runes, at line breaks where it
// can, keeping code fences balanced in every piece.
func split(s string, max int) []string {
	var out []string
	var cur strings.Builder
	inFence := false
	flush := func() {
		if cur.Len() == 0 {
			return
		}
		piece := strings.TrimRight(cur.String(), "\n")
		if inFence {
			piece += "\n```"
		}
		if strings.TrimSpace(piece) != "" {
			out = append(out, piece)
		}
		cur.Reset()
		if inFence {
			cur.WriteString("```\n")
		}
	}
	for _, line := range strings.SplitAfter(s, "\n") {
		// Room for a fence closed at the cut.
		for utf8.RuneCountInString(line) > max-8 {
			flush()
			r := []rune(line)
			cur.WriteString(string(r[:max-8]))
			line = string(r[max-8:])
		}
		if utf8.RuneCountInString(cur.String())+utf8.RuneCountInString(line) > max-4 {
			flush()
		}
		cur.WriteString(line)
		if strings.Count(line, "```")%2 == 1 {
			inFence = !inFence
		}
	}
	if cur.Len() > 0 {
		inFence = false
		flush()
	}
	return out
}

// truncate cuts s to max runes with an ellipsis.
func truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}

func mrkdwnText(s string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.MarkdownType, s, false, false)
}

func plainText(s string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.PlainTextType, s, true, false)
}

func section(s string) *slackapi.SectionBlock {
	return slackapi.NewSectionBlock(mrkdwnText(truncate(s, maxSectionText)), nil, nil)
}

func contextBlock(lines ...string) *slackapi.ContextBlock {
	var elems []slackapi.MixedElement
	for _, l := range lines {
		if len(elems) == maxContextElem {
			break
		}
		elems = append(elems, mrkdwnText(truncate(l, maxContextText)))
	}
	return slackapi.NewContextBlock("", elems...)
}

// Evidence is one tool call behind an answer.
type Evidence struct {
	// N is the call's number in its run, which the answer cites it by
	// ([3]); 0 means its position in Answer.Evidence, counting from 1,
	// which is the number when the list holds every call of the run in
	// the order a run passes them on (agent.EvidenceOf).
	N        int
	Tool     string
	Query    string // the main argument (a PromQL expression, a search)
	Duration time.Duration
	Outcome  string
	Link     string
}

// number is e's number when it is the i-th (from 0) of its list.
func (e Evidence) number(i int) int {
	if e.N > 0 {
		return e.N
	}
	return i + 1
}

// numbered is line with the call's number first, as the answer cites it.
func (e Evidence) numbered(n int) string {
	return fmt.Sprintf("*[%d]* %s", n, e.line())
}

func (e Evidence) line() string {
	mark := "✓"
	if e.Outcome != "ok" && e.Outcome != "proposed" && e.Outcome != "" {
		mark = "✗"
	}
	s := fmt.Sprintf("%s `%s`", mark, e.Tool)
	if e.Query != "" {
		s += " `" + strings.ReplaceAll(Escape(truncate(e.Query, 300)), "`", "'") + "`"
	}
	if e.Duration > 0 {
		s += " · " + e.Duration.Round(10*time.Millisecond).String()
	}
	if e.Link != "" {
		s += " · <" + Escape(e.Link) + "|open>"
	}
	return s
}

// Answer is what an answer message shows.
type Answer struct {
	Text     string
	Evidence []Evidence
	Footer   string
	// RunID backs the "Show my work" button; empty hides it.
	RunID string
	// Failed marks an answer that is an error explanation.
	Failed bool
}

// AnswerBlocks renders an answer within Slack's limits. When the text does
// not fit, the blocks carry its beginning and overflow is the full text,
// to be attached as a snippet.
//
// The evidence is listed by number, so that the answer's [3] leads to call
// 3; a citation of a number that is no call is marked as such
// (agent.MarkInvalidCitations). An answer resting on no tool call says so
// (agent.NoEvidenceNote), and so does a run's answer that cites none of its
// calls (agent.UncitedNote): the model's word is not relied on for either.
func AnswerBlocks(a Answer) (blocks []slackapi.Block, fallback string, overflow bool) {
	text := strings.TrimSpace(a.Text)
	if text == "" {
		text = "(no answer)"
	}
	calls := 0
	for i, e := range a.Evidence {
		calls = max(calls, e.number(i))
	}
	note := ""
	if a.Failed {
		text = "❌ " + text
	} else {
		text, _ = agent.MarkInvalidCitations(text, calls)
		switch n := agent.Note(text, calls); {
		case n == agent.NoEvidenceNote, n != "" && a.RunID != "":
			// Only a run's answer is expected to cite: an incident's
			// investigation report is its calls' output itself.
			note = n
		}
	}
	pieces := split(Mrkdwn(text), maxSectionText)
	if len(pieces) > maxAnswerSections {
		pieces = pieces[:maxAnswerSections]
		overflow = true
	}
	for _, p := range pieces {
		blocks = append(blocks, section(p))
	}
	if overflow {
		blocks = append(blocks, contextBlock("The answer is longer than a message allows; the full text is in the attached file."))
	}
	if note != "" {
		blocks = append(blocks, contextBlock("_"+Escape(note)+"_"))
	}
	if len(a.Evidence) > 0 {
		blocks = append(blocks, contextBlock(evidenceLines(a.Evidence, agent.Citations(text))...))
	}
	if a.RunID != "" && len(a.RunID) <= maxButtonValue {
		btn := slackapi.NewButtonBlockElement(ActionShowWork, a.RunID, plainText("Show my work"))
		blocks = append(blocks, slackapi.NewActionBlock("", btn))
	}
	if a.Footer != "" {
		blocks = append(blocks, contextBlock(Escape(a.Footer)))
	}
	return blocks, truncate(text, maxFallback), overflow
}

// evidenceLines lists the calls under an answer by number: all of them
// when they fit, else the cited ones first and then the earliest, in
// number order, and how many more "Show my work" has.
func evidenceLines(ev []Evidence, cited []int) []string {
	show := make([]bool, len(ev))
	shown := 0
	pick := func(want func(i int) bool) {
		for i := range ev {
			if shown < maxEvidence && !show[i] && want(i) {
				show[i] = true
				shown++
			}
		}
	}
	pick(func(i int) bool { return slices.Contains(cited, ev[i].number(i)) })
	pick(func(int) bool { return true })
	var lines []string
	for i, e := range ev {
		if show[i] {
			lines = append(lines, e.numbered(e.number(i)))
		}
	}
	if more := len(ev) - shown; more > 0 {
		lines = append(lines, fmt.Sprintf("…and %d more calls (Show my work)", more))
	}
	return lines
}

// ProgressBlocks renders a run in progress: what it is doing and the
// tool calls so far, by number, as the answer will cite them.
func ProgressBlocks(status string, calls []Evidence, running []string) []slackapi.Block {
	blocks := []slackapi.Block{section("⏳ " + Escape(status))}
	var lines []string
	for i, c := range calls {
		lines = append(lines, c.numbered(c.number(i)))
	}
	for _, r := range running {
		lines = append(lines, "… `"+r+"`")
	}
	if len(lines) > maxContextElem {
		lines = append([]string{fmt.Sprintf("(%d earlier calls)", len(lines)-maxContextElem+1)}, lines[len(lines)-maxContextElem+1:]...)
	}
	if len(lines) > 0 {
		blocks = append(blocks, contextBlock(lines...))
	}
	return blocks
}

// Button action IDs.
const (
	ActionApprove  = "approve"
	ActionReject   = "reject"
	ActionDetails  = "details"
	ActionShowWork = "show_work"
)

// MaxReason is how much of a proposal's reason its message shows: the
// reason is the requester's (usually the model's) words, which nothing
// checked, so it comes after what the tool itself found and cannot push
// that out of the message.
const MaxReason = 300

// ProposalBlocks renders a stored proposal: first what the tool checked
// (its summary, then the diff and dry-run result in blocks of their own),
// then the reason, capped and labelled as unverified, then pending with
// Approve, Reject and Details buttons or decided with who decided, when
// and the outcome.
func ProposalBlocks(p approval.Proposal, expiry time.Duration) ([]slackapi.Block, string) {
	head := fmt.Sprintf("*Proposed change* `%s`: %s", p.ID, Escape(p.Summary))
	blocks := []slackapi.Block{section(head)}
	if p.Details != "" {
		pieces := split(CodeBlock(p.Details), maxSectionText)
		if len(pieces) > maxDetailSections {
			// Tools end their details with what they checked (the dry run,
			// the exact push): the end is kept, the middle cut.
			last := pieces[len(pieces)-1]
			pieces = append(pieces[:maxDetailSections-1], "_…the middle of the details is behind the Details button…_", last)
		}
		for _, piece := range pieces {
			blocks = append(blocks, section(piece))
		}
	}
	if reason := strings.TrimSpace(p.Reason); reason != "" {
		text := "*Reason given by the requester (not checked by Watchkeeper):* " + Escape(truncate(oneLine(reason), MaxReason))
		if utf8.RuneCountInString(reason) > MaxReason {
			text += " _(cut; the full text is attached)_"
		}
		blocks = append(blocks, contextBlock(text))
	}
	var meta []string
	if p.Risk != "" {
		meta = append(meta, "risk: "+Escape(p.Risk))
	}
	if p.RequestedBy != "" {
		meta = append(meta, "requested by "+person(p.RequestedBy))
	}
	meta = append(meta, "tool `"+Escape(p.Tool)+"`")
	switch p.Status {
	case approval.Pending:
		if expiry > 0 && !p.CreatedAt.IsZero() {
			meta = append(meta, "expires "+p.CreatedAt.Add(expiry).UTC().Format("15:04 UTC"))
		}
		blocks = append(blocks, contextBlock(strings.Join(meta, " · ")+" · nothing changes unless an authorised person approves"))
		if len(p.Approvals) > 0 {
			var who []string
			for _, a := range p.Approvals {
				who = append(who, person(a))
			}
			blocks = append(blocks, section("👍 Approved so far by "+strings.Join(who, ", ")+" — another approver is needed"))
		}
		approve := slackapi.NewButtonBlockElement(ActionApprove, p.ID, plainText("Approve"))
		approve.Style = slackapi.StylePrimary
		reject := slackapi.NewButtonBlockElement(ActionReject, p.ID, plainText("Reject"))
		reject.Style = slackapi.StyleDanger
		details := slackapi.NewButtonBlockElement(ActionDetails, p.ID, plainText("Details"))
		blocks = append(blocks, slackapi.NewActionBlock("proposal:"+p.ID, approve, reject, details))
	default:
		blocks = append(blocks, contextBlock(strings.Join(meta, " · ")))
		blocks = append(blocks, section(outcomeLine(p)))
	}
	return blocks, "Proposed change " + p.ID + ": " + truncate(p.Summary, 200)
}

// maxDetailSections bounds the sections a proposal's details take.
const maxDetailSections = 4

// CodeBlock puts untrusted text in a code block it cannot leave: Slack
// markup is escaped, and a ``` inside the text (a log line, a model's
// quote) is broken with zero-width spaces so it cannot close the fence
// and have what follows read as the bot's own formatting.
func CodeBlock(text string) string {
	return "```" + Escape(defuseFences(text)) + "```"
}

// defuseFences follows every backtick with a zero-width space, so no run
// of backticks, however long, reads as a fence.
func defuseFences(s string) string {
	if !strings.Contains(s, "``") {
		return s
	}
	return strings.ReplaceAll(s, "`", "`\u200b")
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func outcomeLine(p approval.Proposal) string {
	when := ""
	if !p.DecidedAt.IsZero() {
		when = " at " + p.DecidedAt.UTC().Format("15:04:05 UTC")
	}
	by := ""
	if p.DecidedBy != "" && p.DecidedBy != "watchkeeper" {
		by = " by " + person(p.DecidedBy)
	}
	result := ""
	if p.Result != "" {
		result = ": " + Escape(truncate(p.Result, 1500))
	}
	switch p.Status {
	case approval.Approved:
		return "👍 Approved" + by + when + "; applying…"
	case approval.Executing:
		return "⚙️ Approved" + by + "; applying…"
	case approval.Executed:
		return "✅ Approved" + by + when + " and applied" + result
	case approval.Failed:
		return "❌ Approved" + by + when + " but it failed" + result
	case approval.Rejected:
		return "🚫 Rejected" + by + when + "; nothing was changed"
	case approval.Expired:
		return "⌛ Expired" + when + " without a decision; nothing was changed"
	}
	return Escape(string(p.Status))
}

// workBlocks renders a run's tool calls and results for the "Show my
// work" modal, within the modal's limits, each under the number the answer
// cites it by.
func workBlocks(t transcript) []slackapi.Block {
	blocks := []slackapi.Block{section(fmt.Sprintf("*Question:* %s", Escape(truncate(t.Input, 1000))))}
	if t.Summary.Model != "" {
		blocks = append(blocks, contextBlock(Escape(fmt.Sprintf("run %s · %s · %d steps · %d tool calls",
			t.Summary.RunID, t.Summary.Model, t.Summary.Steps, t.Summary.ToolCalls))))
	}
	calls := t.calls()
	if len(calls) == 0 {
		blocks = append(blocks, contextBlock("_"+Escape(agent.NoEvidenceNote)+"_"))
	}
	for i, c := range calls {
		if len(blocks) >= maxModalBlocks-2 {
			blocks = append(blocks, contextBlock(fmt.Sprintf("…calls [%d] to [%d] are more than a view can show; the full transcript is stored with the run.", i+1, len(calls))))
			break
		}
		ev := Evidence{Tool: c.Tool, Outcome: c.Outcome}
		blocks = append(blocks, section(fmt.Sprintf("*[%d]* %s `%s`", i+1, ev.line(), Escape(truncate(string(c.Args), 1000)))))
		if c.ended {
			// The transcript keeps what the model read; people read it
			// without the untrusted-data markers.
			blocks = append(blocks, section(CodeBlock(truncate(tools.StripMarkers(c.Text), 2800))))
		}
	}
	return blocks
}

// transcript is the part of a stored run transcript the modal shows.
type transcript struct {
	Summary struct {
		RunID     string `json:"run_id"`
		Model     string `json:"model"`
		Steps     int    `json:"steps"`
		ToolCalls int    `json:"tool_calls"`
	} `json:"summary"`
	Input  string  `json:"input"`
	Events []event `json:"events"`
}

type event struct {
	Kind    string          `json:"kind"`
	Tool    string          `json:"tool"`
	CallID  string          `json:"call_id"`
	Args    json.RawMessage `json:"args"`
	Outcome string          `json:"outcome"`
	Text    string          `json:"text"`
}

// call is one tool call of a transcript, with its result once it ended.
type call struct {
	event
	ended bool
}

// calls are the transcript's tool calls in the order of their starts,
// which is the order a run numbers them in (agent.EvidenceOf): the i-th
// is call [i+1]. An end completes the earliest open call with its ID.
func (t transcript) calls() []call {
	var out []call
	for _, e := range t.Events {
		switch e.Kind {
		case string(agent.EventToolStart):
			out = append(out, call{event: e})
		case string(agent.EventToolEnd):
			for i := range out {
				if c := &out[i]; !c.ended && c.CallID == e.CallID && c.Tool == e.Tool {
					c.Outcome, c.Text, c.ended = e.Outcome, e.Text, true
					break
				}
			}
		}
	}
	return out
}
