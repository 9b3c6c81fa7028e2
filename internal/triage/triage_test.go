package triage_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/internal/triage"
	"github.com/watchkeeper/watchkeeper/tools"
)

// Routing knows no system: the services are whatever the metrics name,
// and the words of the question pick the investigation.
func TestRoute(t *testing.T) {
	services := []string{"payments-api", "orders", "db-primary", "ledger"}
	for _, tt := range []struct {
		q       string
		intent  triage.Intent
		service string
	}{
		{"why is orders failing?", triage.Health, "orders"},
		{"orders is slow since 14:00", triage.Health, "orders"},
		{"why are payments erroring", triage.Health, "payments-api"},
		{"what's wrong with ledger's latency", triage.Health, "ledger"},
		{"how is db-primary doing", triage.Health, "db-primary"},
		{"what is firing?", triage.Firing, ""},
		{"which alerts fire for orders", triage.Firing, "orders"},
		{"what changed in the last hour?", triage.Changes, ""},
		{"was ledger deployed today", triage.Changes, "ledger"},
		{"why is orders failing since the deploy?", triage.Health, "orders"},
		{"will db-primary run out of memory?", triage.Capacity, "db-primary"},
		{"show me the logs of payments-api", triage.Logs, "payments-api"},
		{"show orders' error logs", triage.Logs, "orders"},
		{"what time is it in Tokyo?", triage.Unknown, ""},
		{"hello", triage.Unknown, ""},
	} {
		t.Run(tt.q, func(t *testing.T) {
			intent, svc := triage.Route(tt.q, services)
			if intent != tt.intent || svc != tt.service {
				t.Errorf("Route(%q) = %s, %q; want %s, %q", tt.q, intent, svc, tt.intent, tt.service)
			}
		})
	}
}

// fakeTool answers with a fixed result, or fails like a system that is
// down.
type fakeTool struct {
	name string
	res  tools.Result
	err  error
	got  *[]string
}

func (f fakeTool) Spec() tools.Spec {
	return tools.Spec{Name: f.name, Description: "fake", Parameters: &tools.Schema{Type: "object"}}
}

func (f fakeTool) Run(_ context.Context, args json.RawMessage) (tools.Result, error) {
	if f.got != nil {
		*f.got = append(*f.got, f.name+" "+string(args))
	}
	return f.res, f.err
}

func newTriage(t *testing.T, ts ...tools.Tool) *triage.Triage {
	t.Helper()
	reg, err := tools.NewRegistry(ts...)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
	return triage.New(triage.Options{Invoker: tools.Invoker{Tools: reg}, Now: func() time.Time { return now }, Namespace: "prod"})
}

// A Prometheus that is down: the answer says what could not be read and
// still reports what could.
func TestAnswerWithASystemDown(t *testing.T) {
	var calls []string
	down := errors.New("connection refused")
	tr := newTriage(t,
		fakeTool{name: "prom_labels", err: down, got: &calls},
		fakeTool{name: "prom_alerts", err: down, got: &calls},
		fakeTool{name: "rca_rank", err: down, got: &calls},
		fakeTool{name: "kube_get", res: tools.Text("NAME READY IMAGES\norders 2/2 reg/orders:3.1\nledger 1/1 reg/ledger:1.0\n"), got: &calls},
		fakeTool{name: "kube_changes", res: tools.Text("14:41 (19m ago): rollout of deployment prod/orders to revision 9 (images reg/orders:3.1)\n14:10: scaling: deployment prod/ledger\n"), got: &calls},
	)
	a := tr.Answer(context.Background(), triage.Question{Text: "why is orders failing since 14:30?"})
	if a.Intent != triage.Health || a.Service != "orders" {
		t.Fatalf("routed to %s %q", a.Intent, a.Service)
	}
	if !a.Since.Equal(time.Date(2026, 12, 2, 14, 30, 0, 0, time.UTC)) {
		t.Errorf("since %v; want the time the question gives", a.Since)
	}
	for _, want := range []string{"rollout of deployment prod/orders", "Not available: prom_alerts", "rca_rank"} {
		if !strings.Contains(a.Text, want) {
			t.Errorf("answer lacks %q:\n%s", want, a.Text)
		}
	}
	if strings.Contains(a.Text, "prod/ledger") {
		t.Errorf("the answer quotes a change of another service:\n%s", a.Text)
	}
	if len(a.Proposals) != 0 {
		t.Errorf("proposed %+v without a ranking", a.Proposals)
	}
	// The deployments named the service; only the namespace asked about
	// was read.
	if !strings.Contains(strings.Join(calls, "\n"), `kube_get {"kind":"deployments","namespace":"prod"}`) {
		t.Errorf("calls: %v", calls)
	}
}

// A question nobody can route is answered with what can be asked, and
// runs nothing.
func TestAnswerUnknown(t *testing.T) {
	var calls []string
	tr := newTriage(t, fakeTool{name: "prom_alerts", got: &calls})
	a := tr.Answer(context.Background(), triage.Question{Text: "what time is it in Tokyo?"})
	if a.Intent != triage.Unknown || len(a.Steps) != 0 || !strings.Contains(a.Text, "/tools") {
		t.Errorf("%s, %d steps:\n%s", a.Intent, len(a.Steps), a.Text)
	}
}

// An answer without a model cites its steps as a model's answer cites its
// tool calls: each line the number of the call it comes from, in the
// order the calls were made.
func TestAnswerCitesItsSteps(t *testing.T) {
	tr := newTriage(t,
		fakeTool{name: "kube_get", res: tools.Text("NAME READY IMAGES\norders 2/2 reg/orders:3.1\n")},
		fakeTool{name: "kube_changes", res: tools.Text("14:41 (19m ago): rollout of deployment prod/orders to revision 9\n")},
		fakeTool{name: "kube_rollout_history", err: errors.New("connection refused")},
	)
	a := tr.Answer(context.Background(), triage.Question{Text: "what changed for orders?"})
	if len(a.Steps) != 2 || a.Steps[0].Tool != "kube_changes" || a.Steps[1].Tool != "kube_rollout_history" {
		t.Fatalf("steps: %+v", a.Steps)
	}
	for _, want := range []string{"rollout of deployment prod/orders to revision 9 [1]\n", "Not available: kube_rollout_history (", ") [2]."} {
		if !strings.Contains(a.Text, want) {
			t.Errorf("answer lacks %q:\n%s", want, a.Text)
		}
	}
	if got := agent.Citations(a.Text); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("the answer cites %v, want [1 2]:\n%s", got, a.Text)
	}
}
