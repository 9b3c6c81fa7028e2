package spans

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestJSONLRoundTrip(t *testing.T) {
	start := time.Date(2026, 11, 3, 10, 0, 0, 123456000, time.UTC)
	in := []Span{
		{TraceID: "t1", SpanID: "a", Service: "checkout", Name: "POST /checkout", Kind: KindServer, Start: start, Duration: 1500 * time.Microsecond,
			Attrs: map[string]string{"http.route": "/checkout", "http.response.status_code": "500"}, Error: true, Status: "boom",
			Events: []Event{{Time: start.Add(time.Millisecond), Name: "exception", Attrs: map[string]string{"exception.type": "IOError"}}}},
		{TraceID: "t1", SpanID: "b", ParentID: "a", Service: "checkout", Name: "POST payments", Kind: KindClient, Start: start.Add(10 * time.Microsecond), Duration: 900 * time.Microsecond, Fault: true},
	}
	var buf bytes.Buffer
	if err := WriteJSONL(&buf, in); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"duration_us":1500`) {
		t.Errorf("duration not written in microseconds: %s", buf.String())
	}
	var out []Span
	if err := ReadJSONL(&buf, func(s Span) error { out = append(out, s); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("read %d spans, wrote %d", len(out), len(in))
	}
	for i := range in {
		if !in[i].Start.Equal(out[i].Start) || !firstEventTimeEqual(in[i], out[i]) {
			t.Errorf("span %d: times differ: %v vs %v", i, in[i].Start, out[i].Start)
		}
		a, b := in[i], out[i]
		a.Start, b.Start = time.Time{}, time.Time{}
		a.Events, b.Events = nil, nil
		if !reflect.DeepEqual(a, b) {
			t.Errorf("span %d round trip:\n got %+v\nwant %+v", i, b, a)
		}
	}
	if got := out[0].Events; len(got) != 1 || got[0].Name != "exception" || got[0].Attrs["exception.type"] != "IOError" {
		t.Errorf("events: %+v", got)
	}
}

// firstEventTimeEqual compares the times of the first event (time.Time
// values read back carry a different location pointer).
func firstEventTimeEqual(s, o Span) bool {
	if len(s.Events) != len(o.Events) {
		return false
	}
	return len(s.Events) == 0 || s.Events[0].Time.Equal(o.Events[0].Time)
}

func TestReadJSONLErrors(t *testing.T) {
	good := `{"trace_id":"t","span_id":"s","name":"x","start":"2026-01-01T00:00:00Z","duration_us":5}`
	tests := []struct {
		name, in, want string
		spans          int
	}{
		{"blank lines skipped", "\n" + good + "\n  \n" + good + "\n", "", 2},
		{"malformed line", good + "\n{not json\n", "line 2: not a span", 1},
		{"missing span id", good + "\n" + `{"trace_id":"t"}`, "line 2: a span needs trace_id and span_id", 1},
		{"missing trace id", `{"span_id":"s"}`, "line 1: a span needs", 0},
		{"over-long line", good + "\n" + `{"name":"` + strings.Repeat("x", MaxLine) + `"}` + "\n", "line 2: longer than", 1},
		{"negative duration clamps", `{"trace_id":"t","span_id":"s","duration_us":-5}`, "", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			err := ReadJSONL(strings.NewReader(tc.in), func(s Span) error {
				if s.Duration < 0 {
					t.Errorf("negative duration %v", s.Duration)
				}
				n++
				return nil
			})
			if tc.want == "" && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if n != tc.spans {
				t.Errorf("read %d spans before stopping, want %d", n, tc.spans)
			}
		})
	}
}

func TestReadJSONLCallbackErrorStops(t *testing.T) {
	stop := errors.New("stop")
	in := `{"trace_id":"t","span_id":"1"}` + "\n" + `{"trace_id":"t","span_id":"2"}`
	n := 0
	err := ReadJSONL(strings.NewReader(in), func(Span) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("got %v after %d spans, want the callback's error after 1", err, n)
	}
}

func TestGroupAndTraceHelpers(t *testing.T) {
	spans := []Span{{TraceID: "b", SpanID: "1"}, {TraceID: "a", SpanID: "2", Error: true}, {TraceID: "b", SpanID: "3", Fault: true}}
	g := Group(spans)
	if len(g) != 2 || g[0].ID != "b" || len(g[0].Spans) != 2 || g[1].ID != "a" {
		t.Fatalf("Group = %+v", g)
	}
	if !g[1].HasError() || g[0].HasError() {
		t.Error("HasError wrong")
	}
	if !g[0].Touched() || g[1].Touched() {
		t.Error("Touched wrong")
	}
	if (Span{}).ServiceName() != UnknownService || (Span{Service: "x"}).ServiceName() != "x" {
		t.Error("ServiceName wrong")
	}
}
