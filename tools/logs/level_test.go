package logs

import (
	"strings"
	"testing"
)

func TestDetectLevel(t *testing.T) {
	for _, tt := range []struct {
		line string
		want Level
	}{
		{`{"level":"error","msg":"payment failed"}`, LevelError},
		{`{"severity": "WARNING", "message": "slow"}`, LevelWarn},
		{`ts=2026-11-24T14:00:00Z level=info msg="request served"`, LevelInfo},
		{`time="2026-11-24" lvl=dbug msg=x`, LevelUnknown},
		{`ts=1 level=debug msg=x`, LevelDebug},
		{`E1124 14:00:00.123456   1 controller.go:114] sync failed`, LevelError},
		{`W1124 14:00:00.123456   1 reflector.go:5] watch closed`, LevelWarn},
		{`I1124 14:00:00.123456   1 main.go:1] started`, LevelInfo},
		{`2026-11-24 14:00:00 [ERROR] db: connection refused`, LevelError},
		{`2026-11-24 14:00:00,123 WARN  [main] cache miss`, LevelWarn},
		{`2026-11-24 14:00:00.000 UTC [42] FATAL:  password authentication failed`, LevelFatal},
		{`2026-11-24 14:00:00.000 UTC [42] ERROR:  deadlock detected`, LevelError},
		{`panic: runtime error: index out of range`, LevelUnknown}, // lower case: prose, not a level
		{`PANIC: runtime error`, LevelFatal},
		{`GET /health 200 0 errors`, LevelUnknown},
		{`the ERRORS table was vacuumed`, LevelUnknown},
		{`INFORMATION_SCHEMA queried`, LevelUnknown},
		{`1:M 24 Nov 2026 14:00:00.000 * Ready to accept connections`, LevelUnknown},
		{strings.Repeat("x", 300) + " ERROR late", LevelUnknown},
		{`Level=Error something`, LevelError},
		{`loglevel=warn`, LevelWarn},
		{`userlevel=error`, LevelUnknown},
	} {
		if got := DetectLevel(tt.line); got != tt.want {
			t.Errorf("DetectLevel(%.60q) = %v, want %v", tt.line, got, tt.want)
		}
	}
}

func TestLevelPatternIsASupersetOfDetectLevel(t *testing.T) {
	lines := []string{
		`{"level":"error","msg":"x"}`, `level=warn msg=y`, `E1124 14:00:00.1 x`, `[ERROR] z`, `FATAL: a`,
		`level=info msg=ok`, `I1124 14:00:00.1 ok`, `DEBUG noise`, `{"severity":"critical"}`, `level=dpanic`,
	}
	for min := LevelTrace; min <= LevelFatal; min++ {
		m, err := NewMatcher(Query{Regex: LevelPattern(min)})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			if DetectLevel(l) >= min && !m.Match(l) {
				t.Errorf("LevelPattern(%v) drops %q, which is %v", min, l, DetectLevel(l))
			}
		}
	}
	m, _ := NewMatcher(Query{Regex: LevelPattern(LevelError)})
	if m.Match(`level=info msg=ok`) {
		t.Error("LevelPattern(error) should drop info lines")
	}
}

func TestMatcher(t *testing.T) {
	m, err := NewMatcher(Query{Contains: []string{"payment", "timeout"}, Regex: `order=\d+`, MinLevel: LevelWarn})
	if err != nil {
		t.Fatal(err)
	}
	for line, want := range map[string]bool{
		`level=error msg="payment timeout" order=12`: true,
		`level=info msg="payment timeout" order=12`:  false,
		`level=error msg="payment failed" order=12`:  false,
		`level=error msg="payment timeout" order=x`:  false,
	} {
		if got := m.Match(line); got != want {
			t.Errorf("Match(%q) = %v", line, got)
		}
	}
	if _, err := NewMatcher(Query{Regex: "("}); err == nil {
		t.Error("a bad regex must fail")
	}
}

func TestParseLevel(t *testing.T) {
	for s, want := range map[string]Level{"ERR": LevelError, "Warning": LevelWarn, "crit": LevelFatal, " info ": LevelInfo, "trace": LevelTrace} {
		if got, ok := ParseLevel(s); !ok || got != want {
			t.Errorf("ParseLevel(%q) = %v %v", s, got, ok)
		}
	}
	if _, ok := ParseLevel("loud"); ok {
		t.Error("unknown words are not levels")
	}
}
