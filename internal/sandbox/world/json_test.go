package world_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/sandbox/world"
)

// TestFaultJSON: one naming style (snake_case) for every field, durations
// people can read, and no 0001-01-01T00:00:00Z for what never happened.
func TestFaultJSON(t *testing.T) {
	start := time.Date(2026, 11, 24, 14, 3, 38, 0, time.UTC)
	tests := []struct {
		name    string
		fault   world.Fault
		want    []string
		wantNot []string
	}{
		{"open-ended, never fixed",
			world.Fault{ID: 2, FaultSpec: world.FaultSpec{Kind: world.FaultBadDeploy, Service: "checkout"}, Start: start},
			[]string{`"id":2`, `"fault":"bad_deploy"`, `"service":"checkout"`, `"start":"2026-11-24T14:03:38Z"`},
			[]string{`0001-01-01`, `"end"`, `"fixed_at"`, `"fixed_by"`, `"duration"`, `"ID"`, `"Start"`, `"FixedAt"`}},
		{"bounded and fixed",
			world.Fault{ID: 3, FaultSpec: world.FaultSpec{Kind: world.FaultNetworkLatency, Service: "checkout", Target: "payments",
				Params: map[string]float64{"delay_ms": 800}, Duration: 10 * time.Minute},
				Start: start, End: start.Add(10 * time.Minute), FixedAt: start.Add(5 * time.Minute), FixedBy: "rollout to revision 5"},
			[]string{`"target":"payments"`, `"params":{"delay_ms":800}`, `"duration":"10m0s"`, `"end":"2026-11-24T14:13:38Z"`,
				`"fixed_at":"2026-11-24T14:08:38Z"`, `"fixed_by":"rollout to revision 5"`},
			[]string{`0001-01-01`, `"FixedBy"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.fault)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("%s lacks %s", b, w)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(string(b), w) {
					t.Errorf("%s has %s", b, w)
				}
			}
			var back world.Fault
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("read back %s: %v", b, err)
			}
			if b2, _ := json.Marshal(back); string(b2) != string(b) {
				t.Errorf("round trip changed it:\n%s\n%s", b, b2)
			}
		})
	}
}

// TestFaultSpecJSONInput: what the inject API accepts.
func TestFaultSpecJSONInput(t *testing.T) {
	tests := []struct {
		in      string
		want    world.FaultSpec
		wantErr string
	}{
		{`{"fault":"memory_leak","service":"cart","duration":"10m"}`, world.FaultSpec{Kind: world.FaultMemoryLeak, Service: "cart", Duration: 10 * time.Minute}, ""},
		{`{"fault":"memory_leak","service":"cart","duration":600000000000}`, world.FaultSpec{Kind: world.FaultMemoryLeak, Service: "cart", Duration: 10 * time.Minute}, ""},
		{`{"fault":"slow_db","service":"postgres","params":{"factor":20}}`, world.FaultSpec{Kind: world.FaultSlowDB, Service: "postgres", Params: map[string]float64{"factor": 20}}, ""},
		{`{"fault":"memory_leak","service":"cart","duraton":"10m"}`, world.FaultSpec{}, `unknown field "duraton"`},
		{`{"fault":"memory_leak","service":"cart","duration":"ten minutes"}`, world.FaultSpec{}, `want a Go duration`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var got world.FaultSpec
			err := json.Unmarshal([]byte(tt.in), &got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Kind != tt.want.Kind || got.Service != tt.want.Service || got.Duration != tt.want.Duration || len(got.Params) != len(tt.want.Params) {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// TestInjectKeepsTheTime: a fault injected between two steps starts when
// it was injected, is active at once, and acts from the next step.
func TestInjectKeepsTheTime(t *testing.T) {
	start := time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)
	w, err := world.New(world.DefaultTopology(), 1, start)
	if err != nil {
		t.Fatal(err)
	}
	at := start.Add(8 * time.Second) // between two 15 s steps
	f, err := w.Inject(world.FaultSpec{Kind: world.FaultDependencyDown, Service: "redis"}, at)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Start.Equal(at) || f.State(at) != "active" {
		t.Errorf("start %s, state %q; want %s, active", f.Start.Format(time.TimeOnly), f.State(at), at.Format(time.TimeOnly))
	}
	var redisReady int = -1
	w.Advance(start.Add(world.Step), func(s *world.Snapshot) {
		for _, st := range s.Services {
			if st.Name == "redis" {
				redisReady = st.Ready
			}
		}
	})
	if redisReady != 0 {
		t.Errorf("redis ready pods at the next step = %d, want 0", redisReady)
	}
}
