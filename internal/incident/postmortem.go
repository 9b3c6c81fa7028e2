package incident

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/watchkeeper/watchkeeper/prompts"
	"github.com/watchkeeper/watchkeeper/tools"
)

// Postmortem drafts a postmortem from what the incident recorded, without
// a model: the same facts a model would be given, in the seed's sections.
// Where the record says nothing, the draft says so instead of guessing.
func Postmortem(in Incident) string {
	var b strings.Builder
	end := in.ResolvedAt
	status := "resolved"
	if end.IsZero() {
		end, status = in.UpdatedAt, "still open"
	}
	fmt.Fprintf(&b, "# Postmortem: %s\n\n", in.Title)
	fmt.Fprintf(&b, "- Incident: `%s` · severity %s · %s\n", in.ID, orNone(in.Severity), status)
	fmt.Fprintf(&b, "- Started %s, %s %s (%s)\n", in.StartedAt.UTC().Format("2006-01-02 15:04 UTC"),
		map[bool]string{true: "resolved", false: "last update"}[status == "resolved"], end.UTC().Format("2006-01-02 15:04 UTC"), end.Sub(in.StartedAt).Round(time.Minute))
	if in.Data.AckedBy != "" {
		fmt.Fprintf(&b, "- Acknowledged by %s\n", in.Data.AckedBy)
	}
	alerts := in.SortedAlerts()
	names := map[string]int{}
	for _, a := range alerts {
		names[a.Labels["alertname"]]++
	}
	var nameList []string
	for n, c := range names {
		nameList = append(nameList, fmt.Sprintf("%s (%d)", n, c))
	}
	sort.Strings(nameList)

	b.WriteString("\n## Summary\n")
	fmt.Fprintf(&b, "%s fired for %s: %d alert(s) — %s.\n", in.Title, end.Sub(in.StartedAt).Round(time.Minute), len(alerts), strings.Join(nameList, ", "))

	b.WriteString("\n## Timeline (UTC)\n")
	for _, e := range in.Data.Timeline {
		if e.Kind == "finding" {
			continue // under Root cause
		}
		fmt.Fprintf(&b, "- %s %s: %s\n", e.At.UTC().Format("15:04:05"), e.Kind, oneLine(e.Text))
	}

	b.WriteString("\n## Root cause\n")
	if rc := lastOf(in, "finding"); rc != "" {
		fmt.Fprintf(&b, "Candidates from the automatic investigation (to be confirmed by the team):\n%s\n", rc)
	} else {
		b.WriteString("Not determined from the record. To be filled in by the team.\n")
	}

	b.WriteString("\n## Impact\n")
	for i, a := range alerts {
		if i == 20 {
			fmt.Fprintf(&b, "- …and %d more alerts\n", len(alerts)-20)
			break
		}
		line := fmt.Sprintf("- %s from %s", labelsOf(a), a.StartsAt.UTC().Format("15:04"))
		if !a.EndsAt.IsZero() {
			line += " to " + a.EndsAt.UTC().Format("15:04")
		}
		if s := a.Annotations["summary"]; s != "" {
			line += ": " + oneLine(s)
		}
		b.WriteString(line + "\n")
	}

	b.WriteString("\n## Mitigation\n")
	var actions []string
	for _, e := range in.Data.Timeline {
		if e.Kind == "action" || e.Kind == "verification" {
			actions = append(actions, "- "+oneLine(e.Text))
		}
	}
	if len(actions) == 0 {
		b.WriteString("No change was recorded; the alerts resolved on their own or were mitigated outside Watchkeeper.\n")
	} else {
		b.WriteString(strings.Join(actions, "\n") + "\n")
	}

	b.WriteString("\n## Prevention\n")
	b.WriteString("- To be decided by the team: what would have caught this earlier, or prevented it.\n")

	b.WriteString("\n## Action items\n")
	b.WriteString("- [ ] Confirm the root cause and fill in the sections above.\n")
	for _, n := range sortedKeys(names) {
		fmt.Fprintf(&b, "- [ ] Check that the runbook for %s covers what was learned.\n", n)
	}
	return b.String()
}

func lastOf(in Incident, kind string) string {
	for i := len(in.Data.Timeline) - 1; i >= 0; i-- {
		if in.Data.Timeline[i].Kind == kind {
			return in.Data.Timeline[i].Text
		}
	}
	return ""
}

func labelsOf(a AlertState) string {
	var parts []string
	for _, k := range sortedKeys(a.Labels) {
		if k == "alertname" || k == "severity" {
			continue
		}
		parts = append(parts, k+"="+a.Labels[k])
	}
	return a.Labels["alertname"] + "{" + strings.Join(parts, ", ") + "}"
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// PostmortemPrompt asks a model to write the postmortem's prose from the
// recorded facts only (prompts/templates/postmortem.tmpl).
func PostmortemPrompt(in Incident) string {
	// The record quotes the alerts' own words (titles, annotations): data
	// from whoever sent them, marked so.
	facts := tools.Untrusted("incident record", Postmortem(in))
	p, err := prompts.Postmortem(prompts.PostmortemData{ID: in.ID, Facts: facts})
	if err != nil {
		// The template is embedded and tested; fall back to the facts.
		return "Write the postmortem from these recorded facts only:\n\n" + facts
	}
	return p
}

// Learned is the runbook section an incident suggests: when it happened,
// what the investigation pointed at and what was done.
func Learned(in Incident) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Learned from %s (%s)\n", in.ID, in.StartedAt.UTC().Format("2006-01-02"))
	fmt.Fprintf(&b, "- %s fired for %s.\n", in.Title, in.resolvedOrNow().Sub(in.StartedAt).Round(time.Minute))
	if rc := lastOf(in, "finding"); rc != "" {
		fmt.Fprintf(&b, "- Root-cause candidates: %s\n", oneLine(rc))
	}
	for _, e := range in.Data.Timeline {
		if e.Kind == "action" {
			fmt.Fprintf(&b, "- Mitigation: %s\n", oneLine(e.Text))
		}
	}
	b.WriteString("- Detection and diagnosis steps to add: (to be reviewed by the team)\n")
	return b.String()
}

func (in Incident) resolvedOrNow() time.Time {
	if !in.ResolvedAt.IsZero() {
		return in.ResolvedAt
	}
	return in.UpdatedAt
}
