package chat

import (
	"context"
	"fmt"
	"strings"

	"github.com/watchkeeper/watchkeeper/internal/approval"
	"github.com/watchkeeper/watchkeeper/internal/incident"
)

// Follower prints in the terminal what happens without a question: the
// investigation of an incident when its alert fires (incident.Reporter),
// and the check of an applied change when it lands, with the way back if
// the change made things worse (approval.Notifier).
//
// It writes to a channel the session drains into Notice, so it can be
// built before the services it reports for, and the session after them;
// a full channel drops the line rather than hold up an investigation.
type Follower struct {
	notices  chan<- string
	redactor Redactor
}

// NewFollower returns a follower writing to notices; redactor hides
// secrets (nil: none).
func NewFollower(notices chan<- string, redactor Redactor) Follower {
	if redactor == nil {
		redactor = identity{}
	}
	return Follower{notices: notices, redactor: redactor}
}

// maxFindingLines bounds each step's lines in the terminal; the full
// output is in the audit log and the incident's timeline.
const maxFindingLines = 6

func (f Follower) say(text string) {
	select {
	case f.notices <- f.redactor.Redact(text):
	default:
	}
}

// ReportFindings implements incident.Reporter.
func (f Follower) ReportFindings(_ context.Context, in incident.Incident, findings []incident.Finding) error {
	var b strings.Builder
	fmt.Fprintf(&b, "🔎 Investigation of %s (%s):\n", oneLine(in.Title), in.ID)
	for _, fd := range findings {
		mark := "✓"
		if fd.Failed {
			mark = "✗"
		}
		fmt.Fprintf(&b, "  %s %s (%s, %s)\n", mark, fd.Title, fd.Tool, fd.Duration.Round(1e6))
		text := fd.Display
		if text == "" {
			text = fd.Text // a failure: the reason
		}
		for i, l := range peopleLines(text) {
			if i == maxFindingLines {
				b.WriteString("      …\n")
				break
			}
			b.WriteString("      " + shorten(l, 200) + "\n")
		}
	}
	if len(findings) == 0 {
		b.WriteString("  no investigation tools are configured\n")
	}
	for _, fd := range findings {
		if p := fd.Proposal; p != nil {
			fmt.Fprintf(&b, "   Proposed %s: %s — approve it with /approve %s\n", p.ID, p.Summary, p.ID)
		}
	}
	f.say(strings.TrimRight(b.String(), "\n"))
	return nil
}

// Assess implements incident.Reporter: an assessment needs a model, and
// the terminal asks its own questions.
func (Follower) Assess(context.Context, incident.Incident, string) error { return nil }

// Verified implements approval.Notifier.
func (f Follower) Verified(_ context.Context, v approval.Verified) {
	p := v.Proposal
	switch {
	case v.Err != nil:
		f.say(fmt.Sprintf("🔎 Could not check %s (%s): %v", p.ID, p.Summary, v.Err))
	case v.Result.Worse:
		f.say(fmt.Sprintf("⚠️ Checked %s (%s): %s", p.ID, p.Summary, v.Result.Text))
	default:
		f.say(fmt.Sprintf("🔎 Checked %s (%s): %s", p.ID, p.Summary, v.Result.Text))
	}
	for _, next := range v.FollowUps {
		f.say(fmt.Sprintf("   Proposed %s: %s — approve it with /approve %s", next.ID, next.Summary, next.ID))
	}
}

// Settled implements approval.Notifier.
func (f Follower) Settled(_ context.Context, p approval.Proposal) {
	f.say(fmt.Sprintf("Proposal %s (%s) is %s: %s", p.ID, p.Summary, p.Status, p.Result))
}

// peopleLines are a tool's output lines for a person: no markers around
// data from the observed systems, no blank lines.
func peopleLines(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "<untrusted-data") || strings.HasPrefix(t, "</untrusted-data") {
			continue
		}
		out = append(out, strings.TrimRight(l, " "))
	}
	return out
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
