// Package endpoint builds the HTTP client for an observability backend from
// its settings: TLS (CA, client certificate, server name), bearer or basic
// authentication, fixed headers, retries on transient failures, and a cap
// on response size so that a query answering with millions of points fails
// with a clear error instead of exhausting memory.
package endpoint

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/retry"
)

// ErrResponseTooLarge is returned when a response exceeds MaxResponseBytes.
var ErrResponseTooLarge = errors.New("response too large")

// Config says how to reach a backend. The zero value is a plain client with
// the defaults below.
type Config struct {
	// Name labels errors ("prometheus", "logs").
	Name               string
	BearerToken        string
	Username, Password string
	CAFile             string
	CertFile, KeyFile  string
	ServerName         string
	InsecureSkipVerify bool
	Headers            map[string]string
	// Timeout bounds a request including retries (default 30s).
	Timeout time.Duration
	// MaxResponseBytes caps a response body (default 64 MiB).
	MaxResponseBytes int64
	// MaxRetries on connection errors, 429 and 5xx (default 2).
	MaxRetries int
	Logger     *slog.Logger
}

// Client returns the configured client. It fails when a TLS file cannot be
// read, naming the file.
func (c Config) Client() (*http.Client, error) {
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = 64 << 20
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = 2
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	tlsCfg := &tls.Config{ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify, MinVersion: tls.VersionTLS12} //nolint:gosec // opt-in
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s: read CA file: %w", c.Name, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: CA file %s holds no PEM certificate", c.Name, c.CAFile)
		}
		tlsCfg.RootCAs = pool
	}
	if c.CertFile != "" || c.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s: load client certificate: %w", c.Name, err)
		}
		tlsCfg.Certificates = []tls.Certificate{cert}
	}
	base.TLSClientConfig = tlsCfg
	var rt http.RoundTripper = &limitTransport{next: &authTransport{next: base, c: c}, max: c.MaxResponseBytes}
	rt = &retry.Transport{Next: rt, MaxRetries: c.MaxRetries, BaseDelay: 200 * time.Millisecond, MaxWait: 5 * time.Second, Logger: c.Logger}
	return &http.Client{Transport: rt, Timeout: c.Timeout}, nil
}

// authTransport adds credentials and headers without changing the caller's
// request.
type authTransport struct {
	next http.RoundTripper
	c    Config
}

func (t *authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.c.Headers {
		r.Header.Set(k, v)
	}
	switch {
	case t.c.BearerToken != "":
		r.Header.Set("Authorization", "Bearer "+t.c.BearerToken)
	case t.c.Username != "":
		r.SetBasicAuth(t.c.Username, t.c.Password)
	}
	return t.next.RoundTrip(r)
}

// limitTransport fails reading a body past max bytes.
type limitTransport struct {
	next http.RoundTripper
	max  int64
}

func (t *limitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > t.max {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: the backend announced %d bytes, more than the %d allowed; narrow the query (fewer series, a shorter range, a larger step)",
			ErrResponseTooLarge, resp.ContentLength, t.max)
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.max, max: t.max}
	return resp, nil
}

type limitedBody struct {
	rc   io.ReadCloser
	left int64
	max  int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One more byte tells a body of exactly max bytes from a longer one.
		var one [1]byte
		if n, _ := b.rc.Read(one[:]); n == 0 {
			return 0, io.EOF
		}
		return 0, fmt.Errorf("%w: the backend sent more than %d bytes; narrow the query (fewer series, a shorter range, a larger step)", ErrResponseTooLarge, b.max)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
