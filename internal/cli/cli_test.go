package cli_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/agent/llm/fakeopenai"
	"github.com/watchkeeper/watchkeeper/internal/cli"
	"github.com/watchkeeper/watchkeeper/internal/store"
)

type result struct {
	code     int
	out, err string
}

// run executes the command line in-process with an isolated home and
// store, and the given extra environment.
func run(t *testing.T, home string, stdin string, env []string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	environ := append([]string{"HOME=" + home, "USER=tester", "XDG_STATE_HOME=" + filepath.Join(home, "state"),
		"XDG_CONFIG_HOME=" + filepath.Join(home, "config")}, env...)
	code := cli.Run(context.Background(), args, cli.IO{In: strings.NewReader(stdin), Out: &out, Err: &errOut, Environ: environ})
	return result{code, out.String(), errOut.String()}
}

// isolate makes config discovery and the default store path use a temp
// home, as for a user on a fresh machine.
func isolate(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_STATE_HOME", filepath.Join(home, "state"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
	t.Chdir(home)
	return home
}

func TestVersion(t *testing.T) {
	home := isolate(t)
	r := run(t, home, "", nil, "version")
	if r.code != 0 || !strings.HasPrefix(r.out, "watchkeeper dev (revision") {
		t.Errorf("version = %+v", r)
	}
}

func TestOnceOverTheWire(t *testing.T) {
	home := isolate(t)
	srv := fakeopenai.New([]fakeopenai.Reply{
		{ToolCalls: []fakeopenai.ToolCall{{ID: "c1", Name: "current_time", Arguments: `{"resolve": ["14:00"]}`}},
			Usage: &fakeopenai.Usage{PromptTokens: 900, CompletionTokens: 20}},
		{Content: "Since 14:00 UTC today.", Usage: &fakeopenai.Usage{PromptTokens: 1100, CompletionTokens: 8}},
	}, fakeopenai.WithAPIKey("sk-wire-test-123456"))
	defer srv.Close()
	env := []string{
		"WATCHKEEPER_LLM_PROVIDER=openai-compatible",
		"WATCHKEEPER_LLM_BASE_URL=" + srv.URL,
		"WATCHKEEPER_LLM_MODEL=gpt-test",
		"WATCHKEEPER_LLM_API_KEY=sk-wire-test-123456",
	}
	r := run(t, home, "", env, "chat", "--once", "since", "when?")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.out, r.err)
	}
	if r.out != "Since 14:00 UTC today.\n" {
		t.Errorf("stdout = %q (only the answer belongs there)", r.out)
	}
	for _, want := range []string{`→ current_time {"resolve":["14:00"]}`, "✓ current_time", "— gpt-test · 2 steps · 1 tool call · 2,000 in / 28 out tokens"} {
		if !strings.Contains(r.err, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.err)
		}
	}
	if u := srv.Unexpected(); len(u) > 0 {
		t.Errorf("unexpected requests: %v", u)
	}
	// The run was recorded in the default store.
	st, err := store.OpenSQLite(context.Background(), filepath.Join(home, "state", "watchkeeper", "watchkeeper.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runs, _ := st.ListRuns(context.Background(), "", 10)
	if len(runs) != 1 || runs[0].Question != "since when?" || runs[0].Outcome != "answered" || runs[0].Source != "terminal chat" {
		t.Errorf("runs = %+v", runs)
	}
	full, _ := st.GetRun(context.Background(), runs[0].ID)
	if strings.Contains(string(full.Transcript), "sk-wire-test-123456") {
		t.Error("the API key leaked into the transcript")
	}
}

func TestOnceFromStdin(t *testing.T) {
	home := isolate(t)
	srv := fakeopenai.New([]fakeopenai.Reply{{Content: "It is 15:00."}})
	defer srv.Close()
	env := []string{"WATCHKEEPER_LLM_PROVIDER=openai-compatible", "WATCHKEEPER_LLM_BASE_URL=" + srv.URL, "WATCHKEEPER_LLM_MODEL=m",
		"WATCHKEEPER_LLM_STREAM=false"}
	r := run(t, home, "what time is it?\n", env, "chat", "--once")
	if r.code != 0 || r.out != "It is 15:00.\n" {
		t.Fatalf("%+v", r)
	}
	got := srv.Requests()[0].Body.Messages
	if got[len(got)-1].Text() != "what time is it?" {
		t.Errorf("question sent = %q", got[len(got)-1].Text())
	}
}

func TestFailuresExitNonZeroWithAClearMessage(t *testing.T) {
	home := isolate(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String() + "/v1"
	l.Close()
	tests := []struct {
		name     string
		env      []string
		args     []string
		stdin    string
		wantCode int
		wantErr  string
	}{
		{"unreachable model", []string{"WATCHKEEPER_LLM_PROVIDER=openai-compatible", "WATCHKEEPER_LLM_BASE_URL=" + dead,
			"WATCHKEEPER_LLM_MODEL=m", "WATCHKEEPER_LLM_MAX_RETRIES=0"},
			[]string{"chat", "--once", "q"}, "", 1, "cannot reach the model at " + dead + "; check llm.base_url"},
		{"no model", nil, []string{"chat", "--once", "q"}, "", 2, "No language model is configured"},
		{"unknown env", []string{"WATCHKEEPER_AGENT_MAXSTEPS=3"}, []string{"chat", "--once", "q"}, "", 2,
			"unknown environment variable WATCHKEEPER_AGENT_MAXSTEPS; did you mean WATCHKEEPER_AGENT_MAX_STEPS?"},
		{"missing secret file", []string{"WATCHKEEPER_LLM_PROVIDER=anthropic", "WATCHKEEPER_LLM_MODEL=c",
			"WATCHKEEPER_LLM_API_KEY_FILE=/nonexistent/key"}, []string{"config", "check"}, "", 2,
			"llm.api_key_file: open /nonexistent/key: no such file or directory"},
		{"question without --once", nil, []string{"chat", "hello"}, "", 2, "needs --once"},
		{"empty question", nil, []string{"chat", "--once"}, "  \n", 2, "no question"},
		{"unknown command", nil, []string{"frobnicate"}, "", 2, `unknown command "frobnicate"`},
		{"unknown subcommand", nil, []string{"sandbox", "frob"}, "", 2,
			`unknown command "frob" for "watchkeeper sandbox"` + "\nwatchkeeper sandbox has: export, inject, list, serve."},
		{"misspelt subcommand", nil, []string{"analyze", "detec"}, "", 2, `unknown command "detec" for "watchkeeper analyze"; did you mean "detect"?`},
		{"misspelt nested subcommand", nil, []string{"config", "chek"}, "", 2, `did you mean "check"?`},
		{"misspelt subcommand of a group that runs", nil, []string{"eval", "recrod"}, "", 2, `unknown command "recrod" for "watchkeeper eval"; did you mean "record"?`},
		{"unknown runbook", nil, []string{"runbooks", "show", "nope"}, "", 2, "the runbooks are:\n  cpu-saturated.md "},
		{"--full and --summary", nil, []string{"config", "check", "--full", "--summary"}, "", 2, "give one"},
		{"bad flag", nil, []string{"chat", "--twice"}, "", 2, "unknown flag: --twice"},
		{"missing config file", nil, []string{"--config", "/nope.yaml", "config", "check"}, "", 2, "config file /nope.yaml does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, home, tt.stdin, tt.env, tt.args...)
			if r.code != tt.wantCode || !strings.Contains(r.err, tt.wantErr) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", r.code, r.err, tt.wantCode, tt.wantErr)
			}
		})
	}
}

func TestConfigCheck(t *testing.T) {
	home := isolate(t)
	cfgFile := filepath.Join(home, "wk.yaml")
	if err := os.WriteFile(cfgFile, []byte("llm:\n  provider: openai\n  model: gpt-4o-mini\nagent:\n  max_steps: 9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"OPENAI_API_KEY=sk-should-not-print-1234"}
	// By default, a summary: what is enabled and where, in a dozen lines
	// or so, not 230 lines of YAML.
	r := run(t, home, "", env, "config", "check", "--config", cfgFile)
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	for _, want := range []string{"# configuration is valid", "# file: " + cfgFile, "\nllm              openai gpt-4o-mini; budget $1/question, $5/incident, $50/day\n",
		"\nstore            sqlite " + filepath.Join(home, "state", "watchkeeper", "watchkeeper.db") + "\n",
		"\nprometheus       none", "\nslack            off (no slack.bot_token)\n",
		"\nincidents        Alertmanager webhook /webhooks/alertmanager on 127.0.0.1:8080, no authentication (loopback only)",
		"\napproval         no approvers", "\nleader_election  off (one replica)\n", "watchkeeper config check --full"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.out)
		}
	}
	if n := strings.Count(r.out, "\n"); n > 20 || strings.Contains(r.out, "max_steps") {
		t.Errorf("the summary is %d lines, with YAML in it?\n%s", n, r.out)
	}
	if again := run(t, home, "", env, "config", "check", "--summary", "--config", cfgFile); again.out != r.out {
		t.Errorf("--summary differs from the default:\n%s", again.out)
	}
	// --full: the whole configuration, secrets hidden.
	r = run(t, home, "", env, "config", "check", "--full", "--config", cfgFile)
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	for _, want := range []string{"# configuration is valid", "# file: " + cfgFile, "api_key: <secret>", "max_steps: 9", "provider: openai"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("output lacks %q:\n%s", want, r.out)
		}
	}
	if strings.Contains(r.out, "sk-should-not-print") {
		t.Error("secret printed")
	}
	// A webhook open to the network is called out before serve refuses it.
	open := filepath.Join(home, "open.yaml")
	_ = os.WriteFile(open, []byte("server:\n  listen: 0.0.0.0:8080\n"), 0o600)
	if r := run(t, home, "", nil, "config", "check", "--config", open); r.code != 0 || !strings.Contains(r.out, "# error: serve will refuse to start") {
		t.Errorf("open webhook: %+v", r)
	}
	bad := filepath.Join(home, "bad.yaml")
	_ = os.WriteFile(bad, []byte("agent:\n  max_stepz: 9\n"), 0o600)
	r = run(t, home, "", nil, "config", "check", "--config", bad)
	if r.code != 2 || !strings.Contains(r.err, `line 2: unknown key "max_stepz" in agent; did you mean "max_steps"?`) {
		t.Errorf("%+v", r)
	}
}

func TestServe(t *testing.T) {
	home := isolate(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errOut bytes.Buffer
	go func() {
		done <- cli.Run(ctx, []string{"serve"}, cli.IO{In: strings.NewReader(""), Out: io.Discard, Err: &errOut,
			Environ: []string{"HOME=" + home, "WATCHKEEPER_SERVER_LISTEN=" + addr, "XDG_STATE_HOME=" + filepath.Join(home, "state")}})
	}()
	resp, err := waitHTTP("http://"+addr+"/readyz", 10*time.Second)
	if err != nil {
		t.Fatalf("server never came up: %v\n%s", err, errOut.String())
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `{"name":"store","ok":true}`) {
		t.Errorf("/readyz = %d %s", resp.StatusCode, b)
	}
	cancel() // as SIGTERM does
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d: %s", code, errOut.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(errOut.String(), `"msg":"watchkeeper serving"`) || !strings.Contains(errOut.String(), `"msg":"watchkeeper stopped"`) {
		t.Errorf("logs = %s", errOut.String())
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Error("still serving after shutdown")
	}
}

func TestConfigReference(t *testing.T) {
	home := isolate(t)
	r := run(t, home, "", nil, "config", "reference")
	if r.code != 0 || !strings.Contains(r.out, "### `leader_election`") || !strings.Contains(r.out, "| `store.dsn` | secret |") {
		t.Fatalf("%+v", r)
	}
	doc := filepath.Join(home, "doc.md")
	os.WriteFile(doc, []byte("# Doc\n<!-- config-reference:begin -->\nold\n<!-- config-reference:end -->\ntail\n"), 0o644)
	if r := run(t, home, "", nil, "config", "reference", "--update", doc); r.code != 0 {
		t.Fatalf("%+v", r)
	}
	b, _ := os.ReadFile(doc)
	if s := string(b); strings.Contains(s, "old\n") || !strings.Contains(s, "### `llm`") || !strings.HasSuffix(s, "<!-- config-reference:end -->\ntail\n") {
		t.Errorf("updated:\n%s", s)
	}
	os.WriteFile(doc, []byte("no markers"), 0o644)
	if r := run(t, home, "", nil, "config", "reference", "--update", doc); r.code != 2 || !strings.Contains(r.err, "markers") {
		t.Errorf("no markers: %+v", r)
	}
}

// TestServeHelpSaysWhatServeDoes: serve's help describes what it runs
// today, not what was planned.
func TestServeHelpSaysWhatServeDoes(t *testing.T) {
	home := isolate(t)
	for _, args := range [][]string{{"serve", "--help"}, {"--help"}} {
		r := run(t, home, "", nil, args...)
		if r.code != 0 || strings.Contains(r.out, "later") {
			t.Errorf("%v: exit %d, says %q:\n%s", args, r.code, "later", r.out)
		}
	}
	r := run(t, home, "", nil, "serve", "--help")
	for _, want := range []string{"Slack", "/webhooks/alertmanager", "/metrics", "config check"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("serve --help lacks %q:\n%s", want, r.out)
		}
	}
}

// TestGroupsWithoutASubcommandPrintTheirHelp: a group run bare still
// prints its help and succeeds.
func TestGroupsWithoutASubcommandPrintTheirHelp(t *testing.T) {
	home := isolate(t)
	for _, group := range []string{"sandbox", "analyze", "config", "runbooks"} {
		r := run(t, home, "", nil, group)
		if r.code != 0 || !strings.Contains(r.out, "Available Commands:") {
			t.Errorf("%s: exit %d\n%s%s", group, r.code, r.out, r.err)
		}
	}
}
