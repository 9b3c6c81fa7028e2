package logs

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Query is one log search, in terms every backend understands. Backends
// translate it to LogQL, LogsQL or a pod-log request, and push down what
// they can; Match applies the rest on the client.
type Query struct {
	// Selector: which streams. At least one of Service, Namespace, Pod or
	// Labels is required, as Loki requires a non-empty stream selector.
	Service   string
	Namespace string
	Pod       string
	Container string
	// Labels are further exact stream-label matches (backend label names).
	Labels map[string]string
	// Contains: every string must appear in the line (case-sensitive).
	Contains []string
	// Regex must match the line (RE2 syntax).
	Regex string
	// MinLevel keeps lines at or above a severity (DetectLevel decides);
	// LevelUnknown keeps every line.
	MinLevel Level
	// Start and End bound the time range [Start, End).
	Start, End time.Time
	// Limit is the most lines to return.
	Limit int
	// Tail asks for the last Limit lines of the range instead of the
	// first (they are still delivered oldest first).
	Tail bool
	// Previous asks for the previous container instance's logs (Kubernetes
	// pod logs only: the crash before a restart).
	Previous bool
}

// LabelNames are the backend's names for the query model's selectors
// (stream labels in Loki, fields in VictoriaLogs).
type LabelNames struct {
	Service, Namespace, Pod, Container string
}

// WithDefaults fills empty names with service, namespace, pod, container.
func (n LabelNames) WithDefaults() LabelNames {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&n.Service, "service")
	def(&n.Namespace, "namespace")
	def(&n.Pod, "pod")
	def(&n.Container, "container")
	return n
}

// Match is one exact label match of a selector.
type Match struct{ Name, Value string }

// Selector returns q's exact matches in backend label names: service,
// namespace, pod and container first, then q.Labels by name.
func (q Query) Selector(names LabelNames) []Match {
	var out []Match
	add := func(k, v string) {
		if v != "" {
			out = append(out, Match{k, v})
		}
	}
	add(names.Service, q.Service)
	add(names.Namespace, q.Namespace)
	add(names.Pod, q.Pod)
	add(names.Container, q.Container)
	keys := make([]string, 0, len(q.Labels))
	for k := range q.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add(k, q.Labels[k])
	}
	return out
}

// Window returns the query's range with defaults: end now, start an hour
// before end.
func (q Query) Window(now time.Time) (start, end time.Time) {
	start, end = q.Start, q.End
	if end.IsZero() {
		end = now
	}
	if start.IsZero() {
		start = end.Add(-time.Hour)
	}
	return start, end
}

// Entry is one log line.
type Entry struct {
	Time   time.Time
	Line   string
	Labels map[string]string
}

// Stats says what a search did.
type Stats struct {
	// Native is the query in the backend's own language, shown as evidence
	// and for people to rerun: a LogQL or LogsQL expression, or the pod-log
	// request.
	Native string
	// Truncated is true when Limit (or a byte cap) stopped the search
	// before the range was read to its end, or when some lines could not
	// be read (more lines at one instant than the server returns at once).
	Truncated bool
	// Link opens the same query in a UI, when one is configured.
	Link string
	// Notes are things a reader should know about the result, such as a
	// pod whose logs could not be read.
	Notes []string
}

// Backend reads logs. Implementations call each for every matching line in
// time order (oldest first) and stop after q.Limit lines; an error from
// each stops the search and is returned. Backends must be safe for
// concurrent use.
type Backend interface {
	// Name is the backend kind: loki, victorialogs or kubernetes.
	Name() string
	Search(ctx context.Context, q Query, each func(Entry) error) (Stats, error)
}

// QueryError is a query the backend refused: the caller can fix it (bad
// LogQL, an unknown pod, a limit above the server's). Message is in the
// backend's own words.
type QueryError struct {
	Backend string
	Message string
}

func (e *QueryError) Error() string { return e.Backend + " rejected the query: " + e.Message }

// IsQueryError reports whether err is a fixable QueryError.
func IsQueryError(err error) bool {
	var qe *QueryError
	return errors.As(err, &qe)
}

// Validate checks a query before it is sent.
func (q Query) Validate() error {
	if q.Service == "" && q.Namespace == "" && q.Pod == "" && len(q.Labels) == 0 {
		return errors.New("say which logs: give a service, namespace, pod or labels")
	}
	if q.Regex != "" {
		if _, err := regexp.Compile(q.Regex); err != nil {
			return fmt.Errorf("regex %q: %w", q.Regex, err)
		}
	}
	if !q.End.IsZero() && !q.Start.IsZero() && !q.Start.Before(q.End) {
		return fmt.Errorf("start %s must be before end %s", q.Start.UTC().Format(time.RFC3339), q.End.UTC().Format(time.RFC3339))
	}
	return nil
}

// Matcher applies a query's line filters on the client, for backends that
// cannot (pod logs) and to make level filtering exact everywhere.
type Matcher struct {
	contains []string
	re       *regexp.Regexp
	level    Level
}

// NewMatcher compiles q's line filters.
func NewMatcher(q Query) (*Matcher, error) {
	m := &Matcher{contains: q.Contains, level: q.MinLevel}
	if q.Regex != "" {
		re, err := regexp.Compile(q.Regex)
		if err != nil {
			return nil, fmt.Errorf("regex %q: %w", q.Regex, err)
		}
		m.re = re
	}
	return m, nil
}

// Match reports whether line passes every filter.
func (m *Matcher) Match(line string) bool {
	for _, s := range m.contains {
		if !strings.Contains(line, s) {
			return false
		}
	}
	if m.re != nil && !m.re.MatchString(line) {
		return false
	}
	return m.level == LevelUnknown || DetectLevel(line) >= m.level
}

// LevelPattern is a case-insensitive RE2 expression that every line at or
// above min matches (and some others): what backends push down so the
// server drops most lines below the level before the exact client check.
func LevelPattern(min Level) string {
	var words []string
	for l := max(min, LevelTrace); l <= LevelFatal; l++ {
		words = append(words, levelWords[l]...)
	}
	// klog prefixes (E1124) are matched too.
	var klog string
	switch {
	case min <= LevelInfo:
		klog = "[IWEF]"
	case min == LevelWarn:
		klog = "[WEF]"
	case min == LevelError:
		klog = "[EF]"
	default:
		klog = "F"
	}
	return `(?i)(\b(` + strings.Join(words, "|") + `)\b|^` + klog + `\d{4} )`
}

var levelWords = [...][]string{
	LevelTrace: {"trace", "trc"},
	LevelDebug: {"debug", "dbg"},
	LevelInfo:  {"info", "inf", "notice", "log"},
	LevelWarn:  {"warn", "warning", "wrn"},
	LevelError: {"error", "err", "eror", "severe"},
	LevelFatal: {"fatal", "ftl", "crit", "critical", "panic", "dpanic", "alert", "emerg"},
}
