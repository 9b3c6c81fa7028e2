package slack_test

import (
	"context"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/watchkeeper/watchkeeper/internal/config"
)

// A write tool called over MCP only proposes; with
// mcp.serve.approvals_channel the proposal is posted there with its
// buttons, and an approver's click applies it under the usual policy.
func TestMCPProposalsAreApprovedInSlack(t *testing.T) {
	h := newHarness(t, harnessOpts{noModel: true, tweak: func(c *config.Config) { c.MCP.Serve.ApprovalsChannel = chOps }})
	ctx := context.Background()
	srv, err := h.app.MCPServer()
	if err != nil {
		t.Fatal(err)
	}
	ct, st := sdk.NewInMemoryTransports()
	ss, err := srv.Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "cursor", Version: "1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "restart_deployment", Arguments: map[string]any{"name": "checkout"}})
	if err != nil || res.IsError {
		t.Fatalf("call: %v %v", res, err)
	}
	text := res.Content[0].(*sdk.TextContent).Text
	sc, _ := res.StructuredContent.(map[string]any)
	id, _ := sc["proposal_id"].(string)
	if id == "" || !strings.Contains(text, "Nothing has been changed") || !strings.Contains(text, "with its Approve button in Slack (channel "+chOps+")") {
		t.Fatalf("reply: %q", text)
	}
	if h.restart.applied.Load() != 0 {
		t.Fatal("a write tool acted over MCP")
	}
	var ts string
	eventually(t, "the proposal in #ops with its buttons", func() bool {
		for _, m := range h.fake.BotMessages(chOps, "") {
			if strings.Contains(string(m.Blocks), id) && strings.Contains(string(m.Blocks), `"action_id":"approve"`) {
				ts = m.TS
				return true
			}
		}
		return false
	})
	eventually(t, "where the proposal is shown recorded", func() bool {
		p, err := h.app.Approvals().Get(ctx, id)
		return err == nil && p.Location == "slack:"+chOps+":"+ts+":"
	})
	h.click(chOps, admin, ts, "approve", id)
	eventually(t, "the change applied after the click", func() bool { return h.restart.applied.Load() == 1 })
	p, err := h.app.Approvals().Get(ctx, id)
	if err != nil || p.RequestedBy != "mcp:cursor" || p.DecidedBy != admin {
		t.Errorf("proposal: %+v %v", p, err)
	}
}
