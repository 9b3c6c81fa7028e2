package traces

import (
	"fmt"
	"strings"
	"time"
)

// fmtDur writes a duration the way people read latency: 850µs, 12.3ms,
// 1.42s.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < 100*time.Millisecond:
		return trimZero(fmt.Sprintf("%.1f", float64(d.Microseconds())/1000)) + "ms"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < 100*time.Second:
		return trimZero(fmt.Sprintf("%.2f", d.Seconds())) + "s"
	}
	return d.Round(time.Second).String()
}

func trimZero(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// shortID abbreviates a trace ID in running text; the full ID is in the
// examples list.
func shortID(id string) string { return clean(id, 32) }

// body writes the summary's untrusted part (names, messages) within
// budget bytes, the most telling sections first: failures, what is new,
// where time went, the calls, the critical path. It returns the trace IDs
// it cited.
func (s *Summary) body(budget int) (string, []string) {
	var b strings.Builder
	var cited []string
	cite := func(id string) string {
		if id == "" {
			return ""
		}
		for _, c := range cited {
			if c == id {
				return id
			}
		}
		cited = append(cited, id)
		return id
	}
	left := func() int { return budget - b.Len() }
	// line adds a row when it fits, leaving room for later sections' heads.
	line := func(format string, a ...any) bool {
		l := fmt.Sprintf(format, a...)
		if len(l)+1 > left() {
			return false
		}
		b.WriteString(l)
		b.WriteByte('\n')
		return true
	}
	if len(s.Failing) > 0 {
		line("Failing (the deepest failing span of each error trace, grouped):")
		for _, f := range s.Failing {
			msg := ""
			if f.Message != "" {
				msg = fmt.Sprintf(" %q", clean(f.Message, 120))
			}
			if !line("  %s %s%s ×%d e.g. trace %s", clean(f.Service, 60), clean(f.Operation, 80), msg, f.Count, shortID(f.Example)) {
				break
			}
			cite(f.Example)
		}
	}
	if c := s.New; c != nil && (len(c.Paths)+len(c.Slower)+len(c.Errors)) > 0 {
		line("New compared with the hour before:")
		for _, e := range c.Errors {
			if !line("  errors begin: %s ×%d (none before) e.g. trace %s", clean(e.What, 140), e.Count, shortID(e.Example)) {
				break
			}
			cite(e.Example)
		}
		for _, sl := range c.Slower {
			if !line("  slower: %s p95 %s → %s (%.1f×) e.g. trace %s", clean(sl.What, 140), fmtDur(sl.Before), fmtDur(sl.After),
				float64(sl.After)/float64(sl.Before), shortID(sl.Example)) {
				break
			}
			cite(sl.Example)
		}
		for _, p := range c.Paths {
			call := "a new combination of known calls"
			if p.Call != "" {
				call = "calls " + clean(p.Call, 160)
			}
			if !line("  path: %s ×%d e.g. trace %s", call, p.Count, shortID(p.Example)) {
				break
			}
			cite(p.Example)
		}
	} else if c != nil && s.BeforeTraces > 0 {
		line("Nothing new compared with the hour before (paths, errors and p95 per call and operation alike).")
	}
	if len(s.Services) > 0 {
		parts := make([]string, 0, len(s.Services))
		for _, st := range s.Services {
			parts = append(parts, fmt.Sprintf("%s %s (%.0f%%)", clean(st.Service, 60), fmtDur(st.Self), 100*st.Share))
		}
		line("Self time by service (time on the wire counts to the caller): %s", strings.Join(parts, ", "))
	}
	if len(s.Edges) > 0 {
		line("Calls (caller → callee: calls, errors, client p50/p95, network p95 = client − server):")
		for _, e := range s.Edges {
			if !line("  %s → %s: %d, %d err, %s/%s, net %s", clean(e.Caller, 60), clean(e.Callee, 60), e.Calls, e.Errors,
				fmtDur(e.ClientP50), fmtDur(e.ClientP95), fmtDur(e.NetworkP95)) {
				break
			}
		}
	}
	if sl := s.Slowest; sl != nil && len(sl.Steps) > 0 {
		var parts []string
		shown := sl.Steps
		const maxSteps = 12
		if len(shown) > maxSteps {
			shown = shown[:maxSteps]
		}
		for _, st := range shown {
			parts = append(parts, fmt.Sprintf("%s %s %s", clean(st.Service, 60), clean(st.Operation, 80), fmtDur(st.Self)))
		}
		more := ""
		if len(sl.Steps) > maxSteps {
			more = fmt.Sprintf(" → … %d more", len(sl.Steps)-maxSteps)
		}
		if line("Critical path of the slowest trace %s (%s; self time per step): %s%s", shortID(sl.TraceID), fmtDur(sl.Duration), strings.Join(parts, " → "), more) {
			cite(sl.TraceID)
		}
	}
	return b.String(), cited
}
