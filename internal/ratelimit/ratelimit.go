// Package ratelimit bounds requests per client: a token bucket for each
// client address, as the Alertmanager webhook and the MCP endpoint use, so
// that one noisy sender cannot starve the others.
package ratelimit

import (
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// PerClient keeps a token bucket per client. Past maxClients it forgets
// the clients whose bucket is full again, then those idle for a minute.
// The zero value is not usable; use New.
type PerClient struct {
	perSecond rate.Limit
	burst     int
	mu        sync.Mutex
	clients   map[string]*client
}

type client struct {
	lim  *rate.Limiter
	last time.Time
}

const maxClients = 10_000

// New returns buckets refilled at perSecond, holding burst tokens.
func New(perSecond float64, burst int) *PerClient {
	return &PerClient{perSecond: rate.Limit(perSecond), burst: burst, clients: map[string]*client{}}
}

// Allow takes a token for addr; when none is left it says how long until
// one is.
func (l *PerClient) Allow(addr string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.clients[addr]
	if !ok {
		if len(l.clients) >= maxClients {
			l.forget(now)
		}
		c = &client{lim: rate.NewLimiter(l.perSecond, l.burst)}
		l.clients[addr] = c
	}
	c.last = now
	r := c.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}

// forget drops clients whose bucket is full again (idle long enough that
// forgetting them changes nothing), and, if that is not enough, everyone
// idle for over a minute.
func (l *PerClient) forget(now time.Time) {
	full := time.Duration(float64(l.burst) / float64(l.perSecond) * float64(time.Second))
	for k, v := range l.clients {
		if now.Sub(v.last) > full {
			delete(l.clients, k)
		}
	}
	if len(l.clients) >= maxClients {
		for k, v := range l.clients {
			if now.Sub(v.last) > time.Minute {
				delete(l.clients, k)
			}
		}
	}
}

// ClientAddr is the request's peer address without its port. Forwarding
// headers are not trusted: anyone can write them.
func ClientAddr(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}
