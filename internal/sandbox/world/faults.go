package world

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// FaultKind names a fault in the catalogue.
type FaultKind string

// The catalogue. Each fault has one known root cause: the service it is
// injected into.
const (
	// FaultBadDeploy rolls out a new image that fails a share of requests.
	// A rollback to the previous image ends it.
	FaultBadDeploy FaultKind = "bad_deploy"
	// FaultMemoryLeak makes pods grow until they are OOMKilled. A restart
	// clears it for a while; it comes back.
	FaultMemoryLeak FaultKind = "memory_leak"
	// FaultCPUSaturation multiplies the CPU each request costs. Scaling
	// out relieves it.
	FaultCPUSaturation FaultKind = "cpu_saturation"
	// FaultSlowDB makes a database's queries slow; the latency propagates
	// to every service upstream.
	FaultSlowDB FaultKind = "slow_db"
	// FaultDependencyDown takes a service's pods down; its callers fail.
	FaultDependencyDown FaultKind = "dependency_down"
	// FaultNetworkLatency adds delay on the calls from one service to
	// another.
	FaultNetworkLatency FaultKind = "network_latency"
	// FaultConfigChange rolls out a new ConfigMap revision that breaks a
	// share of requests. A rollback of the Deployment ends it.
	FaultConfigChange FaultKind = "config_change"
	// FaultException makes a share of a service's requests throw: a code
	// fault that shows only weakly, in its error rate.
	FaultException FaultKind = "exception"
	// FaultNetworkDelay delays every packet to and from a service's pods
	// (a netem delay on the pod): its callers' client latency rises, its
	// own server latency does not.
	FaultNetworkDelay FaultKind = "network_delay"
	// FaultPacketLoss drops a share of the packets to a service's pods:
	// its callers retry (latency) and some calls fail.
	FaultPacketLoss FaultKind = "packet_loss"
	// FaultTrafficSurge multiplies the requests a service receives (a
	// batch job, a retry storm of one client): the service saturates.
	FaultTrafficSurge FaultKind = "traffic_surge"
)

// FaultInfo describes a catalogue entry.
type FaultInfo struct {
	Kind        FaultKind `json:"fault"`
	Description string    `json:"description"`
	// RCAClass is the fault class of the common RCA case format:
	// cpu, memory, delay, loss, return, exception, error or overload.
	RCAClass string `json:"rca_class"`
	// Params are the accepted parameters with their defaults.
	Params map[string]float64 `json:"params,omitempty"`
	// NeedsTarget is true when the fault acts on an edge and needs a
	// second service (the callee).
	NeedsTarget bool `json:"needs_target"`
	// Fix says what ends the fault, for docs and tests.
	Fix string `json:"fix"`
}

// Catalogue returns the faults, sorted by name.
func Catalogue() []FaultInfo {
	c := []FaultInfo{
		{FaultBadDeploy, "a new image that fails a share of requests", "error",
			map[string]float64{"error_rate": 0.25, "latency_factor": 1.3}, false, "roll back the deployment"},
		{FaultMemoryLeak, "memory grows until pods are OOMKilled and restart", "memory",
			map[string]float64{"mib_per_minute": 12}, false, "a restart clears it for a while; a fix is a new image"},
		{FaultCPUSaturation, "each request costs several times the CPU; pods saturate", "cpu",
			map[string]float64{"factor": 4}, false, "scale the deployment out"},
		{FaultSlowDB, "queries become slow; latency propagates upstream", "delay",
			map[string]float64{"factor": 50}, false, "none in the cluster: the database must be fixed"},
		{FaultDependencyDown, "the service's pods go down; callers fail", "loss",
			map[string]float64{}, false, "none in the cluster until it recovers"},
		{FaultNetworkLatency, "added delay on calls from the service to a target", "delay",
			map[string]float64{"delay_ms": 400}, true, "none in the cluster: the network path must be fixed"},
		{FaultConfigChange, "a ConfigMap change rolled out with the deployment breaks a share of requests", "error",
			map[string]float64{"error_rate": 0.15}, false, "roll back the deployment"},
		{FaultException, "a share of requests throw an exception in the service's code", "exception",
			map[string]float64{"error_rate": 0.05}, false, "none in the cluster: no release brought it, so the code must be fixed"},
		{FaultNetworkDelay, "every packet to and from the service's pods is delayed", "delay",
			map[string]float64{"delay_ms": 200}, false, "none in the cluster: the pod's network must be fixed"},
		{FaultPacketLoss, "a share of the packets to the service's pods is lost; callers retry and fail", "loss",
			map[string]float64{"loss_rate": 0.2}, false, "none in the cluster: the pod's network must be fixed"},
		{FaultTrafficSurge, "the service receives several times its usual requests", "overload",
			map[string]float64{"factor": 4}, false, "throttle the client, or scale the deployment out"},
	}
	sort.Slice(c, func(i, j int) bool { return c[i].Kind < c[j].Kind })
	return c
}

// LookupFault returns the catalogue entry for kind.
func LookupFault(kind string) (FaultInfo, error) {
	var names []string
	for _, f := range Catalogue() {
		if string(f.Kind) == kind {
			return f, nil
		}
		names = append(names, string(f.Kind))
	}
	return FaultInfo{}, fmt.Errorf("unknown fault %q; the catalogue has %s", kind, strings.Join(names, ", "))
}

// FaultSpec is a fault to inject. Scenario files spell it in YAML; the
// sandbox's HTTP API in JSON (json.go: the same names, the duration as
// "10m").
type FaultSpec struct {
	Kind    FaultKind `yaml:"fault"`
	Service string    `yaml:"service"`
	// Target is the callee for edge faults.
	Target string             `yaml:"target,omitempty"`
	Params map[string]float64 `yaml:"params,omitempty"`
	// Duration bounds the fault; zero means until it is fixed.
	Duration time.Duration `yaml:"duration,omitempty"`
}

// Fault is a fault in the world: injected at Start, active until End or
// until an action fixes it. Its JSON is snake_case and leaves out the
// times that have not happened (json.go).
type Fault struct {
	FaultSpec
	ID    int
	Start time.Time
	End   time.Time // zero: open-ended
	// FixedAt and FixedBy record the action that ended it.
	FixedAt time.Time
	FixedBy string
	// started is set when the fault took effect; shipped, with the
	// version and config revision, when it came with a rollout.
	started        bool
	shipped        bool
	shippedVersion string
	shippedConfig  int
}

// Active reports whether the fault acts at t.
func (f *Fault) Active(t time.Time) bool {
	if t.Before(f.Start) {
		return false
	}
	if !f.End.IsZero() && !t.Before(f.End) {
		return false
	}
	return f.FixedAt.IsZero() || t.Before(f.FixedAt)
}

func (f *Fault) param(name string) float64 {
	if v, ok := f.Params[name]; ok {
		return v
	}
	info, _ := LookupFault(string(f.Kind))
	return info.Params[name]
}

// String names the fault for logs and errors.
func (f *Fault) String() string {
	s := fmt.Sprintf("%s on %s", f.Kind, f.Service)
	if f.Target != "" {
		s += "→" + f.Target
	}
	return s
}

// State says where the fault stands at now, for people: "active",
// "scheduled for 15:04:05", "ended at 15:04:05" or "fixed at 15:04:05 by
// …" (times in UTC).
func (f *Fault) State(now time.Time) string {
	const clock = "15:04:05"
	switch {
	case !f.FixedAt.IsZero() && !now.Before(f.FixedAt):
		return "fixed at " + f.FixedAt.UTC().Format(clock) + " by " + f.FixedBy
	case now.Before(f.Start):
		return "scheduled for " + f.Start.UTC().Format(clock)
	case !f.End.IsZero() && !now.Before(f.End):
		return "ended at " + f.End.UTC().Format(clock)
	}
	return "active"
}

// validateFault checks a spec against the catalogue and the topology, with
// the messages a person needs to correct it.
func validateFault(s FaultSpec, t Topology) error {
	info, err := LookupFault(string(s.Kind))
	if err != nil {
		return err
	}
	svc, ok := t.Service(s.Service)
	if !ok {
		return fmt.Errorf("unknown service %q; the shop has %s", s.Service, strings.Join(t.names(), ", "))
	}
	if info.NeedsTarget {
		if s.Target == "" {
			return fmt.Errorf("%s needs a target service (the callee), e.g. %s", s.Kind, firstCallee(t, s.Service))
		}
		if !t.HasEdge(s.Service, s.Target) {
			return fmt.Errorf("%s does not call %s; %s calls %s", s.Service, s.Target, s.Service, strings.Join(t.callees(s.Service), ", "))
		}
	} else if s.Target != "" {
		return fmt.Errorf("%s takes no target", s.Kind)
	}
	if s.Kind == FaultSlowDB && svc.Kind != KindPostgres {
		return fmt.Errorf("slow_db applies to a database; %s is not one (try postgres)", s.Service)
	}
	if (s.Kind == FaultBadDeploy || s.Kind == FaultConfigChange || s.Kind == FaultException) && svc.Kind != KindHTTP {
		return fmt.Errorf("%s applies to an application service, not %s", s.Kind, s.Service)
	}
	for k, v := range s.Params {
		def, ok := info.Params[k]
		if !ok {
			return fmt.Errorf("%s has no parameter %q; it takes %s", s.Kind, k, paramNames(info))
		}
		_ = def
		switch {
		case v < 0:
			return fmt.Errorf("%s: %s must not be negative, got %v", s.Kind, k, v)
		case strings.HasSuffix(k, "rate") && v > 1:
			return fmt.Errorf("%s: %s is a fraction between 0 and 1, got %v", s.Kind, k, v)
		}
	}
	if s.Duration < 0 {
		return fmt.Errorf("duration must not be negative")
	}
	return nil
}

func paramNames(info FaultInfo) string {
	var ps []string
	for k, v := range info.Params {
		ps = append(ps, k+" (default "+strconv.FormatFloat(v, 'g', -1, 64)+")")
	}
	sort.Strings(ps)
	if len(ps) == 0 {
		return "no parameters"
	}
	return strings.Join(ps, ", ")
}

func firstCallee(t Topology, s string) string {
	if c := t.callees(s); len(c) > 0 {
		return c[0]
	}
	return "(it calls nothing)"
}

// ValidateFault checks a spec against the catalogue and the topology, with
// the messages a person needs to correct it: what a game-day file or an
// API call spells out is checked before anything runs.
func ValidateFault(s FaultSpec, t Topology) error { return validateFault(s, t) }
