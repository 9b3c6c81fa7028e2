package chat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/watchkeeper/watchkeeper/internal/app"
	"github.com/watchkeeper/watchkeeper/internal/chat"
	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/tools"
)

// recorder is a fake tool that keeps the arguments of every call.
type recorder struct {
	spec tools.Spec
	mu   sync.Mutex
	args []json.RawMessage
}

func (r *recorder) Spec() tools.Spec { return r.spec }

func (r *recorder) Run(_ context.Context, args json.RawMessage) (tools.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.args = append(r.args, args)
	return tools.Text(r.spec.Name + " ran"), nil
}

func (r *recorder) calls() []json.RawMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]json.RawMessage(nil), r.args...)
}

// toolHarness is the app with a fake prom_query (one required argument,
// as the real one) and a fake forecast_threshold (two), without a model.
type toolHarness struct {
	app      *app.App
	prom     *recorder
	forecast *recorder
}

func newToolHarness(t *testing.T) *toolHarness {
	t.Helper()
	cfg := config.Default()
	cfg.Store.Path = filepath.Join(t.TempDir(), "wk.db")
	h := &toolHarness{
		prom: &recorder{spec: tools.Spec{Name: "prom_query", PromQL: []string{"query"},
			Description: "Run an instant PromQL query and get each series' value at one time. Use it for current state.",
			Parameters: tools.Object(map[string]*tools.Schema{
				"query": tools.String("PromQL expression"),
				"time":  tools.String(`evaluation time: RFC 3339, Unix seconds or e.g. "10m ago"; default now`),
			}, "query")}},
		forecast: &recorder{spec: tools.Spec{Name: "forecast_threshold", PromQL: []string{"query"},
			Description: "Forecast when a series will cross a threshold: disk or memory filling up (e.g. a container's " +
				"working set reaching its limit), an error budget running out. Fits the newest stretch of data.",
			Parameters: tools.Object(map[string]*tools.Schema{
				"query":     tools.String("PromQL expression"),
				"threshold": tools.Number("the value to cross, e.g. the memory limit in bytes"),
				"direction": tools.Enum("above (default) or below", "above", "below"),
			}, "query", "threshold")}},
	}
	a, err := app.New(context.Background(), cfg, app.Options{Tools: []tools.Tool{h.prom, h.forecast}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	h.app = a
	return h
}

// once runs one line through the real chat and returns stdout and the error.
func (h *toolHarness) once(t *testing.T, line string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := chat.New(chat.Config{Tools: h.app.Tools(), Approvals: h.app.Approvals(), Redactor: h.app.Redactor(),
		In: strings.NewReader(""), Out: &out, Err: &errOut, NoModelHelp: app.NoModelHelp})
	err := c.Once(context.Background(), line)
	return out.String(), err
}

func TestRunTypedArguments(t *testing.T) {
	tests := []struct {
		line string
		want map[string]any
	}{
		{"/run prom_query count(up)", map[string]any{"query": "count(up)"}},
		{"/run prom_query sum(rate(http_requests_total[5m])) by (job)", map[string]any{"query": "sum(rate(http_requests_total[5m])) by (job)"}},
		{`/run prom_query up{job="api"} == 0`, map[string]any{"query": `up{job="api"} == 0`}},
		{`/run prom_query rate(x[5m]) time="10m ago"`, map[string]any{"query": "rate(x[5m])", "time": "10m ago"}},
		{`/run prom_query query='count by (job) (up)' time=now`, map[string]any{"query": "count by (job) (up)", "time": "now"}},
		{`/run prom_query {"query": "up"}`, map[string]any{"query": "up"}},
		{`/run forecast_threshold query=disk_used threshold=0.9 direction=below`,
			map[string]any{"query": "disk_used", "threshold": 0.9, "direction": "below"}},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			h := newToolHarness(t)
			out, err := h.once(t, tt.line)
			if err != nil {
				t.Fatal(err)
			}
			calls := append(h.prom.calls(), h.forecast.calls()...)
			if len(calls) != 1 {
				t.Fatalf("%d calls", len(calls))
			}
			var got map[string]any
			if err := json.Unmarshal(calls[0], &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("the tool got %s, want %v", calls[0], tt.want)
			}
			if !strings.Contains(out, " ran") {
				t.Errorf("stdout = %q", out)
			}
		})
	}
}

func TestRunExplainsWhatIsWrong(t *testing.T) {
	h := newToolHarness(t)
	tests := []struct {
		line string
		want []string
	}{
		{"/run forecast_threshold", []string{
			"forecast_threshold needs: query (PromQL expression), threshold (the value to cross, e.g. the memory limit in bytes)",
			"e.g. /run forecast_threshold query=up threshold=THRESHOLD",
			"/tools forecast_threshold shows every argument"}},
		{"/run forecast_threshold direction=sideways", []string{
			"forecast_threshold needs: query (PromQL expression), threshold",
			`forecast_threshold: argument "direction": "sideways" is not one of above, below`}},
		{"/run prom_query time=5m", []string{"prom_query needs: query (PromQL expression)", "e.g. /run prom_query up"}},
		{"/run prom_qurey up", []string{`no tool called "prom_qurey"; did you mean prom_query? /tools lists them`}},
		{"/run forecast_threshold qurey=up", []string{`forecast_threshold: no argument "qurey"; did you mean query?`, "e.g. /run forecast_threshold"}},
		{"/run forecast_threshold query=up threshold=high", []string{`argument "threshold" takes a number, not "high"`}},
		{"/run", []string{"usage: /run TOOL key=value", "/run prom_query count(up)"}},
		{"/tools prom_qury", []string{`no tool called "prom_qury"; did you mean prom_query?`}},
	}
	for _, tt := range tests {
		_, err := h.once(t, tt.line)
		if err == nil {
			t.Errorf("%s: no error", tt.line)
			continue
		}
		for _, want := range tt.want {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error lacks %q:\n%v", tt.line, want, err)
			}
		}
	}
	if n := len(h.prom.calls()) + len(h.forecast.calls()); n != 0 {
		t.Errorf("a refused call reached a tool %d times", n)
	}
}

func TestToolsCommand(t *testing.T) {
	h := newToolHarness(t)
	list, err := h.once(t, "/tools")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"prom_query", "Run an instant PromQL query and get each series' value at one time\n",
		"arguments: query (required), time",
		// The first sentence is not cut at "e.g.".
		"(e.g. a container's working set reaching its limit), an error budget running out\n",
		"arguments: query (required), threshold (required), direction",
		"current_time", "arguments: resolve, timezone",
	} {
		if !strings.Contains(list, want) {
			t.Errorf("/tools lacks %q:\n%s", want, list)
		}
	}

	one, err := h.once(t, "/tools prom_query")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"prom_query — Run an instant PromQL query and get each series' value at one time. Use it for current state.",
		"Arguments:",
		"  query  string, required — PromQL expression",
		`  time   string, optional — evaluation time: RFC 3339, Unix seconds or e.g. "10m ago"; default now`,
		"  /run prom_query up\n",
		`  /run prom_query up time="10m ago"`,
		`  /run prom_query {"query":"up"}`,
		"The text after /run prom_query is its query argument",
	} {
		if !strings.Contains(one, want) {
			t.Errorf("/tools prom_query lacks %q:\n%s", want, one)
		}
	}
	// One tool, not the list.
	if strings.Contains(one, "current_time") || strings.Contains(one, "forecast_threshold") {
		t.Errorf("/tools prom_query shows other tools:\n%s", one)
	}

	enum, err := h.once(t, "/tools forecast_threshold")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"direction  string, optional, one of above, below", "threshold  number, required",
		"/run forecast_threshold query=up threshold=THRESHOLD"} {
		if !strings.Contains(enum, want) {
			t.Errorf("/tools forecast_threshold lacks %q:\n%s", want, enum)
		}
	}
}

func TestHelpStartsWithCommands(t *testing.T) {
	h := newToolHarness(t)
	out, err := h.once(t, "/help")
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(out, "\n")
	if first != "Commands:" {
		t.Errorf("/help starts with %q", first)
	}
	for _, want := range []string{"/run TOOL key=value", "/tools NAME", "/run prom_query count(up)", "Tab completes"} {
		if !strings.Contains(out, want) {
			t.Errorf("/help lacks %q", want)
		}
	}
}
