package tools_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/watchkeeper/watchkeeper/tools"
)

// Specs shaped like the real tools: one required argument (prom_query),
// several required (forecast_threshold), none required (current_time), a
// single optional argument, an object argument, and no arguments.
var (
	promQuery = tools.Spec{Name: "prom_query", PromQL: []string{"query"}, Parameters: tools.Object(map[string]*tools.Schema{
		"query": tools.String("PromQL expression"),
		"time":  tools.String(`evaluation time: RFC 3339, Unix seconds or e.g. "10m ago"; default now`),
	}, "query")}
	forecast = tools.Spec{Name: "forecast_threshold", PromQL: []string{"query"}, Parameters: tools.Object(map[string]*tools.Schema{
		"query":     tools.String(`PromQL expression, e.g. container_memory_working_set_bytes{container="cart"} (one series per pod)`),
		"threshold": tools.Number("the value to cross, e.g. the memory limit in bytes"),
		"direction": tools.Enum("above or below", "above", "below"),
		"limit":     tools.Integer("max series", 1, 100),
		"dry_run":   tools.Boolean("only check"),
	}, "query", "threshold")}
	currentTime = tools.Spec{Name: "current_time", Parameters: tools.Object(map[string]*tools.Schema{
		"resolve":  tools.Array("Time expressions to resolve.", tools.String("a time expression")),
		"timezone": tools.String(`IANA time zone for wall-clock expressions, e.g. "Europe/Berlin"; default UTC.`),
	})}
	runbookRead = tools.Spec{Name: "runbook_read", Parameters: tools.Object(map[string]*tools.Schema{
		"path": tools.String("runbook path, e.g. high-error-rate.md"),
	})}
	silence = tools.Spec{Name: "silence_create", Parameters: tools.Object(map[string]*tools.Schema{
		"matchers": {Type: "object", Description: `label = value to match exactly, e.g. {"alertname": "HighErrorRate"}`},
		"duration": tools.String(`how long, e.g. "2h" (at most 24h)`),
		"counts":   tools.Array("numbers", tools.Integer("n", 0, 10)),
	}, "matchers", "duration")}
	noArgs = tools.Spec{Name: "list_all", Parameters: tools.Object(nil)}
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name string
		spec tools.Spec
		text string
		want string // JSON; "" when an error is wanted
		err  string // in the error
	}{
		{"nothing", promQuery, "", `{}`, ""},
		{"rest of line", promQuery, "count(up)", `{"query":"count(up)"}`, ""},
		{"rest of line with spaces and brackets", promQuery, "sum(rate(http_requests_total[5m])) by (job)",
			`{"query":"sum(rate(http_requests_total[5m])) by (job)"}`, ""},
		{"PromQL with = in braces is not a pair", promQuery, `up{job="x"}`, `{"query":"up{job=\"x\"}"}`, ""},
		{"PromQL with a known name inside braces", promQuery, `up{job="a b", time="x"} > 0`,
			`{"query":"up{job=\"a b\", time=\"x\"} > 0"}`, ""},
		{"PromQL selector alone", promQuery, `{job="api"}`, `{"query":"{job=\"api\"}"}`, ""},
		{"PromQL comparison", promQuery, `up == 0`, `{"query":"up == 0"}`, ""},
		{"rest of line then a pair", promQuery, `rate(x[5m]) time="10m ago"`, `{"query":"rate(x[5m])","time":"10m ago"}`, ""},
		{"rest of line wholly quoted", promQuery, `"sum by (job) (up)"`, `{"query":"sum by (job) (up)"}`, ""},
		{"unbalanced quote in rest of line is kept", promQuery, `up{job="x}`, `{"query":"up{job=\"x}"}`, ""},
		{"key=value", promQuery, `query=up time=5m`, `{"query":"up","time":"5m"}`, ""},
		{"key=value, value runs to the next key", promQuery, `query=sum by (job) (up) time=10m ago`,
			`{"query":"sum by (job) (up)","time":"10m ago"}`, ""},
		{"double quotes with escapes", promQuery, `query="up{job=\"a b\"}"`, `{"query":"up{job=\"a b\"}"}`, ""},
		{"single quotes keep a key= inside", promQuery, `query='x time=y'`, `{"query":"x time=y"}`, ""},
		{"quotes inside a value stay", forecast, `query=up{a="b"} threshold=1`, `{"query":"up{a=\"b\"}","threshold":1}`, ""},
		{"JSON object", promQuery, `{"query": "up"}`, `{"query": "up"}`, ""},
		{"types", forecast, `query=up threshold=0.9 limit=5 dry_run=yes direction=below`,
			`{"direction":"below","dry_run":true,"limit":5,"query":"up","threshold":0.9}`, ""},
		{"boolean off", forecast, `query=up threshold=-1e3 dry_run=off`, `{"dry_run":false,"query":"up","threshold":-1e3}`, ""},
		{"not a number", forecast, `query=up threshold=lots`, "", `argument "threshold" takes a number, not "lots"`},
		{"not an integer", forecast, `query=up threshold=1 limit=ten`, "", `argument "limit" takes an integer, not "ten"`},
		{"not a boolean", forecast, `query=up threshold=1 dry_run=maybe`, "", `argument "dry_run" takes true or false`},
		{"array comma-separated", currentTime, `resolve="2h ago, 14:00" timezone=UTC`, `{"resolve":["2h ago","14:00"],"timezone":"UTC"}`, ""},
		{"array as JSON", currentTime, `resolve=["2h ago","14:00"]`, `{"resolve":["2h ago","14:00"]}`, ""},
		{"array repeated key adds", currentTime, `resolve="2h ago" resolve=14:00`, `{"resolve":["2h ago","14:00"]}`, ""},
		{"array empty", currentTime, `resolve=`, `{"resolve":[]}`, ""},
		{"array of integers", silence, `matchers=a=b duration=1h counts=1,2`, `{"counts":[1,2],"duration":"1h","matchers":{"a":"b"}}`, ""},
		{"array of integers, bad item", silence, `matchers=a=b duration=1h counts=1,x`, "", `argument "counts[1]" takes an integer`},
		{"array, bad JSON", currentTime, `resolve=[1,`, "", "not a valid JSON array"},
		{"object as JSON", silence, `matchers='{"alertname": "X"}' duration=2h`, `{"duration":"2h","matchers":{"alertname": "X"}}`, ""},
		{"object as pairs", silence, `matchers=alertname=X,namespace=shop duration=2h`,
			`{"duration":"2h","matchers":{"alertname":"X","namespace":"shop"}}`, ""},
		{"object, neither", silence, `matchers=oops duration=2h`, "", "takes a JSON object or label=value pairs"},
		{"only argument as rest of line", runbookRead, `high error rate.md`, `{"path":"high error rate.md"}`, ""},
		{"unknown key with a suggestion", forecast, `qurey=up threshold=1`, "", `no argument "qurey"; did you mean query? (the arguments are direction, dry_run, limit, query, threshold)`},
		{"unknown key after the rest of line", promQuery, `up tmie=5m`, "", `did you mean time? (the arguments are query, time); if tmie= is part of the value before it, quote that value`},
		{"unknown key in a tool without rest", currentTime, `tz=UTC`, "", `no argument "tz" (the arguments are resolve, timezone)`},
		{"bare word in a tool without rest", currentTime, `yesterday`, "", `"yesterday" is not key=value; the arguments are resolve, timezone`},
		{"first word not a known key is the single argument", promQuery, `qurey=up`, `{"query":"qurey=up"}`, ""},
		{"given twice", promQuery, `up query=x`, "", `argument "query" is given twice`},
		{"unclosed quote", promQuery, `query=up time="5m`, "", `argument "time": the quote " is not closed`},
		{"bad JSON without a single argument", currentTime, `{bad json`, "", "not valid JSON"},
		{"JSON array is not arguments", currentTime, `{"a" 1}`, "", "not valid JSON"},
		{"no arguments taken", noArgs, `x=1`, "", "it takes no arguments"},
		{"no arguments, none given", noArgs, ` `, `{}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tools.ParseArgs(tt.spec, tt.text)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseArgs(%s) = %s, %v; want error %q", tt.text, got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseArgs(%s): %v", tt.text, err)
			}
			if !sameJSON(t, got, tt.want) {
				t.Errorf("ParseArgs(%s) = %s, want %s", tt.text, got, tt.want)
			}
		})
	}
}

// PromQL's comparison operators are not escaped (\u003e) in the JSON the
// tool and the audit log get.
func TestParseArgsKeepsPromQLReadable(t *testing.T) {
	got, err := tools.ParseArgs(promQuery, `rate(x[5m]) > 0 & 1`)
	if err != nil || string(got) != `{"query":"rate(x[5m]) > 0 & 1"}` {
		t.Errorf("got %s, %v", got, err)
	}
}

func sameJSON(t *testing.T, got json.RawMessage, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("result is not JSON: %s", got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %s", want)
	}
	return reflect.DeepEqual(g, w)
}

func TestRestArg(t *testing.T) {
	for _, tt := range []struct {
		spec tools.Spec
		want string
	}{
		{promQuery, "query"}, {forecast, ""}, {currentTime, ""}, {runbookRead, "path"}, {noArgs, ""}, {tools.Spec{Name: "nil"}, ""},
	} {
		if got := tools.RestArg(tt.spec); got != tt.want {
			t.Errorf("RestArg(%s) = %q, want %q", tt.spec.Name, got, tt.want)
		}
	}
}

func TestParamsAndExample(t *testing.T) {
	params := tools.Params(forecast)
	var names []string
	for _, p := range params {
		names = append(names, p.Name)
	}
	// Required first, in the schema's order, then by name.
	if want := []string{"query", "threshold", "direction", "dry_run", "limit"}; !reflect.DeepEqual(names, want) {
		t.Errorf("order = %v, want %v", names, want)
	}
	if p := params[0]; !p.Required || p.Type != "string" || p.Example != `container_memory_working_set_bytes{container="cart"}` {
		t.Errorf("query = %+v", p)
	}
	if p := params[1]; p.Example != "" || p.Type != "number" {
		t.Errorf("threshold has no usable example: %+v", p)
	}
	if p := params[2]; p.Example != "above" || !reflect.DeepEqual(p.Enum, []string{"above", "below"}) {
		t.Errorf("direction = %+v", p)
	}
	// A number is not made up from its range.
	if p := params[4]; p.Example != "" || *p.Minimum != 1 || *p.Maximum != 100 {
		t.Errorf("limit = %+v", p)
	}
	if p := params[3]; p.Example != "true" || p.Type != "boolean" {
		t.Errorf("dry_run = %+v", p)
	}
	if p := tools.Params(currentTime)[0]; p.Type != "list of string" {
		t.Errorf("resolve type = %q", p.Type)
	}

	prune := tools.Spec{Name: "prune", Parameters: tools.Object(map[string]*tools.Schema{
		"all": tools.Boolean("everything"), "older": tools.String(`age, e.g. "2d"`), "kind": tools.Enum("kind", "a", "b"),
	})}
	rules := tools.Spec{Name: "prom_rules", Parameters: tools.Object(map[string]*tools.Schema{"name": tools.String("rule name")})}
	for _, tt := range []struct {
		spec     tools.Spec
		want     string
		complete bool
	}{
		{promQuery, "up", true},
		{forecast, `query=container_memory_working_set_bytes{container="cart"} threshold=THRESHOLD`, false},
		{currentTime, "timezone=Europe/Berlin", true},
		{runbookRead, "high-error-rate.md", true},
		{silence, `matchers='{"alertname": "HighErrorRate"}' duration=2h`, true},
		// Nothing required: the description's example beats an enum's
		// first value and a boolean.
		{prune, `older=2d`, true},
		// One optional argument with no example: a placeholder.
		{rules, "NAME", false},
		{noArgs, "", true},
	} {
		got, complete := tools.ExampleArgs(tt.spec)
		if got != tt.want || complete != tt.complete {
			t.Errorf("ExampleArgs(%s) = %s, %t; want %s, %t", tt.spec.Name, got, complete, tt.want, tt.complete)
		}
		if !complete {
			continue
		}
		// An example with real values is one ParseArgs reads and the
		// schema accepts.
		args, err := tools.ParseArgs(tt.spec, got)
		if err == nil {
			err = tt.spec.Parameters.Validate(args)
		}
		if err != nil {
			t.Errorf("%s's example %q: %v", tt.spec.Name, got, err)
		}
	}
}

func TestQuoteValue(t *testing.T) {
	for in, want := range map[string]string{
		"up":          "up",
		"10m ago":     `"10m ago"`,
		"":            `""`,
		`a "b" c`:     `'a "b" c'`,
		`it's "x" y`:  `"it's \"x\" y"`,
		`'quoted'`:    `"'quoted'"`,
		`up{job="x"}`: `up{job="x"}`,
	} {
		got := tools.QuoteValue(in)
		if got != want {
			t.Errorf("QuoteValue(%s) = %s, want %s", in, got, want)
		}
		// What is quoted reads back as it was.
		args, err := tools.ParseArgs(promQuery, "query="+got)
		if err != nil || !sameJSON(t, args, mustJSON(t, map[string]string{"query": in})) {
			t.Errorf("query=%s read back as %s, %v", got, args, err)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSuggest(t *testing.T) {
	names := []string{"prom_query", "prom_query_range", "prom_alerts", "current_time", "runbook_find", "runbook_read", "kube_get"}
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"prom_qurey", []string{"prom_query"}},
		{"promquery", []string{"prom_query"}},
		{"PROM_QUERY_RANG", []string{"prom_query_range"}},
		{"kube-get", []string{"kube_get"}},
		{"runbook", []string{"runbook_find", "runbook_read"}},
		{"prom", []string{"prom_query", "prom_alerts", "prom_query_range"}},
		{"time", []string{"current_time"}},
		{"zzzzzz", nil},
		{"", nil},
		{"prom_query", []string{"prom_query_range"}},
	} {
		if got := tools.Suggest(tt.in, names); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Suggest(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestFirstSentence(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"Run a query. Use it for state.", "Run a query."},
		{"Forecast a threshold (e.g. a container's working set reaching its limit), a budget running out. Fits a line.",
			"Forecast a threshold (e.g. a container's working set reaching its limit), a budget running out."},
		{"Propose deleting one pod (its controller replaces it), e.g. a stuck or leaking instance.",
			"Propose deleting one pod (its controller replaces it), e.g. a stuck or leaking instance."},
		{"Show the rules, i.e. Alertmanager's routes. Then more.", "Show the rules, i.e. Alertmanager's routes."},
		{"Versions such as 1.5.0 and v2.3 count. Next.", "Versions such as 1.5.0 and v2.3 count."},
		{"Disk, memory, etc. and the rest. Next.", "Disk, memory, etc. and the rest."},
		{"Is it up? Ask this.", "Is it up?"},
		{"No full stop at all", "No full stop at all"},
		{"  Padded.  ", "Padded."},
		{"Ends with e.g. HighErrorRate. Next.", "Ends with e.g. HighErrorRate."},
		{"", ""},
	} {
		if got := tools.FirstSentence(tt.in); got != tt.want {
			t.Errorf("FirstSentence(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMissingArgumentsAreReportedTogether(t *testing.T) {
	err := forecast.Parameters.Validate(json.RawMessage(`{"limit": 500}`))
	var missing *tools.MissingError
	if !errors.As(err, &missing) {
		t.Fatalf("no MissingError in %v", err)
	}
	if missing.Path != "" || len(missing.Args) != 2 || missing.Args[0].Name != "query" || missing.Args[1].Name != "threshold" {
		t.Errorf("missing = %+v", missing)
	}
	for _, want := range []string{
		`missing required arguments "query" (PromQL expression, e.g. container_memory_working_set_bytes{container="cart"}…), `,
		`"threshold" (the value to cross, e.g. the memory limit in bytes)`,
		`argument "limit": 500 is above the maximum 100`, // other problems still come with it
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// One missing argument reads as before; the description is cut at ";".
	err = promQuery.Parameters.Validate(json.RawMessage(`{}`))
	if err == nil || err.Error() != `missing required argument "query" (PromQL expression)` {
		t.Errorf("err = %v", err)
	}
}

// The schema's message for a misspelt argument (what a model reads) names
// the argument probably meant.
func TestUnknownArgumentSuggestion(t *testing.T) {
	for args, want := range map[string]string{
		`{"qurey": "up"}`:               `unknown argument "qurey"; valid arguments are query, time (did you mean query?)`,
		`{"query": "up", "tmie": "5m"}`: `(did you mean time?)`,
	} {
		err := promQuery.Parameters.Validate(json.RawMessage(args))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate(%s) = %v, want %q", args, err, want)
		}
	}
	err := promQuery.Parameters.Validate(json.RawMessage(`{"query": "up", "zzzzzz": 1}`))
	if err == nil || strings.Contains(err.Error(), "did you mean") {
		t.Errorf("nothing is close, yet: %v", err)
	}
}
