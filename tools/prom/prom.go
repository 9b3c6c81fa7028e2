// Package prom gives the agent Prometheus: instant and range queries,
// metric, label and series discovery, alerts, rules and target health. It
// speaks the standard HTTP API through client_golang, so it works with
// Prometheus, Thanos, Mimir and VictoriaMetrics.
//
// Results are evidence, not dumps: a range query becomes one line per
// series — level, extremes and when, trend, and when it changed — ranked
// and cut to a few series with a note of what was left out, plus a chart
// and a link to the same query in the UI.
package prom

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/watchkeeper/watchkeeper/internal/endpoint"
	"github.com/watchkeeper/watchkeeper/tools"
	"github.com/watchkeeper/watchkeeper/tools/clock"
)

// Config configures the tools.
type Config struct {
	// URL is the API's base URL.
	URL string
	// HTTPClient carries auth, TLS and limits (endpoint.Config.Client).
	HTTPClient *http.Client
	// LinkKind is prometheus, grafana or none; LinkURL the UI's base (URL when
	// empty); Datasource Grafana's data source UID.
	LinkKind, LinkURL, Datasource string
	// MaxPoints per series for range queries when no step is given (200).
	MaxPoints int
	// TopK series are shown in detail (10).
	TopK int
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Client is the Prometheus API and the tools built on it. It is safe for
// concurrent use.
type Client struct {
	api promv1.API
	cfg Config
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.URL == "" {
		return nil, errors.New("prometheus: no URL configured; set prometheus.url")
	}
	if _, err := url.Parse(cfg.URL); err != nil {
		return nil, fmt.Errorf("prometheus: url: %w", err)
	}
	if cfg.HTTPClient == nil {
		hc, err := endpoint.Config{Name: "prometheus"}.Client()
		if err != nil {
			return nil, err
		}
		cfg.HTTPClient = hc
	}
	if cfg.MaxPoints <= 0 {
		cfg.MaxPoints = 200
	}
	if cfg.TopK <= 0 {
		cfg.TopK = 10
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LinkURL == "" {
		cfg.LinkURL = cfg.URL
	}
	c, err := api.NewClient(api.Config{Address: cfg.URL, Client: cfg.HTTPClient})
	if err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	return &Client{api: promv1.NewAPI(c), cfg: cfg}, nil
}

// Tools returns every Prometheus tool.
func (c *Client) Tools() []tools.Tool {
	return []tools.Tool{
		queryTool{c}, rangeTool{c}, metricsTool{c}, labelsTool{c}, seriesTool{c},
		alertsTool{c}, rulesTool{c}, targetsTool{c},
	}
}

// Now is the client's clock.
func (c *Client) Now() time.Time { return c.cfg.Now() }

// classify turns an API error into a result the model can act on (the
// query was wrong) or a Go error (the backend failed).
func (c *Client) classify(ctx context.Context, err error, query string) (tools.Result, error) {
	var perr *promv1.Error
	if errors.As(err, &perr) {
		switch perr.Type {
		case promv1.ErrBadData, promv1.ErrExec:
			return tools.Errorf("Prometheus rejected %s: %s", quoteQuery(query), perr.Msg), nil
		case promv1.ErrTimeout:
			return tools.Errorf("Prometheus timed out running %s: %s; narrow it (fewer series, a shorter range, a larger step)", quoteQuery(query), perr.Msg), nil
		}
	}
	if errors.Is(err, endpoint.ErrResponseTooLarge) {
		return tools.Errorf("%v", err), nil
	}
	if ctx.Err() != nil {
		return tools.Result{}, ctx.Err()
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return tools.Result{}, fmt.Errorf("prometheus at %s did not answer in time (%v); narrow the query or raise prometheus.timeout", c.cfg.URL, err)
	}
	return tools.Result{}, fmt.Errorf("prometheus at %s: %w", c.cfg.URL, err)
}

func quoteQuery(q string) string {
	if q == "" {
		return "the request"
	}
	return "`" + q + "`"
}

// resolveTime reads a time argument: RFC 3339, Unix seconds, or an
// expression such as "2h ago" or "14:00" (tools/clock).
func (c *Client) resolveTime(s string, def time.Time) (time.Time, error) {
	if s == "" {
		return def, nil
	}
	return clock.Resolve(s, c.cfg.Now().UTC())
}
