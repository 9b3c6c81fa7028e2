package logs

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/watchkeeper/watchkeeper/tools"
)

// Report is a log search's answer: patterns with counts, what changed
// against the window before, and raw lines of new and rare patterns.
type Report struct {
	Backend string `json:"backend"`
	// Native is the query in the backend's language.
	Native string    `json:"query"`
	Link   string    `json:"link,omitempty"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	// BeforeStart and BeforeEnd are the compared window; zero when the
	// search did not compare.
	BeforeStart time.Time `json:"before_start,omitzero"`
	BeforeEnd   time.Time `json:"before_end,omitzero"`
	Lines       int       `json:"lines"`
	BeforeLines int       `json:"before_lines"`
	// Truncated: the line cap stopped reading the window early; ReadUntil
	// is the time of the last line read.
	Truncated       bool      `json:"truncated,omitempty"`
	ReadUntil       time.Time `json:"read_until,omitzero"`
	BeforeTruncated bool      `json:"before_truncated,omitempty"`
	// Notes come from the backend (a pod that could not be read).
	Notes    []string   `json:"notes,omitempty"`
	Patterns []*Pattern `json:"patterns"`
}

// Compared reports whether the report has a window to compare with.
func (r *Report) Compared() bool { return !r.BeforeStart.IsZero() }

// Changed returns the new and surging patterns: new ones by count, then
// surging ones by how much they grew.
func (r *Report) Changed() []*Pattern {
	var out []*Pattern
	for _, p := range r.Patterns {
		if p.New || p.Surging {
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.New != b.New {
			return a.New
		}
		if a.New {
			return a.Count > b.Count
		}
		return a.Ratio > b.Ratio
	})
	return out
}

const (
	templateCols = 180 // template text shown per row
	lineCols     = 320 // raw line text shown per sample
	maxRows      = 40  // pattern rows beyond the changed ones
)

// Render writes the report as compact text for a model, within about
// maxTokens: a header, then — marked as untrusted data — the changed
// patterns (all of them, as long as they fit at all), the most frequent
// others, and raw lines of new and rare patterns; then a note of what was
// left out.
func (r *Report) Render(maxTokens int) string {
	text, _ := r.render(maxTokens, searchWords{})
	return text
}

// render writes the report for the model (text, as Render says) and for
// people (display): the same patterns and lines, under a short header
// that says what was searched in words instead of the backend's query,
// without the markers and without the hint on how to search again.
func (r *Report) render(maxTokens int, p searchWords) (text, display string) {
	budget := maxTokens * 4 // bytes, as tools.EstimateTokens counts
	var head, people strings.Builder
	layout := clockLayout(r.Start, r.End)
	fmt.Fprintf(&head, "Log search (%s) `%s`, %s – %s UTC: %s lines in %d patterns.", r.Backend, r.Native,
		r.Start.UTC().Format(layout), r.End.UTC().Format(layout), fmtCount(r.Lines), countIn(r.Patterns))
	if r.Lines > 0 {
		fmt.Fprintf(&people, "%s %s from %s, %s: %d %s.", fmtCount(r.Lines), plural(r.Lines, "line", "lines"), p.what, p.when,
			countIn(r.Patterns), plural(countIn(r.Patterns), "pattern", "patterns"))
	}
	if r.Truncated {
		fmt.Fprintf(&head, " Stopped at the line cap: only lines up to %s were read — narrow the search (filters, level, shorter range) to see the rest.",
			r.ReadUntil.UTC().Format(layout))
		fmt.Fprintf(&people, " Only lines up to %s were read (the line cap): narrow the search to see the rest.", r.ReadUntil.UTC().Format(layout))
	}
	if r.Compared() {
		fmt.Fprintf(&head, " Compared with %s – %s: %s lines", r.BeforeStart.UTC().Format(layout), r.BeforeEnd.UTC().Format(layout), fmtCount(r.BeforeLines))
		if r.Lines > 0 {
			fmt.Fprintf(&people, " The %s before: %s %s", span(r.BeforeEnd.Sub(r.BeforeStart)), fmtCount(r.BeforeLines), plural(r.BeforeLines, "line", "lines"))
		}
		if r.BeforeTruncated {
			head.WriteString(" (cap reached: \"new\" means not among the lines read)")
			if r.Lines > 0 {
				people.WriteString(" (read up to the line cap: \"new\" means not among the lines read)")
			}
		}
		head.WriteString(".")
		if r.Lines > 0 {
			people.WriteString(".")
		}
	}
	head.WriteString("\n")
	if r.Lines == 0 {
		fmt.Fprintf(&people, "No lines from %s, %s. Check the names (service, namespace, pod), widen the time range, or drop filters.\n", p.what, p.when)
	} else {
		people.WriteString("\n")
	}
	for _, b := range []*strings.Builder{&head, &people} {
		writeNotes(b, r.Notes)
		if r.Link != "" {
			fmt.Fprintf(b, "Open: %s\n", r.Link)
		}
	}
	if r.Lines == 0 {
		head.WriteString("No lines matched. Check the selector (service, namespace, pod names), widen the time range, or drop filters.\n")
		return head.String(), people.String()
	}

	const footerReserve = 400
	var body strings.Builder
	left := func() int { return budget - head.Len() - body.Len() - footerReserve - 120 }
	shown := map[*Pattern]bool{}
	var omitted []string

	changed := r.Changed()
	if len(changed) > 0 {
		fmt.Fprintf(&body, "What changed against the previous window (%d patterns):\n", len(changed))
		body.WriteString("ref | lines (before) | level | first – last | from | pattern\n")
		for i, p := range changed {
			row := r.row(p, layout)
			if len(row) > left() && i > 0 {
				omitted = append(omitted, fmt.Sprintf("%d more new or surging patterns", len(changed)-i))
				break
			}
			body.WriteString(row)
			shown[p] = true
		}
	} else if r.Compared() && r.BeforeLines > 0 {
		body.WriteString("Nothing new or surging against the previous window.\n")
	}

	// Raw lines of new and rare patterns get a share of what is left; the
	// frequent patterns the rest.
	var samples []*Pattern
	for _, p := range changed {
		if p.New && shown[p] {
			samples = append(samples, p)
		}
	}
	for _, p := range r.Patterns {
		if p.Count > 0 && p.Count <= RareMax && !p.New {
			samples = append(samples, p)
		}
	}
	sampleShare := min(left()/3, len(samples)*(lineCols+60))

	rows, rowsLines := 0, 0
	title := false
	for _, p := range r.Patterns {
		if shown[p] || p.Count == 0 {
			continue
		}
		row := r.row(p, layout)
		if rows >= maxRows || len(row) > left()-sampleShare {
			break
		}
		if !title {
			if len(changed) > 0 {
				body.WriteString("Other patterns, most frequent first:\n")
			} else {
				body.WriteString("Patterns, most frequent first:\n")
			}
			body.WriteString("ref | lines (before) | level | first – last | from | pattern\n")
			title = true
		}
		body.WriteString(row)
		shown[p] = true
		rows++
		rowsLines += p.Count
	}
	hiddenPatterns, hiddenLines := 0, 0
	for _, p := range r.Patterns {
		if !shown[p] && p.Count > 0 {
			hiddenPatterns++
			hiddenLines += p.Count
		}
	}
	if hiddenPatterns > 0 {
		omitted = append(omitted, fmt.Sprintf("%d less frequent patterns (%s lines)", hiddenPatterns, fmtCount(hiddenLines)))
	}

	if len(samples) > 0 {
		body.WriteString("Lines of new and rare patterns:\n")
		for i, p := range samples {
			line := fmt.Sprintf("%s %s %s\n", p.Ref, p.ExampleTime.UTC().Format(layout), cut(p.Example, lineCols))
			if len(line) > left() {
				omitted = append(omitted, fmt.Sprintf("lines of %d more new or rare patterns", len(samples)-i))
				break
			}
			body.WriteString(line)
		}
	}

	var out strings.Builder
	out.WriteString(head.String())
	out.WriteString(tools.Untrusted("logs", body.String()))
	people.WriteString(body.String())
	if len(omitted) > 0 {
		fmt.Fprintf(&out, "Not shown: %s. ", strings.Join(omitted, "; "))
		fmt.Fprintf(&people, "Not shown: %s.\n", strings.Join(omitted, "; "))
	}
	out.WriteString("To read a pattern's lines, search again with contains set to a constant phrase of it, and mode lines.\n")
	return out.String(), people.String()
}

// writeNotes writes backend notes; they can name pods and quote API
// messages, so they are cut to a sensible length.
func writeNotes(b *strings.Builder, notes []string) {
	for i, n := range notes {
		if i == 5 {
			fmt.Fprintf(b, "Note: %d more notes.\n", len(notes)-5)
			break
		}
		fmt.Fprintf(b, "Note: %s\n", cut(Sanitize(n, 300), 300))
	}
}

// row is one pattern as a table row.
func (r *Report) row(p *Pattern, layout string) string {
	mark := ""
	switch {
	case p.New:
		mark = " NEW"
	case p.Surging:
		mark = fmt.Sprintf(" ×%.1f", p.Ratio)
	}
	before := ""
	if r.Compared() {
		before = " (" + fmtCount(p.Before) + ")"
	}
	from := ""
	if len(p.Sources) > 0 {
		from = p.Sources[0].Name
		if len(p.Sources) > 1 {
			from += fmt.Sprintf(" +%d", len(p.Sources)-1)
		}
	}
	span := p.First.UTC().Format(layout)
	if !p.Last.Equal(p.First) {
		span += " – " + p.Last.UTC().Format(layout)
	}
	return fmt.Sprintf("%s | %s%s%s | %s | %s | %s | %s\n", p.Ref, fmtCount(p.Count), before, mark, p.Level, span, from, displayTemplate(p.Template))
}

// displayTemplate drops a leading timestamp variable, which every line
// has and which says nothing, and cuts long templates in the middle: the
// start names the message, the end often holds the error.
func displayTemplate(t string) string {
	for _, prefix := range []string{Wildcard + " ", "ts=" + Wildcard + " ", "time=" + Wildcard + " ", "t=" + Wildcard + " "} {
		if strings.HasPrefix(t, prefix) && len(t) > len(prefix) {
			t = t[len(prefix):]
			break
		}
	}
	return cutMiddle(t, templateCols)
}

// cutMiddle keeps the first two thirds and the last third of n bytes.
func cutMiddle(s string, n int) string {
	if len(s) <= n {
		return s
	}
	head, tail := n*2/3, n/3
	for head > 0 && s[head]&0xc0 == 0x80 {
		head--
	}
	t := len(s) - tail
	for t < len(s) && s[t]&0xc0 == 0x80 {
		t++
	}
	return s[:head] + " … " + s[t:]
}

func countIn(ps []*Pattern) int {
	n := 0
	for _, p := range ps {
		if p.Count > 0 {
			n++
		}
	}
	return n
}

// clockLayout shows times of day for a range within one day and dates
// otherwise.
func clockLayout(start, end time.Time) string {
	if start.UTC().Format("2006-01-02") == end.UTC().Format("2006-01-02") {
		return "15:04:05"
	}
	return "Jan 02 15:04:05"
}
