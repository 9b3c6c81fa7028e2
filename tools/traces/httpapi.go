package traces

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/endpoint"
)

// HTTPAPI is a trace store's HTTP API: where it is, how to reach it and
// how its failures read. Backends embed it.
type HTTPAPI struct {
	// Name is the backend kind used in messages ("jaeger"); Product its
	// proper name ("Jaeger").
	Name, Product string
	// URL is the configured base URL as written; Base the parsed form.
	URL    string
	Base   *url.URL
	Client *http.Client
	// Headers are added to every request (a tenant header).
	Headers map[string]string
}

// NewHTTPAPI checks the URL and makes the default client when hc is nil.
func NewHTTPAPI(name, product, rawURL string, hc *http.Client) (HTTPAPI, error) {
	if rawURL == "" {
		return HTTPAPI{}, fmt.Errorf("%s: no URL configured; set traces.url", name)
	}
	u, err := url.Parse(strings.TrimRight(rawURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return HTTPAPI{}, fmt.Errorf("%s: url %q is not an http(s) URL; set traces.url to e.g. http://jaeger:16686 or http://tempo:3200", name, rawURL)
	}
	if hc == nil {
		if hc, err = (endpoint.Config{Name: name}).Client(); err != nil {
			return HTTPAPI{}, err
		}
	}
	return HTTPAPI{Name: name, Product: product, URL: rawURL, Base: u, Client: hc}, nil
}

// StatusError is an answer other than 200 OK.
type StatusError struct {
	Code int
	// Body is the start of the answer, trimmed.
	Body string
	// Err says what the status means and what to do.
	Err error
}

func (e *StatusError) Error() string { return e.Err.Error() }
func (e *StatusError) Unwrap() error { return e.Err }

// Get sends a GET for path with the query v and returns the body of a 200
// answer. A failure below HTTP is described with what to change; any
// other status is a *StatusError (400 wraps a *QueryError).
func (a HTTPAPI) Get(ctx context.Context, path string, v url.Values) ([]byte, error) {
	u := a.Base.JoinPath(path)
	u.RawQuery = v.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.Name, err)
	}
	req.Header.Set("Accept", "application/json")
	for k, val := range a.Headers {
		req.Header.Set(k, val)
	}
	start := time.Now()
	resp, err := a.Client.Do(req)
	if err != nil {
		return nil, a.transportError(ctx, err, time.Since(start))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, a.statusError(path, resp.StatusCode, body)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, a.transportError(ctx, err, time.Since(start))
	}
	return body, nil
}

// transportError describes a request that failed below HTTP. When the
// caller's context ended, that is the error.
func (a HTTPAPI) transportError(ctx context.Context, err error, took time.Duration) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s at %s: %w", a.Product, a.URL, context.Cause(ctx))
	}
	if errors.Is(err, endpoint.ErrResponseTooLarge) {
		return fmt.Errorf("%s at %s: %w; ask for fewer traces (a lower limit, a shorter range, errors only)", a.Product, a.URL, err)
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		within := took.Round(time.Second)
		if a.Client.Timeout > 0 {
			within = a.Client.Timeout
		}
		return fmt.Errorf("%s at %s did not answer within %v: %w; it may be overloaded: narrow the search (a shorter range, a lower limit) or raise traces.timeout", a.Product, a.URL, within, err)
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return fmt.Errorf("%s at %s cannot be reached: %w; is it running, and is traces.url right?", a.Product, a.URL, err)
	}
	return fmt.Errorf("%s at %s: %w", a.Product, a.URL, err)
}

// statusError classifies a non-200 answer.
func (a HTTPAPI) statusError(path string, code int, body []byte) error {
	msg := strings.TrimSpace(string(body))
	if len(msg) > 500 {
		msg = msg[:500] + "…"
	}
	se := &StatusError{Code: code, Body: msg}
	switch code {
	case http.StatusBadRequest:
		se.Err = &QueryError{Backend: a.Name, Message: msg}
	case http.StatusUnauthorized, http.StatusForbidden:
		hint := "check traces.bearer_token or traces.basic_auth"
		if strings.Contains(strings.ToLower(msg), "org id") {
			hint = "this " + a.Product + " is multi-tenant: set traces.tenant"
		}
		se.Err = fmt.Errorf("%s at %s refused the credentials (HTTP %d: %s); %s", a.Product, a.URL, code, msg, hint)
	case http.StatusNotFound:
		se.Err = fmt.Errorf("%s at %s: %s not found (HTTP 404: %s); is traces.url %s's base URL?", a.Product, a.URL, path, msg, a.Product)
	case http.StatusTooManyRequests:
		se.Err = fmt.Errorf("%s at %s is rate limiting (HTTP 429: %s); try again shortly or narrow the search", a.Product, a.URL, msg)
	default:
		se.Err = fmt.Errorf("%s at %s failed (HTTP %d: %s)", a.Product, a.URL, code, msg)
	}
	return se
}

// NotFound reports whether err is a 404 answer.
func NotFound(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == http.StatusNotFound
}

// Garbage is the error for an answer that is not the store's JSON.
func (a HTTPAPI) Garbage(what string, err error) error {
	return fmt.Errorf("%s at %s: the %s is not %s's JSON (%v); is traces.url %s's query API (not its UI or collector port)?", a.Product, a.URL, what, a.Product, err, a.Product)
}
