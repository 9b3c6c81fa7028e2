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

// leak is one line of testdata/leaks.txt.
type leak struct{ secret, text string }

// readLeaks reads testdata/leaks.txt: the secret, a tab, and a text holding
// it in which \n stands for a line break.
func readLeaks(t *testing.T) []leak {
	t.Helper()
	var out []leak
	for _, line := range readCorpus(t, "leaks.txt") {
		secret, text, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("bad corpus line %q", line)
		}
		out = append(out, leak{secret, strings.ReplaceAll(text, `\n`, "\n")})
	}
	return out
}

func TestLeaksAreRedacted(t *testing.T) {
	r := New()
	for _, l := range readLeaks(t) {
		got := r.Redact(l.text)
		if strings.Contains(got, l.secret) || !strings.Contains(got, Mask) {
			t.Errorf("Redact(%q) = %q: secret %q survived", l.text, got, l.secret)
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

// TestSecurityRedactionGaps covers the kinds of secret that once got
// through: each row's secrets must be gone, and what tells a reader what
// was there (the key, the host) must stay.
func TestSecurityRedactionGaps(t *testing.T) {
	for _, tt := range []struct {
		name    string
		in      string
		secrets []string
		keep    []string
		want    string // the exact output, when it matters
	}{
		{name: "PGPASSWORD", in: "PGPASSWORD=s3cr3tPg psql -h db",
			want: "PGPASSWORD=[REDACTED] psql -h db"},
		{name: "SECRET_KEY_BASE", in: "export SECRET_KEY_BASE=abcdef0123456789abcdef0123456789",
			want: "export SECRET_KEY_BASE=[REDACTED]"},
		{name: "bare key=", in: "GET /v1/status?key=AbC123xyz789QwErTy&format=json",
			want: "GET /v1/status?key=[REDACTED]&format=json"},
		{name: "api_key YAML", in: "api_key: Zx9-Qw8-Er7-Ty6", want: "api_key: [REDACTED]"},
		{name: "client_secret JSON", in: `{"client_secret": "cs-Ab12Cd34Ef56"}`, want: `{"client_secret": "[REDACTED]"}`},
		{name: "kubeconfig client-key-data", in: "    client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQo=",
			want: "    client-key-data: [REDACTED]"},
		{name: "kubeconfig user token", in: "  user:\n    token: kube-sa-Tok3n-abcdef0123",
			want: "  user:\n    token: [REDACTED]"},
		{name: "letter-only bearer", in: "Authorization: Bearer abcdefghijklmnopqrstuvwxyz",
			want: "Authorization: Bearer [REDACTED]"},
		{name: "letter-only bearer in a JSON header", in: `{"Authorization": "Bearer QwErTyUiOpAsDfGh"}`,
			want: `{"Authorization": "Bearer [REDACTED]"}`},
		{name: "letter-only bearer in a printed http.Header", in: `map[Authorization:[Bearer AbCdEfGhIjKl] Cookie:[sid=9f8e7d6c5b4a]]`,
			want: `map[Authorization:[Bearer [REDACTED]] Cookie:[sid=[REDACTED]]]`},
		{name: "token-only userinfo (GitHub)", in: "https://ghp_16C7e42F292c6912E7710c838347Ae178B4a@github.com/org/repo.git",
			secrets: []string{"ghp_16C7e42F"}, keep: []string{"https://", "@github.com/org/repo.git"}},
		{name: "token-only userinfo", in: "git clone https://AbCdEf123456@git.example.com/org/repo.git",
			want: "git clone https://[REDACTED]@git.example.com/org/repo.git"},
		{name: "slash in a URL password", in: "postgres://user:pa/ss@db:5432/x",
			want: "postgres://user:[REDACTED]@db:5432/x"},
		{name: "slash in an assignment", in: "password=ab/cd+ef user=app", want: "password=[REDACTED] user=app"},
		{name: "Cookie", in: "Cookie: session=9f8e7d6c5b4a3f2e; csrftoken=Qw3rTy8uIoPa",
			want: "Cookie: session=[REDACTED]; csrftoken=[REDACTED]"},
		{name: "Set-Cookie", in: "Set-Cookie: sid=31d4d96e407aad42; Path=/; Secure; HttpOnly",
			want: "Set-Cookie: sid=[REDACTED]; Path=/; Secure; HttpOnly"},
		{name: "npm token", in: "published with npm_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789 from CI",
			want: "published with [REDACTED] from CI"},
		{name: "Grafana service account token", in: "sa glsa_AbCdEfGhIjKlMnOpQrStUvWxYz012345_0a1b2c3d ok",
			want: "sa [REDACTED] ok"},
		{name: "Grafana Cloud token", in: "policy glc_eyJvIjoiMTIzNDU2IiwibiI6InN0YWNrLTEyMzQ1NiJ9 ok",
			want: "policy [REDACTED] ok"},
		{name: "Slack refresh token", in: "refresh xoxe.xoxp-1-Mi0yLTEyMzQ1Njc4OTAtMTIz ok",
			want: "refresh [REDACTED] ok"},
		{name: "JSON value on the next line", in: "{\n  \"password\":\n    \"hunter2-long\",\n  \"user\": \"app\"\n}",
			want: "{\n  \"password\":\n    \"[REDACTED]\",\n  \"user\": \"app\"\n}"},
		{name: "YAML folded block", in: "db:\n  password: >-\n    hunter2-folded\n    more-of-it\n  user: app\n",
			want: "db:\n  password: >-\n    [REDACTED]\n    [REDACTED]\n  user: app\n"},
		{name: "YAML literal block", in: "password: |\n  hunter2-literal\n\n  line-two\nuser: app",
			want: "password: |\n  [REDACTED]\n\n  [REDACTED]\nuser: app"},
		{name: "YAML plain value on the next line", in: "password:\n  hunter2-plain\nuser: app",
			want: "password:\n  [REDACTED]\nuser: app"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := New().Redact(tt.in)
			if tt.want != "" && got != tt.want {
				t.Errorf("Redact(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
			for _, s := range tt.secrets {
				if strings.Contains(got, s) {
					t.Errorf("Redact(%q) = %q: %q survived", tt.in, got, s)
				}
			}
			for _, k := range tt.keep {
				if !strings.Contains(got, k) {
					t.Errorf("Redact(%q) = %q: lost %q", tt.in, got, k)
				}
			}
		})
	}
}

// TestSecurityRedactionKeepsBenignText: the clean corpus read as one text
// (so that a line is also seen after the line before it, as a key on one
// line can make the next a value) comes through byte for byte, and so does
// every line of it on its own.
func TestSecurityRedactionKeepsBenignText(t *testing.T) {
	b, err := os.ReadFile("testdata/clean.txt")
	if err != nil {
		t.Fatal(err)
	}
	r := New()
	if got := r.Redact(string(b)); got != string(b) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(b), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Errorf("line %d changed:\n got %q\nwant %q", i+1, gl[i], wl[i])
			}
		}
		if len(gl) != len(wl) {
			t.Errorf("got %d lines, want %d", len(gl), len(wl))
		}
	}
}

// TestCopyStreamsLikeRedact: Copy, which reads a line at a time, writes
// what Redact makes of the whole text, including the secrets that span
// lines, and counts the masks it wrote.
func TestCopyStreamsLikeRedact(t *testing.T) {
	var texts []string
	for _, l := range readLeaks(t) {
		texts = append(texts, l.text)
	}
	for name, in := range map[string]string{
		"leaks":       strings.Join(texts, "\n") + "\n",
		"private key": "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq9\nabcdEFGH\n-----END RSA PRIVATE KEY-----\nafter",
		"no newline":  "password: |\n  hunter2-literal",
	} {
		t.Run(name, func(t *testing.T) {
			r := New("configured-literal")
			var out strings.Builder
			n, err := r.Copy(&out, strings.NewReader(in+" configured-literal"))
			want := r.Redact(in + " configured-literal")
			if err != nil || out.String() != want {
				t.Fatalf("Copy = %q, %v\nwant %q", out.String(), err, want)
			}
			if n != strings.Count(want, Mask) {
				t.Errorf("Copy counted %d masks, wrote %d", n, strings.Count(want, Mask))
			}
		})
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
	for _, l := range []string{"password=x", "postgres://a:b@c", "Bearer abcdefgh1", "-----BEGIN PRIVATE KEY-----",
		"postgres://u:p/w@h/x", "https://AbCdEf123456@h/p", "Cookie: a=b; c=d", "Set-Cookie: s=1; Path=/; HttpOnly",
		"password: |\n  x\n  y\nz: 1", "\"password\":\n \"x\"", "password:\n  x", "key=AbC123xyz789QwErTy",
		"-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\nafter", "a{secret=\"b\"}", "PWD=/x"} {
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
