package logs

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// Pattern is one template of a search's lines, with its counts in the
// searched window and in the window before.
type Pattern struct {
	// Ref is how the report names it (P1, P2 …), by count.
	Ref      string    `json:"ref"`
	Template string    `json:"template"`
	Count    int       `json:"count"`
	Before   int       `json:"before"`
	Level    Level     `json:"level"`
	First    time.Time `json:"first,omitzero"`
	Last     time.Time `json:"last,omitzero"`
	// Example is one line of the pattern (sanitized, cut), from the window
	// when it occurred there.
	Example     string    `json:"example"`
	ExampleTime time.Time `json:"example_time,omitzero"`
	// Sources are the pods (or services) that wrote it most, with counts.
	Sources []Source `json:"sources,omitempty"`
	// New is set when the pattern is absent from a compared window that
	// had lines; Surging when it grew at least SurgeFactor times (and by
	// at least SurgeMin lines) relative to the window's length.
	New     bool    `json:"new,omitempty"`
	Surging bool    `json:"surging,omitempty"`
	Ratio   float64 `json:"ratio,omitempty"`

	tpl     *Template
	sources map[string]int
}

// Source is a pod or service and how many lines of a pattern it wrote.
type Source struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// Surge thresholds: a pattern surges when its rate grew at least
// SurgeFactor times and by at least SurgeMin lines over the window.
const (
	SurgeFactor = 3
	SurgeMin    = 5
	// RareMax is the most lines a pattern may have to count as rare.
	RareMax = 3
	// exampleBytes bounds a stored example; maxSources the sources kept
	// per pattern.
	exampleBytes = 600
	maxSources   = 64
)

// Summary mines the lines of a search, and optionally of the window before
// it, into patterns. Feed the earlier window first (Add with before set),
// then the window itself. Memory is bounded by the number of templates,
// not lines. A Summary is not safe for concurrent use.
type Summary struct {
	miner    *Miner
	patterns map[*Template]*Pattern
	// sourceLabels name the labels that identify a line's writer, in
	// order of preference (default pod, then service).
	sourceLabels []string

	Lines, BeforeLines int
	// Bytes counts the line bytes read, for the caller's byte budget.
	Bytes int64
}

// NewSummary returns an empty summary that mines with cfg.
func NewSummary(cfg MinerConfig, sourceLabels ...string) *Summary {
	if len(sourceLabels) == 0 {
		sourceLabels = defaultSourceLabels
	}
	return &Summary{miner: NewMiner(cfg), patterns: map[*Template]*Pattern{}, sourceLabels: sourceLabels}
}

var defaultSourceLabels = []string{"pod", "service", "app", "container"}

// Add mines one entry; before marks the compared (earlier) window.
func (s *Summary) Add(e Entry, before bool) {
	s.Bytes += int64(len(e.Line))
	line := Sanitize(e.Line, MaxLineBytes)
	t := s.miner.Add(MineText(line))
	p, ok := s.patterns[t]
	if !ok {
		p = &Pattern{tpl: t, sources: map[string]int{}}
		s.patterns[t] = p
	}
	if lvl := DetectLevel(line); lvl > p.Level {
		p.Level = lvl
	}
	if before {
		s.BeforeLines++
		p.Before++
		if p.Example == "" {
			p.Example, p.ExampleTime = cut(line, exampleBytes), e.Time
		}
		return
	}
	s.Lines++
	p.Count++
	if p.Count == 1 {
		p.First = e.Time
		// The window's own line is the better example.
		p.Example, p.ExampleTime = cut(line, exampleBytes), e.Time
	}
	if e.Time.After(p.Last) {
		p.Last = e.Time
	}
	if src := sourceOf(e.Labels, s.sourceLabels); src != "" && (len(p.sources) < maxSources || p.sources[src] > 0) {
		p.sources[src]++
	}
}

// sourceOf names a line's writer from its labels: the first of keys set.
func sourceOf(ls map[string]string, keys []string) string {
	for _, k := range keys {
		if v := ls[k]; v != "" {
			return v
		}
	}
	return ""
}

// Patterns returns the patterns, most frequent in the window first, with
// New, Surging and Ratio set from the comparison. ratio is the window's
// length over the compared window's (1 for equal windows); compared says
// whether an earlier window was searched at all.
func (s *Summary) Patterns(compared bool, ratio float64) []*Pattern {
	if ratio <= 0 {
		ratio = 1
	}
	out := make([]*Pattern, 0, len(s.patterns))
	for _, p := range s.patterns {
		p.Template = p.tpl.String()
		p.Sources = p.Sources[:0]
		for name, n := range p.sources {
			p.Sources = append(p.Sources, Source{name, n})
		}
		sort.Slice(p.Sources, func(i, j int) bool {
			if p.Sources[i].Count != p.Sources[j].Count {
				return p.Sources[i].Count > p.Sources[j].Count
			}
			return p.Sources[i].Name < p.Sources[j].Name
		})
		p.New, p.Surging, p.Ratio = false, false, 0
		if compared && s.BeforeLines > 0 && p.Count > 0 {
			expected := float64(p.Before) * ratio
			switch {
			case p.Before == 0:
				p.New = true
			case float64(p.Count) >= SurgeFactor*expected && float64(p.Count)-expected >= SurgeMin:
				p.Surging = true
				p.Ratio = float64(p.Count) / expected
			}
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		if a.Before != b.Before {
			return a.Before > b.Before
		}
		return a.tpl.ID < b.tpl.ID
	})
	for i, p := range out {
		p.Ref = "P" + strconv.Itoa(i+1)
	}
	return out
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && s[i]&0xc0 == 0x80 {
		i--
	}
	return s[:i] + "…"
}

// MineText is the part of a line that is mined. Plain and logfmt lines are
// mined whole (their timestamps and numbers are masked as variables). A
// JSON object is flattened to its message (found as StructuredMessage
// finds it) and then its other fields as key=value in key order, without
// timestamps, so that field order and nesting do not split a template and
// the template reads like a message.
func MineText(line string) string {
	t := strings.TrimSpace(line)
	if len(t) < 2 || t[0] != '{' || t[len(t)-1] != '}' {
		return line
	}
	msg, key, ok := findMessage(t)
	if !ok {
		return line
	}
	if key == "" {
		return fieldsText(t, "")
	}
	return strings.TrimSpace(msg + " " + fieldsText(t, key))
}

// fmtCount writes n with thousands separators.
func fmtCount(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + fmtCount(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
