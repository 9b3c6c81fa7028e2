package gitops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Forge opens pull (merge) requests on a repository's forge and follows
// them. Implementations are GitHub and GitLab, each for one repository
// (State reads that repository's pull requests).
type Forge interface {
	// Open opens a pull request from pr.Head into pr.Base. It fails with
	// ErrPRExists when one is already open for the head, and otherwise
	// with a *ForgeError saying what to fix (token, permissions, the
	// branch, a rate limit).
	Open(ctx context.Context, pr PullRequest) (Opened, error)
	// State reads where pull request number stands: open, merged (with
	// its merge commit) or closed.
	State(ctx context.Context, number int) (PRState, error)
	// Find finds the latest pull request from head (open, merged or
	// closed) and where it stands; ErrPRNotFound when there is none.
	Find(ctx context.Context, head string) (Opened, PRState, error)
}

// ErrPRExists is returned (inside a *ForgeError, with the forge's own
// words) when a pull request for the same head branch is already open.
var ErrPRExists = errors.New("a pull request for this branch is already open")

// ErrPRNotFound is returned (inside a *ForgeError) by Find when no pull
// request was ever opened from the branch.
var ErrPRNotFound = errors.New("no pull request from this branch")

// ErrRateLimited is returned (inside a *ForgeError) when the forge's rate
// limit is spent for longer than the client is willing to wait.
var ErrRateLimited = errors.New("rate limited by the forge")

// ForgeError is a forge's refusal, with what to do about it.
type ForgeError struct {
	// Forge is "GitHub" or "GitLab"; Op what was tried.
	Forge, Op string
	// Status is the HTTP status (0 when no answer came).
	Status int
	// Message is the forge's own explanation.
	Message string
	// Hint says what to do next.
	Hint string
	// RetryAt is when a rate limit ends (zero when unknown or not one).
	RetryAt time.Time

	kind error // ErrPRExists, ErrPRNotFound, ErrRateLimited or nil
}

func (e *ForgeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", e.Forge, e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Hint != "" {
		fmt.Fprintf(&b, ": %s", e.Hint)
	}
	return b.String()
}

// Unwrap gives ErrPRExists, ErrPRNotFound or ErrRateLimited when the
// error is one.
func (e *ForgeError) Unwrap() error { return e.kind }

// defaultMaxWait bounds how long a client sleeps on a rate limit or a
// Retry-After before giving up with ErrRateLimited: a person is waiting
// for the proposal in Slack.
const defaultMaxWait = 10 * time.Second

// retryWait is the pause before the one retry of a 5xx answer.
const retryWait = time.Second

// api is what GitHub and GitLab share: JSON requests with a token, one
// retry of a server error, and a short wait on a rate limit.
type api struct {
	forge   string
	client  *http.Client
	header  func(http.Header)
	maxWait time.Duration
	sleep   func(context.Context, time.Duration) error
	now     func() time.Time
}

// answer is a forge's response, read.
type answer struct {
	status int
	header http.Header
	body   []byte
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

// do sends one request, again once after a 5xx or a short rate limit. A
// 4xx or 5xx answer is returned, not an error: the caller knows what it
// means for its call. A rate limit it does not wait out is a *ForgeError.
func (a api) do(ctx context.Context, op, method, target string, in any) (answer, error) {
	var payload []byte
	if in != nil {
		var err error
		if payload, err = json.Marshal(in); err != nil {
			return answer{}, err
		}
	}
	sleep, now, maxWait := a.sleep, a.now, a.maxWait
	if sleep == nil {
		sleep = sleepCtx
	}
	if now == nil {
		now = time.Now
	}
	if maxWait == 0 {
		maxWait = defaultMaxWait
	}
	client := a.client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	for attempt := 0; ; attempt++ {
		var body io.Reader
		if payload != nil {
			body = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(ctx, method, target, body)
		if err != nil {
			return answer{}, &ForgeError{Forge: a.forge, Op: op, Message: err.Error(), Hint: "check the forge's api_url"}
		}
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", "watchkeeper")
		a.header(req.Header)
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return answer{}, fmt.Errorf("%s: %s: %w", a.forge, op, context.Cause(ctx))
			}
			// The error names the URL, never the token (it is a header).
			return answer{}, &ForgeError{Forge: a.forge, Op: op, Message: err.Error(), Hint: "check the forge's api_url and that Watchkeeper can reach it"}
		}
		got, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return answer{}, &ForgeError{Forge: a.forge, Op: op, Status: resp.StatusCode, Message: "reading the answer: " + err.Error()}
		}
		ans := answer{status: resp.StatusCode, header: resp.Header, body: got}
		if until, limited := rateLimited(ans, now()); limited {
			wait := until.Sub(now())
			if attempt == 0 && wait <= maxWait {
				if err := sleep(ctx, max(wait, 0)); err != nil {
					return answer{}, fmt.Errorf("%s: %s: %w", a.forge, op, err)
				}
				continue
			}
			return answer{}, &ForgeError{Forge: a.forge, Op: op, Status: ans.status, Message: forgeMessage(got), kind: ErrRateLimited, RetryAt: until,
				Hint: fmt.Sprintf("rate limited until %s; try again then, or give Watchkeeper a token of its own", until.UTC().Format("15:04 MST"))}
		}
		if ans.status >= 500 && attempt == 0 {
			wait := retryWait
			if d, ok := retryAfter(ans.header, now()); ok && d <= maxWait {
				wait = d
			}
			if err := sleep(ctx, wait); err != nil {
				return answer{}, fmt.Errorf("%s: %s: %w", a.forge, op, err)
			}
			continue
		}
		return ans, nil
	}
}

// rateLimited reads a rate-limit answer: GitHub's 403 or 429 with
// X-RateLimit-Remaining: 0 (until X-RateLimit-Reset) or with Retry-After
// (a secondary limit), GitLab's 429 with Retry-After or RateLimit-Reset.
func rateLimited(a answer, now time.Time) (until time.Time, ok bool) {
	if a.status != http.StatusForbidden && a.status != http.StatusTooManyRequests {
		return time.Time{}, false
	}
	if d, ok := retryAfter(a.header, now); ok {
		return now.Add(d), true
	}
	remaining := a.header.Get("X-RateLimit-Remaining")
	if remaining == "" {
		remaining = a.header.Get("RateLimit-Remaining")
	}
	reset := a.header.Get("X-RateLimit-Reset")
	if reset == "" {
		reset = a.header.Get("RateLimit-Reset")
	}
	if remaining == "0" {
		if sec, err := strconv.ParseInt(reset, 10, 64); err == nil {
			return time.Unix(sec, 0), true
		}
		return now.Add(time.Minute), true
	}
	if a.status == http.StatusTooManyRequests {
		return now.Add(time.Minute), true
	}
	return time.Time{}, false
}

// retryAfter reads Retry-After, in seconds or as an HTTP date.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if sec, err := strconv.Atoi(v); err == nil && sec >= 0 {
		return time.Duration(sec) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// forgeMessage is the message a forge's error body carries: GitHub's
// {"message": "…", "errors": [{"message": "…"}]}, GitLab's {"message":
// "…"}, {"message": ["…"]}, {"message": {"field": ["…"]}} or {"error":
// "…"}.
func forgeMessage(body []byte) string {
	var v struct {
		Message json.RawMessage `json:"message"`
		Error   string          `json:"error"`
		Errors  []struct {
			Message  string `json:"message"`
			Resource string `json:"resource"`
			Field    string `json:"field"`
			Code     string `json:"code"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &v) != nil {
		s := strings.TrimSpace(string(body))
		if len(s) > 200 {
			s = s[:200] + "…"
		}
		return s
	}
	var parts []string
	var s string
	var list []string
	var fields map[string][]string
	switch {
	case json.Unmarshal(v.Message, &s) == nil && s != "":
		parts = append(parts, s)
	case json.Unmarshal(v.Message, &list) == nil:
		parts = append(parts, list...)
	case json.Unmarshal(v.Message, &fields) == nil:
		for k, msgs := range fields {
			for _, m := range msgs {
				parts = append(parts, k+" "+m)
			}
		}
	}
	if v.Error != "" {
		parts = append(parts, v.Error)
	}
	for _, e := range v.Errors {
		switch {
		case e.Message != "":
			parts = append(parts, e.Message)
		case e.Field != "":
			parts = append(parts, fmt.Sprintf("%s %s is %s", e.Resource, e.Field, e.Code))
		}
	}
	return strings.Join(parts, "; ")
}

// common turns the answers every forge gives alike into errors.
func (a api) common(op string, ans answer, tokenHint, notFound string) error {
	e := &ForgeError{Forge: a.forge, Op: op, Status: ans.status, Message: forgeMessage(ans.body)}
	switch {
	case ans.status == http.StatusUnauthorized:
		e.Hint = "the token was refused (wrong, expired or revoked): check " + tokenHint
	case ans.status == http.StatusForbidden:
		e.Hint = "the token is not allowed to do this: give it write access to pull requests on the repository, or check " + tokenHint
	case ans.status == http.StatusNotFound:
		e.Hint = notFound
	case ans.status >= 500:
		e.Hint = "the forge failed twice; try again later"
	default:
		e.Hint = "the forge refused the request"
	}
	return e
}

// repoPath is the path of a repository URL (https://host/a/b(.git),
// ssh://git@host/a/b.git, git@host:a/b.git), without .git and slashes at
// the ends.
func repoPath(raw string) (host, p string, err error) {
	s := strings.TrimSpace(raw)
	if !strings.Contains(s, "://") {
		// scp-like: git@host:a/b.git
		at, rest, ok := strings.Cut(s, ":")
		if !ok {
			return "", "", fmt.Errorf("cannot read the repository from %q: give its URL (https://host/owner/repo)", raw)
		}
		if i := strings.LastIndex(at, "@"); i >= 0 {
			at = at[i+1:]
		}
		host, p = at, rest
	} else {
		u, err := url.Parse(s)
		if err != nil {
			return "", "", fmt.Errorf("cannot read the repository from %q: %w", redactURL(raw), err)
		}
		host, p = u.Host, u.Path
	}
	p = strings.Trim(p, "/")
	p = strings.TrimSuffix(p, ".git")
	if p == "" {
		return "", "", fmt.Errorf("cannot read the repository from %q: give its URL (https://host/owner/repo)", redactURL(raw))
	}
	return host, p, nil
}
