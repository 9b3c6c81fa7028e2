package retry

import (
	"context"
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header map[string]string
		want   time.Duration
		ok     bool
	}{
		{"seconds", map[string]string{"Retry-After": "7"}, 7 * time.Second, true},
		{"fractional seconds", map[string]string{"Retry-After": "0.5"}, 500 * time.Millisecond, true},
		{"milliseconds win", map[string]string{"retry-after-ms": "250", "Retry-After": "7"}, 250 * time.Millisecond, true},
		{"http date", map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, 90 * time.Second, true},
		{"date in the past", map[string]string{"Retry-After": now.Add(-time.Minute).Format(http.TimeFormat)}, 0, true},
		{"garbage", map[string]string{"Retry-After": "soon"}, 0, false},
		{"negative", map[string]string{"Retry-After": "-3"}, 0, false},
		{"absent", nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.header {
				h.Set(k, v)
			}
			got, ok := retryAfter(h, now)
			if got != tt.want || ok != tt.ok {
				t.Errorf("retryAfter = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestShouldRetry(t *testing.T) {
	tr := &Transport{MaxRetries: 2}
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/", nil)
	resp := func(code int, hdr ...string) *http.Response {
		r := &http.Response{StatusCode: code, Header: http.Header{}}
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		return r
	}
	for _, tt := range []struct {
		name    string
		resp    *http.Response
		attempt int
		want    bool
	}{
		{"429", resp(429), 0, true},
		{"503", resp(503), 1, true},
		{"503 out of retries", resp(503), 2, false},
		{"408", resp(408), 0, true},
		{"409", resp(409), 0, true},
		{"400", resp(400), 0, false},
		{"401", resp(401), 0, false},
		{"server says retry", resp(400, "x-should-retry", "true"), 0, true},
		{"server says do not", resp(503, "x-should-retry", "false"), 0, false},
		{"Retry-After over the cap", resp(429, "Retry-After", "3600"), 0, false},
	} {
		if _, got := tr.shouldRetry(req.Context(), tt.resp, nil, tt.attempt); got != tt.want {
			t.Errorf("%s: shouldRetry = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// A wait longer than the caller's deadline is not waited: the 429 comes
// back at once, to be reported as what it is.
func TestWaitBeyondTheDeadlineIsNotWaited(t *testing.T) {
	calls := 0
	slept := time.Duration(0)
	tr := &Transport{MaxRetries: 3, MaxWait: 5 * time.Minute,
		Next: roundTripFunc(func(*http.Request) (*http.Response, error) {
			calls++
			h := http.Header{}
			h.Set("Retry-After", "120")
			return &http.Response{StatusCode: http.StatusTooManyRequests, Header: h, Body: http.NoBody}, nil
		}),
		Sleep: func(_ context.Context, d time.Duration) error { slept += d; return nil }}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://127.0.0.1/", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusTooManyRequests || calls != 1 || slept != 0 {
		t.Errorf("got %v %v after %d calls, slept %s; want the 429 at once", resp, err, calls, slept)
	}
	// Within the deadline it waits and tries again.
	calls, slept = 0, 0
	req, _ = http.NewRequest(http.MethodPost, "http://127.0.0.1/", nil)
	if _, err := tr.RoundTrip(req); err != nil || calls != 4 || slept != 3*120*time.Second {
		t.Errorf("without a deadline: %v after %d calls, slept %s", err, calls, slept)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
