package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/app"
	"github.com/watchkeeper/watchkeeper/internal/approval"
	"github.com/watchkeeper/watchkeeper/internal/chat"
	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/incident"
	"github.com/watchkeeper/watchkeeper/internal/testserver"
)

// From an alert to a fixed world with no model: the bad deploy's alert
// opens an incident, the investigation blames the deploy and proposes
// the rollback, the notification's sender may not approve it, an on-call
// engineer does, the rollback is applied through the Kubernetes API and
// the world records the fault as fixed by it.
func TestIncidentRemediationEndToEnd(t *testing.T) {
	notices := make(chan string, 64)
	follower := chat.NewFollower(notices, nil)
	a, sb := sandboxAppAndWorld(t, "bad-deploy", func(c *config.Config) { c.Approval.Approvers = []string{"U_ONCALL"} },
		app.Options{Reporter: follower, Notifier: follower})
	ctx, cancel := context.WithCancel(context.Background())
	background := make(chan struct{})
	go func() { a.Background(ctx); close(background) }()
	defer func() { cancel(); <-background }()

	fault := sb.Sandbox.Faults()[0]
	fired := fault.Start.Add(2 * time.Minute)
	m := incident.Message{Version: "4", GroupKey: `{}:{alertname="HighErrorRate"}`, Status: "firing",
		GroupLabels:  map[string]string{"alertname": "HighErrorRate"},
		CommonLabels: map[string]string{"alertname": "HighErrorRate", "namespace": "shop", "service": fault.Service, "severity": "critical"},
		Alerts: []incident.Alert{{Status: "firing", Labels: map[string]string{"alertname": "HighErrorRate", "namespace": "shop", "service": fault.Service},
			StartsAt: fired, Fingerprint: "fp1"}}}
	if _, err := a.Incidents().HandleFrom(ctx, "alertmanager at 127.0.0.1", m); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(testserver.Scale(60 * time.Second))
	for proposed := false; !proposed; {
		select {
		case n := <-notices:
			proposed = strings.Contains(n, "Proposed prop_")
		case <-deadline:
			t.Fatal("the investigation proposed nothing")
		}
	}
	pending, err := a.Approvals().List(ctx, approval.Pending, 10)
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending: %+v, %v", pending, err)
	}
	p := pending[0]
	if !strings.Contains(p.Summary, "Roll back deployment shop/"+fault.Service) {
		t.Fatalf("proposed %q for a bad deploy of %s", p.Summary, fault.Service)
	}
	policy := a.ApprovalPolicy()
	// Whoever sent the notification asked for it, and may not approve it.
	self := approval.Request{Actor: p.RequestedBy, ChannelMember: true, Approve: true, Proposal: p}
	if err := a.Approvals().Check(ctx, policy, self); err == nil {
		t.Fatalf("the requester %q may approve its own proposal", p.RequestedBy)
	}
	req := approval.Request{Actor: "U_ONCALL", ChannelMember: true, Approve: true, Proposal: p}
	if err := a.Approvals().Check(ctx, policy, req); err != nil {
		t.Fatal(err)
	}
	if _, complete, err := a.Approvals().Approve(ctx, policy, req); err != nil || !complete {
		t.Fatalf("approve: complete %v, %v", complete, err)
	}
	res, err := a.Approvals().ExecuteChecked(ctx, policy, p.ID, "U_ONCALL")
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	t.Logf("applied: %s", res.Text)
	for end := time.Now().Add(testserver.Scale(60 * time.Second)); ; time.Sleep(200 * time.Millisecond) {
		if f := sb.Sandbox.Faults()[0]; !f.FixedAt.IsZero() {
			t.Logf("fixed at %s by %s", f.FixedAt.Format(time.TimeOnly), f.FixedBy)
			break
		}
		if time.Now().After(end) {
			t.Fatal("the world never recorded the fault as fixed")
		}
	}
}
