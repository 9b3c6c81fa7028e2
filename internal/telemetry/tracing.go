package telemetry

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// TracingConfig configures OTLP trace export.
type TracingConfig struct {
	// Endpoint is the OTLP/HTTP base URL (http://collector:4318); empty
	// disables tracing.
	Endpoint    string
	Headers     map[string]string
	SampleRatio float64
	ServiceName string
	Version     string
}

// Tracing is a tracer provider and its shutdown.
type Tracing struct {
	Provider trace.TracerProvider
	shutdown func(context.Context) error
}

// Shutdown flushes pending spans. Safe to call on a disabled Tracing.
func (t Tracing) Shutdown(ctx context.Context) error {
	if t.shutdown == nil {
		return nil
	}
	return t.shutdown(ctx)
}

// Tracer returns the Watchkeeper tracer.
func (t Tracing) Tracer() trace.Tracer {
	return t.Provider.Tracer("github.com/watchkeeper/watchkeeper")
}

// NewTracing returns a no-op provider when cfg.Endpoint is empty, and
// otherwise one that batches spans to the OTLP/HTTP endpoint. Export
// failures are reported by the SDK's error handler; they never fail a run.
func NewTracing(ctx context.Context, cfg TracingConfig) (Tracing, error) {
	if cfg.Endpoint == "" {
		return Tracing{Provider: noop.NewTracerProvider()}, nil
	}
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || u.Host == "" {
		return Tracing{}, fmt.Errorf("telemetry.tracing.endpoint %q is not a URL", cfg.Endpoint)
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(strings.TrimRight(cfg.Endpoint, "/") + "/v1/traces")}
	if len(cfg.Headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(cfg.Headers))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return Tracing{}, fmt.Errorf("create OTLP exporter: %w", err)
	}
	name := cfg.ServiceName
	if name == "" {
		name = "watchkeeper"
	}
	res := resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName(name), semconv.ServiceVersion(cfg.Version))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	)
	return Tracing{Provider: tp, shutdown: tp.Shutdown}, nil
}
