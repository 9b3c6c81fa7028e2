package openai

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

// retryDoer retries requests that failed in a way a later attempt can fix:
// connection errors, 408, 409, 429 and 5xx — the set the official OpenAI
// clients retry — honouring the server's Retry-After (or retry-after-ms)
// and x-should-retry headers. It works below go-openai, which has no retries
// of its own, so streaming and non-streaming calls are covered alike.
type retryDoer struct {
	client     *http.Client
	maxRetries int
	baseDelay  time.Duration
	maxWait    time.Duration
	sleep      func(ctx context.Context, d time.Duration) error
	logger     *slog.Logger
}

// Do sends req, retrying as described above. The request body is replayed
// with req.GetBody, which http.NewRequest sets for the in-memory bodies
// go-openai uses.
func (d *retryDoer) Do(req *http.Request) (*http.Response, error) {
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
		resp, err := d.client.Do(r)
		wait, retry := d.shouldRetry(ctx, resp, err, attempt)
		if !retry {
			return resp, err
		}
		if resp != nil {
			// Drain so the connection can be reused.
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		d.logger.Warn("model request failed, retrying", "attempt", attempt+1, "wait", wait, "status", status(resp), "err", err)
		if err := d.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// shouldRetry decides whether attempt may be followed by another and how long
// to wait first.
func (d *retryDoer) shouldRetry(ctx context.Context, resp *http.Response, err error, attempt int) (time.Duration, bool) {
	if attempt >= d.maxRetries || ctx.Err() != nil {
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
func (d *retryDoer) serverWait(resp *http.Response, attempt int) (time.Duration, bool) {
	if w, ok := retryAfter(resp.Header, time.Now()); ok {
		if w > d.maxWait {
			return 0, false
		}
		return w, true
	}
	return d.backoff(attempt), true
}

// backoff is exponential with full jitter, capped at maxWait.
func (d *retryDoer) backoff(attempt int) time.Duration {
	w := d.baseDelay << attempt
	if w <= 0 || w > d.maxWait {
		w = d.maxWait
	}
	return w/2 + rand.N(w/2+1)
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
