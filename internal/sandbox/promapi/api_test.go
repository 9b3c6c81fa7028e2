package promapi_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/watchkeeper/watchkeeper/internal/sandbox/promapi"
	"github.com/watchkeeper/watchkeeper/internal/sandbox/world"
)

// end is when every test world's history ends: a Tuesday afternoon.
var end = time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)

type env struct {
	srv  *httptest.Server
	prom promv1.API
}

// serve exports an hour of scenario's world, as the sandbox does, and
// serves the API over it.
func serve(t *testing.T, scenario string) *env {
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
	store, err := promapi.OpenStore(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	exp := promapi.NewExporter(store, topo)
	var last *world.Snapshot
	w.Advance(end, func(s *world.Snapshot) {
		last = s
		if err == nil {
			err = exp.Export(s)
		}
	})
	if err == nil {
		err = exp.Flush()
	}
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	promapi.NewAPI(store, promapi.Config{Now: w.Now, Snapshot: func() *world.Snapshot { return last },
		Parser: parser.NewParser(parser.Options{})}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	client, err := api.NewClient(api.Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, prom: promv1.NewAPI(client)}
}

func TestPrometheusAPIErrors(t *testing.T) {
	e := serve(t, "healthy")
	tests := []struct {
		path     string
		status   int
		errType  string
		contains string
	}{
		{"/api/v1/query?query=sum(rate(up[5m])", 400, "bad_data", `invalid parameter "query": 1:17: parse error: unclosed left parenthesis`},
		{"/api/v1/query?query=up&time=yesterday", 400, "bad_data", `invalid parameter "time": cannot parse "yesterday" to a valid timestamp`},
		{"/api/v1/query_range?query=up&start=100&end=50&step=15", 400, "bad_data", "end timestamp must not be before start time"},
		{"/api/v1/query_range?query=up&start=0&end=100&step=0", 400, "bad_data", "zero or negative query resolution step widths are not accepted"},
		{"/api/v1/query_range?query=up&start=0&end=1000000&step=1", 400, "bad_data", "exceeded maximum resolution of 11,000 points per timeseries"},
		{"/api/v1/query?query=rate(up)", 400, "bad_data", "expected type range vector in call to function \"rate\", got instant vector"},
		{"/api/v1/series", 400, "bad_data", "no match[] parameter provided"},
		{"/api/v1/query?query=up%7Bjob%3D%22x%22%7D%5B5m%5D+%2B+1", 400, "bad_data", "binary expression must contain only scalar and instant vector types"},
	}
	for _, tt := range tests {
		resp, err := http.Get(e.srv.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Status, ErrorType, Error string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || body.Status != "error" || body.ErrorType != tt.errType || !strings.Contains(body.Error, tt.contains) {
			t.Errorf("%s: %d %+v\nwant %d %s %q", tt.path, resp.StatusCode, body, tt.status, tt.errType, tt.contains)
		}
	}
	// Outside the generated history there is simply no data, as in Prometheus.
	v, _, _, err := e.prom.Query(context.Background(), "up", end.Add(-30*24*time.Hour))
	if err != nil || len(v.(model.Vector)) != 0 {
		t.Errorf("query before the history: %v, %v", v, err)
	}
}
