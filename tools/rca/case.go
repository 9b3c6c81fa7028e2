// Package rca ranks the services that most likely caused an incident, from
// their metrics around the incident, the service call graph and recent
// changes. The method is measured on public root-cause benchmarks and on a
// suite of cases generated from the sandbox's random systems
// (docs/benchmarks.md). In short: each metric's kind is read from its
// name (which way is bad, on which scale); its move after the onset is
// measured against its own robust spread before it and against a noise
// floor that fits its kind (as BARO does, made safe for flat and zero
// series), and turned into a bounded score; the call graph is then used
// both ways — a caller whose anomaly a callee explains ranks below it, and
// callers' slow calls point at the callee they share — and a change close
// to the onset adds to a service's score.
package rca

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/spans"
)

// Sample is one metric value.
type Sample struct {
	T time.Time
	V float64
}

// Event is a change to a service: a deploy, a config change, a scaling.
type Event struct {
	Time    time.Time
	Service string
	Kind    string
	Detail  string
}

// Case is everything the ranking looks at.
type Case struct {
	ID string
	// Onset is when the incident began (a fault injection, the first
	// alert); zero means it is found from the metrics.
	Onset time.Time
	// Metrics per service, per metric name, in time order, one sample per
	// timestamp.
	Metrics map[string]map[string][]Sample
	// Baseline is normal data of the same system from another period
	// (baseline.csv), in the same form; nil when the case has none.
	Baseline map[string]map[string][]Sample
	// Alert is the symptom that fired, when the case names one.
	Alert *Alert
	// Edges are caller → callee calls.
	Edges [][2]string
	// Events are changes, such as deploys, with their times.
	Events []Event
	// Spans are the case's traces, when it has them (spans.jsonl, or
	// traces rca_rank fetched); Rank derives self time, network time per
	// call edge and errors by origin from them (spans.go).
	Spans []spans.Span
	// spanScope, when set, are the only services spans may add series
	// or call edges to (a namespace-limited rca_rank).
	spanScope map[string]bool
	// Warnings say what was odd in the input (unknown services in the
	// topology, skipped rows).
	Warnings []string
}

// Alert is the service and metric of the alert that opened an incident.
type Alert struct {
	Service string `json:"service"`
	Metric  string `json:"metric"`
}

// Services returns the services with metrics, sorted.
func (c *Case) Services() []string {
	out := make([]string, 0, len(c.Metrics))
	for s := range c.Metrics {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// LoadCase reads a case folder in the common format: case.json,
// metrics.csv, and optionally topology.csv, baseline.csv, events.csv
// (timestamp,service,kind,detail) and spans.jsonl (docs/traces.md). Rows without a finite value are
// skipped, samples are put in time order and duplicate timestamps
// averaged, with a warning for each.
func LoadCase(dir string) (*Case, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "case.json"))
	if err != nil {
		return nil, fmt.Errorf("case.json: %w", err)
	}
	var meta struct {
		ID        string `json:"id"`
		FaultTime *int64 `json:"fault_time"`
		Alert     *Alert `json:"alert"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return nil, fmt.Errorf("case.json: %w; want a JSON object with fault_time", err)
	}
	c := &Case{ID: meta.ID, Metrics: map[string]map[string][]Sample{}, Alert: meta.Alert}
	if meta.FaultTime != nil {
		c.Onset = time.Unix(*meta.FaultTime, 0).UTC()
	}
	f, err := os.Open(filepath.Join(dir, "metrics.csv"))
	if err != nil {
		return nil, fmt.Errorf("metrics.csv: %w", err)
	}
	defer f.Close()
	if c.Metrics, err = c.readMetrics(f, "metrics.csv"); err != nil {
		return nil, fmt.Errorf("metrics.csv: %w", err)
	}
	if f, err := os.Open(filepath.Join(dir, "baseline.csv")); err == nil {
		defer f.Close()
		if c.Baseline, err = c.readMetrics(f, "baseline.csv"); err != nil {
			return nil, fmt.Errorf("baseline.csv: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("baseline.csv: %w", err)
	}
	if f, err := os.Open(filepath.Join(dir, "topology.csv")); err == nil {
		defer f.Close()
		if err := c.readTopology(f); err != nil {
			return nil, fmt.Errorf("topology.csv: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("topology.csv: %w", err)
	}
	if f, err := os.Open(filepath.Join(dir, "events.csv")); err == nil {
		defer f.Close()
		if err := c.readEvents(f); err != nil {
			return nil, fmt.Errorf("events.csv: %w", err)
		}
	}
	if c.Spans, err = readSpans(dir); err != nil {
		return nil, fmt.Errorf("spans.jsonl: %w", err)
	}
	return c, nil
}

func newCSV(r io.Reader, want ...string) (*csv.Reader, error) {
	cr := csv.NewReader(bufio.NewReader(r))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	h, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("empty file; want the header " + strings.Join(want, ","))
	}
	if err != nil {
		return nil, err
	}
	if len(h) < len(want) {
		return nil, fmt.Errorf("header %q, want %s", strings.Join(h, ","), strings.Join(want, ","))
	}
	for i, w := range want {
		if !strings.EqualFold(strings.TrimSpace(strings.TrimPrefix(h[i], "\ufeff")), w) {
			return nil, fmt.Errorf("header %q, want %s", strings.Join(h, ","), strings.Join(want, ","))
		}
	}
	return cr, nil
}

func (c *Case) readMetrics(r io.Reader, file string) (map[string]map[string][]Sample, error) {
	cr, err := newCSV(r, "timestamp", "service", "metric", "value")
	if err != nil {
		return nil, err
	}
	out := map[string]map[string][]Sample{}
	skipped := 0
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if len(rec) < 4 {
			return nil, fmt.Errorf("line %d: %d fields, want timestamp,service,metric,value", line, len(rec))
		}
		ts, err := strconv.ParseFloat(strings.TrimSpace(rec[0]), 64)
		if err != nil || math.IsNaN(ts) || math.IsInf(ts, 0) || math.Abs(ts) > 1e11 {
			return nil, fmt.Errorf("line %d: timestamp %q is not Unix seconds", line, rec[0])
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rec[3]), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			skipped++
			continue
		}
		svc, metric := strings.TrimSpace(rec[1]), strings.TrimSpace(rec[2])
		if svc == "" || metric == "" {
			return nil, fmt.Errorf("line %d: empty service or metric", line)
		}
		m := out[svc]
		if m == nil {
			m = map[string][]Sample{}
			out[svc] = m
		}
		m[metric] = append(m[metric], Sample{time.Unix(0, int64(ts*1e9)).UTC(), v})
	}
	if len(out) == 0 {
		return nil, errors.New("no metric rows with a finite value")
	}
	unordered, dups := 0, 0
	for _, m := range out {
		for k, s := range m {
			var u, d int
			m[k], u, d = tidy(s)
			unordered += u
			dups += d
		}
	}
	if skipped > 0 {
		c.Warnings = append(c.Warnings, fmt.Sprintf("%s: %d rows without a finite value were skipped", file, skipped))
	}
	if unordered > 0 {
		c.Warnings = append(c.Warnings, fmt.Sprintf("%s: %d samples were out of time order and were sorted", file, unordered))
	}
	if dups > 0 {
		c.Warnings = append(c.Warnings, fmt.Sprintf("%s: %d samples repeated a timestamp and were averaged with it", file, dups))
	}
	return out, nil
}

// tidy sorts samples by time and averages samples that share a timestamp;
// it returns how many were out of order and how many were merged.
func tidy(s []Sample) ([]Sample, int, int) {
	unordered := 0
	for i := 1; i < len(s); i++ {
		if s[i].T.Before(s[i-1].T) {
			unordered++
		}
	}
	if unordered > 0 {
		sort.SliceStable(s, func(i, j int) bool { return s[i].T.Before(s[j].T) })
	}
	out := s[:0]
	dups := 0
	for i := 0; i < len(s); {
		j, sum := i, 0.0
		for j < len(s) && s[j].T.Equal(s[i].T) {
			sum += s[j].V
			j++
		}
		dups += j - i - 1
		out = append(out, Sample{s[i].T, sum / float64(j-i)})
		i = j
	}
	return out, unordered, dups
}

func (c *Case) readTopology(r io.Reader) error {
	cr, err := newCSV(r, "caller", "callee")
	if err != nil {
		return err
	}
	unknown := map[string]bool{}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		if len(rec) < 2 {
			return fmt.Errorf("line %d: want caller,callee", line)
		}
		a, b := strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1])
		if a == "" || b == "" || a == b {
			continue
		}
		for _, s := range []string{a, b} {
			if _, ok := c.Metrics[s]; !ok {
				unknown[s] = true
			}
		}
		c.Edges = append(c.Edges, [2]string{a, b})
	}
	if len(unknown) > 0 {
		names := make([]string, 0, len(unknown))
		for s := range unknown {
			names = append(names, s)
		}
		sort.Strings(names)
		c.Warnings = append(c.Warnings, "services in the topology without metrics: "+strings.Join(names, ", "))
	}
	return nil
}

func (c *Case) readEvents(r io.Reader) error {
	cr, err := newCSV(r, "timestamp", "service", "kind")
	if err != nil {
		return err
	}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		ts, err := strconv.ParseFloat(strings.TrimSpace(rec[0]), 64)
		if err != nil {
			return fmt.Errorf("line %d: timestamp %q", line, rec[0])
		}
		e := Event{Time: time.Unix(int64(ts), 0).UTC(), Service: strings.TrimSpace(rec[1]), Kind: strings.TrimSpace(rec[2])}
		if len(rec) > 3 {
			e.Detail = rec[3]
		}
		c.Events = append(c.Events, e)
	}
}
