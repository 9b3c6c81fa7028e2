package spans

import (
	"slices"
	"strconv"
	"time"
)

// Query selects traces as Jaeger's search does: a trace matches when one
// of its spans matches every field given (service, operation, tags,
// duration, start window) at once.
type Query struct {
	// Service and Operation name the span's service and span name;
	// Operation is ignored without Service, as Jaeger requires.
	Service, Operation string
	// Tags must all match on one span: attribute equality, except the
	// key "error", which matches the span's Error as "true" or "false",
	// and "span.kind", which matches its Kind when no attribute has it.
	Tags map[string]string
	// MinDuration and MaxDuration bound the matching span's duration
	// (0: no bound).
	MinDuration, MaxDuration time.Duration
	// Start and End bound the matching span's start (zero: unbounded).
	Start, End time.Time
	// ErrorsOnly keeps traces where any span failed, not necessarily the
	// matching one: a failed call below a slow operation is the story.
	ErrorsOnly bool
	// Limit is the most traces returned, newest first (default 20, at
	// most 1500).
	Limit int
}

// Match reports whether the tree satisfies q (see Query). Shared by the
// store and the backends so every source filters alike.
func Match(t *Tree, q Query) bool {
	if t == nil {
		return false
	}
	if q.ErrorsOnly && !slices.ContainsFunc(t.Spans, func(s Span) bool { return s.Error }) {
		return false
	}
	for i := range t.Spans {
		if spanMatches(&t.Spans[i], &q) {
			return true
		}
	}
	return false
}

func spanMatches(s *Span, q *Query) bool {
	if q.Service != "" {
		if s.ServiceName() != q.Service {
			return false
		}
		if q.Operation != "" && s.Name != q.Operation {
			return false
		}
	}
	if q.MinDuration > 0 && s.Duration < q.MinDuration {
		return false
	}
	if q.MaxDuration > 0 && s.Duration > q.MaxDuration {
		return false
	}
	if !q.Start.IsZero() && s.Start.Before(q.Start) {
		return false
	}
	if !q.End.IsZero() && s.Start.After(q.End) {
		return false
	}
	for k, want := range q.Tags {
		if v, ok := s.Attrs[k]; ok {
			if v != want {
				return false
			}
			continue
		}
		switch k {
		case "error":
			if want != strconv.FormatBool(s.Error) {
				return false
			}
		case "span.kind":
			if want != s.Kind {
				return false
			}
		default:
			return false
		}
	}
	return true
}
