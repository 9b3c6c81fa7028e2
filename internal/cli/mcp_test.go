package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/watchkeeper/watchkeeper/internal/testserver"
)

// inspectorDir is where `make deps` installs the official MCP Inspector
// CLI (npm), found before a test moves HOME.
func inspectorDir() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".cache", "watchkeeper", "node", "node_modules", "@modelcontextprotocol", "inspector-cli", "build")
}

type inspected struct {
	out, err string
	code     int
	json     map[string]any
}

// inspect runs the Inspector CLI, a real MCP client, with args. It is run
// from its own folder: its launcher finds its package.json relative to the
// working directory.
func inspect(t *testing.T, node, dir string, env []string, args ...string) inspected {
	t.Helper()
	cmd := exec.Command(node, append([]string{"index.js"}, args...)...)
	cmd.Dir, cmd.Env = dir, env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := inspected{out: out.String(), err: errb.String()}
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(out.Bytes(), &r.json)
	return r
}

// `watchkeeper mcp serve --sandbox` with the official Inspector CLI as
// the client, over stdio and over streamable HTTP: the tools with their
// schemas, a read call, a write call that only proposes, resources, the
// prompt, and the bearer token.
func TestMCPServeWithTheInspector(t *testing.T) {
	node := testserver.Need(t, "node")
	dir := inspectorDir()
	testserver.Need(t, "mcp-inspector-cli", filepath.Join(dir, "index.js"))
	bin := buildBot(t)
	home := isolate(t)
	env := append(os.Environ(), "HOME="+home, "XDG_STATE_HOME="+filepath.Join(home, "state"), "XDG_CONFIG_HOME="+filepath.Join(home, "config"))
	serve := []string{bin, "mcp", "serve", "--sandbox"}

	r := inspect(t, node, dir, env, append(serve, "--method", "tools/list")...)
	list, _ := r.json["tools"].([]any)
	byName := map[string]map[string]any{}
	for _, x := range list {
		tl := x.(map[string]any)
		byName[tl["name"].(string)] = tl
	}
	for _, name := range []string{"prom_query", "rca_rank", "logs_search", "kube_get", "runbook_read", "kube_scale", "kube_remediate"} {
		if byName[name] == nil {
			t.Errorf("tools/list lacks %s (code %d, stderr %s)", name, r.code, r.err)
		}
	}
	if q := byName["prom_query"]; q != nil {
		schema, _ := q["inputSchema"].(map[string]any)
		props, _ := schema["properties"].(map[string]any)
		ann, _ := q["annotations"].(map[string]any)
		if props["query"] == nil || ann["readOnlyHint"] != true {
			t.Errorf("prom_query: %v", q)
		}
	}
	if s := byName["kube_scale"]; s != nil {
		if ann, _ := s["annotations"].(map[string]any); ann["readOnlyHint"] != false {
			t.Errorf("kube_scale is not marked as a write tool: %v", s)
		}
	}

	r = inspect(t, node, dir, env, append(serve, "--method", "tools/call", "--tool-name", "prom_query", "--tool-arg", "query=up")...)
	if r.code != 0 || !strings.Contains(r.out, "up{") || r.json["isError"] == true {
		t.Errorf("prom_query over stdio: %d %s %s", r.code, r.out, r.err)
	}
	r = inspect(t, node, dir, env, append(serve, "--method", "resources/list")...)
	if !strings.Contains(r.out, "watchkeeper://runbooks/") || !strings.Contains(r.out, "watchkeeper://incidents") {
		t.Errorf("resources/list: %d %s %s", r.code, r.out, r.err)
	}
	r = inspect(t, node, dir, env, append(serve, "--method", "prompts/get", "--prompt-name", "investigate_alert", "--prompt-args", "alertname=HighErrorRate")...)
	if !strings.Contains(r.out, `The alert \"HighErrorRate\" is firing`) {
		t.Errorf("prompts/get: %d %s %s", r.code, r.out, r.err)
	}

	// Streamable HTTP, with the bearer token.
	addr := testserver.FreeAddr(t)
	cmd := exec.Command(bin, "mcp", "serve", "--sandbox", "--http", "--listen", addr)
	cmd.Env = append(env, "WATCHKEEPER_MCP_SERVE_BEARER_TOKEN=tok-123")
	var serr syncBuffer
	cmd.Stderr = &serr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })
	url := "http://" + addr + "/mcp"
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(serr.String(), "Serving MCP on") {
		if time.Now().After(deadline) {
			t.Fatalf("mcp serve --http did not start: %s", serr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	r = inspect(t, node, dir, env, url, "--transport", "http", "--header", "Authorization: Bearer tok-123",
		"--method", "tools/call", "--tool-name", "kube_scale", "--tool-arg", "name=checkout", "replicas=4", "reason=load test")
	if r.code != 0 || !strings.Contains(r.out, "Proposed prop_") || !strings.Contains(r.out, "Nothing has been changed") {
		t.Errorf("a write tool over HTTP: %d %s %s", r.code, r.out, r.err)
	}
	r = inspect(t, node, dir, env, url, "--transport", "http", "--method", "tools/list")
	if r.code == 0 || strings.Contains(r.out, "prom_query") {
		t.Errorf("without the token: %d %s %s", r.code, r.out, r.err)
	}
}

func TestMCPServeBadInput(t *testing.T) {
	home := isolate(t)
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"http without a token", []string{"mcp", "serve", "--http"}, "mcp serve --http needs a bearer token"},
		{"listen without http", []string{"mcp", "serve", "--listen", "127.0.0.1:0"}, "--listen is for --http"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, home, "", nil, tt.args...)
			if r.code != 2 || !strings.Contains(r.err, tt.want) {
				t.Errorf("got %+v; want exit 2 and %q", r, tt.want)
			}
		})
	}
}

// mcp check (and config check) start every configured server as the agent
// would and report the one that cannot be used.
func TestMCPCheck(t *testing.T) {
	home := isolate(t)
	cfg := filepath.Join(home, "watchkeeper.yaml")
	if err := os.WriteFile(cfg, []byte("mcp:\n  servers:\n    - name: broken\n      command: /nonexistent/mcp-server\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, home, "", nil, "--config", cfg, "mcp", "check")
	if r.code != 1 || !strings.Contains(r.out, "mcp server broken: failed:") || !strings.Contains(r.err, "1 of 1 MCP servers cannot be used") {
		t.Errorf("mcp check: %+v", r)
	}
	r = run(t, home, "", nil, "--config", cfg, "config", "check")
	if r.code != 0 || !strings.Contains(r.out, "mcp server broken: failed:") || !strings.Contains(r.out, "# warning: 1 of 1 MCP servers cannot be used") {
		t.Errorf("config check: %+v", r)
	}
	if err := os.WriteFile(cfg, []byte("mcp:\n  servers:\n    - name: a.b\n      command: x\n      url: http://x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = run(t, home, "", nil, "--config", cfg, "mcp", "check")
	if r.code != 2 || !strings.Contains(r.err, `mcp.servers[0].name: "a.b" must be 1-24 lower-case letters`) || !strings.Contains(r.err, "command and url are both set") {
		t.Errorf("an invalid server: %+v", r)
	}
}

// BenchmarkMCPServeSandboxFirstList is what an MCP client waits for after
// starting `watchkeeper mcp serve --sandbox`: the process starts, the
// sandbox world is generated, and initialize and tools/list are answered.
func BenchmarkMCPServeSandboxFirstList(b *testing.B) {
	bin := buildBot(b)
	home := b.TempDir()
	env := append(os.Environ(), "HOME="+home, "XDG_STATE_HOME="+filepath.Join(home, "state"), "XDG_CONFIG_HOME="+filepath.Join(home, "config"))
	ctx := context.Background()
	for b.Loop() {
		cmd := exec.Command(bin, "mcp", "serve", "--sandbox")
		cmd.Env, cmd.Dir = env, home
		cs, err := sdk.NewClient(&sdk.Implementation{Name: "bench", Version: "1"}, nil).Connect(ctx, &sdk.CommandTransport{Command: cmd}, nil)
		if err != nil {
			b.Fatal(err)
		}
		res, err := cs.ListTools(ctx, nil)
		if err != nil || len(res.Tools) < 10 {
			b.Fatal(err, res)
		}
		b.StopTimer()
		cs.Close()
		b.StartTimer()
	}
}
