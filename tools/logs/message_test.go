package logs

import "testing"

func TestStructuredMessage(t *testing.T) {
	tests := []struct {
		name, line, want string
		ok               bool
	}{
		{"JSON msg", `{"time":"2026-01-02T10:00:00Z","level":"info","msg":"request completed","status":200}`, "request completed", true},
		{"JSON message key in any case", `{"Message":"disk full","Level":"error"}`, "disk full", true},
		{"msg beats a later message", `{"message":"outer","msg":"inner"}`, "inner", true},
		{"Serilog compact", `{"@t":"2026-01-02T10:00:00Z","@m":"User alice logged in","@i":"a1b2"}`, "User alice logged in", true},
		{"escapes", `{"msg":"quoted \"name\"\tand\u00e9"}`, "quoted \"name\"\tandé", true},
		{"Docker wrapping logfmt", `{"log":"level=info msg=\"cache warmed\" n=3\n","stream":"stdout"}`, "cache warmed", true},
		{"Docker wrapping text", `{"log":"plain text line\n","stream":"stdout"}`, "plain text line", true},
		{"an unknown key, found as prose", `{"ts":1700000000,"lvl":"I","what_happened":"order shipped to customer","id":"a1"}`, "order shipped to customer", true},
		{"no message: the fields", `{"ts":1,"latency_ms":12,"route":"/cart"}`, "latency_ms=12 route=/cart", true},
		{"numbers with leading zeros do not stop it", `{"msg":"request failed","trace_id":000123}`, "request failed", true},
		{"an empty message is not one", `{"msg":"","event":"retry scheduled"}`, "retry scheduled", true},
		{"nested objects", `{"http":{"status":500,"path":"/x"},"message":"upstream error"}`, "upstream error", true},
		{"logfmt", `ts=2026-01-02T10:00:00Z level=info msg="request completed" status=200`, "request completed", true},
		{"logfmt, bare message", `level=warn msg=retrying attempt=3`, "retrying", true},
		{"logfmt, escaped quotes", `level=error msg="bad \"token\"" code=401`, `bad "token"`, true},
		{"logfmt without a message", `level=info status=200 path=/x`, `level=info status=200 path=/x`, false},
		{"one pair is not logfmt", `msg=hello`, `msg=hello`, false},
		{"text", `Connection from 10.0.0.1 closed`, `Connection from 10.0.0.1 closed`, false},
		{"broken JSON", `{"msg":"unterminated}`, `{"msg":"unterminated}`, false},
		{"not an object", `{not json}`, `{not json}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := StructuredMessage(tt.line)
			if got != tt.want || ok != tt.ok {
				t.Errorf("StructuredMessage(%s) = %q, %v; want %q, %v", tt.line, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestMineTextKeepsFields(t *testing.T) {
	got := MineText(`{"time":"2026-01-02T10:00:00Z","service":"cart","msg":"request failed","status":500,"error":"dial tcp: refused","trace_id":00012}`)
	want := `request failed error="dial tcp: refused" service=cart status=500 trace_id=00012`
	if got != want {
		t.Errorf("MineText = %q, want %q", got, want)
	}
}
