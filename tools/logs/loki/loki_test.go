package loki_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/endpoint"
	"github.com/watchkeeper/watchkeeper/tools/logs"
	"github.com/watchkeeper/watchkeeper/tools/logs/loki"
)

// fakeLoki serves /loki/api/v1/query_range as Loki documents it: streams
// of [nanosecond-string, line] pairs, start inclusive and end exclusive,
// direction, max_entries_limit_per_query, X-Scope-OrgID for multi-tenant
// installs, plain-text errors with their status codes, a matrix for metric
// queries. Its LogQL covers exact-match selectors and |= filters, which is
// what the client under test sends for those queries.
type fakeLoki struct {
	mu         sync.Mutex
	entries    []fakeEntry
	maxEntries int
	tenant     string
	// failures are status codes answered before serving normally.
	failures []int
	requests []url.Values
	// resultType "matrix" answers as if the query were a metric query.
	resultType string
}

// regexArg is the argument of the first |~ filter, if any.
func regexArg(expr string) string {
	i := strings.Index(expr, "|~ `")
	if i < 0 {
		return ""
	}
	rest := expr[i+4:]
	return rest[:strings.IndexByte(rest, '`')]
}

type fakeEntry struct {
	labels map[string]string
	ts     time.Time
	line   string
}

var (
	selectorRe = regexp.MustCompile(`^\{([^}]*)\}`)
	matcherRe  = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)
	filterRe   = regexp.MustCompile(`\|= ("(?:[^"\\]|\\.)*")`)
)

func (f *fakeLoki) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path != "/loki/api/v1/query_range" {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	f.requests = append(f.requests, r.URL.Query())
	if f.tenant != "" && r.Header.Get("X-Scope-OrgID") != f.tenant {
		http.Error(w, "no org id", http.StatusUnauthorized)
		return
	}
	if len(f.failures) > 0 {
		code := f.failures[0]
		f.failures = f.failures[1:]
		if code == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "too many outstanding requests", code)
			return
		}
		http.Error(w, "rpc error: code = Unavailable", code)
		return
	}
	q := r.URL.Query()
	expr := q.Get("query")
	if f.resultType == "matrix" {
		json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "matrix",
			"result": []any{map[string]any{"metric": map[string]string{"service": "x"}, "values": [][2]any{{1.7e9, "3"}}}}}})
		return
	}
	if _, err := regexp.Compile(regexArg(expr)); err != nil {
		http.Error(w, "parse error at line 1, col 20: invalid char escape", http.StatusBadRequest)
		return
	}
	sel := selectorRe.FindStringSubmatch(expr)
	if sel == nil {
		http.Error(w, "parse error at line 1, col 1: syntax error: unexpected IDENTIFIER", http.StatusBadRequest)
		return
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit > f.maxEntries {
		http.Error(w, fmt.Sprintf("max entries limit per query exceeded, limit > max_entries_limit_per_query (%d > %d)", limit, f.maxEntries), http.StatusBadRequest)
		return
	}
	start, _ := strconv.ParseInt(q.Get("start"), 10, 64)
	end, _ := strconv.ParseInt(q.Get("end"), 10, 64)
	var filters []string
	for _, m := range filterRe.FindAllStringSubmatch(expr[len(sel[0]):], -1) {
		s, _ := strconv.Unquote(m[1])
		filters = append(filters, s)
	}
	var hits []fakeEntry
next:
	for _, e := range f.entries {
		if e.ts.UnixNano() < start || e.ts.UnixNano() >= end {
			continue
		}
		for _, m := range matcherRe.FindAllStringSubmatch(sel[1], -1) {
			v, _ := strconv.Unquote(`"` + m[2] + `"`)
			if e.labels[m[1]] != v {
				continue next
			}
		}
		for _, s := range filters {
			if !strings.Contains(e.line, s) {
				continue next
			}
		}
		hits = append(hits, e)
	}
	backward := q.Get("direction") != "forward"
	sort.SliceStable(hits, func(i, j int) bool {
		if backward {
			return hits[i].ts.After(hits[j].ts)
		}
		return hits[i].ts.Before(hits[j].ts)
	})
	if len(hits) > limit {
		hits = hits[:limit]
	}
	type stream struct {
		Stream map[string]string `json:"stream"`
		Values [][2]string       `json:"values"`
	}
	var out []*stream
	by := map[string]*stream{}
	for _, h := range hits {
		k := fmt.Sprint(h.labels)
		s, ok := by[k]
		if !ok {
			s = &stream{Stream: h.labels}
			by[k] = s
			out = append(out, s)
		}
		s.Values = append(s.Values, [2]string{strconv.FormatInt(h.ts.UnixNano(), 10), h.line})
	}
	json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "streams", "result": out,
		"stats": map[string]any{"summary": map[string]any{"totalLinesProcessed": len(hits)}}}})
}

var t0 = time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)

// world has two pods of checkout writing one line a second for ten
// minutes, and bursts of lines that share a timestamp.
func world() []fakeEntry {
	var es []fakeEntry
	for i := range 600 {
		for p, pod := range []string{"checkout-a", "checkout-b"} {
			ts := t0.Add(time.Duration(i)*time.Second + time.Duration(p)*time.Millisecond)
			es = append(es, fakeEntry{map[string]string{"service": "checkout", "pod": pod}, ts, fmt.Sprintf("level=info msg=served n=%d pod=%s", i, pod)})
		}
		if i%100 == 0 {
			for k := range 7 { // a burst at one instant
				es = append(es, fakeEntry{map[string]string{"service": "checkout", "pod": "checkout-a"}, t0.Add(time.Duration(i) * time.Second),
					fmt.Sprintf("level=error msg=burst k=%d at=%d", k, i)})
			}
		}
	}
	es = append(es, fakeEntry{map[string]string{"service": "cart", "pod": "cart-a"}, t0, "level=info msg=other service"})
	return es
}

func collect(t *testing.T, b *loki.Backend, q logs.Query) ([]logs.Entry, logs.Stats, error) {
	t.Helper()
	var got []logs.Entry
	st, err := b.Search(context.Background(), q, func(e logs.Entry) error {
		got = append(got, e)
		return nil
	})
	return got, st, err
}

func TestPaginationReadsEveryLineOnce(t *testing.T) {
	f := &fakeLoki{entries: world(), maxEntries: 5000}
	srv := httptest.NewServer(f)
	defer srv.Close()
	all := 0
	for _, e := range f.entries {
		if e.labels["service"] == "checkout" {
			all++
		}
	}
	for _, page := range []int{5000, 50, 13, 9} {
		b, err := loki.New(loki.Config{URL: srv.URL, PageSize: page})
		if err != nil {
			t.Fatal(err)
		}
		q := logs.Query{Service: "checkout", Start: t0, End: t0.Add(time.Hour), Limit: 100_000}
		got, st, err := collect(t, b, q)
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		if len(got) != all || st.Truncated {
			t.Errorf("page %d: %d lines (truncated %v), want %d", page, len(got), st.Truncated, all)
		}
		seen := map[string]bool{}
		for i, e := range got {
			k := e.Time.String() + e.Line
			if seen[k] {
				t.Fatalf("page %d: %q read twice", page, e.Line)
			}
			seen[k] = true
			if i > 0 && e.Time.Before(got[i-1].Time) {
				t.Fatalf("page %d: lines out of order at %d", page, i)
			}
		}
		if st.Native != `{service="checkout"}` {
			t.Errorf("native query %q", st.Native)
		}
	}
}

func TestLimitTailAndFilters(t *testing.T) {
	f := &fakeLoki{entries: world(), maxEntries: 5000}
	srv := httptest.NewServer(f)
	defer srv.Close()
	b, _ := loki.New(loki.Config{URL: srv.URL, PageSize: 40})
	got, st, err := collect(t, b, logs.Query{Service: "checkout", Start: t0, End: t0.Add(time.Hour), Limit: 100})
	if err != nil || len(got) != 100 || !st.Truncated || !got[0].Time.Equal(t0) {
		t.Fatalf("limit: %d lines, truncated %v, first %v, err %v", len(got), st.Truncated, got[0].Time, err)
	}
	got, st, err = collect(t, b, logs.Query{Service: "checkout", Start: t0, End: t0.Add(time.Hour), Limit: 90, Tail: true})
	if err != nil || len(got) != 90 || !st.Truncated {
		t.Fatalf("tail: %d lines, truncated %v, err %v", len(got), st.Truncated, err)
	}
	if last := got[len(got)-1]; !strings.Contains(last.Line, "n=599 ") || last.Labels["pod"] != "checkout-b" {
		t.Errorf("tail should end with the newest line, got %q", last.Line)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Time.Before(got[i-1].Time) {
			t.Fatal("tail lines must still come oldest first")
		}
	}
	got, st, err = collect(t, b, logs.Query{Service: "checkout", Pod: "checkout-a", Contains: []string{"msg=burst", "k=3"},
		Start: t0, End: t0.Add(time.Hour), Limit: 1000})
	if err != nil || len(got) != 6 {
		t.Fatalf("filters: %d lines, err %v", len(got), err)
	}
	if st.Native != `{service="checkout", pod="checkout-a"} |= "msg=burst" |= "k=3"` {
		t.Errorf("native %q", st.Native)
	}
}

func TestLogQL(t *testing.T) {
	b, _ := loki.New(loki.Config{URL: "http://loki:3100", Labels: logs.LabelNames{Service: "app", Namespace: "k8s_namespace_name"}})
	for _, tt := range []struct {
		q    logs.Query
		want string
	}{
		{logs.Query{Service: "checkout", Namespace: "shop"}, `{app="checkout", k8s_namespace_name="shop"}`},
		{logs.Query{Labels: map[string]string{"env": "prod", "cluster": `eu"1`}}, `{cluster="eu\"1", env="prod"}`},
		{logs.Query{Service: "x", Regex: `took=\d+ms`}, "{app=\"x\"} |~ `took=\\d+ms`"},
		{logs.Query{Service: "x", Regex: "a`b"}, `{app="x"} |~ "a` + "`" + `b"`},
		{logs.Query{Service: "x", MinLevel: logs.LevelError}, "{app=\"x\"} |~ `" + logs.LevelPattern(logs.LevelError) + "`"},
	} {
		got, err := b.LogQL(tt.q)
		if err != nil || got != tt.want {
			t.Errorf("LogQL(%+v) = %s, %v; want %s", tt.q, got, err, tt.want)
		}
	}
	if _, err := b.LogQL(logs.Query{Labels: map[string]string{"bad-name": "x"}}); !logs.IsQueryError(err) {
		t.Errorf("an invalid label name should be a query error, got %v", err)
	}
	if _, err := b.LogQL(logs.Query{}); !logs.IsQueryError(err) {
		t.Errorf("an empty selector should be a query error, got %v", err)
	}
}

func TestServerLimitsAndErrors(t *testing.T) {
	t.Run("lower max_entries_limit is adopted", func(t *testing.T) {
		f := &fakeLoki{entries: world(), maxEntries: 500}
		srv := httptest.NewServer(f)
		defer srv.Close()
		b, _ := loki.New(loki.Config{URL: srv.URL})
		got, _, err := collect(t, b, logs.Query{Service: "checkout", Start: t0, End: t0.Add(time.Hour), Limit: 100_000})
		if err != nil || len(got) != 1242 {
			t.Fatalf("%d lines, err %v", len(got), err)
		}
		if l := f.requests[len(f.requests)-1].Get("limit"); l != "500" {
			t.Errorf("later pages should ask for 500, asked %s", l)
		}
	})
	t.Run("tenant", func(t *testing.T) {
		f := &fakeLoki{entries: world(), maxEntries: 5000, tenant: "team-a"}
		srv := httptest.NewServer(f)
		defer srv.Close()
		b, _ := loki.New(loki.Config{URL: srv.URL})
		_, _, err := collect(t, b, logs.Query{Service: "checkout", Start: t0, End: t0.Add(time.Hour)})
		if err == nil || !strings.Contains(err.Error(), "set logs.tenant") {
			t.Errorf("missing tenant: %v", err)
		}
		b, _ = loki.New(loki.Config{URL: srv.URL, Tenant: "team-a"})
		if got, _, err := collect(t, b, logs.Query{Service: "checkout", Start: t0, End: t0.Add(time.Hour)}); err != nil || len(got) == 0 {
			t.Errorf("with tenant: %d lines, %v", len(got), err)
		}
	})
	t.Run("429 and 5xx are retried", func(t *testing.T) {
		f := &fakeLoki{entries: world(), maxEntries: 5000, failures: []int{429, 503}}
		srv := httptest.NewServer(f)
		defer srv.Close()
		hc, _ := endpoint.Config{Name: "loki", MaxRetries: 3}.Client()
		b, _ := loki.New(loki.Config{URL: srv.URL, HTTPClient: hc})
		if got, _, err := collect(t, b, logs.Query{Service: "checkout", Start: t0, End: t0.Add(time.Hour)}); err != nil || len(got) == 0 {
			t.Errorf("after transient failures: %d lines, %v", len(got), err)
		}
	})
	t.Run("persistent 5xx is a backend error", func(t *testing.T) {
		f := &fakeLoki{entries: world(), maxEntries: 5000, failures: []int{500, 500, 500, 500}}
		srv := httptest.NewServer(f)
		defer srv.Close()
		hc, _ := endpoint.Config{Name: "loki", MaxRetries: 1}.Client()
		b, _ := loki.New(loki.Config{URL: srv.URL, HTTPClient: hc})
		_, _, err := collect(t, b, logs.Query{Service: "checkout", Start: t0, End: t0.Add(time.Hour)})
		if err == nil || logs.IsQueryError(err) || !strings.Contains(err.Error(), "HTTP 500") {
			t.Errorf("5xx: %v", err)
		}
	})
	t.Run("not loki", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		defer srv.Close()
		b, _ := loki.New(loki.Config{URL: srv.URL})
		_, _, err := collect(t, b, logs.Query{Service: "checkout"})
		if err == nil || !strings.Contains(err.Error(), "is logs.url Loki's base URL?") {
			t.Errorf("404: %v", err)
		}
	})
	t.Run("down", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		hc, _ := endpoint.Config{Name: "loki", MaxRetries: -1}.Client()
		b, _ := loki.New(loki.Config{URL: srv.URL, HTTPClient: hc})
		_, _, err := collect(t, b, logs.Query{Service: "checkout"})
		if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), srv.URL) {
			t.Errorf("down: %v", err)
		}
	})
	t.Run("slow", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		}))
		defer srv.Close()
		hc, _ := endpoint.Config{Name: "loki", Timeout: 200 * time.Millisecond, MaxRetries: -1}.Client()
		b, _ := loki.New(loki.Config{URL: srv.URL, HTTPClient: hc})
		_, _, err := collect(t, b, logs.Query{Service: "checkout"})
		if err == nil || !strings.Contains(err.Error(), "did not answer in time") || !strings.Contains(err.Error(), srv.URL) {
			t.Errorf("slow: %v", err)
		}
	})
	t.Run("huge page is split", func(t *testing.T) {
		es := world()
		big := strings.Repeat("x", 200<<10)
		for i := range 40 {
			es = append(es, fakeEntry{map[string]string{"service": "big"}, t0.Add(time.Duration(i) * time.Second), big})
		}
		f := &fakeLoki{entries: es, maxEntries: 5000}
		srv := httptest.NewServer(f)
		defer srv.Close()
		hc, _ := endpoint.Config{Name: "loki", MaxResponseBytes: 1 << 20}.Client()
		b, _ := loki.New(loki.Config{URL: srv.URL, HTTPClient: hc})
		got, _, err := collect(t, b, logs.Query{Service: "big", Start: t0, End: t0.Add(time.Hour), Limit: 1000})
		if err != nil || len(got) != 40 {
			t.Errorf("big lines: %d lines, %v", len(got), err)
		}
	})
	t.Run("more lines at one instant than a page", func(t *testing.T) {
		f := &fakeLoki{entries: world(), maxEntries: 5000}
		srv := httptest.NewServer(f)
		defer srv.Close()
		b, _ := loki.New(loki.Config{URL: srv.URL, PageSize: 7})
		got, st, err := collect(t, b, logs.Query{Service: "checkout", Start: t0, End: t0.Add(time.Hour), Limit: 100_000})
		if err != nil || !st.Truncated || len(got) < 1236 || len(got) >= 1242 {
			t.Errorf("%d lines, truncated %v, err %v: want the lines beyond the page at each burst skipped, and said so", len(got), st.Truncated, err)
		}
	})
	t.Run("a metric answer", func(t *testing.T) {
		f := &fakeLoki{maxEntries: 5000, resultType: "matrix"}
		srv := httptest.NewServer(f)
		defer srv.Close()
		b, _ := loki.New(loki.Config{URL: srv.URL})
		_, _, err := collect(t, b, logs.Query{Service: "x"})
		if !logs.IsQueryError(err) || !strings.Contains(err.Error(), "matrix, not log lines") {
			t.Errorf("matrix: %v", err)
		}
	})
	t.Run("malformed answer", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("<html>login</html>")) }))
		defer srv.Close()
		b, _ := loki.New(loki.Config{URL: srv.URL})
		_, _, err := collect(t, b, logs.Query{Service: "x"})
		if err == nil || !strings.Contains(err.Error(), "is logs.url a Loki API?") {
			t.Errorf("html: %v", err)
		}
	})
	t.Run("bad query", func(t *testing.T) {
		f := &fakeLoki{maxEntries: 5000}
		srv := httptest.NewServer(f)
		defer srv.Close()
		b, _ := loki.New(loki.Config{URL: srv.URL})
		_, _, err := collect(t, b, logs.Query{Service: "x", Regex: "("})
		if !logs.IsQueryError(err) || !strings.Contains(err.Error(), "parse error") {
			t.Errorf("bad query: %v", err)
		}
	})
	t.Run("previous is not a loki concept", func(t *testing.T) {
		b, _ := loki.New(loki.Config{URL: "http://127.0.0.1:1"})
		_, _, err := collect(t, b, logs.Query{Service: "x", Previous: true})
		if !logs.IsQueryError(err) {
			t.Errorf("previous: %v", err)
		}
	})
	t.Run("bad url", func(t *testing.T) {
		if _, err := loki.New(loki.Config{URL: "loki:3100"}); err == nil {
			t.Error("a URL without scheme must fail")
		}
	})
}
