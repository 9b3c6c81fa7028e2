package spans

import (
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
)

func newStore(t testing.TB, o StoreOptions) *Store {
	t.Helper()
	s, err := NewStore(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fixture traces, each starting at minute i after t0:
//
//	t1 (min 0): frontend GET / → cart GET /cart (120ms, http.response.status_code=200)
//	t2 (min 1): frontend GET / → payments POST /charge, failing, 900ms
//	t3 (min 2): frontend POST /checkout (server) and a client span of the same name
//	t4 (min 3): a span without service, name "cron"
func fixture() []Trace {
	at := func(min int, s Span) Span {
		s.Start = s.Start.Add(time.Duration(min) * time.Minute)
		return s
	}
	with := func(s Span, f func(*Span)) Span { f(&s); return s }
	t1 := Trace{ID: "t1", Spans: []Span{
		at(0, sp("a", "", "frontend", "GET /", KindServer, 0, 150)),
		at(0, with(sp("b", "a", "cart", "GET /cart", KindServer, 10, 120), func(s *Span) {
			s.Attrs = map[string]string{"http.response.status_code": "200"}
		})),
	}}
	t2 := Trace{ID: "t2", Spans: []Span{
		at(1, sp("a", "", "frontend", "GET /", KindServer, 0, 1000)),
		at(1, with(sp("b", "a", "payments", "POST /charge", KindServer, 10, 900), func(s *Span) {
			s.Error, s.Status = true, "card declined"
			s.Attrs = map[string]string{"http.response.status_code": "500"}
			s.Events = []Event{{Time: s.Start, Name: "exception", Attrs: map[string]string{"exception.type": "Declined"}}}
		})),
	}}
	t3 := Trace{ID: "t3", Spans: []Span{
		at(2, sp("a", "", "frontend", "POST /checkout", KindServer, 0, 50)),
		at(2, sp("b", "a", "frontend", "POST /checkout", KindClient, 5, 40)),
	}}
	t4 := Trace{ID: "t4", Spans: []Span{at(3, sp("a", "", "", "cron", "", 0, 5))}}
	for _, t := range []*Trace{&t1, &t2, &t3, &t4} {
		for i := range t.Spans {
			t.Spans[i].TraceID = t.ID
		}
	}
	return []Trace{t1, t2, t3, t4}
}

func ids(ts []Trace) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}

func TestStoreFind(t *testing.T) {
	s := newStore(t, StoreOptions{})
	fx := fixture()
	// Two batches, so Find must merge across them.
	if n := s.Add(fx[:2]); n != 2 {
		t.Fatalf("kept %d of 2", n)
	}
	s.Add(fx[2:])
	min := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	tests := []struct {
		name string
		q    Query
		want []string
	}{
		{"everything, newest first", Query{}, []string{"t4", "t3", "t2", "t1"}},
		{"limit", Query{Limit: 2}, []string{"t4", "t3"}},
		{"service", Query{Service: "frontend"}, []string{"t3", "t2", "t1"}},
		{"service without spans", Query{Service: "nobody"}, nil},
		{"unknown service", Query{Service: UnknownService}, []string{"t4"}},
		{"operation", Query{Service: "payments", Operation: "POST /charge"}, []string{"t2"}},
		{"operation of another service", Query{Service: "cart", Operation: "POST /charge"}, nil},
		{"operation without service is ignored", Query{Operation: "nothing"}, []string{"t4", "t3", "t2", "t1"}},
		{"tag", Query{Tags: map[string]string{"http.response.status_code": "200"}}, []string{"t1"}},
		{"tag error=true", Query{Tags: map[string]string{"error": "true"}}, []string{"t2"}},
		{"tag span.kind", Query{Service: "frontend", Tags: map[string]string{"span.kind": "client"}}, []string{"t3"}},
		{"tags must hold on one span", Query{Service: "frontend", Tags: map[string]string{"http.response.status_code": "500"}}, nil},
		{"tag missing", Query{Tags: map[string]string{"nope": "x"}}, nil},
		{"min duration", Query{MinDuration: 500 * time.Millisecond}, []string{"t2"}},
		{"min duration on the matching span", Query{Service: "cart", MinDuration: 130 * time.Millisecond}, nil},
		{"max duration", Query{Service: "frontend", MaxDuration: 100 * time.Millisecond}, []string{"t3"}},
		{"window", Query{Start: min(1), End: min(2).Add(time.Second)}, []string{"t3", "t2"}},
		{"window start only", Query{Start: min(3)}, []string{"t4"}},
		{"window end only", Query{End: min(0).Add(time.Second)}, []string{"t1"}},
		{"errors only", Query{ErrorsOnly: true}, []string{"t2"}},
		{"errors only: the trace, not the matching span, failed", Query{Service: "frontend", ErrorsOnly: true}, []string{"t2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(s.Find(tc.q)); !slices.Equal(got, tc.want) {
				t.Errorf("Find = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestStoreFindLimitsAndOrder(t *testing.T) {
	s := newStore(t, StoreOptions{})
	// 30 batches of 100 single-span traces, added out of time order.
	for b := range 30 {
		var batch []Trace
		for i := range 100 {
			n := ((b*7)%30)*100 + i
			batch = append(batch, Trace{ID: fmt.Sprint(n), Spans: []Span{{TraceID: fmt.Sprint(n), SpanID: "1", Service: "s", Name: "op",
				Start: t0.Add(time.Duration(n) * time.Second), Duration: time.Millisecond}}})
		}
		s.Add(batch)
	}
	before := s.decoded.Load()
	got := s.Find(Query{Limit: 5})
	if n := s.decoded.Load() - before; n != 1 {
		t.Errorf("the newest five decompressed %d batches, want 1", n)
	}
	before = s.decoded.Load()
	if got := s.Find(Query{Start: t0.Add(1234 * time.Second), End: t0.Add(1240 * time.Second)}); len(got) != 7 {
		t.Errorf("a 6 s window found %d traces, want 7", len(got))
	}
	if n := s.decoded.Load() - before; n != 1 {
		t.Errorf("a window inside one batch decompressed %d batches, want 1", n)
	}
	before = s.decoded.Load()
	if got := s.Find(Query{Service: "other"}); len(got) != 0 {
		t.Errorf("found %d traces of a service never added", len(got))
	}
	if n := s.decoded.Load() - before; n != 0 {
		t.Errorf("a service no batch holds decompressed %d batches", n)
	}
	if want := []string{"2999", "2998", "2997", "2996", "2995"}; !slices.Equal(ids(got), want) {
		t.Fatalf("newest five: %v, want %v", ids(got), want)
	}
	if n := len(s.Find(Query{Limit: 5000})); n != MaxQueryLimit {
		t.Errorf("limit 5000 gave %d, want the cap %d", n, MaxQueryLimit)
	}
	if n := len(s.Find(Query{})); n != DefaultQueryLimit {
		t.Errorf("default limit gave %d", n)
	}
}

func TestStoreGet(t *testing.T) {
	s := newStore(t, StoreOptions{})
	fx := fixture()
	s.Add(fx)
	got, ok := s.Get("t2")
	if !ok {
		t.Fatal("t2 not found")
	}
	if !reflect.DeepEqual(got, fx[1]) {
		t.Errorf("Get(t2):\n got %+v\nwant %+v", got, fx[1])
	}
	if _, ok := s.Get("missing"); ok {
		t.Error("found a trace never added")
	}
	// Late spans of t1 arrive in a later batch: Get and Find join them.
	late := Trace{ID: "t1", Spans: []Span{sp("c", "b", "postgres", "SELECT", KindServer, 20, 5)}}
	late.Spans[0].TraceID = "t1"
	s.Add([]Trace{late})
	got, _ = s.Get("t1")
	if len(got.Spans) != 3 {
		t.Fatalf("t1 after late spans: %d spans, want 3", len(got.Spans))
	}
	found := s.Find(Query{Service: "postgres"})
	if len(found) != 1 || len(found[0].Spans) != 3 {
		t.Fatalf("Find by the late span's service: %+v", found)
	}
}

func TestStoreServicesOperations(t *testing.T) {
	s := newStore(t, StoreOptions{})
	if got := s.Services(); len(got) != 0 {
		t.Fatalf("empty store has services %v", got)
	}
	s.Add(fixture())
	if got, want := s.Services(), []string{"cart", "frontend", "payments", UnknownService}; !slices.Equal(got, want) {
		t.Errorf("Services = %v, want %v", got, want)
	}
	want := []Operation{{"GET /", KindServer}, {"POST /checkout", KindClient}, {"POST /checkout", KindServer}}
	if got := s.Operations("frontend"); !slices.Equal(got, want) {
		t.Errorf("Operations(frontend) = %v, want %v", got, want)
	}
	if got := s.Operations("nobody"); got == nil || len(got) != 0 {
		t.Errorf("Operations(nobody) = %#v, want empty", got)
	}
}

func TestStoreRetentionByBytes(t *testing.T) {
	const limit = 64 << 10
	s := newStore(t, StoreOptions{MaxBytes: limit})
	g := newGen(3)
	var first, last []Trace
	for i := range 300 {
		batch := g.traces(10)
		if i == 0 {
			first = batch
		}
		last = batch
		s.Add(batch)
	}
	st := s.Stats()
	if st.CompressedBytes > limit || st.CompressedBytes <= 0 {
		t.Fatalf("holding %d compressed bytes, limit %d", st.CompressedBytes, limit)
	}
	if st.TracesSeen != 300*10 || st.TracesKept != 300*10 || st.KeptBy[ReasonAll] != 300*10 {
		t.Errorf("counts %+v", st)
	}
	if st.Batches >= 300 || st.Batches == 0 {
		t.Errorf("%d batches held", st.Batches)
	}
	if st.RawBytes <= st.CompressedBytes {
		t.Errorf("raw %d ≤ compressed %d", st.RawBytes, st.CompressedBytes)
	}
	t.Logf("%d batches, %d raw → %d compressed bytes (%.1f×)", st.Batches, st.RawBytes, st.CompressedBytes,
		float64(st.RawBytes)/float64(st.CompressedBytes))
	if _, ok := s.Get(first[0].ID); ok {
		t.Error("the oldest trace survived")
	}
	if got, ok := s.Get(last[0].ID); !ok || !reflect.DeepEqual(got, last[0]) {
		t.Error("the newest trace is gone or changed")
	}
	// The index forgot the dropped batches' traces.
	s.mu.Lock()
	n := len(s.byID)
	s.mu.Unlock()
	if n != st.Batches*10 {
		t.Errorf("index holds %d trace IDs for %d batches of 10", n, st.Batches)
	}
}

func TestStoreRetentionByAge(t *testing.T) {
	now := t0
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := newStore(t, StoreOptions{MaxAge: time.Hour, Now: clock})
	fx := fixture()
	s.Add(fx[:1])                             // ends at t0+150ms
	s.Add([]Trace{shift(fx[3], 2*time.Hour)}) // a cron run two hours later
	mu.Lock()
	now = t0.Add(90 * time.Minute)
	mu.Unlock()
	if got := ids(s.Find(Query{})); !slices.Equal(got, []string{"t4"}) {
		t.Fatalf("after 90 minutes: %v, want only t4", got)
	}
	if got := s.Services(); !slices.Equal(got, []string{UnknownService}) {
		t.Errorf("services of dropped batches remain: %v", got)
	}
	if st := s.Stats(); st.Batches != 1 {
		t.Errorf("%d batches held", st.Batches)
	}
}

func shift(t Trace, d time.Duration) Trace {
	out := Trace{ID: t.ID, Spans: slices.Clone(t.Spans)}
	for i := range out.Spans {
		out.Spans[i].Start = out.Spans[i].Start.Add(d)
	}
	return out
}

func TestStoreWithSampler(t *testing.T) {
	s := newStore(t, StoreOptions{Sampler: NewSampler(SamplerOptions{})})
	g := newGen(8)
	for range 40 {
		s.Add(g.traces(250))
	}
	st := s.Stats()
	if st.TracesSeen != 10_000 {
		t.Fatalf("%+v", st)
	}
	var byReason int64
	for _, n := range st.KeptBy {
		byReason += n
	}
	if byReason != st.TracesKept || st.KeptBy[ReasonBase] == 0 {
		t.Errorf("kept %d, by reason %v", st.TracesKept, st.KeptBy)
	}
	if share := float64(st.SpansKept) / float64(st.SpansSeen); share > 0.2 {
		t.Errorf("kept %.2f of spans", share)
	}
	// Whatever was kept can be read back.
	for _, tr := range s.Find(Query{Limit: 50}) {
		if _, ok := s.Get(tr.ID); !ok {
			t.Fatalf("found %s but cannot get it", tr.ID)
		}
	}
	if s.Add(nil) != 0 || s.Add([]Trace{{ID: "empty"}}) != 0 {
		t.Error("kept an empty trace")
	}
}

func TestStoreConcurrent(t *testing.T) {
	s := newStore(t, StoreOptions{Sampler: NewSampler(SamplerOptions{}), MaxBytes: 256 << 10})
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			g := newGen(uint64(90 + w))
			for range 20 {
				s.Add(g.traces(50))
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for range 30 {
				for _, tr := range s.Find(Query{Service: "frontend", Limit: 10}) {
					s.Get(tr.ID)
				}
				for _, svc := range s.Services() {
					s.Operations(svc)
				}
				s.Stats()
			}
		})
	}
	wg.Wait()
	if st := s.Stats(); st.TracesSeen != 3*20*50 {
		t.Fatalf("saw %d traces", st.TracesSeen)
	}
}

func TestCodecRoundTrip(t *testing.T) {
	g := newGen(5)
	g.errScale = 50
	traces := g.traces(200)
	traces = append(traces, Trace{ID: "odd", Spans: []Span{{TraceID: "odd", SpanID: "x"}}}) // zero times
	b := appendTraces(nil, traces)
	got, err := decodeTraces(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, traces) {
		t.Fatal("round trip changed the traces")
	}
	// Every truncation is an error, never a panic.
	b = appendTraces(nil, traces[:3])
	for n := range len(b) - 1 {
		if _, err := decodeTraces(b[:n], nil); err == nil {
			t.Fatalf("a batch cut at %d of %d bytes decoded", n, len(b))
		}
	}
	// A corrupt count must not allocate without bound.
	if _, err := decodeTraces([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, nil); err == nil {
		t.Fatal("a huge count decoded")
	}
}

func TestMatchNil(t *testing.T) {
	if Match(nil, Query{}) {
		t.Error("nil tree matched")
	}
	if Match(Build(Trace{ID: "x"}), Query{}) {
		t.Error("a trace without spans matched")
	}
}
