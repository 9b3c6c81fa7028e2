package logs

import (
	"errors"
	"strings"
	"testing"

	"github.com/watchkeeper/watchkeeper/tools/logs/loggen"
)

// TestFormatFieldsByName checks the logparser contract: the text between
// fields is a regular expression, fields are found by name whatever
// groups the format has, Content is what remains, and a field in an
// optional group that did not take part is empty.
func TestFormatFieldsByName(t *testing.T) {
	tests := []struct {
		name, format, line string
		want               map[string]string
	}{
		{"syslog with a pid", `<Date> <Time> <Host> <Service>(\[<Pid>\])?: <Content>`,
			"Jun-14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0",
			map[string]string{"Host": "combo", "Service": "sshd(pam_unix)", "Pid": "19939", "Content": "authentication failure; logname= uid=0"}},
		{"syslog without a pid", `<Date> <Time> <Host> <Service>(\[<Pid>\])?: <Content>`,
			"Jun-14 15:16:02 combo kernel: Linux version 2.6.5-1.358: (bhcompile@bugs)",
			map[string]string{"Service": "kernel", "Pid": "", "Content": "Linux version 2.6.5-1.358: (bhcompile@bugs)"}},
		{"bracketed time, program", `\[<Time>\] <Program> - <Content>`,
			"[10.30 16:49:06] chrome.exe - proxy.example.org:5070 open through proxy proxy.example.org:5070 HTTPS",
			map[string]string{"Time": "10.30 16:49:06", "Program": "chrome.exe", "Content": "proxy.example.org:5070 open through proxy proxy.example.org:5070 HTTPS"}},
		{"Java with an optional location", `<Date> <Time>,<Ms> <Level> \[<Thread>\] <Class>(\s\(<Where>\))?: <Content>`,
			"2026-01-02 10:00:00,123 INFO [main] org.example.Server (Server.java:42): started in 3 s",
			map[string]string{"Ms": "123", "Level": "INFO", "Thread": "main", "Class": "org.example.Server", "Where": "Server.java:42", "Content": "started in 3 s"}},
		{"Java without the location", `<Date> <Time>,<Ms> <Level> \[<Thread>\] <Class>(\s\(<Where>\))?: <Content>`,
			"2026-01-02 10:00:00,123 WARN [pool-1-thread-2] org.example.Pool: pool exhausted: 10 of 10",
			map[string]string{"Thread": "pool-1-thread-2", "Class": "org.example.Pool", "Where": "", "Content": "pool exhausted: 10 of 10"}},
		{"alternation", `<Date> (INFO|WARN|ERROR) <Content>`,
			"2026-01-02 WARN disk almost full",
			map[string]string{"Date": "2026-01-02", "Content": "disk almost full"}},
		{"an optional bracketed thread", `<Timestamp> (\[<Thread>\] )?<Level> <Logger> - <Content>`,
			"2026-01-02T10:00:00Z INFO app.Main - ready",
			map[string]string{"Thread": "", "Level": "INFO", "Logger": "app.Main", "Content": "ready"}},
		{"escaped pipes", `<Time>\|<Component>\|<Pid>\|<Content>`,
			"20171223-22:15:29:606|Step_LSC|30002312|onStandStepChanged 3579",
			map[string]string{"Component": "Step_LSC", "Pid": "30002312", "Content": "onStandStepChanged 3579"}},
		{"wide gaps", `<Date> <Time>, <Level>                  <Component>    <Content>`,
			"2016-09-28 04:30:30, Info                  CBS    Loaded Servicing Stack v6.1.7601.23505",
			map[string]string{"Level": "Info", "Component": "CBS", "Content": "Loaded Servicing Stack v6.1.7601.23505"}},
		{"request ids in brackets", `<Logrecord> <Date> <Time> <Pid> <Level> <Component> \[<ADDR>\] <Content>`,
			"api.log.1 2017-05-16 00:00:00.008 25746 INFO compute.server [req-3810 113d 54fa - - -] 10.11.10.1 \"GET /v2/servers HTTP/1.1\" status: 200",
			map[string]string{"Pid": "25746", "Component": "compute.server", "ADDR": "req-3810 113d 54fa - - -", "Content": "10.11.10.1 \"GET /v2/servers HTTP/1.1\" status: 200"}},
		{"adjacent fields and \\s+", `<Level><Date> <Time>\s+<Pid> <File>:<Line>\] <Content>`,
			"I0102 15:04:05.000000      12 main.go:42] serving",
			map[string]string{"Pid": "12", "File": "main.go", "Line": "42", "Content": "serving"}},
		{"field names that are not identifiers", `<Log-Level> <Content>`,
			"ERROR it broke", map[string]string{"Log-Level": "ERROR", "Content": "it broke"}},
		{"Content in the middle is greedy", `<Level> <Content> \[<Where>\]`,
			"INFO a [b] c [main.go:3]", map[string]string{"Content": "a [b] c", "Where": "main.go:3"}},
		{"surrounding white space", `<Level>: <Content>`,
			"  INFO: hello  \t", map[string]string{"Level": "INFO", "Content": "hello"}},
		{"Content alone", `<Content>`, "any line at all", map[string]string{"Content": "any line at all"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFormat(tt.format)
			if err != nil {
				t.Fatal(err)
			}
			vals, ok := f.Parse(tt.line)
			if !ok {
				t.Fatalf("%q does not match %q", tt.line, tt.format)
			}
			got := map[string]string{}
			for i, name := range f.Fields() {
				got[name] = vals[i]
			}
			for name, want := range tt.want {
				if got[name] != want {
					t.Errorf("<%s> = %q, want %q", name, got[name], want)
				}
			}
			if content, ok := f.Content(tt.line); !ok || content != tt.want["Content"] {
				t.Errorf("Content() = %q, %v", content, ok)
			}
		})
	}
}

func TestFormatLineThatDoesNotMatchIsItsOwnContent(t *testing.T) {
	f, err := ParseFormat(`<Date> <Time> <Host> <Service>(\[<Pid>\])?: <Content>`)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"\tat org.example.Main.run(Main.java:12)", "not a header", ""} {
		if got, ok := f.Content(line); ok || got != strings.TrimSpace(line) {
			t.Errorf("Content(%q) = %q, %v; want the line itself, false", line, got, ok)
		}
	}
}

func TestBadFormats(t *testing.T) {
	for _, tt := range []struct{ format, want string }{
		{"no fields", "no <Field>"},
		{"<Date> <Level>", "no <Content>"},
		{`<Date> (\[<Pid>\]: <Content>`, "missing closing )"},
		{`<Date> \[<Pid>\]): <Content>`, "unexpected )"},
		{`<Date> [<Pid>: <Content>`, "missing closing ]"},
		{`<Date> <Content> \`, "ends in a backslash"},
		{`<Date> \<Content>`, "backslash before <Content>"},
		{`<Date> *<Content>`, "invalid nested repetition operator"},
		{`<Date> <Date> <Content>`, "appears twice"},
		{`<Date> (?=x)<Content>`, "invalid or unsupported Perl syntax"},
	} {
		_, err := ParseFormat(tt.format)
		if err == nil || !errors.Is(err, ErrBadFormat) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseFormat(%q) = %v, want an ErrBadFormat mentioning %q", tt.format, err, tt.want)
		}
	}
}

// TestFormatPathsAgree checks that the shortcuts (the plain-text matcher
// and the header-only expression) give what the anchored regular
// expression gives, on every line of the generated suite.
func TestFormatPathsAgree(t *testing.T) {
	for _, s := range loggen.Suite(1, 16) {
		f, err := ParseFormat(s.Format)
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		matched := 0
		for _, line := range s.Lines {
			line = strings.TrimSpace(line)
			want := f.re.FindStringSubmatchIndex(line)
			if want != nil {
				matched++
			}
			got, ok := f.Parse(line)
			if ok != (want != nil) {
				t.Fatalf("%s: %q matches %v, the expression says %v", s.Name, line, ok, want != nil)
			}
			if !ok {
				continue
			}
			for i, g := range f.groups {
				w := ""
				if want[2*g] >= 0 {
					w = line[want[2*g]:want[2*g+1]]
				}
				if got[i] != w {
					t.Fatalf("%s: %q field <%s> = %q, the expression says %q", s.Name, line, f.fields[i], got[i], w)
				}
			}
		}
		// Only stack-trace lines are written without the header.
		if matched < len(s.Lines)*9/10 {
			t.Errorf("%s: %d of %d lines match %q", s.Name, matched, len(s.Lines), s.Format)
		}
	}
}
