package telemetry_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/internal/telemetry"
)

// The tool label only takes registered tools' names: a name a model made
// up (or wrote to smuggle data out through /metrics) is counted as
// "unknown", so its cardinality stays bounded.
func TestSecurityMetricsToolLabelIsBounded(t *testing.T) {
	m := telemetry.NewMetrics("dev", "", "prom_query")
	for i := range 100 {
		m.ObserveTool(fmt.Sprintf("exfil_%d_password=hunter2", i), agent.OutcomeRefused, time.Millisecond)
	}
	m.ObserveTool("prom_query", agent.OutcomeOK, time.Millisecond)
	if n := testutil.CollectAndCount(m.Registry, "watchkeeper_tool_calls_total"); n != 2 {
		t.Errorf("%d tool_calls series; want 2 (prom_query and unknown)", n)
	}
	body, _ := testutil.CollectAndFormat(m.Registry, expfmt.TypeTextPlain, "watchkeeper_tool_calls_total")
	if strings.Contains(string(body), "exfil") || !strings.Contains(string(body), `tool="unknown"`) || !strings.Contains(string(body), `tool="prom_query"`) {
		t.Errorf("tool_calls:\n%s", body)
	}
}

func serve(t *testing.T, opts telemetry.ServerOptions) string {
	t.Helper()
	s := telemetry.NewServer(telemetry.NewMetrics("dev", ""), slog.New(slog.DiscardHandler), opts)
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, time.Second) }()
	t.Cleanup(func() { cancel(); <-done })
	return s.Addr()
}

// /metrics can require credentials; the probes stay open for the kubelet.
func TestSecurityMetricsAuth(t *testing.T) {
	for _, tt := range []struct {
		name string
		auth telemetry.Credentials
		set  func(r *http.Request)
	}{
		{"bearer", telemetry.Credentials{BearerToken: "scrape-token"}, func(r *http.Request) { r.Header.Set("Authorization", "Bearer scrape-token") }},
		{"basic", telemetry.Credentials{Username: "prom", Password: "pw"}, func(r *http.Request) { r.SetBasicAuth("prom", "pw") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := serve(t, telemetry.ServerOptions{MetricsAuth: tt.auth})
			get := func(path string, set func(*http.Request)) int {
				req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
				if set != nil {
					set(req)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode
			}
			if c := get("/metrics", nil); c != http.StatusUnauthorized {
				t.Errorf("/metrics without credentials: %d", c)
			}
			if c := get("/metrics", func(r *http.Request) { r.Header.Set("Authorization", "Bearer wrong") }); c != http.StatusUnauthorized {
				t.Errorf("/metrics with wrong credentials: %d", c)
			}
			if c := get("/metrics", tt.set); c != http.StatusOK {
				t.Errorf("/metrics with credentials: %d", c)
			}
			if c := get("/healthz", nil); c != http.StatusOK {
				t.Errorf("/healthz: %d", c)
			}
		})
	}
}

// A client that sends its headers and then trickles (or never sends) the
// body it announced is cut off after the read timeout instead of holding
// the connection open.
func TestSecuritySlowBodyIsCutOff(t *testing.T) {
	addr := serve(t, telemetry.ServerOptions{ReadTimeout: 300 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n{")
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.Copy(io.Discard, bufio.NewReader(c))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server kept a connection with a stalled body open for 10s")
	}
}
