package incident_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/incident"
	"github.com/watchkeeper/watchkeeper/internal/store"

	"github.com/watchkeeper/watchkeeper/internal/testserver"
)

// investigator counts investigations; hang makes it never finish, as in a
// process that died during one.
type investigator struct {
	calls atomic.Int32
	hang  chan struct{}
}

func (i *investigator) Investigate(context.Context, incident.Incident, incident.Reporter) {
	i.calls.Add(1)
	if i.hang != nil {
		<-i.hang
	}
}

// The investigation and the postmortem an incident is owed are taken up
// by another process when the one doing them dies, once, after its lease;
// and never repeated once done.
func TestFollowUpsSurviveADeadProcess(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wk.db")
	open := func() *store.SQLite {
		s, err := store.OpenSQLite(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	const lease = 2 * time.Second
	now := func() time.Time { return t0.Add(time.Minute) }
	route := func(map[string]string) (string, bool) { return "CPAGE", true }
	hang := make(chan struct{})
	defer close(hang)

	deadInv := &investigator{hang: hang}
	var deadPostmortems atomic.Int32
	dead := incident.New(incident.Options{Store: open(), Surface: &surface{}, Route: route, Now: now,
		Investigator: deadInv, FollowUpLease: lease,
		OnResolved: func(context.Context, incident.Incident) { deadPostmortems.Add(1); <-hang }})

	liveInv := &investigator{}
	var livePostmortems atomic.Int32
	live := incident.New(incident.Options{Store: open(), Surface: &surface{}, Route: route, Now: now,
		Investigator: liveInv, FollowUpLease: lease, FollowUpEvery: 50 * time.Millisecond,
		OnResolved: func(context.Context, incident.Incident) { livePostmortems.Add(1) }})
	sweep, stop := context.WithCancel(ctx)
	defer stop()
	go live.RunFollowUps(sweep)

	out, err := dead.Handle(ctx, msg("g", "firing", alert("A", "fp1", "firing")))
	if err != nil || !out.Opened {
		t.Fatalf("open: %+v %v", out, err)
	}
	waitUntil(t, "the first process to start investigating", func() bool { return deadInv.calls.Load() == 1 })
	time.Sleep(lease / 10)
	if n := liveInv.calls.Load(); n != 0 {
		t.Fatalf("another process investigated during the first one's lease (%d)", n)
	}
	waitUntil(t, "the other process to take the investigation up", func() bool { return liveInv.calls.Load() == 1 })
	waitUntil(t, "the investigation to be recorded", func() bool {
		in, err := live.Get(ctx, out.Incident)
		return err == nil && hasEvent(in, "investigation")
	})

	if _, err := dead.Handle(ctx, msg("g", "resolved", alert("A", "fp1", "resolved"))); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the first process to start the postmortem", func() bool { return deadPostmortems.Load() == 1 })
	waitUntil(t, "the other process to take the postmortem up", func() bool { return livePostmortems.Load() == 1 })
	waitUntil(t, "the postmortem to be recorded", func() bool {
		in, err := live.Get(ctx, out.Incident)
		return err == nil && hasEvent(in, "postmortem")
	})

	// Done is done: later sweeps, past another lease, repeat nothing.
	time.Sleep(lease + 300*time.Millisecond)
	if i, p := liveInv.calls.Load(), livePostmortems.Load(); i != 1 || p != 1 {
		t.Errorf("after completion: %d investigations, %d postmortems; want 1 each", i, p)
	}
}

// A follow-up that finishes is not taken up again, and one for an
// incident past its horizon is not started late.
func TestFollowUpsAreNotRepeatedOrLate(t *testing.T) {
	ctx := context.Background()
	_, _, s := newService(t)
	service := func(at time.Time, inv incident.Investigator) *incident.Service {
		return incident.New(incident.Options{Store: s, Surface: &surface{}, Route: func(map[string]string) (string, bool) { return "CPAGE", true },
			Now: func() time.Time { return at }, Investigator: inv, FollowUpEvery: 20 * time.Millisecond})
	}
	inv := &investigator{}
	live := service(t0.Add(time.Minute), inv)
	if _, err := live.Handle(ctx, msg("g", "firing", alert("A", "fp1", "firing"))); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the investigation", func() bool { return inv.calls.Load() == 1 })
	sweepFor(ctx, live, 200*time.Millisecond)
	if n := inv.calls.Load(); n != 1 {
		t.Errorf("a finished investigation ran %d times", n)
	}

	// An incident opened two hours ago whose investigation never ran
	// (written as an older version would have left it) is not investigated
	// now: the findings would be stale.
	if _, err := service(t0.Add(time.Minute), nil).Handle(ctx, msg("g2", "firing", alert("B", "fp2", "firing"))); err != nil {
		t.Fatal(err)
	}
	late := &investigator{}
	sweepFor(ctx, service(t0.Add(2*time.Hour), late), 200*time.Millisecond)
	if n := late.calls.Load(); n != 0 {
		t.Errorf("a two-hour-old incident was investigated late (%d)", n)
	}
}

// sweepFor runs svc's follow-up sweeps for d.
func sweepFor(ctx context.Context, svc *incident.Service, d time.Duration) {
	ctx, stop := context.WithTimeout(ctx, d)
	defer stop()
	svc.RunFollowUps(ctx)
}

func hasEvent(in incident.Incident, kind string) bool {
	for _, e := range in.Data.Timeline {
		if e.Kind == kind {
			return true
		}
	}
	return false
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testserver.Eventually(t, 15*time.Second, what, cond)
}

// TestWaitForFollowUps: Wait reports a follow-up still running, and
// returns as soon as it finishes.
func TestWaitForFollowUps(t *testing.T) {
	ctx := context.Background()
	s, err := store.OpenSQLite(ctx, t.TempDir()+"/wk.db")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	inv := &blockingInvestigator{release: make(chan struct{}), investigatedIDs: map[string]bool{}}
	svc := incident.New(incident.Options{Store: s, Surface: &surface{}, Investigator: inv,
		Now: func() time.Time { return t0.Add(time.Minute) }, Route: func(map[string]string) (string, bool) { return "CPAGE", true }})
	if !svc.Wait(time.Millisecond) {
		t.Error("Wait with nothing running should return true")
	}
	if _, err := svc.Handle(ctx, msg("g1", "firing", alert("A", "fp", "firing"))); err != nil {
		t.Fatal(err)
	}
	testserver.Eventually(t, 10*time.Second, "the investigation to start", func() bool { return inv.running.Load() == 1 })
	if svc.Wait(50 * time.Millisecond) {
		t.Error("Wait returned true while an investigation ran")
	}
	close(inv.release)
	if !svc.Wait(testserver.Scale(10 * time.Second)) {
		t.Error("Wait did not see the investigation finish")
	}
}
