package cli_test

import (
	"encoding/csv"
	"strings"
	"testing"
)

// TestAnalyzeLogsFormatContract runs the format examples through
// the command: fields are found by name whatever groups the format has,
// so the templates are those of the messages, not of a PID or "<*>".
func TestAnalyzeLogsFormatContract(t *testing.T) {
	home := isolate(t)
	tests := []struct {
		format string
		lines  []string
		want   []string // template per line
	}{
		{`<Date> <Time> <Host> <Service>(\[<Pid>\])?: <Content>`, []string{
			"Jun-14 15:16:01 combo sshd(pam_unix)[19939]: session opened for user root by (uid=0)",
			"Jun-14 15:16:02 combo kernel: session opened for user news by (uid=9)",
			"Jun-14 15:16:03 combo crond[2915]: session closed for user root",
			"Jun-14 15:16:04 combo su(pam_unix)[2916]: session opened for user cyrus by (uid=0)",
			"Jun-14 15:16:05 combo su(pam_unix)[2917]: session opened for user test by (uid=0)",
		}, []string{"session opened for user <*> by <*>", "session opened for user <*> by <*>", "session closed for user root",
			"session opened for user <*> by <*>", "session opened for user <*> by <*>"}},
		{`\[<Time>\] <Program> - <Content>`, []string{
			"[10.30 16:49:06] chrome.exe - proxy.example.org:5070 open through proxy proxy.example.org:5070 HTTPS",
			"[10.30 16:49:07] chrome.exe - www.example.com:443 close, 403 bytes sent, 426 bytes received, lifetime <1 sec",
			"[10.30 16:49:08] firefox.exe - www.example.com:443 close, 1190 bytes (1.16 KB) sent, 1671 bytes received, lifetime 00:02",
		}, []string{"<*> open through proxy <*> HTTPS", "<*> close, <*> bytes sent, <*> bytes received, lifetime <*>", "<*> close, <*> bytes <*> sent, <*> bytes received, lifetime <*>"}},
		{`<Date> <Time>,<Ms> <Level> \[<Thread>\] <Class>(\s\(<Where>\))?: <Content>`, []string{
			"2026-01-02 10:00:00,123 INFO [main] org.example.Server (Server.java:42): listening on port 8080",
			"2026-01-02 10:00:01,456 INFO [main] org.example.Server: listening on port 8443",
		}, []string{"listening on port <*>", "listening on port <*>"}},
		{`<Content>`, []string{
			`{"time":"2026-01-02T10:00:00Z","level":"info","msg":"request completed","status":200,"trace_id":"a1b2"}`,
			`ts=2026-01-02T10:00:01Z level=info msg="request completed" status=201`,
		}, []string{"request completed", "request completed"}},
	}
	for _, tt := range tests {
		r := run(t, home, strings.Join(tt.lines, "\n"), nil, "analyze", "logs", "--input", "-", "--format", tt.format)
		if r.code != 0 {
			t.Fatalf("%s: exit %d: %s", tt.format, r.code, r.err)
		}
		rows, err := csv.NewReader(strings.NewReader(r.out)).ReadAll()
		if err != nil || len(rows) != len(tt.lines)+1 {
			t.Fatalf("%s: %d rows (%v):\n%s", tt.format, len(rows), err, r.out)
		}
		for i, want := range tt.want {
			if rows[i+1][2] != want {
				t.Errorf("%s: line %d template %q, want %q", tt.format, i+1, rows[i+1][2], want)
			}
		}
	}
}

func TestAnalyzeLogsBadFormats(t *testing.T) {
	home := isolate(t)
	for format, want := range map[string]string{
		`<Date> (\[<Pid>\]: <Content>`: "missing closing )",
		`<Date> \[<Pid>\]): <Content>`: "unexpected )",
		`<Date> <Date> <Content>`:      "appears twice",
	} {
		r := run(t, home, "a line\n", nil, "analyze", "logs", "--input", "-", "--format", format)
		if r.code != 2 || r.out != "" || !strings.Contains(r.err, want) || !strings.Contains(r.err, "--format") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 2 mentioning %q", format, r.code, r.out, r.err, want)
		}
	}
}

// TestAnalyzeLogsPythonOnlyMask: a mask RE2 cannot run is a warning, not
// a failed run; the lines are still mined.
func TestAnalyzeLogsPythonOnlyMask(t *testing.T) {
	home := isolate(t)
	r := run(t, home, "user alice logged in\nuser bob logged in\n", nil, "analyze", "logs", "--input", "-", "--format", "<Content>",
		"--mask", `(?<=user )\w+`, "--mask", `\d+`)
	if r.code != 0 || !strings.Contains(r.err, "ignored") || strings.Count(r.out, "\n") != 3 {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.out, r.err)
	}
}
