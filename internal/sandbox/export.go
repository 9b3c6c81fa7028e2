package sandbox

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

// ExportCase runs the world for one case and writes case.json, metrics.csv
// and topology.csv to opts.Out. It needs no TSDB: metrics come straight
// from the model, so thousands of cases are cheap.
func ExportCase(opts ExportOptions) (CaseFile, error) {
	topo := DefaultTopology()
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
	faultTime := time.Unix(exportEpoch+int64(hash64(seed, "fault-time")%(7*24*3600)), 0).UTC().Truncate(time.Minute)
	start := faultTime.Add(-exportLead)
	end := faultTime.Add(exportTail)
	w, err := NewWorld(topo, seed, start.Add(-exportWarm))
	if err != nil {
		return CaseFile{}, err
	}
	// Other faults of the scenario happen before, as distractors.
	for _, f := range sc.Timeline {
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
	other := names[hash64(seed, "distractor-service")%uint64(len(names))]
	if other != pf.Service {
		at := start.Add(time.Duration(hash64(seed, "distractor-time")%uint64(exportLead-2*time.Minute)) + time.Minute).Truncate(time.Second)
		events = append(events, caseEvent{at, other, "deploy", "routine rollout, no fault"})
	}

	rows := map[int64][]ServiceState{}
	var pod string
	w.Advance(end, func(s *Snapshot) {
		if s.Time.Before(start) || !s.Time.Before(end.Add(Step)) {
			return
		}
		minute := s.Time.Add(-Step).Truncate(time.Minute).Unix()
		if minute < start.Unix() || minute >= end.Unix() {
			return
		}
		rows[minute] = append(rows[minute], s.Services...)
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
	if err := writeMetricsCSV(filepath.Join(opts.Out, "metrics.csv"), rows, topo, w); err != nil {
		return CaseFile{}, err
	}
	if err := writeTopologyCSV(filepath.Join(opts.Out, "topology.csv"), topo); err != nil {
		return CaseFile{}, err
	}
	if err := writeEventsCSV(filepath.Join(opts.Out, "events.csv"), events, start, end); err != nil {
		return CaseFile{}, err
	}
	info, _ := LookupFault(string(pf.Kind))
	c := CaseFile{
		ID:        fmt.Sprintf("sandbox-%s-%d", sc.Name, seed),
		Source:    "watchkeeper-sandbox",
		System:    "online-shop",
		FaultTime: faultTime.Unix(),
		Window:    CaseWindow{Start: start.Unix(), End: end.Unix()},
		RootCause: CaseRootCause{Service: pf.Service, Fault: info.RCAClass, FaultDetail: string(pf.Kind), Pod: pod},
		Origin:    map[string]any{"generator": "watchkeeper sandbox export", "scenario": sc.Name, "seed": seed, "fault": pf},
	}
	b, _ := json.MarshalIndent(c, "", " ")
	if err := os.WriteFile(filepath.Join(opts.Out, "case.json"), append(b, '\n'), 0o644); err != nil {
		return CaseFile{}, err
	}
	return c, nil
}

// caseMetrics are the vocabulary of the common format.
var caseMetrics = []string{"cpu_usage_pct", "latency_client_p90_s", "latency_server_p90_s", "mem_usage_pct",
	"net_rx_bytes", "net_tx_bytes", "requests_ops", "success_rate_pct"}

func writeMetricsCSV(path string, rows map[int64][]ServiceState, topo Topology, w *World) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	cw := csv.NewWriter(f)
	_ = cw.Write([]string{"timestamp", "service", "metric", "value"})
	minutes := make([]int64, 0, len(rows))
	for m := range rows {
		minutes = append(minutes, m)
	}
	sort.Slice(minutes, func(i, j int) bool { return minutes[i] < minutes[j] })
	names := sortedServices(topo)
	for _, m := range minutes {
		per := map[string][]ServiceState{}
		for _, st := range rows[m] {
			per[st.Name] = append(per[st.Name], st)
		}
		for _, name := range names {
			spec, _ := topo.service(name)
			vals := minuteMetrics(per[name], spec, len(topo.callees(name)) > 0)
			for _, metric := range caseMetrics {
				v, ok := vals[metric]
				if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
					continue
				}
				// Measurement noise, as any collector adds; percentages
				// stay within 0..100.
				v *= 1 + 0.02*w.gauss(hash64(0, name, metric), m)
				if strings.HasSuffix(metric, "_pct") {
					v = math.Min(100, math.Max(0, v))
				}
				_ = cw.Write([]string{strconv.FormatInt(m, 10), name, metric, strconv.FormatFloat(v, 'g', 5, 64)})
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// minuteMetrics averages a minute's steps into the case vocabulary.
func minuteMetrics(steps []ServiceState, spec ServiceSpec, hasCallees bool) map[string]float64 {
	out := map[string]float64{}
	if len(steps) == 0 {
		return out
	}
	var cpu, mem, rps, lat, client, succ float64
	for _, st := range steps {
		var c, m float64
		n := 0
		for _, p := range st.Pods {
			c += p.CPUCores
			m += p.Memory
			n++
		}
		if n > 0 {
			cpu += c / float64(n) / spec.CPULimit * 100
			mem += m / float64(n) / spec.MemoryLimit * 100
		}
		rps += st.RPS
		lat += quantile(st.Latency, st.Sigma, 0.9)
		client += quantile(math.Max(st.ClientLatency, 1e-6), 0.45, 0.9)
		succ += (1 - st.ErrorRate) * 100
	}
	k := float64(len(steps))
	out["cpu_usage_pct"] = cpu / k
	out["mem_usage_pct"] = mem / k
	out["requests_ops"] = rps / k
	out["net_rx_bytes"] = rps / k * 60 * spec.BytesPerRequest * 0.25
	out["net_tx_bytes"] = rps / k * 60 * spec.BytesPerRequest
	out["latency_server_p90_s"] = lat / k
	out["success_rate_pct"] = succ / k
	if hasCallees {
		out["latency_client_p90_s"] = client / k
	}
	return out
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
