package logs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/watchkeeper/watchkeeper/tools"
	"github.com/watchkeeper/watchkeeper/tools/clock"
)

// SearchConfig configures the logs_search tool.
type SearchConfig struct {
	Backend Backend
	// MaxLines read per window (default 100,000); MaxBytes of line text
	// per window (default 128 MiB). Past either the window is cut and the
	// answer says so.
	MaxLines int
	MaxBytes int64
	// MaxTokens bounds the answer (default 2,000).
	MaxTokens int
	// Miner tunes pattern mining.
	Miner MinerConfig
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Search is the logs_search tool. It is safe for concurrent use.
type Search struct{ cfg SearchConfig }

// NewSearch returns the tool for cfg.
func NewSearch(cfg SearchConfig) (*Search, error) {
	if cfg.Backend == nil {
		return nil, errors.New("logs: no backend configured")
	}
	if cfg.MaxLines <= 0 {
		cfg.MaxLines = 100_000
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 128 << 20
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = 2000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Search{cfg: cfg}, nil
}

// Spec implements tools.Tool.
func (s *Search) Spec() tools.Spec {
	any := true
	return tools.Spec{
		Name: "logs_search", Evidence: tools.EvidenceText,
		Description: "Search logs (" + s.cfg.Backend.Name() + ") and get them as patterns: each distinct message template with its count, " +
			"level, first/last time and writers, plus — by default — what is new or surging compared with the window just before, " +
			"and example lines of new and rare patterns. Use mode \"lines\" to read the newest raw lines of a narrow search.",
		Parameters: tools.Object(map[string]*tools.Schema{
			"service":   tools.String("service (or app) whose logs to search"),
			"namespace": tools.String("Kubernetes namespace"),
			"pod":       tools.String("pod name"),
			"container": tools.String("container name (pod logs)"),
			"labels":    {Type: "object", Description: "further exact stream-label matches, e.g. {\"env\": \"prod\"}", AdditionalProperties: &any},
			"contains":  tools.Array("strings every line must contain (case-sensitive)", tools.String("")),
			"regex":     tools.String("RE2 regular expression lines must match"),
			"level":     tools.Enum("keep lines at or above this severity", "debug", "info", "warn", "error", "fatal"),
			"start":     tools.String(`start: RFC 3339, Unix seconds or e.g. "1h ago", "14:00"; default one hour before end`),
			"end":       tools.String("end, same forms; default now"),
			"compare":   tools.Boolean("compare with the window of equal length just before start to find new and surging patterns (default true)"),
			"mode":      tools.Enum("patterns (default) or lines (the newest raw lines)", "patterns", "lines"),
			"limit":     tools.Integer("lines mode: how many of the newest lines (default 50)", 1, 500),
			"previous":  tools.Boolean("pod logs: the previous container instance (before its last restart)"),
		}),
	}
}

type searchArgs struct {
	Service   string            `json:"service"`
	Namespace string            `json:"namespace"`
	Pod       string            `json:"pod"`
	Container string            `json:"container"`
	Labels    map[string]string `json:"labels"`
	Contains  []string          `json:"contains"`
	Regex     string            `json:"regex"`
	Level     string            `json:"level"`
	Start     string            `json:"start"`
	End       string            `json:"end"`
	Compare   *bool             `json:"compare"`
	Mode      string            `json:"mode"`
	Limit     int               `json:"limit"`
	Previous  bool              `json:"previous"`
}

// Run implements tools.Tool.
func (s *Search) Run(ctx context.Context, raw json.RawMessage) (tools.Result, error) {
	var a searchArgs
	if err := tools.DecodeArgs(raw, &a); err != nil {
		return tools.Errorf("%v", err), nil
	}
	now := s.cfg.Now().UTC()
	end, err := resolve(a.End, now, now)
	if err != nil {
		return tools.Errorf("end: %v", err), nil
	}
	start, err := resolve(a.Start, end.Add(-time.Hour), now)
	if err != nil {
		return tools.Errorf("start: %v", err), nil
	}
	q := Query{Service: a.Service, Namespace: a.Namespace, Pod: a.Pod, Container: a.Container, Labels: a.Labels,
		Contains: nonEmpty(a.Contains), Regex: a.Regex, Start: start, End: end, Previous: a.Previous}
	if a.Level != "" {
		lvl, ok := ParseLevel(a.Level)
		if !ok {
			return tools.Errorf("level %q: use debug, info, warn, error or fatal", a.Level), nil
		}
		q.MinLevel = lvl
	}
	if err := q.Validate(); err != nil {
		return tools.Errorf("%v", err), nil
	}
	words := describeSearch(q, now)
	if a.Mode == "lines" {
		return s.lines(ctx, q, a.Limit, words)
	}
	return s.patterns(ctx, q, a.Compare == nil || *a.Compare, words)
}

func resolve(s string, def, now time.Time) (time.Time, error) {
	if s == "" {
		return def, nil
	}
	return clock.Resolve(s, now)
}

func nonEmpty(ss []string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// errCap stops a backend's search when a window's byte budget is spent.
var errCap = errors.New("byte cap reached")

// window reads one window into sum.
func (s *Search) window(ctx context.Context, q Query, sum *Summary, before bool) (Stats, time.Time, error) {
	q.Limit = s.cfg.MaxLines
	m, err := NewMatcher(Query{MinLevel: q.MinLevel})
	if err != nil {
		return Stats{}, time.Time{}, err
	}
	var bytes int64
	var last time.Time
	st, err := s.cfg.Backend.Search(ctx, q, func(e Entry) error {
		if !m.Match(e.Line) {
			return nil
		}
		bytes += int64(len(e.Line))
		sum.Add(e, before)
		last = e.Time
		if bytes >= s.cfg.MaxBytes {
			return errCap
		}
		return nil
	})
	if errors.Is(err, errCap) {
		st.Truncated, err = true, nil
	}
	return st, last, err
}

func (s *Search) patterns(ctx context.Context, q Query, compare bool, words searchWords) (tools.Result, error) {
	sum := NewSummary(s.cfg.Miner)
	rep := &Report{Backend: s.cfg.Backend.Name(), Start: q.Start, End: q.End}
	if compare {
		bq := q
		bq.Start, bq.End = q.Start.Add(-q.End.Sub(q.Start)), q.Start
		bst, _, err := s.window(ctx, bq, sum, true)
		if err != nil {
			return s.fail(err)
		}
		rep.BeforeStart, rep.BeforeEnd, rep.BeforeTruncated = bq.Start, bq.End, bst.Truncated
	}
	st, last, err := s.window(ctx, q, sum, false)
	if err != nil {
		return s.fail(err)
	}
	rep.Native, rep.Link, rep.Truncated, rep.ReadUntil, rep.Notes = st.Native, st.Link, st.Truncated, last, st.Notes
	rep.Lines, rep.BeforeLines = sum.Lines, sum.BeforeLines
	rep.Patterns = sum.Patterns(compare, 1)
	data := *rep
	if len(data.Patterns) > 200 {
		data.Patterns = data.Patterns[:200]
	}
	text, display := rep.render(s.cfg.MaxTokens, words)
	return tools.Result{Text: text, Display: display, Data: data}, nil
}

// fail turns a backend error into a result the model can act on or a Go
// error for a broken backend.
func (s *Search) fail(err error) (tools.Result, error) {
	var qe *QueryError
	if errors.As(err, &qe) {
		return tools.Errorf("%s", qe.Error()), nil
	}
	if errors.Is(err, ErrPageTooLarge) {
		return tools.Errorf("the log backend's answer is too large even one line at a time (%v); narrow the search", err), nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return tools.Result{}, err
	}
	return tools.Result{}, fmt.Errorf("logs (%s): %w", s.cfg.Backend.Name(), err)
}

func (s *Search) lines(ctx context.Context, q Query, limit int, words searchWords) (tools.Result, error) {
	if limit <= 0 {
		limit = 50
	}
	q.Limit, q.Tail = limit, true
	m, err := NewMatcher(Query{MinLevel: q.MinLevel})
	if err != nil {
		return s.fail(err)
	}
	var entries []Entry
	st, err := s.cfg.Backend.Search(ctx, q, func(e Entry) error {
		if m.Match(e.Line) {
			e.Line = Sanitize(e.Line, 0)
			entries = append(entries, e)
		}
		return nil
	})
	if err != nil {
		return s.fail(err)
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].Time.Before(entries[j].Time) })
	layout := clockLayout(q.Start, q.End)
	// head is the model's header, people's is in words (searchWords).
	var head, people strings.Builder
	fmt.Fprintf(&head, "Log lines (%s) `%s`, %s – %s UTC: the newest %d lines", s.cfg.Backend.Name(), st.Native,
		q.Start.UTC().Format(layout), q.End.UTC().Format(layout), len(entries))
	fmt.Fprintf(&people, "The newest %d %s from %s, %s", len(entries), plural(len(entries), "line", "lines"), words.what, words.when)
	if st.Truncated || len(entries) == limit {
		head.WriteString(" (there are more; raise limit or narrow the range)")
		people.WriteString(" (there are more)")
	}
	head.WriteString(".\n")
	people.WriteString(".\n")
	if len(entries) == 0 {
		people.Reset()
		fmt.Fprintf(&people, "No lines from %s, %s. Check the names (service, namespace, pod), widen the time range, or drop filters.\n", words.what, words.when)
	}
	for _, b := range []*strings.Builder{&head, &people} {
		writeNotes(b, st.Notes)
		if st.Link != "" {
			fmt.Fprintf(b, "Open: %s\n", st.Link)
		}
	}
	if len(entries) == 0 {
		head.WriteString("No lines matched. Check the selector (service, namespace, pod names), widen the time range, or drop filters.\n")
		return tools.Result{Text: head.String(), Display: people.String(), Data: map[string]any{"query": st.Native}}, nil
	}
	// Newest lines matter most: when the budget binds, drop the oldest.
	budget := s.cfg.MaxTokens*4 - head.Len() - 200
	var rows []string
	used, dropped := 0, 0
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		row := e.Time.UTC().Format(layout+".000") + " " + sourceOf(e.Labels, defaultSourceLabels) + " " + cut(e.Line, 1000) + "\n"
		if used+len(row) > budget {
			dropped = i + 1
			break
		}
		used += len(row)
		rows = append(rows, row)
	}
	var body strings.Builder
	for i := len(rows) - 1; i >= 0; i-- {
		body.WriteString(rows[i])
	}
	out := head.String() + tools.Untrusted("logs", body.String())
	display := people.String() + body.String()
	if dropped > 0 {
		out += fmt.Sprintf("Not shown: the %d oldest of these lines, to stay within the token budget.\n", dropped)
		display += fmt.Sprintf("Not shown: the %d oldest of these lines.\n", dropped)
	}
	return tools.Result{Text: out, Display: display, Data: map[string]any{"query": st.Native, "lines": len(entries)}}, nil
}
