package incident_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/incident"
	"github.com/watchkeeper/watchkeeper/internal/store"
	"github.com/watchkeeper/watchkeeper/internal/testserver"
)

// TestMain stops the PostgreSQL the package's tests share
// (testserver.SharedPostgres) after they ran.
func TestMain(m *testing.M) { os.Exit(testserver.Main(m)) }

// storm is an alert storm: names × groups × alerts, one firing
// notification per alert, in a shuffled order, then one resolved
// notification per alert.
type storm struct {
	firing, resolved []incident.Message
	alerts           int
}

func newStorm(names, groups, perGroup int, seed uint64) storm {
	var s storm
	for n := range names {
		name := fmt.Sprintf("Storm%d", n)
		for g := range groups {
			svc := fmt.Sprintf("svc-%d", g)
			for a := range perGroup {
				fp := fmt.Sprintf("%s-%s-%d", name, svc, a)
				labels := []string{"namespace", "shop", "service", svc, "pod", fmt.Sprintf("%s-%d", svc, a)}
				group := fmt.Sprintf("{}:{alertname=%q, service=%q}", name, svc)
				s.firing = append(s.firing, msg(group, "firing", alert(name, fp, "firing", labels...)))
				s.resolved = append(s.resolved, msg(group, "resolved", alert(name, fp, "resolved", labels...)))
				s.alerts++
			}
		}
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	rng.Shuffle(len(s.firing), func(i, j int) { s.firing[i], s.firing[j] = s.firing[j], s.firing[i] })
	rng.Shuffle(len(s.resolved), func(i, j int) { s.resolved[i], s.resolved[j] = s.resolved[j], s.resolved[i] })
	return s
}

func stormService(st incident.Store) *incident.Service {
	return incident.New(incident.Options{Store: st, Surface: &surface{}, Now: func() time.Time { return t0.Add(time.Minute) },
		Route: func(map[string]string) (string, bool) { return "CPAGE", true }})
}

// replay sends msgs to the services round-robin from several goroutines
// each, acknowledging incidents as it goes; it returns the acks recorded.
func replay(t *testing.T, msgs []incident.Message, svcs []*incident.Service, workers int) []string {
	t.Helper()
	ctx := context.Background()
	var (
		mu   sync.Mutex
		acks []string
		wg   sync.WaitGroup
	)
	errs := make(chan error, len(msgs))
	next := make(chan int)
	go func() {
		for i := range msgs {
			next <- i
		}
		close(next)
	}()
	for w := range workers * len(svcs) {
		svc := svcs[w%len(svcs)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out, err := svc.Handle(ctx, msgs[i])
				if err != nil {
					errs <- fmt.Errorf("message %d: %w", i, err)
					continue
				}
				if i%10 == 0 && out.Incident != "" {
					// Someone acknowledges, on whichever replica Slack
					// reached.
					text := fmt.Sprintf("ack %d by worker %d", i, w)
					if _, err := svc.Record(ctx, out.Incident, "note", text, "U1"); err != nil {
						errs <- err
						continue
					}
					mu.Lock()
					acks = append(acks, text)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	return acks
}

// summary is what must not depend on how many replicas handled a storm.
func summary(t *testing.T, st store.Store) (shape []string, alerts, events int, timeline string) {
	t.Helper()
	list, err := st.ListIncidents(context.Background(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, raw := range list {
		in, err := stormService(st).Get(context.Background(), raw.ID)
		if err != nil {
			t.Fatal(err)
		}
		shape = append(shape, fmt.Sprintf("%s %s %d alerts %d groups", in.Data.CommonLabels["alertname"], in.Status, len(in.Data.Alerts), len(in.Data.GroupKeys)))
		alerts += len(in.Data.Alerts)
		events += len(in.Data.Timeline)
		for _, e := range in.Data.Timeline {
			all.WriteString(e.Text + "\n")
		}
	}
	sort.Strings(shape)
	return shape, alerts, events, all.String()
}

// TestTwoServicesOneStore: an alert storm — 300 alerts in 15 groups of 5
// alerts names — split across two services on one store (two replicas),
// many notifications at once, with acknowledgements on both and then
// every alert resolved, ends as it does on one service: one incident per
// alert name (the storm merges its groups), every alert and every
// timeline event kept.
func TestTwoServicesOneStore(t *testing.T) {
	type backend struct {
		open func(t *testing.T) (store.Store, store.Store)
		// workers per service: SQLite has one writer at a time, and two
		// processes on one file is not a deployment (replicas share
		// PostgreSQL), so its case checks the lock with less contention
		// (under the race detector on a busy machine, 16 writers queue past
		// busy_timeout).
		workers int
	}
	backends := map[string]backend{
		"sqlite": {func(t *testing.T) (store.Store, store.Store) {
			path := filepath.Join(t.TempDir(), "wk.db")
			return openSQLite(t, path), openSQLite(t, path)
		}, 1},
		"postgres": {func(t *testing.T) (store.Store, store.Store) {
			// One server for the package (the reference and the replicas
			// each take a database of their own on it).
			dsn := testserver.SharedPostgres(t).NewDatabase(t)
			return openPostgres(t, dsn), openPostgres(t, dsn)
		}, 4},
	}
	for name, be := range backends {
		open := be.open
		t.Run(name, func(t *testing.T) {
			s := newStorm(5, 3, 20, 7)
			// One service, one worker: the reference.
			ref, _ := open(t)
			one := stormService(ref)
			refAcks := replay(t, s.firing, []*incident.Service{one}, 1)
			refAcks = append(refAcks, replay(t, s.resolved, []*incident.Service{one}, 1)...)
			wantShape, wantAlerts, wantEvents, _ := summary(t, ref)

			a, b := open(t)
			acks := replay(t, s.firing, []*incident.Service{stormService(a), stormService(b)}, be.workers)
			acks = append(acks, replay(t, s.resolved, []*incident.Service{stormService(b), stormService(a)}, be.workers)...)
			shape, alerts, events, timeline := summary(t, a)
			if strings.Join(shape, "\n") != strings.Join(wantShape, "\n") {
				t.Errorf("two replicas:\n%s\none:\n%s", strings.Join(shape, "\n"), strings.Join(wantShape, "\n"))
			}
			if alerts != s.alerts || wantAlerts != s.alerts {
				t.Errorf("%d alerts kept by two replicas, %d by one, of %d", alerts, wantAlerts, s.alerts)
			}
			for _, ack := range acks {
				if !strings.Contains(timeline, ack+"\n") {
					t.Errorf("lost timeline event %q", ack)
				}
			}
			// The same events, give or take the acknowledgements, which
			// land where the interleaving put them.
			if events-len(acks) != wantEvents-len(refAcks) {
				t.Errorf("%d timeline events (%d acks) with two replicas, %d (%d acks) with one", events, len(acks), wantEvents, len(refAcks))
			}
		})
	}
}

func openSQLite(t *testing.T, path string) store.Store {
	s, err := store.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openPostgres(t *testing.T, dsn string) store.Store {
	s, err := store.OpenPostgres(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestAcknowledgeOnce: people clicking Acknowledge on two replicas at once
// record one acknowledgement, the first, and everyone is told whose.
func TestAcknowledgeOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wk.db")
	a, b := stormService(openSQLite(t, path)), stormService(openSQLite(t, path))
	out, err := a.Handle(ctx, msg("g1", "firing", alert("HighErrorRate", "fp1", "firing")))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	firsts := make(chan string, 20)
	for i := range 20 {
		svc := []*incident.Service{a, b}[i%2]
		user := fmt.Sprintf("U%d", i)
		wg.Go(func() {
			_, by, err := svc.Acknowledge(ctx, out.Incident, user)
			if err != nil {
				t.Error(err)
			}
			if by == user {
				firsts <- user
			}
		})
	}
	wg.Wait()
	close(firsts)
	var winners []string
	for u := range firsts {
		winners = append(winners, u)
	}
	in, _ := a.Get(ctx, out.Incident)
	acks := 0
	for _, e := range in.Data.Timeline {
		if e.Kind == "acknowledged" {
			acks++
		}
	}
	if len(winners) != 1 || acks != 1 || in.Data.AckedBy != winners[0] {
		t.Errorf("winners %v, %d acknowledgements recorded, acked by %q", winners, acks, in.Data.AckedBy)
	}
}
