// Package clock is the current_time tool: it tells the model what time it
// is and turns the times people write ("since 14:00", "2h ago",
// "yesterday 09:30") into the absolute timestamps that queries need.
// Language models are unreliable at this arithmetic, and an off-by-a-day
// query range silently answers the wrong question.
package clock

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/watchkeeper/watchkeeper/tools"
)

// Tool is the current_time tool. The zero value uses time.Now.
type Tool struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Spec describes the tool.
func (Tool) Spec() tools.Spec {
	return tools.Spec{
		Name: "current_time", Evidence: tools.EvidenceNone,
		Description: "Returns the current time, and resolves time expressions into absolute timestamps (RFC 3339 and Unix seconds) for queries. " +
			`Accepts "14:00" (the most recent 14:00), "14:00:30", "2h ago", "-90m", "now-1d", "today 09:30", "yesterday 23:00", ` +
			`"2026-11-24 14:00", RFC 3339, and Unix seconds. Use it before building a query over a time range a person described.`,
		Parameters: tools.Object(map[string]*tools.Schema{
			"timezone": tools.String(`IANA time zone for wall-clock expressions, e.g. "Europe/Berlin"; default UTC.`),
			"resolve":  tools.Array("Time expressions to resolve.", tools.String("a time expression")),
		}),
	}
}

type args struct {
	Timezone string   `json:"timezone"`
	Resolve  []string `json:"resolve"`
}

// Resolved is one resolved expression.
type Resolved struct {
	Expression string `json:"expression"`
	RFC3339    string `json:"rfc3339,omitempty"`
	Unix       int64  `json:"unix,omitempty"`
	Error      string `json:"error,omitempty"`
}

// Answer is the tool's structured result.
type Answer struct {
	NowUTC   string     `json:"now_utc"`
	NowLocal string     `json:"now_local"`
	Timezone string     `json:"timezone"`
	Unix     int64      `json:"now_unix"`
	Weekday  string     `json:"weekday"`
	Resolved []Resolved `json:"resolved,omitempty"`
}

// Run answers a call.
func (t Tool) Run(_ context.Context, raw json.RawMessage) (tools.Result, error) {
	var a args
	if err := tools.DecodeArgs(raw, &a); err != nil {
		return tools.Errorf("%v", err), nil
	}
	loc := time.UTC
	if a.Timezone != "" {
		l, err := time.LoadLocation(a.Timezone)
		if err != nil {
			return tools.Errorf("unknown time zone %q; use an IANA name such as UTC, Europe/Berlin or America/New_York", a.Timezone), nil
		}
		loc = l
	}
	if len(a.Resolve) > 50 {
		return tools.Errorf("at most 50 expressions per call, got %d", len(a.Resolve)), nil
	}
	now := time.Now()
	if t.Now != nil {
		now = t.Now()
	}
	now = now.In(loc)
	ans := Answer{
		NowUTC:   now.UTC().Format(time.RFC3339),
		NowLocal: now.Format(time.RFC3339),
		Timezone: loc.String(),
		Unix:     now.Unix(),
		Weekday:  now.Weekday().String(),
	}
	failed := 0
	for _, e := range a.Resolve {
		r := Resolved{Expression: e}
		if ts, err := Resolve(e, now); err != nil {
			r.Error = err.Error()
			failed++
		} else {
			r.RFC3339, r.Unix = ts.Format(time.RFC3339), ts.Unix()
		}
		ans.Resolved = append(ans.Resolved, r)
	}
	res, err := tools.JSON(ans)
	if err != nil {
		return tools.Result{}, err
	}
	if failed > 0 && failed == len(a.Resolve) {
		res.Error = "none of the expressions could be resolved; see each one's error"
	}
	return res, nil
}

var (
	reAgo      = regexp.MustCompile(`^(\d+(?:\.\d+)?)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hr|hrs|hours?|d|days?|w|weeks?)\s+ago$`)
	reOffset   = regexp.MustCompile(`^(?:now\s*)?-\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$`)
	reClock    = regexp.MustCompile(`^(?:(today|yesterday)\s+)?(\d{1,2}):(\d{2})(?::(\d{2}))?$`)
	unitLength = map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}
)

// Resolve turns expression e into a time, relative to now (whose location
// is used for wall-clock times). A bare wall-clock time means its most
// recent occurrence: at 13:00, "14:00" is yesterday's.
func Resolve(e string, now time.Time) (time.Time, error) {
	s := strings.ToLower(strings.TrimSpace(e))
	switch s {
	case "":
		return time.Time{}, fmt.Errorf("empty expression")
	case "now":
		return now, nil
	}
	if m := reAgo.FindStringSubmatch(s); m != nil {
		return now.Add(-amount(m[1], m[2][0])), nil
	}
	if m := reOffset.FindStringSubmatch(s); m != nil {
		return now.Add(-amount(m[1], m[2][0])), nil
	}
	if m := reClock.FindStringSubmatch(s); m != nil {
		h, _ := strconv.Atoi(m[2])
		mi, _ := strconv.Atoi(m[3])
		sec := 0
		if m[4] != "" {
			sec, _ = strconv.Atoi(m[4])
		}
		if h > 23 || mi > 59 || sec > 59 {
			return time.Time{}, fmt.Errorf("%q is not a valid time of day", e)
		}
		y, mo, d := now.Date()
		t := time.Date(y, mo, d, h, mi, sec, 0, now.Location())
		switch m[1] {
		case "yesterday":
			t = t.AddDate(0, 0, -1)
		case "":
			if t.After(now) {
				t = t.AddDate(0, 0, -1)
			}
		}
		return t, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, strings.TrimSpace(e), now.Location()); err == nil {
			return t, nil
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 1e9 && n < 1e10 {
		return time.Unix(n, 0).In(now.Location()), nil
	}
	return time.Time{}, fmt.Errorf(`cannot read %q; use forms like "14:00", "2h ago", "-30m", "yesterday 09:30", "2026-11-24 14:00" or RFC 3339`, e)
}

func amount(n string, unit byte) time.Duration {
	f, _ := strconv.ParseFloat(n, 64)
	return time.Duration(f * float64(unitLength[unit]))
}
