package redact

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func readCorpus(t *testing.T, name string) []string {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := sc.Text(); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines
}

func TestLeaksAreRedacted(t *testing.T) {
	r := New()
	for _, line := range readCorpus(t, "leaks.txt") {
		secret, text, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("bad corpus line %q", line)
		}
		got := r.Redact(text)
		if strings.Contains(got, secret) || !strings.Contains(got, Mask) {
			t.Errorf("Redact(%q) = %q: secret %q survived", text, got, secret)
		}
	}
}

func TestCleanTextIsUntouched(t *testing.T) {
	r := New()
	for _, line := range readCorpus(t, "clean.txt") {
		if got := r.Redact(line); got != line {
			t.Errorf("Redact(%q) = %q, want it unchanged", line, got)
		}
	}
}

func TestExactRedactions(t *testing.T) {
	r := New()
	for _, tt := range []struct{ in, want string }{
		{`postgres://app:sup3r@db:5432/x`, `postgres://app:[REDACTED]@db:5432/x`},
		{`{"password": "s3cret", "user": "app"}`, `{"password": "[REDACTED]", "user": "app"}`},
		{`Authorization: Bearer abc.def-123`, `Authorization: Bearer [REDACTED]`},
		{`DB_PASSWORD=hunter2 next=1`, `DB_PASSWORD=[REDACTED] next=1`},
		{`a AKIAIOSFODNN7EXAMPLE b`, `a [REDACTED] b`},
	} {
		if got := r.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

func TestRedactedJSONStaysValid(t *testing.T) {
	in := `{"db": {"password": "p4ss", "dsn": "postgres://u:p4ss@h/db"}, "token": "t0k3n-1234"}`
	got := New().Redact(in)
	if !json.Valid([]byte(got)) {
		t.Fatalf("redacted JSON is invalid: %s", got)
	}
	if strings.Contains(got, "p4ss") || strings.Contains(got, "t0k3n") {
		t.Errorf("secrets survived: %s", got)
	}
}

func TestPrivateKey(t *testing.T) {
	in := "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq9\nabcdEFGH\n-----END RSA PRIVATE KEY-----\nafter"
	got := New().Redact(in)
	if strings.Contains(got, "MIIEow") || strings.Contains(got, "abcdEFGH") || !strings.HasSuffix(got, "\nafter") {
		t.Errorf("got %q", got)
	}
	// A key cut off by truncation is hidden to the end.
	cut := "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA"
	if got := New().Redact(cut); strings.Contains(got, "b3Blbn") {
		t.Errorf("truncated key survived: %q", got)
	}
}

func TestLiterals(t *testing.T) {
	r := New("my-configured-token-value", "abc") // too short to hide
	got := r.Redact("sent my-configured-token-value to abc")
	if got != "sent [REDACTED] to abc" {
		t.Errorf("got %q", got)
	}
}

func FuzzRedactNeverGrowsSecrets(f *testing.F) {
	for _, l := range []string{"password=x", "postgres://a:b@c", "Bearer abcdefgh1", "-----BEGIN PRIVATE KEY-----"} {
		f.Add(l)
	}
	r := New()
	f.Fuzz(func(t *testing.T, s string) {
		once := r.Redact(s)
		if twice := r.Redact(once); twice != once {
			t.Fatalf("redaction is not idempotent: %q -> %q -> %q", s, once, twice)
		}
	})
}

func BenchmarkRedact(b *testing.B) {
	cases := map[string]string{
		"clean_logs": strings.Repeat(`ts=2026-11-24T14:02:11Z level=info service=checkout msg="GET /api/cart 200" duration_ms=12 trace_id=4bf92f3577b34da6`+"\n", 2000),
		"one_secret_in_50_lines": strings.Repeat(strings.Repeat(`ts=2026-11-24T14:02:11Z level=info service=checkout msg="GET /api/cart 200" duration_ms=12 trace_id=4bf92f3577b34da6`+"\n", 49)+
			`ts=2026-11-24T14:02:12Z level=error msg="db connect" dsn=postgres://app:hunter2@db:5432/shop`+"\n", 40),
		"secret_every_line": strings.Repeat(`level=error msg="auth failed" password=hunter2 url=postgres://a:b@db/x Authorization: Bearer abc123def`+"\n", 2000),
	}
	r := New()
	for name, text := range cases {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				r.Redact(text)
			}
		})
	}
}
