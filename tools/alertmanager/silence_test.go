package alertmanager_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/testserver"
	"github.com/watchkeeper/watchkeeper/tools"
	"github.com/watchkeeper/watchkeeper/tools/alertmanager"
)

// Against a real Alertmanager: the proposal lists the alerts it would
// silence; applying creates the silence as the approver, and the alert is
// then suppressed.
func TestSilenceAgainstARealAlertmanager(t *testing.T) {
	am := testserver.StartAlertmanager(t, "http://127.0.0.1:1/unused", "x")
	ctx := context.Background()
	alerts := `[{"labels": {"alertname": "HighErrorRate", "namespace": "shop", "service": "checkout"}, "startsAt": "` +
		time.Now().Add(-time.Minute).UTC().Format(time.RFC3339) + `"}]`
	resp, err := http.Post(am.URL+"/api/v2/alerts", "application/json", bytes.NewReader([]byte(alerts)))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("post alert: %v %v", resp, err)
	}
	resp.Body.Close()
	s := alertmanager.Silence{URL: am.URL}
	for _, tt := range []struct{ args, want string }{
		{`{"matchers": {}, "duration": "2h", "comment": "x"}`, "at least one matcher"},
		{`{"matchers": {"alertname": "A"}, "duration": "48h", "comment": "x"}`, "at most 24h"},
		{`{"matchers": {"alertname": "A"}, "duration": "2h", "comment": " "}`, "a comment is required"},
	} {
		res, err := s.Run(ctx, json.RawMessage(tt.args))
		if err != nil || !strings.Contains(res.Error, tt.want) {
			t.Errorf("%s: %+v, %v", tt.args, res, err)
		}
	}
	var res tools.Result
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err = s.Run(ctx, json.RawMessage(`{"matchers": {"alertname": "HighErrorRate", "namespace": "shop"}, "duration": "2h", "comment": "deploy rollback in progress"}`))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(res.Proposal.Details, "would silence 1 alert(s)") || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	p := res.Proposal
	if p == nil || !strings.Contains(p.Details, "would silence 1 alert(s)") || !strings.Contains(p.Summary, `Silence {alertname="HighErrorRate", namespace="shop"} for 2h0m0s`) {
		t.Fatalf("proposal: %+v", p)
	}
	p.ID = "prop_test"
	out, err := s.Apply(tools.WithApprover(ctx, "UADMIN"), *p)
	if err != nil || !strings.Contains(out.Text, "silence ") {
		t.Fatalf("apply: %+v, %v", out, err)
	}
	var silences []struct {
		CreatedBy string                 `json:"createdBy"`
		Comment   string                 `json:"comment"`
		Status    struct{ State string } `json:"status"`
	}
	r, _ := http.Get(am.URL + "/api/v2/silences")
	json.NewDecoder(r.Body).Decode(&silences)
	r.Body.Close()
	if len(silences) != 1 || silences[0].CreatedBy != "UADMIN" || !strings.Contains(silences[0].Comment, "prop_test") || silences[0].Status.State != "active" {
		t.Errorf("silences: %+v", silences)
	}
	// Unreachable Alertmanager: a clear error.
	if _, err := (alertmanager.Silence{URL: "http://127.0.0.1:1"}).Run(ctx, json.RawMessage(`{"matchers": {"a": "b"}, "duration": "1h", "comment": "c"}`)); err == nil ||
		!strings.Contains(err.Error(), "check alertmanager.url") {
		t.Errorf("unreachable: %v", err)
	}
}
