package promapi_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/watchkeeper/watchkeeper/internal/sandbox/promapi"
)

// TestTSDBLogsStayOffTheTerminal: the embedded TSDB's informational lines
// ("WAL not found") reach the app's logger at debug level only.
func TestTSDBLogsStayOffTheTerminal(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	for _, tt := range []struct {
		level slog.Level
		want  bool
	}{{slog.LevelInfo, false}, {slog.LevelDebug, true}} {
		t.Run(tt.level.String(), func(t *testing.T) {
			var buf bytes.Buffer
			s, err := promapi.OpenStore(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tt.level})))
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			got := strings.Contains(buf.String(), "WAL not found")
			if got != tt.want {
				t.Errorf("at %s, TSDB internals logged = %v, want %v:\n%s", tt.level, got, tt.want, buf.String())
			}
			if got && !strings.Contains(buf.String(), "level=DEBUG") {
				t.Errorf("TSDB internals not at debug level:\n%s", buf.String())
			}
		})
	}
}

// TestStaleTSDBFoldersAreRemoved: a folder a killed sandbox left behind
// (its pid file names a process that is gone) is removed when the next
// store opens; folders that may be alive, or are not clearly ours, stay.
func TestStaleTSDBFoldersAreRemoved(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	mk := func(name, pid string) string {
		dir := filepath.Join(tmp, name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if pid != "" {
			if err := os.WriteFile(filepath.Join(dir, "watchkeeper-sandbox.pid"), []byte(pid+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	dead := mk("watchkeeper-sandbox-tsdb-111", "2147483600") // above any pid_max: no such process
	alive := mk("watchkeeper-sandbox-tsdb-222", strconv.Itoa(os.Getppid()))
	noPid := mk("watchkeeper-sandbox-tsdb-333", "")
	other := mk("something-else-444", "2147483600")

	s, err := promapi.OpenStore(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]bool{dead: false, alive: true, noPid: true, other: true} {
		if _, err := os.Stat(dir); (err == nil) != want {
			t.Errorf("%s exists = %v, want %v", filepath.Base(dir), err == nil, want)
		}
	}
	own, _ := filepath.Glob(filepath.Join(tmp, "watchkeeper-sandbox-tsdb-*", "watchkeeper-sandbox.pid"))
	mine := ""
	for _, p := range own {
		if b, _ := os.ReadFile(p); strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid()) {
			mine = filepath.Dir(p)
		}
	}
	if mine == "" {
		t.Fatalf("the new store's folder has no pid file of this process: %v", own)
	}
	s.Close()
	if _, err := os.Stat(mine); !os.IsNotExist(err) {
		t.Errorf("Close left %s behind: %v", mine, err)
	}
}

// TestGraphPage: the links that point at Prometheus's graph page open a
// page that evaluates the expression.
func TestGraphPage(t *testing.T) {
	e := serve(t, "healthy")
	tests := []struct {
		query    string
		code     int
		contains []string
	}{
		{"g0.expr=" + url.QueryEscape(`count(up)`) + "&g0.tab=1", 200, []string{"<td>{}</td><td>19</td>", "/api/v1/query?query=count%28up%29"}},
		{"g0.expr=" + url.QueryEscape(`up{service="redis"}`) + "&g0.range_input=30m&g0.end_input=" + url.QueryEscape("2026-11-24 13:50:00") + "&g0.step_input=60",
			200, []string{`service=&#34;redis&#34;`, "At 2026-11-24 13:50:00 UTC", "range query over 30m", "step=60"}},
		{"g0.expr=" + url.QueryEscape(`sum(`), 400, []string{"parse error"}},
		{"", 200, []string{`<form action="/graph">`}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			resp, err := http.Get(e.srv.URL + "/graph?" + tt.query)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.code {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.code)
			}
			for _, want := range tt.contains {
				if !strings.Contains(string(b), want) {
					t.Errorf("page lacks %q:\n%s", want, b)
				}
			}
		})
	}
}
