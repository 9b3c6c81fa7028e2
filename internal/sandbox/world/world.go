// Package world is the sandbox's deterministic model of a small online
// shop: its topology, the simulation that turns it into a snapshot every
// Step, the fault catalogue, the scenarios that script faults, generated
// systems other than the shop, and the export of RCA cases straight from
// the model.
//
// The emulators in the sibling packages (promapi, lokiapi, kubesim,
// alerting) derive what they serve from its snapshots and tell it about
// actions; world imports none of them.
package world

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"sync"
	"time"
)

// World is the simulated shop. Every value it produces is a function of the
// seed, the start time, the injected faults and the actions taken, so the
// same inputs give the same world.
//
// A World is safe for concurrent use.
type World struct {
	mu     sync.Mutex
	topo   Topology
	seed   uint64
	order  []int // callers before callees
	index  map[string]int
	deps   []*deployment
	faults []*Fault
	now    time.Time // time of the last computed step
	step   int64
	events []Event // pending, drained by the next snapshot
	nextID int
}

// deployment is a service's Deployment and its pods.
type deployment struct {
	spec        ServiceSpec
	replicas    int
	version     string
	configRev   int
	restartedAt string
	revision    int64
	revisions   []Revision
	pods        []*pod
	generation  int
	lastChange  time.Time
	reasonLabel string
}

// Revision is one rollout of a deployment: a ReplicaSet.
type Revision struct {
	Number      int64
	Version     string
	ConfigRev   int
	RestartedAt string
	Hash        string
	Created     time.Time
}

// pod is one replica.
type pod struct {
	name        string
	node        string
	revision    int64
	hash        string
	started     time.Time
	memory      float64
	restarts    int
	cpuSeconds  float64
	downUntil   time.Time
	lastReason  string
	lastExit    time.Time
	recentKills []time.Time
}

// Event is something that happened, for Kubernetes Events and logs.
type Event struct {
	Time    time.Time
	Service string
	Pod     string
	// Type is Normal or Warning; Reason as kubelet and controllers write it.
	Type    string
	Reason  string
	Message string
}

// New builds the world at start (aligned down to Step) with every
// deployment at its first revision.
func New(topo Topology, seed uint64, start time.Time) (*World, error) {
	if err := topo.validate(); err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	order, _ := topoOrder(topo)
	w := &World{topo: topo, seed: seed, order: order, index: map[string]int{}, now: start.Truncate(Step)}
	for i, s := range topo.Services {
		w.index[s.Name] = i
		d := &deployment{spec: s, replicas: s.Replicas, version: s.Version, generation: 1}
		// Two earlier revisions give `rollout history` something to show.
		for r, v := range []string{previousVersion(s.Version, 2), previousVersion(s.Version, 1), s.Version} {
			d.revisions = append(d.revisions, Revision{Number: int64(r + 1), Version: v, Hash: templateHash(s.Name, v, 0, ""),
				Created: w.now.Add(-time.Duration(3-r) * 72 * time.Hour)})
		}
		d.revision = 3
		for k := 0; k < s.Replicas; k++ {
			d.pods = append(d.pods, w.newPod(d, w.now.Add(-48*time.Hour), k))
		}
		w.deps = append(w.deps, d)
	}
	return w, nil
}

// Topology returns the world's topology.
func (w *World) Topology() Topology { return w.topo }

// Seed returns the seed.
func (w *World) Seed() uint64 { return w.seed }

// Now returns the time of the last computed step.
func (w *World) Now() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

// newPod makes a pod of d's current revision. Names are stable for a seed.
func (w *World) newPod(d *deployment, at time.Time, slot int) *pod {
	rev := d.revisions[len(d.revisions)-1]
	if d.revision > 0 {
		rev = d.revisionInfo(d.revision)
	}
	suffix := podSuffix(w.seed, d.spec.Name, rev.Hash, slot, d.generation)
	return &pod{
		name:     fmt.Sprintf("%s-%s-%s", d.spec.Name, rev.Hash, suffix),
		node:     fmt.Sprintf("node-%d", 1+int(Hash64(w.seed, d.spec.Name, suffix)%3)),
		revision: rev.Number,
		hash:     rev.Hash,
		started:  at,
		memory:   d.spec.MemoryBase,
	}
}

func (d *deployment) revisionInfo(n int64) Revision {
	for _, r := range d.revisions {
		if r.Number == n {
			return r
		}
	}
	return Revision{}
}

// Inject adds a fault starting at at, validated against the catalogue.
// Faults that ship in a rollout roll out when they start. Start keeps at
// as given, not rounded to a step: a fault injected at 03:06:38 reads
// "started 03:06:38" (not "scheduled for 03:06:45" while the clock shows
// 03:06:38), and acts from the first step at or after it.
func (w *World) Inject(spec FaultSpec, at time.Time) (*Fault, error) {
	if err := validateFault(spec, w.topo); err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.nextID++
	f := &Fault{FaultSpec: spec, ID: w.nextID, Start: at}
	if spec.Duration > 0 {
		f.End = f.Start.Add(spec.Duration)
	}
	w.faults = append(w.faults, f)
	// A fault starting at or before the current step takes effect now.
	if !f.Start.After(w.now) {
		w.startFault(f, w.now)
	}
	return f, nil
}

// Faults returns copies of every fault injected so far.
func (w *World) Faults() []Fault {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]Fault, len(w.faults))
	for i, f := range w.faults {
		out[i] = *f
	}
	return out
}

// ErrUnknownService is returned for actions on a service the shop does not
// have.
var ErrUnknownService = errors.New("unknown service")

func (w *World) dep(name string) (*deployment, error) {
	i, ok := w.index[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownService, name)
	}
	return w.deps[i], nil
}

// Scale sets a deployment's replicas. It is how the world learns of a
// `kubectl scale`.
func (w *World) Scale(service string, replicas int) error {
	if replicas < 0 {
		return fmt.Errorf("replicas must be greater than or equal to 0, got %d", replicas)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	d, err := w.dep(service)
	if err != nil {
		return err
	}
	if replicas == d.replicas {
		return nil
	}
	old := d.replicas
	d.replicas = replicas
	d.generation++
	for len(d.pods) < replicas {
		d.pods = append(d.pods, w.newPod(d, w.now, len(d.pods)))
	}
	if len(d.pods) > replicas {
		d.pods = d.pods[:replicas]
	}
	w.emit(Event{Time: w.now, Service: service, Type: "Normal", Reason: "ScalingReplicaSet",
		Message: fmt.Sprintf("Scaled %s replica set %s-%s from %d to %d", upDown(old, replicas), service, d.revisionInfo(d.revision).Hash, old, replicas)})
	return nil
}

// Rollout changes a deployment's pod template: the image version, the
// config revision and the restartedAt annotation. A template equal to an
// earlier revision's brings that revision back (a rollback); a new one adds
// a revision. Pods are replaced. It is how the world learns of `rollout
// restart`, `set image` and `rollout undo`.
func (w *World) Rollout(service, version string, configRev int, restartedAt string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	d, err := w.dep(service)
	if err != nil {
		return err
	}
	w.rollout(d, version, configRev, restartedAt, w.now)
	return nil
}

// Deployment describes a deployment's current template.
type Deployment struct {
	Service     string
	Replicas    int
	Version     string
	Image       string
	ConfigRev   int
	RestartedAt string
	Revision    int64
	Revisions   []Revision
}

// Pods returns service's pods as they are now (between steps).
func (w *World) Pods(service string) ([]PodState, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	d, err := w.dep(service)
	if err != nil {
		return nil, err
	}
	down := false
	for _, f := range w.faults {
		if f.Kind == FaultDependencyDown && f.Service == service && f.Active(w.now) {
			down = true
		}
	}
	var out []PodState
	for _, p := range d.pods {
		out = append(out, PodState{Name: p.name, Node: p.node, Hash: p.hash, Revision: p.revision, Started: p.started,
			Ready: !down && !p.downUntil.After(w.now), Memory: p.memory, Restarts: p.restarts, LastReason: p.lastReason, LastExit: p.lastExit})
	}
	return out, nil
}

// DeletePod replaces one pod, as the ReplicaSet controller does after
// `kubectl delete pod`. The new pod starts fresh (no restarts, base memory).
func (w *World) DeletePod(service, name string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	d, err := w.dep(service)
	if err != nil {
		return err
	}
	for i, p := range d.pods {
		if p.name == name {
			d.generation++
			d.pods[i] = w.newPod(d, w.now, i)
			w.emit(Event{Time: w.now, Service: service, Pod: name, Type: "Normal", Reason: "Killing",
				Message: fmt.Sprintf("Stopping container %s", service)})
			w.emit(Event{Time: w.now, Service: service, Pod: d.pods[i].name, Type: "Normal", Reason: "SuccessfulCreate",
				Message: fmt.Sprintf("Created pod: %s", d.pods[i].name)})
			return nil
		}
	}
	return fmt.Errorf("pod %q not found in %s", name, service)
}

// Deployment returns the current state of service's deployment.
func (w *World) Deployment(service string) (Deployment, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	d, err := w.dep(service)
	if err != nil {
		return Deployment{}, err
	}
	return Deployment{Service: service, Replicas: d.replicas, Version: d.version, Image: d.spec.Image + ":" + d.version,
		ConfigRev: d.configRev, RestartedAt: d.restartedAt, Revision: d.revision,
		Revisions: append([]Revision(nil), d.revisions...)}, nil
}

func (w *World) rollout(d *deployment, version string, configRev int, restartedAt string, at time.Time) {
	if version == d.version && configRev == d.configRev && restartedAt == d.restartedAt {
		return
	}
	hash := templateHash(d.spec.Name, version, configRev, restartedAt)
	var next Revision
	found := false
	for i, r := range d.revisions {
		if r.Hash == hash {
			// Kubernetes moves an old ReplicaSet to the newest revision.
			next = r
			d.revisions = append(d.revisions[:i], d.revisions[i+1:]...)
			found = true
			break
		}
	}
	maxRev := int64(0)
	for _, r := range d.revisions {
		maxRev = max(maxRev, r.Number)
	}
	if !found {
		next = Revision{Version: version, ConfigRev: configRev, RestartedAt: restartedAt, Hash: hash}
	}
	next.Number = maxRev + 1
	next.Created = at
	d.revisions = append(d.revisions, next)
	oldHash := d.revisionInfo(d.revision).Hash
	d.revision, d.version, d.configRev, d.restartedAt = next.Number, version, configRev, restartedAt
	d.generation++
	d.lastChange = at
	for i := range d.pods {
		d.pods[i] = w.newPod(d, at, i)
	}
	w.emit(Event{Time: at, Service: d.spec.Name, Type: "Normal", Reason: "ScalingReplicaSet",
		Message: fmt.Sprintf("Scaled up replica set %s-%s to %d", d.spec.Name, hash, d.replicas)})
	w.emit(Event{Time: at, Service: d.spec.Name, Type: "Normal", Reason: "ScalingReplicaSet",
		Message: fmt.Sprintf("Scaled down replica set %s-%s to 0", d.spec.Name, oldHash)})
	w.checkFixes(at)
	w.checkReshipped(d, at)
}

// checkReshipped brings a fixed fault back when the template that shipped
// it is rolled out again — a bad image redeployed, say by a GitOps
// reconciler reverting a rollback made in the cluster, fails as it did.
// The recurrence is a fault of its own, starting at at, so the history of
// the first one (fixed, and when) stays as it was.
func (w *World) checkReshipped(d *deployment, at time.Time) {
	for _, f := range w.faults {
		if f.Service != d.spec.Name || !f.shipped || f.FixedAt.IsZero() || at.Before(f.FixedAt) ||
			(!f.End.IsZero() && !at.Before(f.End)) || !f.carriedBy(d) {
			continue
		}
		again := false
		for _, g := range w.faults {
			again = again || (g.Service == f.Service && g.Kind == f.Kind && g.shipped && g.FixedAt.IsZero() && g.Active(at) && g.carriedBy(d))
		}
		if again {
			continue
		}
		w.nextID++
		w.faults = append(w.faults, &Fault{FaultSpec: f.FaultSpec, ID: w.nextID, Start: at, End: f.End, started: true,
			shipped: true, shippedVersion: f.shippedVersion, shippedConfig: f.shippedConfig})
	}
}

// carriedBy reports whether d's current template is the one that shipped f.
func (f *Fault) carriedBy(d *deployment) bool {
	return (f.Kind == FaultBadDeploy && d.version == f.shippedVersion) ||
		(f.Kind == FaultConfigChange && d.configRev == f.shippedConfig)
}

// checkFixes ends faults that the current deployments no longer carry: a
// bad image rolled back, a config revision rolled back.
func (w *World) checkFixes(at time.Time) {
	for _, f := range w.faults {
		if !f.FixedAt.IsZero() || !f.shipped || !f.Active(at) {
			continue
		}
		d := w.deps[w.index[f.Service]]
		fixed := (f.Kind == FaultBadDeploy && d.version != f.shippedVersion) ||
			(f.Kind == FaultConfigChange && d.configRev != f.shippedConfig)
		if fixed {
			f.FixedAt = at
			f.FixedBy = fmt.Sprintf("rollout to revision %d (image %s, config revision %d)", d.revision, d.version, d.configRev)
		}
	}
}

// startFault applies a fault's rollout when it begins.
func (w *World) startFault(f *Fault, at time.Time) {
	d := w.deps[w.index[f.Service]]
	defer func() {
		f.shipped = f.Kind == FaultBadDeploy || f.Kind == FaultConfigChange
		f.shippedVersion, f.shippedConfig = d.version, d.configRev
		f.started = true
	}()
	switch f.Kind {
	case FaultBadDeploy:
		w.rollout(d, nextVersion(d.version), d.configRev, d.restartedAt, at)
	case FaultConfigChange:
		w.rollout(d, d.version, d.configRev+1, d.restartedAt, at)
		w.emit(Event{Time: at, Service: f.Service, Type: "Normal", Reason: "ConfigMapUpdated",
			Message: fmt.Sprintf("ConfigMap %s/%s-config updated to revision %d", Namespace, f.Service, d.configRev)})
	}
}

func (w *World) emit(e Event) { w.events = append(w.events, e) }

// Advance computes every step up to and including t and calls visit with
// each snapshot in order. visit runs with the world locked: it must not
// call back into the world.
func (w *World) Advance(t time.Time, visit func(*Snapshot)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for !w.now.Add(Step).After(t) {
		s := w.computeStep()
		if visit != nil {
			visit(s)
		}
	}
}

// names of versions around v: "1.4.2" → previous "1.4.1", next "1.5.0".
func previousVersion(v string, back int) string {
	var a, b, c int
	if _, err := fmt.Sscanf(v, "%d.%d.%d", &a, &b, &c); err != nil {
		return v + "-prev"
	}
	if c >= back {
		return fmt.Sprintf("%d.%d.%d", a, b, c-back)
	}
	return fmt.Sprintf("%d.%d.%d", a, max(b-1, 0), 9-back+c+1)
}

func nextVersion(v string) string {
	var a, b, c int
	if _, err := fmt.Sscanf(v, "%d.%d.%d", &a, &b, &c); err != nil {
		return v + "-next"
	}
	return fmt.Sprintf("%d.%d.0", a, b+1)
}

func upDown(old, n int) string {
	if n > old {
		return "up"
	}
	return "down"
}

// Hash64 hashes parts with the seed; it is the root of all determinism.
// The emulators derive their own stable details (log IDs, cluster IPs,
// image digests) from it.
func Hash64(seed uint64, parts ...string) uint64 {
	h := fnv.New64a()
	var b [8]byte
	for i := range b {
		b[i] = byte(seed >> (8 * i))
	}
	h.Write(b[:])
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return splitmix(h.Sum64())
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// noise returns a deterministic value in [-1, 1) for (key, step).
func (w *World) noise(key uint64, step int64) float64 {
	x := splitmix(key ^ uint64(step)*0x9e3779b97f4a7c15 ^ w.seed)
	return float64(x>>11)/float64(1<<53)*2 - 1
}

// gauss returns a deterministic standard normal value for (key, step).
func (w *World) gauss(key uint64, step int64) float64 {
	u1 := (w.noise(key, step) + 1) / 2
	u2 := (w.noise(key^0xabcdef, step) + 1) / 2
	if u1 < 1e-12 {
		u1 = 1e-12
	}
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
}

const hashAlphabet = "bcdfghjklmnpqrstvwxz2456789"

func templateHash(service, version string, configRev int, restartedAt string) string {
	x := Hash64(0, service, version, fmt.Sprint(configRev), restartedAt)
	return encodeHash(x, 10)
}

func podSuffix(seed uint64, service, hash string, slot, generation int) string {
	return encodeHash(Hash64(seed, service, hash, fmt.Sprint(slot), fmt.Sprint(generation)), 5)
}

func encodeHash(x uint64, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = hashAlphabet[x%uint64(len(hashAlphabet))]
		x /= uint64(len(hashAlphabet))
	}
	return string(b)
}

// sortedServices returns service names sorted, for stable output.
func sortedServices(t Topology) []string {
	n := t.names()
	sort.Strings(n)
	return n
}
