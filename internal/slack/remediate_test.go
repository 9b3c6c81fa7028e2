package slack_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/approval"
	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/incident"
	"github.com/watchkeeper/watchkeeper/tools"
)

// A proposal the investigation made is posted in the incident's thread
// below the findings, with its Approve and Reject buttons, and the
// thread is recorded as where it is shown.
func TestInvestigationProposalIsPostedWithButtons(t *testing.T) {
	h := newHarness(t, harnessOpts{noModel: true, tweak: func(c *config.Config) {
		c.Slack.Alerts = []config.AlertRoute{{Channel: chOps}}
		c.Incidents.Investigate = false
	}})
	svc := h.app.Incidents()
	ctx := context.Background()
	out, err := svc.Handle(ctx, incident.Message{Version: "4", GroupKey: `{}:{alertname="HighErrorRate"}`, Status: "firing",
		GroupLabels: map[string]string{"alertname": "HighErrorRate"}, CommonLabels: map[string]string{"alertname": "HighErrorRate", "namespace": "shop", "service": "checkout"},
		Alerts: []incident.Alert{{Status: "firing", Labels: map[string]string{"alertname": "HighErrorRate"}, StartsAt: time.Now().Add(-time.Minute), Fingerprint: "fp"}}})
	if err != nil || !out.Opened {
		t.Fatalf("%+v %v", out, err)
	}
	var in incident.Incident
	eventually(t, "the incident's thread", func() bool {
		in, _ = svc.Get(ctx, out.Incident)
		return in.ThreadTS != ""
	})
	p, err := h.app.Approvals().Propose(approval.WithRequester(ctx, "alertmanager"), "incident:"+in.ID,
		tools.Proposal{Tool: "restart", Summary: "Step 1 of the change plan: Roll back deployment shop/checkout", Risk: "low"})
	if err != nil {
		t.Fatal(err)
	}
	findings := []incident.Finding{{Title: "The remediation plan's first step", Tool: "kube_remediate", Text: "Proposed " + p.ID, Display: "Proposed " + p.ID, Proposal: &p}}
	if err := h.bot.ReportFindings(ctx, in, findings); err != nil {
		t.Fatal(err)
	}
	replies := h.fake.BotMessages(chOps, in.ThreadTS)
	if len(replies) != 2 || !strings.Contains(blocksText(replies[0].Blocks), "Automatic investigation") {
		t.Fatalf("thread replies: %+v", replies)
	}
	if b := string(replies[1].Blocks); !strings.Contains(b, `"action_id":"approve"`) || !strings.Contains(b, `"action_id":"reject"`) ||
		!strings.Contains(b, "Roll back deployment shop/checkout") || !strings.Contains(b, p.ID) {
		t.Errorf("the proposal message: %s", b)
	}
	got, err := h.app.Approvals().Get(ctx, p.ID)
	if err != nil || !strings.HasPrefix(got.Location, "slack:"+chOps+":") || got.Status != approval.Pending {
		t.Errorf("stored: %+v, %v", got, err)
	}
}
