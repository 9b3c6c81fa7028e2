// Package alertmanager holds the Alertmanager silence tool: silencing is a
// change to the alerting system, so it is proposed, approved and then
// created through Alertmanager's v2 API.
package alertmanager

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/watchkeeper/watchkeeper/tools"
)

// MaxSilence is the longest silence proposed.
const MaxSilence = 24 * time.Hour

// Silence proposes and creates silences.
type Silence struct {
	// URL is Alertmanager's base URL.
	URL  string
	HTTP *http.Client
	Now  func() time.Time
}

type silenceArgs struct {
	Matchers map[string]string `json:"matchers"`
	Duration string            `json:"duration"`
	Comment  string            `json:"comment"`
	Reason   string            `json:"reason,omitempty"`
}

// Spec implements tools.Tool.
func (s Silence) Spec() tools.Spec {
	any := true
	return tools.Spec{
		Name: "alertmanager_silence",
		Description: "Propose an Alertmanager silence for alerts matching exact label values, for a duration (at most 24h). " +
			"Shows which alerts it would silence now. Only proposes: a person must approve before it is created.",
		Mutating: true,
		Parameters: tools.Object(map[string]*tools.Schema{
			"matchers": {Type: "object", Description: `label = value to match exactly, e.g. {"alertname": "HighErrorRate", "namespace": "shop"}`, AdditionalProperties: &any},
			"duration": tools.String(`how long, e.g. "2h" (at most 24h)`),
			"comment":  tools.String("why, shown in Alertmanager"),
			"reason":   tools.String("why, for the approver"),
		}, "matchers", "duration", "comment"),
		LabelMatchers: []string{"matchers"},
	}
}

func (s Silence) client() *http.Client {
	if s.HTTP != nil {
		return s.HTTP
	}
	return &http.Client{Timeout: 30 * time.Second}
}

func (s Silence) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func parseArgs(raw json.RawMessage) (silenceArgs, time.Duration, error) {
	var a silenceArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return a, 0, err
	}
	if len(a.Matchers) == 0 {
		return a, 0, fmt.Errorf("give at least one matcher (an empty silence would mute everything)")
	}
	for k, v := range a.Matchers {
		if k == "" || v == "" {
			return a, 0, fmt.Errorf("matcher %q=%q: names and values must not be empty", k, v)
		}
	}
	d, err := time.ParseDuration(a.Duration)
	if err != nil || d <= 0 || d > MaxSilence {
		return a, 0, fmt.Errorf("duration %q: give a positive duration of at most 24h, like 2h", a.Duration)
	}
	if strings.TrimSpace(a.Comment) == "" {
		return a, 0, fmt.Errorf("a comment is required (Alertmanager shows it with the silence)")
	}
	return a, d, nil
}

func matcherText(m map[string]string) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s=%q", k, v))
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ", ") + "}"
}

// Run implements tools.Tool: the proposal, with the alerts it would
// silence right now (Alertmanager has no dry run for silences).
func (s Silence) Run(ctx context.Context, raw json.RawMessage) (tools.Result, error) {
	a, d, err := parseArgs(raw)
	if err != nil {
		return tools.Errorf("%v", err), nil
	}
	q := url.Values{}
	for k, v := range a.Matchers {
		q.Add("filter", fmt.Sprintf("%s=%q", k, v))
	}
	var alerts []struct {
		Labels map[string]string `json:"labels"`
	}
	if err := s.do(ctx, http.MethodGet, "/api/v2/alerts?"+q.Encode(), nil, &alerts); err != nil {
		return tools.Result{}, err
	}
	var names []string
	for i, al := range alerts {
		if i == 10 {
			names = append(names, fmt.Sprintf("…and %d more", len(alerts)-10))
			break
		}
		names = append(names, matcherText(al.Labels))
	}
	firing := "none"
	if len(names) > 0 {
		firing = "\n  " + strings.Join(names, "\n  ")
	}
	// What the silence does first; the comment (the requester's words,
	// stored in Alertmanager as written) last and shortened here, so it
	// cannot push the list of silenced alerts out of sight.
	comment := strings.Join(strings.Fields(a.Comment), " ")
	if r := []rune(comment); len(r) > 200 {
		comment = string(r[:200]) + fmt.Sprintf("… (%d characters in all)", len(r))
	}
	details := fmt.Sprintf("silence %s for %s (until %s)\nwould silence %d alert(s) firing now: %s\ncomment: %s", matcherText(a.Matchers), d,
		s.now().Add(d).UTC().Format("2006-01-02 15:04 UTC"), len(alerts), firing, comment)
	return tools.Result{Proposal: &tools.Proposal{Tool: "alertmanager_silence", Summary: fmt.Sprintf("Silence %s for %s", matcherText(a.Matchers), d),
		Details: details, Reason: a.Reason, Risk: "medium: matching alerts stop notifying anyone until it expires", Args: raw}}, nil
}

// Apply implements tools.Applier: the silence is created by the approver.
func (s Silence) Apply(ctx context.Context, p tools.Proposal) (tools.Result, error) {
	a, d, err := parseArgs(p.Args)
	if err != nil {
		return tools.Result{}, err
	}
	by := tools.Approver(ctx)
	if by == "" {
		by = "watchkeeper"
	}
	type matcher struct {
		Name    string `json:"name"`
		Value   string `json:"value"`
		IsRegex bool   `json:"isRegex"`
		IsEqual bool   `json:"isEqual"`
	}
	body := map[string]any{"startsAt": s.now().UTC(), "endsAt": s.now().Add(d).UTC(), "createdBy": by,
		"comment": a.Comment + " (Watchkeeper proposal " + p.ID + ")"}
	var ms []matcher
	for k, v := range a.Matchers {
		ms = append(ms, matcher{Name: k, Value: v, IsEqual: true})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	body["matchers"] = ms
	var out struct {
		SilenceID string `json:"silenceID"`
	}
	if err := s.do(ctx, http.MethodPost, "/api/v2/silences", body, &out); err != nil {
		return tools.Result{}, err
	}
	return tools.Text(fmt.Sprintf("silence %s created until %s", out.SilenceID, s.now().Add(d).UTC().Format("15:04 UTC"))), nil
}

func (s Silence) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(s.URL, "/")+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client().Do(req)
	if err != nil {
		return fmt.Errorf("alertmanager at %s: %w; check alertmanager.url", s.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("alertmanager answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}
