package gameday_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/gameday"
	"github.com/watchkeeper/watchkeeper/internal/sandbox"
)

// issueFaults are the seven faults issue 20 sets its numbers on; the
// catalogue's other four (exception, network_delay, packet_loss,
// traffic_surge) are played and reported too.
var issueFaults = []string{"bad_deploy", "config_change", "cpu_saturation", "dependency_down", "memory_leak", "network_latency", "slow_db"}

// TestGameDay plays the whole catalogue at one seed through the production
// pipeline — the sandbox's rules, the webhook over HTTP, the incident, the
// playbook, the approval policy, the Kubernetes API — and holds it to
// issue 20's numbers on its seven faults: each detected within the
// threshold; the true cause first for at least six; every fault with an
// in-cluster fix recovered within the threshold; every other escalated
// with the right cause and nothing written; no wrong approval anywhere.
// Availability is reported, not asserted: a fault that fails a large share
// of the shop's requests spends more than 1 % of a 30-minute run before
// any approved fix can land (docs/gameday.md says why).
func TestGameDay(t *testing.T) {
	skipUnderRace(t)
	rep, err := gameday.Play(context.Background(), gameday.Options{Seeds: 1, Speed: 200, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var md bytes.Buffer
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", md.String())
	if len(rep.Runs) != len(sandbox.Catalogue()) {
		t.Fatalf("%d runs for %d faults", len(rep.Runs), len(sandbox.Catalogue()))
	}
	th := gameday.DefaultThresholds()
	byFault := map[string]gameday.Run{}
	causes := 0
	for _, r := range rep.Runs {
		byFault[r.Fault] = r
		if r.Error != "" {
			t.Errorf("%s: the run failed: %s", r.Fault, r.Error)
		}
		if r.Wrong > 0 {
			t.Errorf("%s: %d wrong change(s) approved: %q", r.Fault, r.Wrong, r.Changes)
		}
		if r.Availability <= 0 && r.Fault != "dependency_down" || r.Availability > 1 || time.Duration(r.Simulated) < 30*time.Minute {
			t.Errorf("%s: availability %g over %s", r.Fault, r.Availability, r.Simulated)
		}
	}
	for _, f := range issueFaults {
		r := byFault[f]
		if !r.Detected || time.Duration(r.DetectAfter) > th.Detect.D() {
			t.Errorf("%s at %s: detected %v after %s, threshold %s", f, r.Service, r.Detected, r.DetectAfter, th.Detect.D())
		}
		if r.CauseCorrect {
			causes++
			if time.Duration(r.DiagnoseAfter) > th.Diagnose.D() {
				t.Errorf("%s: diagnosed after %s, threshold %s", f, r.DiagnoseAfter, th.Diagnose.D())
			}
		}
		switch {
		case r.Fixable && (!r.Recovered || time.Duration(r.RecoverAfter) > th.Recover.D()):
			t.Errorf("%s at %s: recovered %v after %s (changes %q)", f, r.Service, r.Recovered, r.RecoverAfter, r.Changes)
		case !r.Fixable && (!r.Escalated || r.EscalatedCause != r.Service || r.Approved > 0):
			t.Errorf("%s at %s: escalated %v naming %q, %d approved", f, r.Service, r.Escalated, r.EscalatedCause, r.Approved)
		}
	}
	if causes < 6 {
		t.Errorf("the true cause first for %d of the seven faults, want at least 6", causes)
	}
	bad := byFault["bad_deploy"]
	if bad.Approved != 1 || !strings.Contains(bad.FixedBy, "rollout") || len(bad.Changes) != 1 ||
		!strings.Contains(bad.Changes[0], "Roll back deployment shop/"+bad.Service) || bad.Signature != "change" {
		t.Errorf("bad_deploy: %+v", bad)
	}
	if time.Duration(bad.RecoverAfter) < time.Duration(bad.DetectAfter) || time.Duration(bad.DiagnoseAfter) < time.Duration(bad.DetectAfter) {
		t.Errorf("bad_deploy: recovered %s or diagnosed %s before it was detected %s", bad.RecoverAfter, bad.DiagnoseAfter, bad.DetectAfter)
	}
	if len(bad.SLO) < 60 || len(bad.Ranking) == 0 || !strings.Contains(bad.Diagnosis, "Likely root causes") {
		t.Errorf("bad_deploy: %d SLO points over 35 minutes at 30 s; ranking %v", len(bad.SLO), bad.Ranking)
	}
	var page bytes.Buffer
	if err := rep.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	if h := page.String(); strings.Count(h, `<img alt="the shop's success ratio over the run" src="data:image/png;base64,`) != len(rep.Runs) ||
		!strings.Contains(h, "fault injected at") || !strings.Contains(h, "recovered at") || !strings.Contains(h, "change approved at") {
		t.Errorf("report.html lacks a chart or a mark (%d bytes)", len(h))
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil || !strings.Contains(js.String(), `"fault": "bad_deploy"`) || !strings.Contains(js.String(), `"detect_after": "`) {
		t.Errorf("report.json: %v\n%s", err, js.String())
	}
}

// Bad input is refused before anything runs.
func TestGameDayBadInput(t *testing.T) {
	for _, c := range []struct {
		o    gameday.Options
		want string
	}{
		{gameday.Options{Seeds: 0}, "--seeds 0"},
		{gameday.Options{Seeds: 1, Faults: []string{"bad_deplyo"}}, `unknown fault "bad_deplyo"`},
		{gameday.Options{Seeds: 1, Speed: 5000}, "--speed 5000"},
		{gameday.Options{Seeds: 1, Thresholds: gameday.Thresholds{Availability: 2}}, "availability 2 is a share"},
	} {
		if _, err := gameday.Play(context.Background(), c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
}

// skipUnderRace: a game day is two sandbox worlds running for 30 minutes
// of simulated time each at speed 100; under the race detector the worlds
// fall behind the clock. make test runs it without it (make
// test-accuracy), so CI always runs it.
func skipUnderRace(t *testing.T) {
	t.Helper()
	if raceDetector {
		t.Skip("!!! a game day: not run under the race detector; make test runs it in its own step (make test-accuracy)")
	}
}

// A seed's world starts at the same simulated time whenever the game day
// is played — in working hours, when the shop is busy — so a run played
// at night is the run played at noon.
func TestStartOfIsFixedPerSeed(t *testing.T) {
	hours := map[int]bool{}
	for seed := uint64(1); seed <= 20; seed++ {
		at := gameday.StartOf(seed)
		if at != gameday.StartOf(seed) {
			t.Fatalf("seed %d starts at two times", seed)
		}
		if h := at.UTC().Hour(); h < 9 || h >= 17 || at.Weekday() == time.Saturday || at.Weekday() == time.Sunday {
			t.Errorf("seed %d starts at %s, outside a weekday's working hours", seed, at)
		}
		hours[at.Hour()] = true
	}
	if len(hours) < 4 {
		t.Errorf("20 seeds start in %d distinct hours; the seed should vary the time of day", len(hours))
	}
}
