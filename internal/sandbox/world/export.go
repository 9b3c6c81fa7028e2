package world

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ExportOptions select one RCA case.
type ExportOptions struct {
	// Scenario provides the distractor faults and, unless Fault is set,
	// the root-cause fault (its primary fault).
	Scenario string
	Seed     uint64
	// Fault overrides the scenario's primary fault.
	Fault *FaultSpec
	// Out is the case directory to write.
	Out string
	// Topology replaces the shop, e.g. with one from GenerateTopology.
	// The scenario then defaults to "healthy": built-in scenarios name
	// the shop's services.
	Topology *Topology
	// Distractors are earlier faults, at times relative to the root
	// cause's (negative); each ends two minutes before it at the latest.
	Distractors []TimedFault
	// Blips are short faults of other services around the root cause's
	// time (At relative to it, either side; Duration required): the
	// background noise of a real system, which the case's data shows too.
	Blips []TimedFault
	// Shape is how the case is sampled, named and damaged; the zero value
	// is the common format as the dev cases have it.
	Shape CaseShape
}

// CaseShape is how an exported case looks. The zero value gives the
// common format's shape: one sample a minute, 30 before the fault and 15
// from it, the format's own metric names, no baseline.csv.
type CaseShape struct {
	// Interval is the sampling interval, a multiple of Step (default 1m).
	Interval time.Duration
	// Lead and Tail are the samples before the fault's interval and from
	// it on (defaults 30 and 15).
	Lead, Tail int
	// Vocabulary names the metrics: common (default), prometheus, otel or
	// cloudwatch (see Vocabularies).
	Vocabulary string
	// BaselineSamples > 0 writes baseline.csv: that many samples of the
	// same system without faults, ending BaselineGap before the window.
	BaselineSamples int
	BaselineGap     time.Duration
	// Gaps is the largest share of a series' samples that are missing
	// (each series draws its own share up to it).
	Gaps float64
	// MissingSeries is the share of (service, metric) series absent.
	MissingSeries float64
	// Late maps services to the sample index where their data begins, as
	// for a component deployed during the window.
	Late map[string]int
	// ZeroSuccess lists services whose success metric reads 0 throughout,
	// as instrumentation without status codes reports.
	ZeroSuccess []string
	// NoEvents leaves out events.csv; NoTopology leaves out topology.csv.
	NoEvents, NoTopology bool
	// Realistic measures as real collectors do: quantiles and error
	// shares estimated from the requests of the interval, Poisson counts,
	// occasional latency spikes (garbage collection, cold starts). Without
	// it every value carries 2 % noise, as the default export always has.
	Realistic bool
	// Silent maps services to the sample index from which they report
	// nothing, as a crashed service's exporters do.
	Silent map[string]int
	// NoSpans leaves out spans.jsonl.
	NoSpans bool
}

func (s CaseShape) isZero() bool {
	return s.Interval == 0 && s.Lead == 0 && s.Tail == 0 && s.Vocabulary == "" && s.BaselineSamples == 0 && s.Gaps == 0 &&
		s.MissingSeries == 0 && len(s.Late) == 0 && len(s.ZeroSuccess) == 0 && !s.NoEvents && !s.NoTopology &&
		!s.Realistic && len(s.Silent) == 0
}

func (s CaseShape) withDefaults() (CaseShape, error) {
	if s.Interval == 0 {
		s.Interval = time.Minute
	}
	if s.Interval < Step || s.Interval%Step != 0 {
		return s, fmt.Errorf("sampling interval %v: want a multiple of %v", s.Interval, Step)
	}
	if s.Lead == 0 {
		s.Lead = int(exportLead / s.Interval)
	}
	if s.Tail == 0 {
		s.Tail = int(exportTail / s.Interval)
	}
	if s.Lead < 1 || s.Tail < 1 {
		return s, fmt.Errorf("lead %d and tail %d samples: want at least one each", s.Lead, s.Tail)
	}
	if s.BaselineSamples > 0 && s.BaselineGap <= 0 {
		s.BaselineGap = 24 * time.Hour
	}
	return s, nil
}

// CaseFile is case.json of the common RCA case format.
type CaseFile struct {
	ID        string         `json:"id"`
	Source    string         `json:"source"`
	System    string         `json:"system"`
	FaultTime int64          `json:"fault_time"`
	Window    CaseWindow     `json:"window"`
	RootCause CaseRootCause  `json:"root_cause"`
	Origin    map[string]any `json:"origin"`
}

// CaseWindow is the [start, end) the metrics cover, in Unix seconds.
type CaseWindow struct {
	Start int64 `json:"start"`
	End   int64 `json:"end"`
}

// CaseRootCause is the ground truth.
type CaseRootCause struct {
	Service     string `json:"service"`
	Fault       string `json:"fault"`
	FaultDetail string `json:"fault_detail"`
	Pod         string `json:"pod"`
}

// Export windows, as in the common format: 30 minutes before the fault to
// 15 minutes after, one sample a minute.
const (
	exportLead  = 30 * time.Minute
	exportTail  = 15 * time.Minute
	exportWarm  = 20 * time.Minute
	exportEpoch = 1793491200 // 2026-11-01T00:00:00Z
)

// ExportCase runs the world for one case and writes case.json, metrics.csv,
// topology.csv, events.csv, spans.jsonl (unless Shape.NoSpans) and, when
// the shape asks for it, baseline.csv to opts.Out. It needs no TSDB: metrics come straight from the model, so
// thousands of cases are cheap.
func ExportCase(opts ExportOptions) (CaseFile, error) {
	topo := DefaultTopology()
	system := "online-shop"
	if opts.Topology != nil {
		topo = *opts.Topology
		system = fmt.Sprintf("generated-%d-services", len(topo.Services))
		if opts.Scenario == "" {
			opts.Scenario = "healthy"
		}
	}
	shape, err := opts.Shape.withDefaults()
	if err != nil {
		return CaseFile{}, err
	}
	vocab, err := lookupVocabulary(shape.Vocabulary)
	if err != nil {
		return CaseFile{}, err
	}
	sc, err := LoadScenario(opts.Scenario, topo)
	if err != nil {
		return CaseFile{}, err
	}
	seed := opts.Seed
	if seed == 0 {
		seed = sc.Seed
	}
	var events []caseEvent
	primary, ok := sc.PrimaryFault()
	if opts.Fault != nil {
		primary, ok = TimedFault{FaultSpec: *opts.Fault}, true
	}
	if !ok {
		return CaseFile{}, fmt.Errorf("scenario %s has no fault to export; choose another or give --fault and --service", sc.Name)
	}
	if err := validateFault(primary.FaultSpec, topo); err != nil {
		return CaseFile{}, err
	}
	// The fault time depends on the seed, so cases spread over the day.
	faultTime := time.Unix(exportEpoch+int64(Hash64(seed, "fault-time")%(7*24*3600)), 0).UTC().Truncate(time.Minute)
	first := faultTime.Truncate(shape.Interval) // the interval the fault begins in
	start := first.Add(-time.Duration(shape.Lead) * shape.Interval)
	end := first.Add(time.Duration(shape.Tail) * shape.Interval)
	w, err := New(topo, seed, start.Add(-exportWarm))
	if err != nil {
		return CaseFile{}, err
	}
	// Other faults of the scenario happen before, as distractors.
	for _, f := range append(append([]TimedFault(nil), sc.Timeline...), opts.Distractors...) {
		if opts.Fault == nil && f.FaultSpec.Service == primary.Service && f.Kind == primary.Kind && f.At == primary.At {
			continue
		}
		if f.At < 0 {
			at := faultTime.Add(f.At)
			if at.Before(start.Add(-exportWarm)) {
				at = start.Add(-exportWarm)
			}
			spec := f.FaultSpec
			if spec.Duration == 0 || faultTime.Sub(at) < spec.Duration {
				spec.Duration = faultTime.Sub(at) - 2*time.Minute // ended before the case's fault
			}
			if spec.Duration > 0 {
				if _, err := w.Inject(spec, at); err != nil {
					return CaseFile{}, err
				}
				if ev, ok := changeEvent(spec, at); ok {
					events = append(events, ev)
				}
			}
		}
	}
	for _, b := range opts.Blips {
		if b.Duration <= 0 {
			return CaseFile{}, fmt.Errorf("blip %s on %s: a duration is required", b.Kind, b.Service)
		}
		if _, err := w.Inject(b.FaultSpec, faultTime.Add(b.At)); err != nil {
			return CaseFile{}, err
		}
	}
	pf := primary.FaultSpec
	pf.Duration = 0
	if _, err := w.Inject(pf, faultTime); err != nil {
		return CaseFile{}, err
	}
	if ev, ok := changeEvent(pf, faultTime); ok {
		events = append(events, ev)
	}
	// A harmless deploy of another service, as real change logs have:
	// a change before an incident is a lead, not a verdict.
	names := topo.names()
	other := names[Hash64(seed, "distractor-service")%uint64(len(names))]
	if lead := faultTime.Sub(start); other != pf.Service && lead > 3*time.Minute {
		at := start.Add(time.Duration(Hash64(seed, "distractor-time")%uint64(lead-2*time.Minute)) + time.Minute).Truncate(time.Second)
		events = append(events, caseEvent{at, other, "deploy", "routine rollout, no fault"})
	}

	var pod string
	var traces *caseTraces
	if !shape.NoSpans {
		traces = newCaseTraces(topo, seed, start, end)
	}
	rows := sampleWorld(w, start, end, shape.Interval, func(s *Snapshot) {
		traces.add(s)
		if pod == "" && !s.Time.Before(faultTime) {
			for _, st := range s.Services {
				if st.Name == pf.Service && len(st.Pods) > 0 {
					pod = st.Pods[0].Name
				}
			}
		}
	})
	if err := os.MkdirAll(opts.Out, 0o755); err != nil {
		return CaseFile{}, fmt.Errorf("create %s: %w", opts.Out, err)
	}
	mw := metricWriter{topo: topo, vocab: vocab, shape: shape, seed: seed, w: w,
		nominal: topo.expectedRPS((topo.PeakRPS + topo.TroughRPS) / 2)}
	if err := mw.write(filepath.Join(opts.Out, "metrics.csv"), rows, start, true); err != nil {
		return CaseFile{}, err
	}
	if shape.BaselineSamples > 0 {
		bEnd := start.Add(-shape.BaselineGap).Truncate(shape.Interval)
		bStart := bEnd.Add(-time.Duration(shape.BaselineSamples) * shape.Interval)
		bw, err := New(topo, seed^0x5eed, bStart.Add(-exportWarm))
		if err != nil {
			return CaseFile{}, err
		}
		mw.w = bw
		if err := mw.write(filepath.Join(opts.Out, "baseline.csv"), sampleWorld(bw, bStart, bEnd, shape.Interval, nil), bStart, false); err != nil {
			return CaseFile{}, err
		}
	}
	if traces != nil {
		if err := traces.write(filepath.Join(opts.Out, "spans.jsonl")); err != nil {
			return CaseFile{}, err
		}
	}
	if !shape.NoTopology {
		if err := writeTopologyCSV(filepath.Join(opts.Out, "topology.csv"), topo); err != nil {
			return CaseFile{}, err
		}
	}
	if !shape.NoEvents {
		if err := writeEventsCSV(filepath.Join(opts.Out, "events.csv"), events, start, end); err != nil {
			return CaseFile{}, err
		}
	}
	info, _ := LookupFault(string(pf.Kind))
	id := fmt.Sprintf("sandbox-%s-%d", sc.Name, seed)
	if opts.Topology != nil {
		// The id must not reveal the answer.
		id = "sandbox-gen-" + encodeHash(Hash64(seed, string(pf.Kind), pf.Service, pf.Target), 8)
	}
	c := CaseFile{
		ID:        id,
		Source:    "watchkeeper-sandbox",
		System:    system,
		FaultTime: faultTime.Unix(),
		Window:    CaseWindow{Start: start.Unix(), End: end.Unix()},
		RootCause: CaseRootCause{Service: pf.Service, Fault: info.RCAClass, FaultDetail: string(pf.Kind), Pod: pod},
		Origin:    map[string]any{"generator": "watchkeeper sandbox export", "scenario": sc.Name, "seed": seed, "fault": pf},
	}
	if opts.Topology != nil || !opts.Shape.isZero() {
		c.Origin["shape"] = map[string]any{"interval": shape.Interval.String(), "lead": shape.Lead, "tail": shape.Tail,
			"vocabulary": vocabName(shape.Vocabulary), "baseline": shape.BaselineSamples, "services": len(topo.Services)}
	}
	b, _ := json.MarshalIndent(c, "", " ")
	if err := os.WriteFile(filepath.Join(opts.Out, "case.json"), append(b, '\n'), 0o644); err != nil {
		return CaseFile{}, err
	}
	return c, nil
}

func vocabName(v string) string {
	if v == "" {
		return "common"
	}
	return v
}

// sampleWorld advances w to end and averages each service's steps into
// samples of the interval, keyed by the interval's start (Unix seconds);
// a step belongs to the interval in which it began.
func sampleWorld(w *World, start, end time.Time, interval time.Duration, visit func(*Snapshot)) map[int64][]sample {
	rows := map[int64][]sample{}
	topo := w.Topology()
	w.Advance(end, func(s *Snapshot) {
		if s.Time.Before(start) || !s.Time.Before(end.Add(Step)) {
			return
		}
		if visit != nil {
			visit(s)
		}
		b := s.Time.Add(-Step).Truncate(interval).Unix()
		if b < start.Unix() || b >= end.Unix() {
			return
		}
		acc := rows[b]
		if acc == nil {
			acc = make([]sample, len(topo.Services))
			for i, spec := range topo.Services {
				acc[i].interval = interval.Seconds()
				acc[i].bytesPerRequest = spec.BytesPerRequest
			}
			rows[b] = acc
		}
		for i, st := range s.Services {
			acc[i].add(st, topo.Services[i])
		}
	})
	return rows
}

// caseMetrics are the common format's vocabulary.
var caseMetrics = []string{"cpu_usage_pct", "latency_client_p90_s", "latency_server_p90_s", "mem_usage_pct",
	"net_rx_bytes", "net_tx_bytes", "requests_ops", "success_rate_pct"}

// metricWriter writes samples as rows of the common format in a
// vocabulary, with the measurement noise, gaps and oddities of the shape.
type metricWriter struct {
	topo  Topology
	vocab vocabulary
	shape CaseShape
	seed  uint64
	w     *World // the noise source
	// nominal is each service's request rate at average traffic.
	nominal map[string]float64
}

func (mw metricWriter) write(path string, rows map[int64][]sample, start time.Time, window bool) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	cw := csv.NewWriter(f)
	_ = cw.Write([]string{"timestamp", "service", "metric", "value"})
	stamps := make([]int64, 0, len(rows))
	for m := range rows {
		stamps = append(stamps, m)
	}
	sort.Slice(stamps, func(i, j int) bool { return stamps[i] < stamps[j] })
	index := map[string]int{}
	for i, s := range mw.topo.Services {
		index[s.Name] = i
	}
	names := sortedServices(mw.topo)
	metrics := map[string][]vocabMetric{}
	for _, name := range names {
		metrics[name] = mw.vocab.metricsFor(mw.seed, mw.topo.Services[index[name]], len(mw.topo.callees(name)) > 0)
	}
	// Counters start anywhere: a process has been up for a while.
	counters := map[string]float64{}
	zero := map[string]bool{}
	for _, s := range mw.shape.ZeroSuccess {
		zero[s] = true
	}
	for k, m := range stamps {
		for _, name := range names {
			smp := rows[m][index[name]]
			if smp.steps == 0 {
				continue
			}
			if late, ok := mw.shape.Late[name]; window && ok && k < late {
				continue
			}
			if silent, ok := mw.shape.Silent[name]; window && ok && k >= silent {
				continue
			}
			for _, vm := range metrics[name] {
				key := name + "\x00" + vm.name
				base, isCounter := vm.q.counter()
				v := smp.value(base) * vm.scale
				if math.IsNaN(v) || math.IsInf(v, 0) {
					continue
				}
				v = mw.noisy(vm, base, name, v, m)
				if isCounter {
					c, ok := counters[key]
					if !ok {
						// Up for 10 to 1,000 intervals already.
						c = math.Round(v * float64(10+Hash64(mw.seed, key, "counter")%990))
					}
					c += v
					counters[key] = c
					v = c
				}
				if vm.q == qSuccessPct && zero[name] {
					v = 0
				}
				if strings.HasSuffix(vm.name, "_pct") {
					v = math.Min(100, math.Max(0, v))
				}
				if mw.missing(name, vm.name, m) {
					continue
				}
				_ = cw.Write([]string{strconv.FormatInt(m, 10), name, vm.name, strconv.FormatFloat(v, 'g', 5, 64)})
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// noisy adds measurement noise: 2 % for the default shape, as any
// collector adds; realistic shapes estimate quantiles and error shares
// from the interval's requests, count in whole Poisson numbers and now
// and then catch a latency spike.
func (mw metricWriter) noisy(vm vocabMetric, q quantity, service string, v float64, at int64) float64 {
	g := mw.w.gauss(Hash64(0, service, vm.name), at)
	if !mw.shape.Realistic {
		return v * (1 + 0.02*g)
	}
	n := math.Max(mw.shape.Interval.Seconds()*mw.nominal[service], 1)
	switch q {
	case qRequests, qErrors, qThrottles:
		return math.Max(0, math.Round(v+math.Sqrt(v)*g))
	case qSuccessPct:
		p := math.Min(math.Max(1-v/100, 0), 1)
		p = math.Min(math.Max(p+math.Sqrt(p*(1-p)/n)*g, 0), 1)
		return 100 * (1 - p)
	case qLatencyP90, qLatencyP99, qClientP90:
		// The spread of a quantile estimated from n requests.
		sd := math.Min(0.02+0.8/math.Sqrt(n), 0.5)
		if q == qLatencyP99 {
			sd = math.Min(0.02+1.6/math.Sqrt(n), 0.8)
		}
		v *= math.Exp(sd * g)
		// A pause of a few seconds (garbage collection, a cold start)
		// moves a P90 only when it holds a tenth of the interval's
		// requests, a P99 when it holds a hundredth.
		reach := 15.0
		if q == qLatencyP99 {
			reach = 150
		}
		if u := Hash64(mw.seed, service, vm.name, "spike", strconv.FormatInt(at, 10)); u%100 < 3 {
			m := 1 + float64(u>>8%500)/100
			v *= 1 + m*math.Min(1, reach/mw.shape.Interval.Seconds())
		}
		return v
	}
	return v * (1 + 0.02*g)
}

// missing reports whether a sample is absent: its whole series, or a gap.
func (mw metricWriter) missing(service, metric string, at int64) bool {
	if mw.shape.MissingSeries > 0 && float64(Hash64(mw.seed, service, metric, "series")%1000)/1000 < mw.shape.MissingSeries {
		return true
	}
	if mw.shape.Gaps > 0 {
		share := mw.shape.Gaps * float64(Hash64(mw.seed, service, metric, "gaps")%1000) / 1000
		return float64(Hash64(mw.seed, service, metric, strconv.FormatInt(at, 10))%1000)/1000 < share
	}
	return false
}

// caseEvent is a change in events.csv.
type caseEvent struct {
	at            time.Time
	service, kind string
	detail        string
}

// changeEvent is the change a fault's injection stands for, if it is one:
// a bad deploy is a rollout, a config change a config rollout.
func changeEvent(f FaultSpec, at time.Time) (caseEvent, bool) {
	switch f.Kind {
	case FaultBadDeploy:
		return caseEvent{at, f.Service, "deploy", "new version rolled out"}, true
	case FaultConfigChange:
		return caseEvent{at, f.Service, "config", "configuration changed"}, true
	}
	return caseEvent{}, false
}

// writeEventsCSV writes the changes within the case window as
// timestamp,service,kind,detail (an extension of the common format that
// Watchkeeper's RCA reads when present).
func writeEventsCSV(path string, events []caseEvent, start, end time.Time) error {
	var b strings.Builder
	b.WriteString("timestamp,service,kind,detail\n")
	sort.Slice(events, func(i, j int) bool { return events[i].at.Before(events[j].at) })
	for _, e := range events {
		if e.at.Before(start) || !e.at.Before(end) {
			continue
		}
		fmt.Fprintf(&b, "%d,%s,%s,%s\n", e.at.Unix(), e.service, e.kind, e.detail)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func writeTopologyCSV(path string, topo Topology) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	cw := csv.NewWriter(f)
	_ = cw.Write([]string{"caller", "callee"})
	for _, e := range topo.Edges {
		_ = cw.Write([]string{e.From, e.To})
	}
	cw.Flush()
	return cw.Error()
}
