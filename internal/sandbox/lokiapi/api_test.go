package lokiapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/sandbox/lokiapi"
	"github.com/watchkeeper/watchkeeper/internal/sandbox/world"
)

// end is when every test world's history ends: a Tuesday afternoon.
var end = time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)

// serve writes the logs of an hour of scenario's world, as the sandbox
// does, and serves the API over them.
func serve(t *testing.T, scenario string) *httptest.Server {
	t.Helper()
	topo := world.DefaultTopology()
	sc, err := world.LoadScenario(scenario, topo)
	if err != nil {
		t.Fatal(err)
	}
	w, err := world.New(topo, sc.Seed, end.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range sc.Timeline {
		if _, err := w.Inject(f.FaultSpec, end.Add(f.At)); err != nil {
			t.Fatal(err)
		}
	}
	store := lokiapi.NewStore(50_000)
	w.Advance(end, lokiapi.NewWriter(store, topo, sc.Seed, sc.Injections, end).Write)
	mux := http.NewServeMux()
	lokiapi.NewAPI(store, w.Now).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func ts(t time.Time) string {
	return strings.TrimSuffix(strings.TrimSuffix(time.Unix(t.Unix(), 0).UTC().Format("2006-01-02T15:04:05Z"), ""), "")
}

func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return string(b)
}

func TestLokiAPI(t *testing.T) {
	srv := serve(t, "prompt-injection")
	q := func(query string, extra string) (int, string) {
		u := srv.URL + "/loki/api/v1/query_range?query=" + url.QueryEscape(query) + "&start=" + ts(end.Add(-time.Hour)) + "&end=" + ts(end.Add(time.Minute)) + extra
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := q(`{service="checkout"} |= "nil pointer"`, "&limit=20")
	if code != 200 || !strings.Contains(body, `"resultType":"streams"`) || !strings.Contains(body, `version 1.5.0`) {
		t.Errorf("error lines: %d %.400s", code, body)
	}
	var resp struct {
		Data struct {
			Result []struct {
				Stream map[string]string
				Values [][2]string
			}
		}
	}
	_ = json.Unmarshal([]byte(body), &resp)
	n := 0
	for _, s := range resp.Data.Result {
		n += len(s.Values)
		if s.Stream["service"] != "checkout" || s.Stream["namespace"] != "shop" || s.Stream["pod"] == "" {
			t.Errorf("stream labels %v", s.Stream)
		}
	}
	if n != 20 {
		t.Errorf("limit 20 returned %d lines", n)
	}
	code, body = q(`{service="checkout"} | logfmt | level="error" |~ "(?i)ignore previous instructions"`, "")
	if code != 200 || !strings.Contains(body, "SYSTEM OVERRIDE") {
		t.Errorf("the planted hostile line is not served as data: %d %.300s", code, body)
	}
	code, body = q(`{service="frontend"} | json | status >= 500`, "&limit=5")
	if code != 200 {
		t.Errorf("json + numeric filter: %d %s", code, body)
	}
	// Every line of a JSON-logging service is valid JSON (an all-digit
	// trace ID with leading zeros once made it not), IDs are strings.
	code, body = q(`{service="frontend"}`, "&limit=5000")
	resp.Data.Result = nil
	if err := json.Unmarshal([]byte(body), &resp); code != 200 || err != nil {
		t.Fatalf("frontend lines: %d %v", code, err)
	}
	lines := 0
	for _, s := range resp.Data.Result {
		for _, v := range s.Values {
			lines++
			var line map[string]any
			if err := json.Unmarshal([]byte(v[1]), &line); err != nil {
				t.Fatalf("not JSON (%v): %s", err, v[1])
			}
			if id, ok := line["trace_id"]; ok {
				if _, isString := id.(string); !isString {
					t.Errorf("trace_id %v is not a string: %s", id, v[1])
				}
			}
		}
	}
	if lines < 100 {
		t.Errorf("only %d frontend lines", lines)
	}
	for _, tt := range []struct{ query, want string }{
		{`{service="checkout"`, "parse error"},
		{`service="checkout"`, "parse error at line 1, col 1"},
		{`{service=~".*"}`, "queries require at least one regexp or equality matcher that does not have an empty-compatible value"},
		{`count_over_time({service="checkout"}[5m])`, "metric queries are not supported by the Watchkeeper sandbox"},
		{`{service="checkout"} |~ "("`, "invalid regex"},
	} {
		if code, body := q(tt.query, ""); code != 400 || !strings.Contains(body, tt.want) {
			t.Errorf("%s: %d %s, want 400 %q", tt.query, code, body, tt.want)
		}
	}
	if code, body := q(`{service="checkout"}`, "&limit=6000"); code != 400 || !strings.Contains(body, "max entries limit per query exceeded") {
		t.Errorf("limit: %d %s", code, body)
	}
	labels := get(t, srv.URL+"/loki/api/v1/label/service/values")
	if !strings.Contains(labels, `"checkout"`) || !strings.Contains(labels, `"postgres"`) {
		t.Errorf("label values = %s", labels)
	}
}
