package logs

import (
	"fmt"
	"strings"
	"time"
)

// searchWords says in words what a search looked at, for the header
// people read: what ("checkout (namespace shop), error and above") and
// when ("last 1h", "13:57:00 – 14:30:00 UTC"). The model's header has the
// backend's query instead, which people need only to run it again, and
// which the Open link does for them.
type searchWords struct{ what, when string }

// describeSearch puts q and its window in words; now decides whether the
// window is "the last hour" or a span of clock times.
func describeSearch(q Query, now time.Time) searchWords {
	var subject []string
	var where []string
	switch {
	case q.Service != "":
		subject = append(subject, q.Service)
	case q.Pod != "":
		subject = append(subject, "pod "+q.Pod)
	case q.Namespace != "":
		subject = append(subject, "namespace "+q.Namespace)
	}
	if q.Service != "" && q.Pod != "" {
		where = append(where, "pod "+q.Pod)
	}
	if q.Namespace != "" && (q.Service != "" || q.Pod != "") {
		where = append(where, "namespace "+q.Namespace)
	}
	if q.Container != "" {
		where = append(where, "container "+q.Container)
	}
	for _, m := range (Query{Labels: q.Labels}).Selector(LabelNames{}) {
		where = append(where, m.Name+"="+m.Value)
	}
	if len(subject) == 0 {
		subject, where = where, nil
	}
	what := strings.Join(subject, ", ")
	if what == "" {
		what = "all streams"
	}
	if len(where) > 0 {
		what += " (" + strings.Join(where, ", ") + ")"
	}
	var filters []string
	if q.MinLevel != LevelUnknown {
		filters = append(filters, q.MinLevel.String()+" and above")
	}
	if len(q.Contains) > 0 {
		quoted := make([]string, len(q.Contains))
		for i, c := range q.Contains {
			quoted[i] = fmt.Sprintf("%q", cut(c, 60))
		}
		filters = append(filters, "containing "+strings.Join(quoted, " and "))
	}
	if q.Regex != "" {
		filters = append(filters, "matching /"+cut(q.Regex, 40)+"/")
	}
	if len(filters) > 0 {
		what += ", " + strings.Join(filters, ", ")
	}
	if q.Previous {
		what += ", previous container"
	}
	return searchWords{what: what, when: window(q.Start, q.End, now)}
}

// window is "last 1h" for a window that ends now, clock times otherwise.
func window(start, end, now time.Time) string {
	if d := now.Sub(end); d >= 0 && d < time.Minute {
		return "last " + span(end.Sub(start))
	}
	layout := clockLayout(start, end)
	return start.UTC().Format(layout) + " – " + end.UTC().Format(layout) + " UTC"
}

// span writes a duration in its largest units: "45s", "33m", "1h",
// "1h30m", "2d", "2d1h" (minutes are left out past a day).
func span(d time.Duration) string {
	if d < time.Minute {
		return d.Round(time.Second).String()
	}
	d = d.Round(time.Minute)
	days, h, m := d/(24*time.Hour), d%(24*time.Hour)/time.Hour, d%time.Hour/time.Minute
	var b strings.Builder
	if days > 0 {
		fmt.Fprintf(&b, "%dd", days)
	}
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 && days == 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
