package traceapi

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/watchkeeper/watchkeeper/internal/spans"
)

// OTLPOptions configure an OTLPExporter. Only Endpoint is required.
type OTLPOptions struct {
	// Endpoint is the collector's base URL; traces are POSTed to
	// {Endpoint}/v1/traces (a URL already ending in /v1/traces is used as
	// is).
	Endpoint string
	// BatchSpans is the most spans per request (default and at most
	// 2,000; a larger trace goes alone).
	BatchSpans int
	// QueueSpans bounds the spans waiting to be sent (default 50,000,
	// about twenty steps at the shop's peak); past it new traces are
	// dropped and counted.
	QueueSpans int
	// Timeout bounds each request (default 10 s).
	Timeout time.Duration
	// Retries is how many times a request refused with 429 or 503, or
	// failing to connect, is tried again (default 3).
	Retries int
	// MaxRetryWait caps a wait before a retry, Retry-After included
	// (default 30 s).
	MaxRetryWait time.Duration
	// Client sends the requests (a client without a timeout of its own
	// by default; Timeout applies per request).
	Client *http.Client
	Logger *slog.Logger
}

// ExportStats count what an OTLPExporter did with the spans given to it.
type ExportStats struct {
	Endpoint string `json:"endpoint"`
	// SpansSent were accepted by the collector; SpansDropped never sent
	// because the queue was full; SpansFailed sent but refused or lost
	// after the retries.
	SpansSent    int64 `json:"spans_sent"`
	SpansDropped int64 `json:"spans_dropped"`
	SpansFailed  int64 `json:"spans_failed"`
	Requests     int64 `json:"requests"`
	Retries      int64 `json:"retries"`
	// LastError is the latest failure, empty when none.
	LastError string `json:"last_error,omitempty"`
}

// OTLPExporter sends traces to an OpenTelemetry collector over OTLP/HTTP
// (protobuf), one resource per service with its service.name. Export
// never blocks: traces wait in a bounded queue that one goroutine drains
// in batches; when the collector is slow or down the queue fills and new
// traces are dropped and counted, with a warning at most once a minute.
// Safe for concurrent use; Close stops it.
type OTLPExporter struct {
	url     string
	opts    OTLPOptions
	client  *http.Client
	logger  *slog.Logger
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	cancel  context.CancelFunc
	ctx     context.Context
	closing sync.Once

	mu        sync.Mutex
	queue     []spans.Trace
	queued    int // spans in queue
	stats     ExportStats
	lastWarn  time.Time
	unwarned  int64 // spans dropped or failed since the last warning
	warnEvery time.Duration
}

// maxBatchSpans is OTLP's customary batch bound (the collector's batch
// processor sends 8,192 at most; 2,000 keeps a request under ~1 MB).
const maxBatchSpans = 2000

// NewOTLPExporter validates the endpoint and starts the sender.
func NewOTLPExporter(o OTLPOptions) (*OTLPExporter, error) {
	u, err := url.Parse(o.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("OTLP endpoint %q: want an http:// or https:// URL such as http://localhost:4318", o.Endpoint)
	}
	target := strings.TrimSuffix(o.Endpoint, "/")
	if !strings.HasSuffix(target, "/v1/traces") {
		target += "/v1/traces"
	}
	if o.BatchSpans <= 0 || o.BatchSpans > maxBatchSpans {
		o.BatchSpans = maxBatchSpans
	}
	if o.QueueSpans <= 0 {
		o.QueueSpans = 50_000
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Retries == 0 {
		o.Retries = 3
	}
	if o.MaxRetryWait <= 0 {
		o.MaxRetryWait = 30 * time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &OTLPExporter{url: target, opts: o, client: o.Client, logger: o.Logger, wake: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{}), ctx: ctx, cancel: cancel, warnEvery: time.Minute}
	e.stats.Endpoint = target
	go e.run()
	return e, nil
}

// Export queues traces for sending; what does not fit is dropped.
func (e *OTLPExporter) Export(traces []spans.Trace) {
	e.mu.Lock()
	for _, t := range traces {
		if e.queued+len(t.Spans) > e.opts.QueueSpans {
			e.stats.SpansDropped += int64(len(t.Spans))
			e.unwarned += int64(len(t.Spans))
			continue
		}
		e.queue = append(e.queue, t)
		e.queued += len(t.Spans)
	}
	e.warnLocked()
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Stats returns the counts so far.
func (e *OTLPExporter) Stats() ExportStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats
}

// Close stops the sender, giving what is queued two seconds to go out,
// and waits for it.
func (e *OTLPExporter) Close() error {
	e.closing.Do(func() {
		close(e.stop)
		// The final flush has its own deadline; an in-flight retry wait or
		// a hung collector ends with it.
		time.AfterFunc(2*time.Second, e.cancel)
	})
	<-e.done
	e.cancel()
	return nil
}

func (e *OTLPExporter) run() {
	defer close(e.done)
	for {
		select {
		case <-e.wake:
			e.drain(false)
		case <-e.stop:
			e.drain(true)
			return
		}
	}
}

// drain sends batches until the queue is empty; final sends each batch
// once, without retries.
func (e *OTLPExporter) drain(final bool) {
	for {
		batch, n := e.take()
		if n == 0 {
			return
		}
		body, err := proto.Marshal(toOTLP(batch))
		if err != nil {
			e.fail(n, fmt.Errorf("encode: %w", err))
			continue
		}
		e.send(body, n, final)
		if !final {
			select {
			case <-e.stop:
				final = true
			default:
			}
		}
		if e.ctx.Err() != nil {
			// Closed and out of time: what is left is dropped.
			e.mu.Lock()
			e.stats.SpansDropped += int64(e.queued)
			e.queue, e.queued = nil, 0
			e.mu.Unlock()
			return
		}
	}
}

// take removes up to BatchSpans spans of whole traces from the queue.
func (e *OTLPExporter) take() ([]spans.Trace, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, k := 0, 0
	for k < len(e.queue) && (k == 0 || n+len(e.queue[k].Spans) <= e.opts.BatchSpans) {
		n += len(e.queue[k].Spans)
		k++
	}
	batch := e.queue[:k:k]
	e.queue = e.queue[k:]
	if len(e.queue) == 0 {
		e.queue = nil
	}
	e.queued -= n
	return batch, n
}

// send posts one request, retrying on 429, 503 and connection errors.
func (e *OTLPExporter) send(body []byte, n int, final bool) {
	retries := e.opts.Retries
	if final {
		retries = 0
	}
	for attempt := 0; ; attempt++ {
		wait, err := e.post(body)
		if err == nil {
			e.mu.Lock()
			e.stats.SpansSent += int64(n)
			e.mu.Unlock()
			return
		}
		if wait < 0 || attempt >= retries {
			e.fail(n, err)
			return
		}
		if wait == 0 {
			wait = time.Duration(1<<attempt) * time.Second
		}
		wait = min(wait, e.opts.MaxRetryWait)
		e.mu.Lock()
		e.stats.Retries++
		e.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-e.ctx.Done():
			t.Stop()
			e.fail(n, err)
			return
		case <-e.stop:
			t.Stop()
			e.fail(n, err)
			return
		}
	}
}

// post sends body once. On failure it returns how long to wait before a
// retry (0: the default back-off) or -1 when a retry cannot help.
func (e *OTLPExporter) post(body []byte) (time.Duration, error) {
	ctx, cancel := context.WithTimeoutCause(e.ctx, e.opts.Timeout, fmt.Errorf("OTLP export took longer than %v", e.opts.Timeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return -1, err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	e.mu.Lock()
	e.stats.Requests++
	e.mu.Unlock()
	resp, err := e.client.Do(req)
	if err != nil {
		if c := context.Cause(ctx); c != nil {
			err = fmt.Errorf("%w (%v)", err, c)
		}
		return 0, fmt.Errorf("POST %s: %w", e.url, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 == 2 {
		return 0, nil
	}
	err = fmt.Errorf("POST %s: %s: %s", e.url, resp.Status, strings.TrimSpace(string(msg)))
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return retryAfter(resp.Header.Get("Retry-After")), err
	}
	return -1, err
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return max(time.Duration(s)*time.Second, time.Millisecond)
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), time.Millisecond)
	}
	return 0
}

func (e *OTLPExporter) fail(n int, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stats.SpansFailed += int64(n)
	e.stats.LastError = err.Error()
	e.unwarned += int64(n)
	e.warnLocked()
}

// warnLocked logs lost spans at most once per warnEvery.
func (e *OTLPExporter) warnLocked() {
	if e.unwarned == 0 || time.Since(e.lastWarn) < e.warnEvery {
		return
	}
	e.logger.Warn("OTLP export is losing spans: the collector is slow, down or refusing them",
		"endpoint", e.url, "lost_since_last_warning", e.unwarned, "dropped_total", e.stats.SpansDropped,
		"failed_total", e.stats.SpansFailed, "last_error", e.stats.LastError)
	e.lastWarn, e.unwarned = time.Now(), 0
}

// scopeName names the instrumentation that made the spans.
const scopeName = "watchkeeper-sandbox"

// toOTLP converts traces to one export request: a ResourceSpans per
// service (resource attributes service.name and k8s.namespace.name).
func toOTLP(traces []spans.Trace) *coltracepb.ExportTraceServiceRequest {
	req := &coltracepb.ExportTraceServiceRequest{}
	bySvc := map[string]*tracepb.ScopeSpans{}
	for _, t := range traces {
		for i := range t.Spans {
			s := &t.Spans[i]
			svc := s.ServiceName()
			ss, ok := bySvc[svc]
			if !ok {
				ss = &tracepb.ScopeSpans{Scope: &commonpb.InstrumentationScope{Name: scopeName}}
				bySvc[svc] = ss
				req.ResourceSpans = append(req.ResourceSpans, &tracepb.ResourceSpans{
					Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
						stringKV("service.name", svc), stringKV("k8s.namespace.name", "shop")}},
					ScopeSpans: []*tracepb.ScopeSpans{ss},
				})
			}
			ss.Spans = append(ss.Spans, otlpSpan(s))
		}
	}
	return req
}

func otlpSpan(s *spans.Span) *tracepb.Span {
	ps := &tracepb.Span{
		TraceId:           decodeID(s.TraceID, 16),
		SpanId:            decodeID(s.SpanID, 8),
		Name:              s.Name,
		Kind:              otlpKind(s.Kind),
		StartTimeUnixNano: uint64(s.Start.UnixNano()),
		EndTimeUnixNano:   uint64(s.End().UnixNano()),
		Attributes:        otlpAttrs(s.Attrs),
	}
	if s.ParentID != "" {
		ps.ParentSpanId = decodeID(s.ParentID, 8)
	}
	if s.Error {
		ps.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: s.Status}
	}
	for _, ev := range s.Events {
		ps.Events = append(ps.Events, &tracepb.Span_Event{TimeUnixNano: uint64(ev.Time.UnixNano()), Name: ev.Name, Attributes: otlpAttrs(ev.Attrs)})
	}
	return ps
}

func otlpAttrs(m map[string]string) []*commonpb.KeyValue {
	if len(m) == 0 {
		return nil
	}
	out := make([]*commonpb.KeyValue, 0, len(m))
	for _, k := range sortedKeys(m) {
		v := m[k]
		if intAttributes[k] {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				out = append(out, &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: n}}})
				continue
			}
		}
		out = append(out, stringKV(k, v))
	}
	return out
}

func stringKV(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func otlpKind(k string) tracepb.Span_SpanKind {
	switch k {
	case spans.KindServer:
		return tracepb.Span_SPAN_KIND_SERVER
	case spans.KindClient:
		return tracepb.Span_SPAN_KIND_CLIENT
	case spans.KindInternal:
		return tracepb.Span_SPAN_KIND_INTERNAL
	case spans.KindProducer:
		return tracepb.Span_SPAN_KIND_PRODUCER
	case spans.KindConsumer:
		return tracepb.Span_SPAN_KIND_CONSUMER
	}
	return tracepb.Span_SPAN_KIND_UNSPECIFIED
}

// decodeID turns a hex ID into n bytes, left-padded; a malformed ID
// becomes all zeros, which a collector rejects for that span only.
func decodeID(s string, n int) []byte {
	out := make([]byte, n)
	b, err := hex.DecodeString(s)
	if err != nil || len(b) > n {
		return out
	}
	copy(out[n-len(b):], b)
	return out
}
