package world

import (
	"fmt"
	"math"
	"time"
)

// Snapshot is the world at one step: what every exporter, log and object
// is derived from.
type Snapshot struct {
	Time     time.Time
	Step     int64
	Services []ServiceState // in Topology().Services order
	Edges    []EdgeState
	// Events happened since the previous snapshot.
	Events []Event
	// Active are the faults acting at Time.
	Active []Fault
}

// ServiceState is one service at one step.
type ServiceState struct {
	Name string
	Kind Kind
	// RPS is the incoming request rate.
	RPS float64
	// Latency is the median server-side latency in seconds, including
	// downstream calls; Sigma its lognormal shape.
	Latency float64
	Sigma   float64
	// ClientLatency is the median latency of the service's outgoing calls
	// per request, in seconds.
	ClientLatency float64
	// ErrorRate is the fraction of requests answered with 5xx.
	ErrorRate float64
	// Utilization is CPU demand over limit per ready pod (may exceed 1).
	Utilization float64
	Replicas    int
	Ready       int
	Version     string
	Revision    int64
	Hash        string
	ConfigRev   int
	RestartedAt string
	Image       string
	Revisions   []Revision
	Pods        []PodState
	// Down is true when the service cannot answer at all.
	Down bool
	// Effects are the faults acting on the service.
	Effects []FaultKind
	// OwnLatency is the median of the service's own work per request in
	// seconds, without its downstream calls: the spec's latency times the
	// saturation of its CPU and the factors of the faults acting on it.
	// OwnErrorRate is the share of requests it fails on its own account
	// (its callees' failures not counted). Traces are drawn from them.
	OwnLatency   float64
	OwnErrorRate float64
	// FaultLatencyFactor is how much the faults acting on the service
	// multiply its own latency (1 without any): their own factors and the
	// extra saturation their CPU cost or traffic causes. FaultErrorRate is
	// the part of OwnErrorRate they add.
	FaultLatencyFactor float64
	FaultErrorRate     float64
}

// PodState is one pod at one step.
type PodState struct {
	Name, Node, Hash string
	Revision         int64
	Ready            bool
	Started          time.Time
	CPUCores         float64 // used, at most the limit
	CPUSeconds       float64 // cumulative
	Memory           float64
	Restarts         int
	LastReason       string
	LastExit         time.Time
	RPS              float64
}

// EdgeState is the traffic on one call edge.
type EdgeState struct {
	From, To  string
	RPS       float64
	Latency   float64 // median seconds, as the caller sees it
	Sigma     float64
	ErrorRate float64
	// Delay is the network delay faults add to each call, in seconds
	// (included in Latency); Loss the share of calls lost for good.
	Delay float64
	Loss  float64
}

// effects are what active faults do to a service.
type effects struct {
	latencyFactor float64
	errorAdd      float64
	cpuFactor     float64
	leakPerSec    float64
	// trafficFactor multiplies the requests the service receives.
	trafficFactor float64
	down          bool
	kinds         []FaultKind
}

// computeStep advances the world one Step. The caller holds w.mu.
func (w *World) computeStep() *Snapshot {
	w.now = w.now.Add(Step)
	w.step++
	t, step := w.now, w.step
	n := len(w.topo.Services)

	for _, f := range w.faults {
		if !f.started && !t.Before(f.Start) {
			w.startFault(f, f.Start)
		}
	}
	eff := make([]effects, n)
	for i := range eff {
		eff[i] = effects{latencyFactor: 1, cpuFactor: 1, trafficFactor: 1}
	}
	edgeDelay := map[[2]int]float64{}
	// edgeLoss is the share of calls on an edge that fail after retries.
	edgeLoss := map[[2]int]float64{}
	var active []Fault
	for _, f := range w.faults {
		if !f.Active(t) {
			continue
		}
		active = append(active, *f)
		i := w.index[f.Service]
		e := &eff[i]
		e.kinds = append(e.kinds, f.Kind)
		switch f.Kind {
		case FaultBadDeploy:
			e.errorAdd += f.param("error_rate")
			e.latencyFactor *= f.param("latency_factor")
		case FaultConfigChange:
			e.errorAdd += f.param("error_rate")
		case FaultMemoryLeak:
			e.leakPerSec += f.param("mib_per_minute") * (1 << 20) / 60
		case FaultCPUSaturation:
			e.cpuFactor *= f.param("factor")
		case FaultSlowDB:
			e.latencyFactor *= f.param("factor")
		case FaultDependencyDown:
			e.down = true
		case FaultNetworkLatency:
			edgeDelay[[2]int{i, w.index[f.Target]}] += f.param("delay_ms") / 1000
		case FaultException:
			e.errorAdd += f.param("error_rate")
		case FaultTrafficSurge:
			e.trafficFactor *= f.param("factor")
		case FaultNetworkDelay:
			// Both ways: the pod's answers and its own calls are late.
			d := f.param("delay_ms") / 1000
			for _, ed := range w.topo.Edges {
				if ed.To == f.Service {
					edgeDelay[[2]int{w.index[ed.From], i}] += d
				}
				if ed.From == f.Service {
					edgeDelay[[2]int{i, w.index[ed.To]}] += d
				}
			}
		case FaultPacketLoss:
			// Both ways, like the delay: a lost packet costs a
			// retransmission timeout (about 200 ms) and sometimes the whole
			// call; most calls survive the retry. Requests lost for good
			// never reach the service.
			p := math.Min(f.param("loss_rate"), 1)
			for _, ed := range w.topo.Edges {
				var k [2]int
				switch {
				case ed.To == f.Service:
					k = [2]int{w.index[ed.From], i}
				case ed.From == f.Service:
					k = [2]int{i, w.index[ed.To]}
				default:
					continue
				}
				edgeDelay[k] += 0.2 * p * 3
				edgeLoss[k] = 1 - (1-edgeLoss[k])*(1-p*p)
			}
			e.trafficFactor *= 1 - p*p
		}
	}

	// Traffic: a daily cycle, lowest at 04:00 UTC, with a little noise.
	rps := make([]float64, n)
	hour := float64(t.UTC().Hour()) + float64(t.UTC().Minute())/60
	shape := 0.5 - 0.5*math.Cos(2*math.Pi*(hour-4)/24)
	entry := w.topo.TroughRPS + (w.topo.PeakRPS-w.topo.TroughRPS)*shape
	entry *= 1 + 0.04*w.gauss(Hash64(0, "traffic"), step)
	rps[w.index[w.topo.Entry]] = math.Max(entry, 0)
	for _, i := range w.order {
		rps[i] *= eff[i].trafficFactor
		for _, e := range w.topo.Edges {
			if e.From == w.topo.Services[i].Name {
				rps[w.index[e.To]] += rps[i] * e.Ratio
			}
		}
	}

	snap := &Snapshot{Time: t, Step: step, Services: make([]ServiceState, n), Active: active}
	for i, d := range w.deps {
		spec := d.spec
		st := &snap.Services[i]
		st.Name, st.Kind, st.RPS, st.Sigma = spec.Name, spec.Kind, rps[i], spec.Sigma
		st.Replicas, st.Version, st.Revision, st.ConfigRev = d.replicas, d.version, d.revision, d.configRev
		st.Hash = d.revisionInfo(d.revision).Hash
		st.RestartedAt, st.Image = d.restartedAt, spec.Image+":"+d.version
		st.Revisions = append([]Revision(nil), d.revisions...)
		st.Effects = eff[i].kinds
		st.Down = eff[i].down
		w.podsStep(d, st, &eff[i], t, step)
	}

	// Latency and errors, callees before callers.
	lat := make([]float64, n)
	errs := make([]float64, n)
	for k := n - 1; k >= 0; k-- {
		i := w.order[k]
		spec, st := w.topo.Services[i], &snap.Services[i]
		key := Hash64(0, spec.Name, "latency")
		own := spec.Latency.Seconds() * saturation(st.Utilization) * eff[i].latencyFactor * math.Exp(0.06*w.gauss(key, step))
		ownErr := spec.ErrorRate*(1+0.5*w.noise(Hash64(0, spec.Name, "errors"), step)) + eff[i].errorAdd + overloadErrors(st.Utilization)
		var client, errIn float64
		for _, e := range w.topo.Edges {
			if e.From != spec.Name {
				continue
			}
			j := w.index[e.To]
			weight := math.Min(e.Ratio, 1)
			client += weight * (lat[j] + edgeDelay[[2]int{i, j}])
			loss := edgeLoss[[2]int{i, j}]
			errIn += weight * (errs[j] + (1-errs[j])*loss)
		}
		st.OwnLatency, st.OwnErrorRate = own, math.Min(math.Max(ownErr, 0), 1)
		st.FaultLatencyFactor, st.FaultErrorRate = w.faultShare(spec, st, &eff[i], ownErr)
		if st.Down || st.Ready == 0 {
			// Nothing answers: callers get connection refused at once.
			lat[i], errs[i] = 0.001, 1
		} else {
			lat[i] = own + client
			errs[i] = math.Min(1, ownErr+(1-ownErr)*math.Min(1, 0.9*errIn))
		}
		st.Latency, st.ClientLatency, st.ErrorRate = lat[i], client, math.Max(errs[i], 0)
	}
	for _, e := range w.topo.Edges {
		i, j := w.index[e.From], w.index[e.To]
		snap.Edges = append(snap.Edges, EdgeState{From: e.From, To: e.To, RPS: rps[i] * e.Ratio,
			Latency: lat[j] + edgeDelay[[2]int{i, j}], Sigma: w.topo.Services[j].Sigma, ErrorRate: errs[j],
			Delay: edgeDelay[[2]int{i, j}], Loss: edgeLoss[[2]int{i, j}]})
	}
	snap.Events, w.events = w.events, nil
	return snap
}

// faultShare is what the faults acting on a service do to its own work:
// the factor on its latency (their own factor and the saturation their
// CPU cost or traffic adds) and the error rate they add (their own and the
// overload errors of that saturation), given its own error rate ownErr.
// It reads the step's state and draws no noise, so no metric changes.
func (w *World) faultShare(spec ServiceSpec, st *ServiceState, e *effects, ownErr float64) (factor, errAdd float64) {
	if len(e.kinds) == 0 {
		return 1, 0
	}
	// The utilisation the service would have without them.
	base := st.Utilization
	if st.Ready > 0 && e.cpuFactor > 0 && e.trafficFactor > 0 {
		perPod := st.RPS / float64(st.Ready) / e.trafficFactor
		base = (spec.CPUIdle + perPod*spec.CPUPerRequest) / spec.CPULimit
	}
	factor = e.latencyFactor * saturation(st.Utilization) / saturation(base)
	errAdd = e.errorAdd + overloadErrors(st.Utilization) - overloadErrors(base)
	return factor, math.Min(math.Max(errAdd, 0), math.Max(ownErr, 0))
}

// podsStep updates d's pods for one step: readiness, CPU, memory, OOM kills.
func (w *World) podsStep(d *deployment, st *ServiceState, e *effects, t time.Time, step int64) {
	spec := d.spec
	ready := 0
	for _, p := range d.pods {
		if !e.down && !p.downUntil.After(t) {
			ready++
		}
	}
	st.Ready = ready
	perPod := 0.0
	if ready > 0 {
		perPod = st.RPS / float64(ready)
	}
	demand := spec.CPUIdle + perPod*spec.CPUPerRequest*e.cpuFactor
	st.Utilization = demand / spec.CPULimit
	for slot, p := range d.pods {
		isReady := !e.down && !p.downUntil.After(t)
		ps := PodState{Name: p.name, Node: p.node, Hash: p.hash, Revision: p.revision, Ready: isReady, Started: p.started}
		cores := spec.CPUIdle
		if isReady {
			cores = math.Min(demand, spec.CPULimit)
			ps.RPS = perPod
		}
		cores *= 1 + 0.05*w.noise(Hash64(0, p.name, "cpu"), step)
		p.cpuSeconds += cores * Step.Seconds()
		ps.CPUCores = cores
		// Memory: a slow sawtooth of garbage collection around the base,
		// plus whatever leaks.
		if isReady {
			p.memory += e.leakPerSec * Step.Seconds()
		}
		gc := spec.MemoryBase * 0.04 * math.Sin(float64(step)/17+float64(slot))
		mem := p.memory + gc
		if mem > spec.MemoryLimit && isReady {
			w.oomKill(d, p, t)
			mem = p.memory
			ps.Ready = false
		}
		ps.Memory, ps.CPUSeconds, ps.Restarts = mem, p.cpuSeconds, p.restarts
		ps.LastReason, ps.LastExit = p.lastReason, p.lastExit
		st.Pods = append(st.Pods, ps)
	}
}

// oomKill kills a pod's container over its memory limit; kubelet restarts
// it with a back-off that grows with recent kills.
func (w *World) oomKill(d *deployment, p *pod, t time.Time) {
	p.restarts++
	p.lastReason, p.lastExit = "OOMKilled", t
	p.memory = d.spec.MemoryBase
	recent := p.recentKills[:0]
	for _, k := range p.recentKills {
		if t.Sub(k) < 10*time.Minute {
			recent = append(recent, k)
		}
	}
	p.recentKills = append(recent, t)
	backoff := min(10*time.Second<<(len(p.recentKills)-1), 5*time.Minute)
	p.downUntil = t.Add(backoff)
	limit := d.spec.MemoryLimit / (1 << 20)
	w.emit(Event{Time: t, Service: d.spec.Name, Pod: p.name, Type: "Warning", Reason: "OOMKilling",
		Message: fmt.Sprintf("Memory cgroup out of memory: Killed process (%s) in container %s of pod %s (limit %.0fMi)", d.spec.Name, d.spec.Name, p.name, limit)})
	if len(p.recentKills) > 1 {
		w.emit(Event{Time: t, Service: d.spec.Name, Pod: p.name, Type: "Warning", Reason: "BackOff",
			Message: fmt.Sprintf("Back-off restarting failed container %s in pod %s_%s", d.spec.Name, p.name, Namespace)})
	}
}

// saturation is the latency factor at CPU utilization u: flat while there
// is headroom, then queueing delay that grows fast near and past the limit.
func saturation(u float64) float64 {
	switch {
	case u < 0.6:
		return 1
	case u <= 1:
		x := (u - 0.6) / 0.4
		return 1 + 8*x*x
	default:
		return 9 + 30*(u-1)
	}
}

// overloadErrors are the timeouts of a service whose demand exceeds its
// CPU.
func overloadErrors(u float64) float64 {
	if u <= 1 {
		return 0
	}
	return math.Min(0.5, 0.5*(u-1))
}

// Quantile returns the q-quantile of a lognormal with median m and shape s.
func Quantile(m, sigma, q float64) float64 {
	return m * math.Exp(sigma*normQuantile(q))
}

// normQuantile is the standard normal quantile (Acklam's approximation is
// more than enough for metrics).
func normQuantile(p float64) float64 {
	switch p {
	case 0.5:
		return 0
	case 0.9:
		return 1.2815515655446004
	case 0.95:
		return 1.6448536269514722
	case 0.99:
		return 2.3263478740408408
	}
	// Bisection on the CDF.
	lo, hi := -8.0, 8.0
	for range 80 {
		mid := (lo + hi) / 2
		if normCDF(mid) < p {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

func normCDF(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }

// LognormCDF is P(X <= x) for a lognormal with median m and shape sigma.
func LognormCDF(x, m, sigma float64) float64 {
	if x <= 0 {
		return 0
	}
	return normCDF(math.Log(x/m) / sigma)
}
