package incident_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/incident"
	"github.com/watchkeeper/watchkeeper/internal/store"
)

// surface records what would be posted.
type surface struct {
	mu      sync.Mutex
	posts   []incident.Incident
	updates []incident.Incident
}

func (s *surface) PostIncident(_ context.Context, ch string, in incident.Incident) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.posts = append(s.posts, in)
	return fmt.Sprintf("1700000000.%06d", len(s.posts)), nil
}

func (s *surface) UpdateIncident(_ context.Context, in incident.Incident) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.updates = append(s.updates, in)
	return nil
}

var t0 = time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)

func alert(name, fp, status string, labels ...string) incident.Alert {
	l := map[string]string{"alertname": name, "severity": "critical"}
	for i := 0; i+1 < len(labels); i += 2 {
		l[labels[i]] = labels[i+1]
	}
	a := incident.Alert{Status: status, Labels: l, StartsAt: t0, Fingerprint: fp, GeneratorURL: "http://prom/graph?g0.expr=up+%3D%3D+0",
		Annotations: map[string]string{"summary": name + " on " + l["service"]}}
	if status == "resolved" {
		a.EndsAt = t0.Add(10 * time.Minute)
	}
	return a
}

func msg(group, status string, alerts ...incident.Alert) incident.Message {
	common := map[string]string{}
	for k, v := range alerts[0].Labels {
		common[k] = v
	}
	return incident.Message{Version: "4", GroupKey: group, Status: status, Receiver: "watchkeeper",
		GroupLabels: map[string]string{"alertname": alerts[0].Labels["alertname"]}, CommonLabels: common, Alerts: alerts}
}

func newService(t *testing.T, opts ...func(*incident.Options)) (*incident.Service, *surface, *store.SQLite) {
	t.Helper()
	s, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "wk.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	sf := &surface{}
	o := incident.Options{Store: s, Surface: sf, Now: func() time.Time { return t0.Add(time.Minute) },
		Route: func(l map[string]string) (string, bool) {
			if l["severity"] == "critical" {
				return "CPAGE", true
			}
			return "CALERTS", true
		}}
	for _, f := range opts {
		f(&o)
	}
	return incident.New(o), sf, s
}

func TestIncidentLifecycle(t *testing.T) {
	ctx := context.Background()
	svc, sf, _ := newService(t)
	fire := msg("g1", "firing", alert("HighErrorRate", "fp1", "firing", "namespace", "shop", "service", "checkout"))
	out, err := svc.Handle(ctx, fire)
	if err != nil || !out.Opened || out.Incident == "" {
		t.Fatalf("first firing: %+v, %v", out, err)
	}
	// Alertmanager re-sends the same state: nothing new.
	if out, _ := svc.Handle(ctx, fire); !out.Duplicate {
		t.Errorf("re-sent notification: %+v", out)
	}
	// A second alert joins the group: the parent message is updated.
	two := msg("g1", "firing", alert("HighErrorRate", "fp1", "firing", "namespace", "shop", "service", "checkout"),
		alert("HighErrorRate", "fp2", "firing", "namespace", "shop", "service", "checkout", "pod", "checkout-2"))
	if out, _ := svc.Handle(ctx, two); out.Opened || out.Incident != out.Incident {
		t.Errorf("second alert: %+v", out)
	}
	in, _ := svc.Get(ctx, out.Incident)
	if len(sf.posts) != 1 || len(sf.updates) != 1 || in.Firing() != 2 || in.Channel != "CPAGE" || in.ThreadTS == "" {
		t.Fatalf("posts %d updates %d firing %d channel %s thread %q", len(sf.posts), len(sf.updates), in.Firing(), in.Channel, in.ThreadTS)
	}
	if in.Title != "HighErrorRate — shop/checkout" || in.Severity != "critical" {
		t.Errorf("title %q severity %q", in.Title, in.Severity)
	}
	// Resolved: the incident closes and the message says so.
	res := msg("g1", "resolved", alert("HighErrorRate", "fp1", "resolved", "namespace", "shop", "service", "checkout"),
		alert("HighErrorRate", "fp2", "resolved", "namespace", "shop", "service", "checkout", "pod", "checkout-2"))
	if out, err := svc.Handle(ctx, res); err != nil || !out.Resolved {
		t.Fatalf("resolved: %+v, %v", out, err)
	}
	in, _ = svc.Get(ctx, in.ID)
	if in.Status != incident.Resolved || in.ResolvedAt.IsZero() || len(sf.updates) != 2 {
		t.Errorf("after resolve: %s, updates %d", in.Status, len(sf.updates))
	}
	// A late firing of the same occurrence (out of order) opens nothing.
	if out, _ := svc.Handle(ctx, msg("g1", "resolved", alert("HighErrorRate", "fp9", "resolved"))); out.Ignored == "" {
		t.Errorf("resolved without an open incident: %+v", out)
	}
	var kinds []string
	for _, e := range in.Data.Timeline {
		kinds = append(kinds, e.Kind)
	}
	if strings.Join(kinds, ",") != "opened,firing,firing,resolved,resolved,resolved" {
		t.Errorf("timeline %v", kinds)
	}
}

func TestOutOfOrderFiringAfterResolve(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := newService(t)
	out, _ := svc.Handle(ctx, msg("g", "firing", alert("A", "fp1", "firing"), alert("A", "fp2", "firing")))
	svc.Handle(ctx, msg("g", "firing", alert("A", "fp1", "resolved"), alert("A", "fp2", "firing")))
	// The older "both firing" state arrives again after fp1 resolved, with
	// a different alert order so it is not a byte-for-byte duplicate.
	late := msg("g", "firing", alert("A", "fp2", "firing"), alert("A", "fp1", "firing"))
	late.Alerts[0].Annotations = map[string]string{"summary": "changed"}
	svc.Handle(ctx, late)
	in, _ := svc.Get(ctx, out.Incident)
	if in.Data.Alerts["fp1"].Status != "resolved" {
		t.Errorf("a stale firing reopened fp1: %+v", in.Data.Alerts["fp1"])
	}
	// A new occurrence (later start) does fire again.
	again := alert("A", "fp1", "firing")
	again.StartsAt = t0.Add(30 * time.Minute)
	svc.Handle(ctx, msg("g", "firing", again, alert("A", "fp2", "firing")))
	in, _ = svc.Get(ctx, out.Incident)
	if in.Data.Alerts["fp1"].Status != "firing" {
		t.Errorf("a new occurrence was ignored")
	}
}

// A storm of related alert groups becomes one incident per alert and
// channel; every notification is recorded.
func TestStormBecomesFewIncidents(t *testing.T) {
	ctx := context.Background()
	svc, sf, s := newService(t)
	for i := range 1000 {
		name := []string{"PodCrashLooping", "HighErrorRate", "KubeNodeNotReady"}[i%3]
		m := msg(fmt.Sprintf("group-%d", i), "firing", alert(name, fmt.Sprintf("fp-%d", i), "firing", "pod", fmt.Sprintf("p-%d", i)))
		if _, err := svc.Handle(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	open, _ := s.ListIncidents(ctx, store.IncidentOpen, 100)
	if len(open) != 3 || len(sf.posts) != 3 {
		t.Fatalf("%d incidents, %d threads for a 1,000-alert storm; want 3", len(open), len(sf.posts))
	}
	total := 0
	for _, raw := range open {
		in, _ := svc.Get(ctx, raw.ID)
		total += len(in.Data.Alerts)
	}
	if total != 1000 {
		t.Errorf("%d alerts recorded, want 1000", total)
	}
}

func TestWebhookBadInput(t *testing.T) {
	svc, _, _ := newService(t)
	srv := httptest.NewServer(svc.Handler(incident.Webhook{Auth: incident.WebhookAuth{BearerToken: "s3cret"}}))
	defer srv.Close()
	good, _ := json.Marshal(msg("g", "firing", alert("A", "fp1", "firing")))
	post := func(body []byte, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/alertmanager", bytes.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	mutate := func(f func(m map[string]any)) []byte {
		var m map[string]any
		json.Unmarshal(good, &m)
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	for _, tt := range []struct {
		name  string
		body  []byte
		token string
		code  int
		want  string
	}{
		{"no credentials", good, "", 401, "missing or wrong credentials"},
		{"wrong token", good, "nope", 401, "missing or wrong credentials"},
		{"not JSON", []byte("<html>"), "s3cret", 400, "not an Alertmanager webhook notification"},
		{"unknown version", mutate(func(m map[string]any) { m["version"] = "5" }), "s3cret", 400, `version "5" is not supported`},
		{"no alerts", mutate(func(m map[string]any) { m["alerts"] = []any{} }), "s3cret", 400, "there are no alerts"},
		{"missing alertname", mutate(func(m map[string]any) {
			m["alerts"].([]any)[0].(map[string]any)["labels"] = map[string]any{"severity": "x"}
		}), "s3cret", 400, "alert 0 has no alertname label"},
		{"bad status", mutate(func(m map[string]any) { m["status"] = "pending" }), "s3cret", 400, `status "pending" must be firing or resolved`},
		{"oversized", append([]byte(`{"version":"4","x":"`), bytes.Repeat([]byte("a"), 5<<20)...), "s3cret", 413, "larger than 4 MiB"},
		{"good", good, "s3cret", 200, `"opened":true`},
		{"duplicate", good, "s3cret", 200, `"duplicate":true`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, body := post(tt.body, tt.token)
			if code != tt.code || !strings.Contains(body, tt.want) {
				t.Errorf("= %d %q, want %d %q", code, body, tt.code, tt.want)
			}
		})
	}
}

var update = flag.Bool("update", false, "rewrite the golden files")

func TestPostmortemGolden(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := newService(t)
	out, _ := svc.Handle(ctx, msg("g1", "firing", alert("HighErrorRate", "fp1", "firing", "namespace", "shop", "service", "checkout")))
	svc.Record(ctx, out.Incident, "acknowledged", "acknowledged by UALICE", "UALICE")
	svc.Record(ctx, out.Incident, "finding", "1. checkout (score 0.91): success rate 0.74 → 0.41 after 14:02; deploy 14:01", "watchkeeper")
	svc.Record(ctx, out.Incident, "action", "UADMIN approved prop_1 (Roll back deployment shop/checkout to revision 3) and it was applied", "UADMIN")
	svc.Handle(ctx, msg("g1", "resolved", alert("HighErrorRate", "fp1", "resolved", "namespace", "shop", "service", "checkout")))
	in, _ := svc.Get(ctx, out.Incident)
	got := strings.ReplaceAll(incident.Postmortem(in), in.ID, "inc_ID")
	path := filepath.Join("testdata", "postmortem.golden.md")
	if *update {
		os.WriteFile(path, []byte(got), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("postmortem differs from %s:\n%s", path, got)
	}
	if p := incident.PostmortemPrompt(in); !strings.Contains(p, "Use only the recorded facts below") || !strings.Contains(p, "## Root cause") {
		t.Errorf("prompt: %s", p)
	}
}

func TestOnResolvedRuns(t *testing.T) {
	ctx := context.Background()
	got := make(chan incident.Status, 1)
	svc, _, _ := newService(t, func(o *incident.Options) {
		o.OnResolved = func(_ context.Context, in incident.Incident) { got <- in.Status }
	})
	svc.Handle(ctx, msg("g", "firing", alert("A", "fp1", "firing")))
	svc.Handle(ctx, msg("g", "resolved", alert("A", "fp1", "resolved")))
	select {
	case s := <-got:
		if s != incident.Resolved {
			t.Errorf("status %s", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnResolved was not called")
	}
}

func TestWebhookBasicAuth(t *testing.T) {
	svc, _, _ := newService(t)
	srv := httptest.NewServer(svc.Handler(incident.Webhook{Auth: incident.WebhookAuth{Username: "alertmanager", Password: "pw-123"}}))
	defer srv.Close()
	body, _ := json.Marshal(msg("g", "firing", alert("A", "fp1", "firing")))
	for _, tt := range []struct {
		user, pass string
		code       int
	}{{"alertmanager", "pw-123", 200}, {"alertmanager", "wrong", 401}, {"", "", 401}} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/alertmanager", bytes.NewReader(body))
		if tt.user != "" {
			req.SetBasicAuth(tt.user, tt.pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.code {
			t.Errorf("%s/%s: %d, want %d", tt.user, tt.pass, resp.StatusCode, tt.code)
		}
	}
}
