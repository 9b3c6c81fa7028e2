package alerting

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// maxSummaries is how many alerts of a group Line quotes before "+N more".
const maxSummaries = 2

// Line renders a notification as one line for people (the demo's
// terminal, the sandbox's Slack notices):
//
//	🔔 [FIRING] HighErrorRate {namespace=shop, service=checkout} — checkout: 24.1% of requests fail
//	🔔 [FIRING] UpstreamLatencyHigh (2 alerts) — calls from frontend to checkout: p99 2339ms; calls from …
//	🔔 [RESOLVED] HighErrorRate {namespace=shop, service=checkout} — resolved at 14:12:15 UTC (while firing: checkout: 24.1% of requests fail)
//
// The labels are the group's, else those its alerts share, so a group
// whose grouping labels its alerts lack is not shown as "{}". A resolved
// alert's annotations still hold the value of its last firing evaluation;
// Line labels it as such rather than quote it as current.
func Line(m WebhookMessage) string {
	resolved := m.Status == "resolved"
	status := "FIRING"
	if resolved {
		status = "RESOLVED"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "🔔 [%s] %s", status, alertName(m))
	if ls := shownLabels(m); ls != "" {
		b.WriteString(" " + ls)
	}
	var firing, gone []WebhookAlert
	for _, a := range m.Alerts {
		if a.Status == "resolved" {
			gone = append(gone, a)
		} else {
			firing = append(firing, a)
		}
	}
	switch n := len(m.Alerts); {
	case n > 1 && len(firing) > 0 && len(gone) > 0:
		fmt.Fprintf(&b, " (%d alerts, %d resolved)", n, len(gone))
	case n > 1:
		fmt.Fprintf(&b, " (%d alerts)", n)
	}
	if resolved {
		b.WriteString(" — resolved")
		if end := lastEnd(m.Alerts); !end.IsZero() {
			b.WriteString(" at " + end.UTC().Format("15:04:05 UTC"))
		}
		if s := summaries(m.Alerts, m.CommonAnnotations); s != "" {
			b.WriteString(" (while firing: " + s + ")")
		}
		return b.String()
	}
	if s := summaries(firing, m.CommonAnnotations); s != "" {
		b.WriteString(" — " + s)
	}
	return b.String()
}

func alertName(m WebhookMessage) string {
	if n := m.GroupLabels["alertname"]; n != "" {
		return n
	}
	if n := m.CommonLabels["alertname"]; n != "" {
		return n
	}
	return "alert"
}

// shownLabels are the group's labels other than alertname; when the group
// has none, the labels its alerts share other than alertname and
// severity. "" when there are none.
func shownLabels(m WebhookMessage) string {
	pick := func(ls map[string]string, skip ...string) []string {
		var out []string
		for k, v := range ls {
			if k == "alertname" || (len(skip) > 0 && k == skip[0]) {
				continue
			}
			out = append(out, k+"="+v)
		}
		sort.Strings(out)
		return out
	}
	ls := pick(m.GroupLabels)
	if len(ls) == 0 {
		ls = pick(m.CommonLabels, "severity")
	}
	if len(ls) == 0 {
		return ""
	}
	return "{" + strings.Join(ls, ", ") + "}"
}

// summaries is the group's common summary, else the first alerts' own.
func summaries(alerts []WebhookAlert, common map[string]string) string {
	if s := common["summary"]; s != "" {
		return s
	}
	var out []string
	for _, a := range alerts {
		if s := a.Annotations["summary"]; s != "" {
			out = append(out, s)
		}
	}
	if len(out) > maxSummaries {
		out = append(out[:maxSummaries], fmt.Sprintf("+%d more", len(out)-maxSummaries))
	}
	return strings.Join(out, "; ")
}

func lastEnd(alerts []WebhookAlert) time.Time {
	var end time.Time
	for _, a := range alerts {
		if a.EndsAt.After(end) {
			end = a.EndsAt
		}
	}
	return end
}
