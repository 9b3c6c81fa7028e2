package clock

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestResolve(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	now := time.Date(2026, 11, 24, 13, 0, 0, 0, berlin) // a Tuesday, 13:00 in Berlin
	tests := []struct {
		in   string
		want string // RFC 3339, or "error"
	}{
		{"now", "2026-11-24T13:00:00+01:00"},
		{"12:30", "2026-11-24T12:30:00+01:00"},
		{"14:00", "2026-11-23T14:00:00+01:00"}, // later today has not happened: yesterday's
		{"14:00:30", "2026-11-23T14:00:30+01:00"},
		{"today 09:30", "2026-11-24T09:30:00+01:00"},
		{"Yesterday 23:00", "2026-11-23T23:00:00+01:00"},
		{"2h ago", "2026-11-24T11:00:00+01:00"},
		{"90 minutes ago", "2026-11-24T11:30:00+01:00"},
		{"1.5h ago", "2026-11-24T11:30:00+01:00"},
		{"-30m", "2026-11-24T12:30:00+01:00"},
		{"now-1d", "2026-11-23T13:00:00+01:00"},
		{"2 weeks ago", "2026-11-10T13:00:00+01:00"},
		{"2026-11-24 08:15", "2026-11-24T08:15:00+01:00"},
		{"2026-11-24T08:15:00Z", "2026-11-24T09:15:00+01:00"},
		{"1795435200", "2026-11-23T13:00:00+01:00"},
		{"25:00", "error"},
		{"teatime", "error"},
		{"", "error"},
	}
	for _, tt := range tests {
		got, err := Resolve(tt.in, now)
		if tt.want == "error" {
			if err == nil {
				t.Errorf("Resolve(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("Resolve(%q): %v", tt.in, err)
			continue
		}
		if got.In(berlin).Format(time.RFC3339) != tt.want {
			t.Errorf("Resolve(%q) = %s, want %s", tt.in, got.In(berlin).Format(time.RFC3339), tt.want)
		}
	}
}

func TestRun(t *testing.T) {
	tool := Tool{Now: func() time.Time { return time.Date(2026, 11, 24, 15, 4, 5, 0, time.UTC) }}
	res, err := tool.Run(context.Background(), json.RawMessage(`{"resolve": ["14:00", "bogus"]}`))
	if err != nil || res.Error != "" {
		t.Fatalf("err=%v res.Error=%q", err, res.Error)
	}
	ans := res.Data.(Answer)
	if ans.NowUTC != "2026-11-24T15:04:05Z" || ans.Weekday != "Tuesday" || ans.Resolved[0].RFC3339 != "2026-11-24T14:00:00Z" || ans.Resolved[1].Error == "" {
		t.Errorf("answer = %+v", ans)
	}
	if !strings.Contains(res.Text, `"unix": 1795528800`) {
		t.Errorf("text = %s", res.Text)
	}
	for _, tt := range []struct{ args, want string }{
		{`{"timezone": "Mars/Olympus"}`, `unknown time zone "Mars/Olympus"`},
		{`{"resolve": ["nope"]}`, "none of the expressions could be resolved"},
		{`{"tz": "UTC"}`, `unknown field "tz"`},
	} {
		res, err := tool.Run(context.Background(), json.RawMessage(tt.args))
		if err != nil || !strings.Contains(res.Error, tt.want) {
			t.Errorf("Run(%s) = %q, %v; want %q", tt.args, res.Error, err, tt.want)
		}
	}
}
