// Package retry is the HTTP retry policy shared by the model providers and
// the observability clients:
// retry connection errors, 408, 409, 429 and 5xx — the set the official
// OpenAI and Anthropic clients retry — with exponential backoff and full
// jitter, honouring the server's Retry-After, retry-after-ms and
// x-should-retry headers.
package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Transport is an http.RoundTripper that retries. It sits below the
// provider SDKs, which have no retries of their own, so streaming and
// non-streaming calls are covered alike.
//
// The zero value is usable: it retries 3 times, starting at 500ms and
// waiting at most 30s. A Transport is safe for concurrent use.
type Transport struct {
	// Next sends each attempt; http.DefaultTransport when nil.
	Next http.RoundTripper
	// MaxRetries is the number of retries after the first attempt; 0 means
	// 3, negative means none.
	MaxRetries int
	// BaseDelay is the first backoff (default 500ms).
	BaseDelay time.Duration
	// MaxWait caps one wait, including a server's Retry-After (default
	// 30s). A longer Retry-After is not waited out: the response is
	// returned so the caller learns about the limit now.
	MaxWait time.Duration
	// Sleep waits between attempts; tests replace it to observe waits.
	Sleep func(ctx context.Context, d time.Duration) error
	// Logger reports retries; discarded when nil.
	Logger *slog.Logger
}

// Retries returns the effective number of retries.
func (d *Transport) Retries() int {
	switch {
	case d.MaxRetries == 0:
		return 3
	case d.MaxRetries < 0:
		return 0
	}
	return d.MaxRetries
}

// RoundTrip sends req, retrying as described above. The request body is
// replayed with req.GetBody, which http.NewRequest sets for in-memory
// bodies such as the SDKs use.
func (d *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	next, sleep, logger := d.Next, d.Sleep, d.Logger
	if next == nil {
		next = http.DefaultTransport
	}
	if sleep == nil {
		sleep = sleepCtx
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		r := req
		if attempt > 0 {
			r = req.Clone(ctx)
			if req.GetBody != nil {
				body, err := req.GetBody()
				if err != nil {
					return nil, fmt.Errorf("replay request body: %w", err)
				}
				r.Body = body
			}
		}
		resp, err := next.RoundTrip(r)
		wait, retry := d.shouldRetry(ctx, resp, err, attempt)
		if !retry {
			return resp, err
		}
		// A wait the caller's deadline would cut short is not waited:
		// the answer it has (a 429 saying when to come back) says more
		// than a deadline exceeded would.
		if dl, ok := ctx.Deadline(); ok && time.Now().Add(wait).After(dl) {
			logger.Warn("not retrying: the wait outlasts the deadline", "host", r.URL.Host, "wait", wait, "status", status(resp), "err", err)
			return resp, err
		}
		if resp != nil {
			// Drain so the connection can be reused.
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		logger.Warn("request failed, retrying", "host", r.URL.Host, "attempt", attempt+1, "wait", wait, "status", status(resp), "err", err)
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// shouldRetry decides whether attempt may be followed by another and how long
// to wait first.
func (d *Transport) shouldRetry(ctx context.Context, resp *http.Response, err error, attempt int) (time.Duration, bool) {
	if attempt >= d.Retries() || ctx.Err() != nil {
		return 0, false
	}
	if err != nil {
		// A cancelled or timed-out request is not retried: the caller's
		// deadline is what ended it.
		return d.backoff(attempt), !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
	}
	switch resp.Header.Get("x-should-retry") {
	case "true":
		return d.serverWait(resp, attempt)
	case "false":
		return 0, false
	}
	switch code := resp.StatusCode; {
	case code == http.StatusRequestTimeout, code == http.StatusConflict,
		code == http.StatusTooManyRequests, code >= 500:
		return d.serverWait(resp, attempt)
	}
	return 0, false
}

// serverWait returns the wait the server asked for, or the backoff. A wait
// longer than maxWait is not honoured by sleeping: the error is returned so
// the person asking learns about the rate limit now, not minutes later.
func (d *Transport) serverWait(resp *http.Response, attempt int) (time.Duration, bool) {
	if w, ok := retryAfter(resp.Header, time.Now()); ok {
		if w > d.maxWait() {
			return 0, false
		}
		return w, true
	}
	return d.backoff(attempt), true
}

// backoff is exponential with full jitter, capped at maxWait.
func (d *Transport) backoff(attempt int) time.Duration {
	base := d.BaseDelay
	if base <= 0 {
		base = 500 * time.Millisecond
	}
	w := base << attempt
	if w <= 0 || w > d.maxWait() {
		w = d.maxWait()
	}
	return w/2 + rand.N(w/2+1)
}

func (d *Transport) maxWait() time.Duration {
	if d.MaxWait <= 0 {
		return 30 * time.Second
	}
	return d.MaxWait
}

// retryAfter reads retry-after-ms (sent by Azure and OpenAI) or Retry-After
// in seconds or as an HTTP date.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if ms := h.Get("retry-after-ms"); ms != "" {
		if n, err := strconv.ParseFloat(ms, 64); err == nil && n >= 0 {
			return time.Duration(n * float64(time.Millisecond)), true
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil && n >= 0 {
		return time.Duration(n * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		if w := t.Sub(now); w > 0 {
			return w, true
		}
		return 0, true
	}
	return 0, false
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

func status(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}
