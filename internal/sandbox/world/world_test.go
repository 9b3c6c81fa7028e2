package world

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// t0 is a Tuesday 14:00 UTC, near the daily peak.
var t0 = time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)

func newTestWorld(t *testing.T, seed uint64) *World {
	t.Helper()
	w, err := New(DefaultTopology(), seed, t0)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// run advances w by d and returns the last snapshot.
func run(w *World, d time.Duration) *Snapshot {
	var last *Snapshot
	w.Advance(w.Now().Add(d), func(s *Snapshot) { last = s })
	return last
}

func svc(s *Snapshot, name string) ServiceState {
	for _, st := range s.Services {
		if st.Name == name {
			return st
		}
	}
	panic("no service " + name)
}

func TestSameSeedSameWorld(t *testing.T) {
	collect := func(seed uint64) []*Snapshot {
		w := newTestWorld(t, seed)
		if _, err := w.Inject(FaultSpec{Kind: FaultMemoryLeak, Service: "cart", Params: map[string]float64{"mib_per_minute": 40}}, t0.Add(10*time.Minute)); err != nil {
			t.Fatal(err)
		}
		var out []*Snapshot
		w.Advance(t0.Add(time.Hour), func(s *Snapshot) { out = append(out, s) })
		return out
	}
	a, b, c := collect(7), collect(7), collect(8)
	if len(a) != 240 {
		t.Fatalf("an hour is %d steps, want 240", len(a))
	}
	if !reflect.DeepEqual(a, b) {
		t.Error("the same seed gave different worlds")
	}
	if reflect.DeepEqual(a[100].Services, c[100].Services) {
		t.Error("different seeds gave the same world")
	}
}

func TestHealthyShop(t *testing.T) {
	w := newTestWorld(t, 1)
	s := run(w, 10*time.Minute)
	fe := svc(s, "frontend")
	if fe.RPS < 100 || fe.RPS > 160 {
		t.Errorf("frontend RPS at 14:00 = %.1f, want near the peak of 140", fe.RPS)
	}
	for _, st := range s.Services {
		if st.ErrorRate > 0.01 || st.Utilization > 0.6 || st.Ready != st.Replicas || st.Down {
			t.Errorf("%s unhealthy: errors %.3f, utilization %.2f, ready %d/%d", st.Name, st.ErrorRate, st.Utilization, st.Ready, st.Replicas)
		}
	}
	// Latency includes downstream calls.
	if fe.Latency <= svc(s, "catalog").Latency || svc(s, "catalog").Latency <= svc(s, "postgres").Latency {
		t.Errorf("latency does not accumulate up the call graph: frontend %.3f catalog %.3f postgres %.3f",
			fe.Latency, svc(s, "catalog").Latency, svc(s, "postgres").Latency)
	}
	// Traffic follows the day: the night is quieter.
	night, _ := New(DefaultTopology(), 1, time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC))
	if n := svc(run(night, 10*time.Minute), "frontend").RPS; n > 0.6*fe.RPS {
		t.Errorf("night RPS %.1f is not well below the afternoon's %.1f", n, fe.RPS)
	}
}

func TestFaultSignaturesAndFixes(t *testing.T) {
	tests := []struct {
		name  string
		fault FaultSpec
		check func(t *testing.T, before, during *Snapshot, w *World)
	}{
		{"bad deploy fails requests until rolled back", FaultSpec{Kind: FaultBadDeploy, Service: "checkout"},
			func(t *testing.T, before, during *Snapshot, w *World) {
				if svc(during, "checkout").ErrorRate < 0.2 || svc(during, "checkout").Version != "1.5.0" {
					t.Errorf("checkout errors %.3f version %s", svc(during, "checkout").ErrorRate, svc(during, "checkout").Version)
				}
				if svc(during, "frontend").ErrorRate <= svc(before, "frontend").ErrorRate {
					t.Error("errors do not propagate to the caller")
				}
				if err := w.Rollout("checkout", "1.4.2", 0, ""); err != nil {
					t.Fatal(err)
				}
				after := run(w, 2*time.Minute)
				if svc(after, "checkout").ErrorRate > 0.01 {
					t.Errorf("after rollback errors are %.3f", svc(after, "checkout").ErrorRate)
				}
				if f := w.Faults()[0]; f.FixedAt.IsZero() || !strings.Contains(f.FixedBy, "1.4.2") {
					t.Errorf("fault not marked fixed: %+v", f)
				}
			}},
		{"memory leak OOM-kills; a restart clears it for a while", FaultSpec{Kind: FaultMemoryLeak, Service: "cart", Params: map[string]float64{"mib_per_minute": 30}},
			func(t *testing.T, before, during *Snapshot, w *World) {
				restarts := 0
				for _, p := range svc(during, "cart").Pods {
					restarts += p.Restarts
					if p.Restarts > 0 && p.LastReason != "OOMKilled" {
						t.Errorf("pod %s last reason %q", p.Name, p.LastReason)
					}
				}
				if restarts == 0 {
					t.Fatal("no OOM kills after 30 minutes of leaking")
				}
				if err := w.Rollout("cart", "1.4.2", 0, "2026-11-24T14:31:00Z"); err != nil {
					t.Fatal(err)
				}
				fresh := run(w, time.Minute)
				for _, p := range svc(fresh, "cart").Pods {
					if p.Restarts != 0 || p.Memory > 150*(1<<20) {
						t.Errorf("restarted pod %s: restarts %d memory %.0f MiB", p.Name, p.Restarts, p.Memory/(1<<20))
					}
				}
				grown := run(w, 5*time.Minute)
				if svc(grown, "cart").Pods[0].Memory < svc(fresh, "cart").Pods[0].Memory+100*(1<<20) {
					t.Error("the leak did not come back after the restart")
				}
			}},
		{"cpu saturation raises latency; scaling out relieves it", FaultSpec{Kind: FaultCPUSaturation, Service: "checkout"},
			func(t *testing.T, before, during *Snapshot, w *World) {
				if svc(during, "checkout").Utilization < 1 || svc(during, "checkout").Latency < 3*svc(before, "checkout").Latency {
					t.Errorf("utilization %.2f latency %.3f → %.3f", svc(during, "checkout").Utilization, svc(before, "checkout").Latency, svc(during, "checkout").Latency)
				}
				if err := w.Scale("checkout", 6); err != nil {
					t.Fatal(err)
				}
				after := run(w, time.Minute)
				if u := svc(after, "checkout").Utilization; u > 0.7 {
					t.Errorf("utilization after scaling to 6 = %.2f", u)
				}
			}},
		{"slow database slows everything upstream", FaultSpec{Kind: FaultSlowDB, Service: "postgres"},
			func(t *testing.T, before, during *Snapshot, w *World) {
				for _, name := range []string{"postgres", "catalog", "frontend"} {
					if svc(during, name).Latency < 2*svc(before, name).Latency {
						t.Errorf("%s latency %.3f → %.3f", name, svc(before, name).Latency, svc(during, name).Latency)
					}
				}
				if svc(during, "payments").Latency > 1.5*svc(before, "payments").Latency {
					t.Error("a service that does not use the database slowed down")
				}
			}},
		{"dependency down fails its callers", FaultSpec{Kind: FaultDependencyDown, Service: "redis"},
			func(t *testing.T, before, during *Snapshot, w *World) {
				if r := svc(during, "redis"); r.Ready != 0 || !r.Down {
					t.Errorf("redis ready %d down %v", r.Ready, r.Down)
				}
				if svc(during, "cart").ErrorRate < 0.8 {
					t.Errorf("cart errors %.2f", svc(during, "cart").ErrorRate)
				}
			}},
		{"network latency on one edge", FaultSpec{Kind: FaultNetworkLatency, Service: "checkout", Target: "payments"},
			func(t *testing.T, before, during *Snapshot, w *World) {
				d := svc(during, "checkout").Latency - svc(before, "checkout").Latency
				if d < 0.35 || d > 0.5 {
					t.Errorf("checkout latency grew by %.3f s, want about 0.4", d)
				}
				if svc(during, "payments").Latency > 1.5*svc(before, "payments").Latency {
					t.Error("the callee itself slowed down")
				}
			}},
		{"config change fails requests until rolled back", FaultSpec{Kind: FaultConfigChange, Service: "catalog"},
			func(t *testing.T, before, during *Snapshot, w *World) {
				if svc(during, "catalog").ErrorRate < 0.1 || svc(during, "catalog").ConfigRev != 1 {
					t.Errorf("catalog errors %.3f config %d", svc(during, "catalog").ErrorRate, svc(during, "catalog").ConfigRev)
				}
				if err := w.Rollout("catalog", "1.4.2", 0, ""); err != nil {
					t.Fatal(err)
				}
				if svc(run(w, time.Minute), "catalog").ErrorRate > 0.01 {
					t.Error("rollback did not end the config fault")
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newTestWorld(t, 3)
			before := run(w, 10*time.Minute)
			if _, err := w.Inject(tt.fault, w.Now()); err != nil {
				t.Fatal(err)
			}
			during := run(w, 20*time.Minute)
			tt.check(t, before, during, w)
		})
	}
}

func TestRolloutBringsBackAnOldRevision(t *testing.T) {
	w := newTestWorld(t, 1)
	run(w, time.Minute)
	before, _ := w.Deployment("checkout")
	if err := w.Rollout("checkout", "1.5.0", 0, ""); err != nil {
		t.Fatal(err)
	}
	if err := w.Rollout("checkout", "1.4.2", 0, ""); err != nil {
		t.Fatal(err)
	}
	after, _ := w.Deployment("checkout")
	if after.Revision != 5 || len(after.Revisions) != 4 {
		t.Errorf("revision %d with %d revisions, want 5 and 4 (the old ReplicaSet reused)", after.Revision, len(after.Revisions))
	}
	last := after.Revisions[len(after.Revisions)-1]
	if last.Hash != before.Revisions[len(before.Revisions)-1].Hash {
		t.Error("rolling back did not reuse the previous ReplicaSet's template")
	}
	s := run(w, Step)
	if p := svc(s, "checkout").Pods[0]; !strings.HasPrefix(p.Name, "checkout-"+last.Hash+"-") {
		t.Errorf("pod %s not of the current ReplicaSet %s", p.Name, last.Hash)
	}
}

func TestBadInput(t *testing.T) {
	w := newTestWorld(t, 1)
	tests := []struct {
		spec FaultSpec
		want string
	}{
		{FaultSpec{Kind: "meteor_strike", Service: "cart"}, `unknown fault "meteor_strike"; the catalogue has bad_deploy, config_change, cpu_saturation`},
		{FaultSpec{Kind: FaultBadDeploy, Service: "cartt"}, `unknown service "cartt"; the shop has frontend, checkout`},
		{FaultSpec{Kind: FaultNetworkLatency, Service: "checkout"}, "needs a target service (the callee), e.g. payments"},
		{FaultSpec{Kind: FaultNetworkLatency, Service: "checkout", Target: "redis"}, "checkout does not call redis; checkout calls payments"},
		{FaultSpec{Kind: FaultSlowDB, Service: "cart"}, "slow_db applies to a database; cart is not one"},
		{FaultSpec{Kind: FaultBadDeploy, Service: "redis"}, "bad_deploy applies to an application service"},
		{FaultSpec{Kind: FaultBadDeploy, Service: "cart", Params: map[string]float64{"error_rate": 2}}, "error_rate is a fraction between 0 and 1"},
		{FaultSpec{Kind: FaultMemoryLeak, Service: "cart", Params: map[string]float64{"mib_per_minute": -5}}, "must not be negative"},
		{FaultSpec{Kind: FaultMemoryLeak, Service: "cart", Params: map[string]float64{"speed": 5}}, `has no parameter "speed"; it takes mib_per_minute (default 12)`},
	}
	for _, tt := range tests {
		if _, err := w.Inject(tt.spec, w.Now()); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Inject(%+v) = %v, want %q", tt.spec, err, tt.want)
		}
	}
	if err := w.Scale("checkout", -1); err == nil || !strings.Contains(err.Error(), "greater than or equal to 0") {
		t.Errorf("negative replicas: %v", err)
	}
	if err := w.Scale("nope", 1); err == nil || !strings.Contains(err.Error(), `unknown service "nope"`) {
		t.Errorf("unknown service: %v", err)
	}
}
