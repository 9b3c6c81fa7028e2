package sandbox

// The world's names and the alert payloads, re-exported so that callers of
// the sandbox need one import. They are aliases: a sandbox.FaultSpec is a
// world.FaultSpec.

import (
	"time"

	"github.com/watchkeeper/watchkeeper/internal/sandbox/alerting"
	"github.com/watchkeeper/watchkeeper/internal/sandbox/traceapi"
	"github.com/watchkeeper/watchkeeper/internal/sandbox/world"
)

// Namespace is where the shop runs.
const Namespace = world.Namespace

// Step is the simulation's resolution, and the scrape interval of the
// metrics it exports.
const Step = world.Step

// The shop's model.
type (
	Kind         = world.Kind
	ServiceSpec  = world.ServiceSpec
	Route        = world.Route
	Edge         = world.Edge
	Topology     = world.Topology
	World        = world.World
	Revision     = world.Revision
	WorldEvent   = world.Event
	Deployment   = world.Deployment
	Snapshot     = world.Snapshot
	ServiceState = world.ServiceState
	PodState     = world.PodState
	EdgeState    = world.EdgeState
)

// Service kinds.
const (
	KindHTTP     = world.KindHTTP
	KindRedis    = world.KindRedis
	KindPostgres = world.KindPostgres
)

// DefaultTopology is the online shop every scenario runs by default.
func DefaultTopology() Topology { return world.DefaultTopology() }

// NewWorld builds the world at start (aligned down to Step) with every
// deployment at its first revision.
func NewWorld(topo Topology, seed uint64, start time.Time) (*World, error) {
	return world.New(topo, seed, start)
}

// Faults and scenarios.
type (
	FaultKind    = world.FaultKind
	FaultInfo    = world.FaultInfo
	FaultSpec    = world.FaultSpec
	Fault        = world.Fault
	Scenario     = world.Scenario
	TimedFault   = world.TimedFault
	LogInjection = world.LogInjection
)

// The fault catalogue (see world.Catalogue).
const (
	FaultBadDeploy      = world.FaultBadDeploy
	FaultMemoryLeak     = world.FaultMemoryLeak
	FaultCPUSaturation  = world.FaultCPUSaturation
	FaultSlowDB         = world.FaultSlowDB
	FaultDependencyDown = world.FaultDependencyDown
	FaultNetworkLatency = world.FaultNetworkLatency
	FaultConfigChange   = world.FaultConfigChange
	FaultException      = world.FaultException
	FaultNetworkDelay   = world.FaultNetworkDelay
	FaultPacketLoss     = world.FaultPacketLoss
	FaultTrafficSurge   = world.FaultTrafficSurge
)

// Catalogue returns the faults, sorted by name.
func Catalogue() []FaultInfo { return world.Catalogue() }

// LookupFault returns the catalogue entry for kind.
func LookupFault(kind string) (FaultInfo, error) { return world.LookupFault(kind) }

// ValidateFault checks a fault spec against the catalogue and topo.
func ValidateFault(spec FaultSpec, topo Topology) error { return world.ValidateFault(spec, topo) }

// PickFault chooses where and how hard a fault of kind acts in topo, the
// same for the same seed (see world.PickFault).
func PickFault(topo Topology, kind FaultKind, seed uint64) (FaultSpec, error) {
	return world.PickFault(topo, kind, seed)
}

// Scenarios returns the names of the built-in scenarios.
func Scenarios() []string { return world.Scenarios() }

// LoadScenario returns a built-in scenario by name, or reads one from a
// YAML file when name ends in .yaml or .yml.
func LoadScenario(name string, topo Topology) (*Scenario, error) {
	return world.LoadScenario(name, topo)
}

// Generated systems and RCA case export.
type (
	GeneratedCase = world.GeneratedCase
	ExportOptions = world.ExportOptions
	CaseShape     = world.CaseShape
	CaseFile      = world.CaseFile
	CaseWindow    = world.CaseWindow
	CaseRootCause = world.CaseRootCause
)

// GenerateTopology returns a random system of n services (at least 5).
func GenerateTopology(seed uint64, n int) (Topology, error) { return world.GenerateTopology(seed, n) }

// GenerateCase returns the export options of a generated case whose root
// cause is a fault of the given kind; out is the case folder to write.
func GenerateCase(kind FaultKind, seed uint64, out string) (GeneratedCase, error) {
	return world.GenerateCase(kind, seed, out)
}

// Vocabularies lists the names ExportOptions.Shape.Vocabulary accepts.
func Vocabularies() []string { return world.Vocabularies() }

// ExportCase runs the world for one case and writes it to opts.Out.
func ExportCase(opts ExportOptions) (CaseFile, error) { return world.ExportCase(opts) }

// Alerts as the sandbox delivers them.
type (
	// WebhookMessage is Alertmanager's webhook payload, version 4.
	WebhookMessage = alerting.WebhookMessage
	// WebhookAlert is one alert of a WebhookMessage.
	WebhookAlert = alerting.WebhookAlert
	// NotifyConfig routes alerts, as an Alertmanager route with one
	// webhook receiver does.
	NotifyConfig = alerting.NotifyConfig
)

// AlertLine renders a notification as one line for people: the demo's
// terminal and its Slack notices (see alerting.Line).
func AlertLine(m WebhookMessage) string { return alerting.Line(m) }

// AlertRulesFile returns the sandbox's alerting rules, a Prometheus rule
// file.
func AlertRulesFile() []byte { return alerting.ShopRulesFile() }

// Traces.
type (
	// TraceStats is what the trace store and the OTLP export did.
	TraceStats = traceapi.Stats
	// TraceOptions and TraceGenerator turn snapshots into traces.
	TraceOptions   = world.TraceOptions
	TraceGenerator = world.TraceGenerator
)

// DefaultTraceShare is the head-sampling share of the simulated SDKs.
const DefaultTraceShare = world.DefaultTraceShare

// NewTraceGenerator returns a generator of the traces of topo's snapshots.
func NewTraceGenerator(topo Topology, seed uint64, opts TraceOptions) *TraceGenerator {
	return world.NewTraceGenerator(topo, seed, opts)
}
