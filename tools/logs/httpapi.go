package logs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/watchkeeper/watchkeeper/internal/endpoint"
)

// HTTPAPI is a log backend's HTTP API: where it is, how to reach it, and
// how its failures read. Backends embed it.
type HTTPAPI struct {
	// Name is the backend kind used in messages ("loki"); Product its
	// proper name ("Loki").
	Name, Product string
	// URL is the configured base URL as written; Base the parsed form.
	URL    string
	Base   *url.URL
	Client *http.Client
	// QueryPath is the API path, named in "not found" errors.
	QueryPath string
	// AuthHint is added when the credentials are refused.
	AuthHint string
}

// NewHTTPAPI checks the URL and makes the default client when hc is nil.
func NewHTTPAPI(name, product, rawURL, queryPath string, hc *http.Client) (HTTPAPI, error) {
	if rawURL == "" {
		return HTTPAPI{}, fmt.Errorf("%s: no URL configured; set logs.url", name)
	}
	u, err := url.Parse(strings.TrimRight(rawURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return HTTPAPI{}, fmt.Errorf("%s: url %q is not an http(s) URL", name, rawURL)
	}
	if hc == nil {
		if hc, err = (endpoint.Config{Name: name}).Client(); err != nil {
			return HTTPAPI{}, err
		}
	}
	return HTTPAPI{Name: name, Product: product, URL: rawURL, Base: u, Client: hc, QueryPath: queryPath,
		AuthHint: "check logs.bearer_token or logs.basic_auth"}, nil
}

// Do sends req and returns a 200 answer for the caller to read and close;
// a failure becomes TransportError and any other status StatusError.
func (a HTTPAPI) Do(ctx context.Context, req *http.Request) (*http.Response, error) {
	resp, err := a.Client.Do(req.WithContext(ctx))
	if err != nil {
		return nil, a.TransportError(ctx, err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, a.StatusError(resp.StatusCode, body)
	}
	return resp, nil
}

// TransportError describes a request that failed below HTTP. When the
// caller's context ended, that is the error. A backend that did not answer
// within the client's timeout says so, with what to change; a page over the
// response cap becomes ErrPageTooLarge so that pagination shrinks the page.
func (a HTTPAPI) TransportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, endpoint.ErrResponseTooLarge) {
		return fmt.Errorf("%s at %s: %w (%w)", a.Name, a.URL, ErrPageTooLarge, err)
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("%s at %s did not answer in time (%v); narrow the search (a shorter range, more filters) or raise logs.timeout", a.Name, a.URL, err)
	}
	return fmt.Errorf("%s at %s: %w", a.Name, a.URL, err)
}

// StatusError classifies a non-200 answer: 400 is a query the caller can
// fix (a QueryError in the backend's words), 401/403 credentials, 404 a
// URL that is not this API, 429 rate limiting, anything else a failure.
func (a HTTPAPI) StatusError(code int, body []byte) error {
	msg := strings.TrimSpace(string(body))
	if len(msg) > 500 {
		msg = msg[:500] + "…"
	}
	switch code {
	case http.StatusBadRequest:
		return &QueryError{Backend: a.Name, Message: msg}
	case http.StatusUnauthorized, http.StatusForbidden:
		hint := a.AuthHint
		if strings.Contains(strings.ToLower(msg), "org id") {
			hint = "this " + a.Product + " is multi-tenant: set logs.tenant"
		}
		return fmt.Errorf("%s at %s refused the credentials (HTTP %d: %s); %s", a.Name, a.URL, code, msg, hint)
	case http.StatusNotFound:
		return fmt.Errorf("%s at %s: %s not found (HTTP 404); is logs.url %s's base URL?", a.Name, a.URL, a.QueryPath, a.Product)
	case http.StatusTooManyRequests:
		return fmt.Errorf("%s at %s is rate limiting (HTTP 429: %s); try again shortly or narrow the search", a.Name, a.URL, msg)
	}
	return fmt.Errorf("%s at %s failed (HTTP %d: %s)", a.Name, a.URL, code, msg)
}
