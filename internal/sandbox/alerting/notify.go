package alerting

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/rules"

	"github.com/watchkeeper/watchkeeper/internal/incident"
)

// WebhookMessage is Alertmanager's webhook payload, version 4: what the
// sandbox posts to the bot as Alertmanager would.
type WebhookMessage = incident.Message

// WebhookAlert is one alert of a WebhookMessage.
type WebhookAlert = incident.Alert

// NotifyConfig routes alerts, as an Alertmanager route with one webhook
// receiver does.
type NotifyConfig struct {
	// URLs receive every notification.
	URLs []string
	// GroupBy are the labels alerts are grouped by.
	GroupBy []string
	// GroupWait delays a new group's first notification; GroupInterval
	// spaces updates of a group; RepeatInterval resends an unchanged one.
	GroupWait, GroupInterval, RepeatInterval time.Duration
	// Receiver is the receiver name reported in payloads.
	Receiver string
}

// Validate checks that every URL is an absolute http(s) URL, so that a
// mistyped --webhook (127.0.0.1:8080/hook, without http://) is refused
// when the sandbox starts rather than failing each delivery.
func (c NotifyConfig) Validate() error {
	var errs []error
	for _, raw := range c.URLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("webhook URL %q is not an http(s) URL; write it in full, e.g. http://127.0.0.1:8080/webhooks/alertmanager", raw))
		}
	}
	return errors.Join(errs...)
}

func (c NotifyConfig) withDefaults() NotifyConfig {
	if len(c.GroupBy) == 0 {
		c.GroupBy = []string{"alertname", "namespace", "service"}
	}
	if c.GroupWait == 0 {
		c.GroupWait = 15 * time.Second
	}
	if c.GroupInterval == 0 {
		c.GroupInterval = time.Minute
	}
	if c.RepeatInterval == 0 {
		c.RepeatInterval = 4 * time.Hour
	}
	if c.Receiver == "" {
		c.Receiver = "watchkeeper"
	}
	return c
}

// Notifier groups alerts and delivers webhooks, as Alertmanager with one
// route and one webhook receiver does. Grouping runs on the simulation's
// clock; delivery runs in the background with retries until Close. It is
// safe for concurrent use.
type Notifier struct {
	cfg         NotifyConfig
	externalURL string
	client      *http.Client
	logger      *slog.Logger
	onNotify    func(WebhookMessage)

	mu     sync.Mutex
	groups map[string]*alertGroup
	queue  chan WebhookMessage
	wg     sync.WaitGroup
	stop   chan struct{}
	closed bool
}

type alertGroup struct {
	key        string
	labels     map[string]string
	alerts     map[string]WebhookAlert // by fingerprint
	firstSeen  time.Time
	lastSent   time.Time
	lastDigest string
}

// NewNotifier starts delivering notifications to cfg.URLs; onNotify, if
// not nil, is also called with each one as it is due. Alerts link to
// externalURL. Close stops the delivery.
func NewNotifier(cfg NotifyConfig, externalURL string, onNotify func(WebhookMessage), logger *slog.Logger) *Notifier {
	n := &Notifier{cfg: cfg.withDefaults(), externalURL: externalURL, client: &http.Client{Timeout: 10 * time.Second},
		logger: logger, onNotify: onNotify, groups: map[string]*alertGroup{}, queue: make(chan WebhookMessage, 256), stop: make(chan struct{})}
	n.wg.Add(1)
	go n.deliverLoop()
	return n
}

// Update takes the alerts of one evaluation at t and sends what is due.
func (n *Notifier) Update(t time.Time, alerts []Alert) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, a := range alerts {
		wa := toWebhookAlert(a, n.externalURL)
		gl := map[string]string{}
		for _, l := range n.cfg.GroupBy {
			if v := a.Labels.Get(l); v != "" {
				gl[l] = v
			}
		}
		key := "{}:" + labelString(gl)
		g, ok := n.groups[key]
		if !ok {
			if wa.Status == "resolved" {
				continue // never notified as firing: nothing to resolve
			}
			g = &alertGroup{key: key, labels: gl, alerts: map[string]WebhookAlert{}, firstSeen: t}
			n.groups[key] = g
		}
		g.alerts[wa.Fingerprint] = wa
	}
	keys := make([]string, 0, len(n.groups))
	for k := range n.groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		g := n.groups[k]
		if msg, due := n.due(g, t); due {
			n.enqueue(msg)
			g.lastSent, g.lastDigest = t, digest(msg)
			// Resolved alerts are reported once, then forgotten.
			for fp, a := range g.alerts {
				if a.Status == "resolved" {
					delete(g.alerts, fp)
				}
			}
			if len(g.alerts) == 0 {
				delete(n.groups, k)
			}
		}
	}
}

// due decides whether group g needs a notification at t, as Alertmanager's
// group_wait, group_interval and repeat_interval do.
func (n *Notifier) due(g *alertGroup, t time.Time) (WebhookMessage, bool) {
	if t.Sub(g.firstSeen) < n.cfg.GroupWait && g.lastSent.IsZero() {
		return WebhookMessage{}, false
	}
	msg := n.message(g)
	d := digest(msg)
	switch {
	case g.lastSent.IsZero():
		return msg, true
	case d != g.lastDigest && t.Sub(g.lastSent) >= n.cfg.GroupInterval:
		return msg, true
	case d == g.lastDigest && t.Sub(g.lastSent) >= n.cfg.RepeatInterval:
		return msg, true
	}
	return msg, false
}

func (n *Notifier) message(g *alertGroup) WebhookMessage {
	msg := WebhookMessage{Version: "4", GroupKey: g.key, Status: "resolved", Receiver: n.cfg.Receiver,
		GroupLabels: g.labels, ExternalURL: n.externalURL}
	fps := make([]string, 0, len(g.alerts))
	for fp := range g.alerts {
		fps = append(fps, fp)
	}
	sort.Strings(fps)
	for _, fp := range fps {
		a := g.alerts[fp]
		if a.Status == "firing" {
			msg.Status = "firing"
		}
		msg.Alerts = append(msg.Alerts, a)
	}
	msg.CommonLabels = common(msg.Alerts, func(a WebhookAlert) map[string]string { return a.Labels })
	msg.CommonAnnotations = common(msg.Alerts, func(a WebhookAlert) map[string]string { return a.Annotations })
	return msg
}

func (n *Notifier) enqueue(msg WebhookMessage) {
	if n.onNotify != nil {
		n.onNotify(msg)
	}
	if len(n.cfg.URLs) == 0 || n.closed {
		return
	}
	select {
	case n.queue <- msg:
	default:
		n.logger.Error("alert notification queue full; dropping a notification", "group", msg.GroupKey)
	}
}

// deliverLoop posts queued messages to every URL, retrying with backoff.
func (n *Notifier) deliverLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.stop:
			return
		case msg := <-n.queue:
			body, _ := json.Marshal(msg)
			for _, u := range n.cfg.URLs {
				n.post(u, body, msg.GroupKey)
			}
		}
	}
}

func (n *Notifier) post(u string, body []byte, group string) {
	backoff := 500 * time.Millisecond
	for attempt := 1; attempt <= 5; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
		if err != nil {
			// Validate refuses such URLs; this is the last guard against a
			// nil request in the delivering goroutine.
			cancel()
			n.logger.Error("webhook URL is not usable; not delivering", "url", u, "err", err, "group", group)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "Alertmanager/0.27.0 (watchkeeper sandbox)")
		resp, err := n.client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		cancel()
		switch {
		case err == nil && resp.StatusCode/100 == 2:
			return
		case err == nil && resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests:
			n.logger.Error("webhook receiver refused the notification; not retrying", "url", u, "status", resp.StatusCode, "group", group)
			return
		}
		n.logger.Warn("webhook delivery failed; retrying", "url", u, "attempt", attempt, "err", err, "group", group)
		select {
		case <-n.stop:
			return
		case <-time.After(backoff):
		}
		backoff *= 2
	}
	n.logger.Error("webhook delivery failed after 5 attempts", "url", u, "group", group)
}

// Close stops delivery and waits for the delivering goroutine; queued
// notifications are dropped. Further calls do nothing.
func (n *Notifier) Close() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	n.mu.Unlock()
	close(n.stop)
	n.wg.Wait()
}

func toWebhookAlert(a Alert, externalURL string) WebhookAlert {
	ls := a.Labels.Map()
	wa := WebhookAlert{Status: "firing", Labels: ls, Annotations: a.Annotations.Map(), StartsAt: a.FiredAt,
		GeneratorURL: GeneratorURL(externalURL, a.Expr), Fingerprint: fmt.Sprintf("%016x", uint64(model.LabelsToSignature(ls)))}
	if wa.StartsAt.IsZero() {
		wa.StartsAt = a.ActiveAt
	}
	if !a.ResolvedAt.IsZero() && a.State == rules.StateInactive {
		wa.Status, wa.EndsAt = "resolved", a.ResolvedAt
	}
	return wa
}

func labelString(m map[string]string) string {
	return labels.FromMap(m).String()
}

func common(alerts []WebhookAlert, get func(WebhookAlert) map[string]string) map[string]string {
	out := map[string]string{}
	if len(alerts) == 0 {
		return out
	}
	for k, v := range get(alerts[0]) {
		same := true
		for _, a := range alerts[1:] {
			if get(a)[k] != v {
				same = false
				break
			}
		}
		if same {
			out[k] = v
		}
	}
	return out
}

// digest identifies a group's content: its alerts and their statuses.
func digest(msg WebhookMessage) string {
	var b strings.Builder
	for _, a := range msg.Alerts {
		b.WriteString(a.Fingerprint + a.Status + ";")
	}
	return b.String()
}

// GeneratorURL is the link of an alert of expr, as Prometheus makes it:
// the expression on the graph page, which the sandbox serves.
func GeneratorURL(externalURL, expr string) string {
	u := strings.TrimRight(externalURL, "/") + "/graph"
	if expr == "" {
		return u
	}
	return u + "?" + url.Values{"g0.expr": {expr}, "g0.tab": {"1"}}.Encode()
}
