package ratelimit_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/ratelimit"
)

func TestPerClient(t *testing.T) {
	l := ratelimit.New(1, 2) // one a second, two at once
	t0 := time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)
	for i := range 2 {
		if _, ok := l.Allow("10.0.0.1", t0); !ok {
			t.Fatalf("request %d within the burst refused", i)
		}
	}
	wait, ok := l.Allow("10.0.0.1", t0)
	if ok || wait <= 0 || wait > time.Second {
		t.Errorf("over the burst: ok %v, wait %s", ok, wait)
	}
	if _, ok := l.Allow("10.0.0.2", t0); !ok {
		t.Error("another client was limited by the first one's requests")
	}
	if _, ok := l.Allow("10.0.0.1", t0.Add(time.Second)); !ok {
		t.Error("a token was not refilled after a second")
	}
}

func TestClientAddr(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "192.0.2.7:51234"
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	if got := ratelimit.ClientAddr(r); got != "192.0.2.7" {
		t.Errorf("ClientAddr = %q; forwarding headers must not be trusted", got)
	}
}
