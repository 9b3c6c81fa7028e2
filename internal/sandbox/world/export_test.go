package world

import (
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestExportCaseFormat(t *testing.T) {
	dir := t.TempDir()
	c, err := ExportCase(ExportOptions{Scenario: "slow-db", Seed: 5, Out: dir})
	if err != nil {
		t.Fatal(err)
	}
	if c.RootCause.Service != "postgres" || c.RootCause.Fault != "delay" || c.RootCause.FaultDetail != "slow_db" ||
		!strings.HasPrefix(c.RootCause.Pod, "postgres-") {
		t.Errorf("root cause = %+v", c.RootCause)
	}
	if c.Window.Start != c.FaultTime-1800 || c.Window.End != c.FaultTime+900 || c.FaultTime%60 != 0 {
		t.Errorf("window %+v for fault at %d", c.Window, c.FaultTime)
	}
	var onDisk map[string]any
	b, _ := os.ReadFile(filepath.Join(dir, "case.json"))
	if err := json.Unmarshal(b, &onDisk); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "source", "system", "fault_time", "window", "root_cause", "origin"} {
		if _, ok := onDisk[k]; !ok {
			t.Errorf("case.json lacks %q", k)
		}
	}

	rows := readCSV(t, filepath.Join(dir, "metrics.csv"))
	if !slices.Equal(rows[0], []string{"timestamp", "service", "metric", "value"}) {
		t.Fatalf("header %v", rows[0])
	}
	minutes := map[int64]bool{}
	var prev []string
	for _, r := range rows[1:] {
		ts, _ := strconv.ParseInt(r[0], 10, 64)
		v, err := strconv.ParseFloat(r[3], 64)
		switch {
		case err != nil || math.IsNaN(v) || math.IsInf(v, 0):
			t.Fatalf("bad value in %v", r)
		case ts%60 != 0 || ts < c.Window.Start || ts >= c.Window.End:
			t.Fatalf("timestamp %d outside the window or not on a minute", ts)
		case !slices.Contains(caseMetrics, r[2]):
			t.Fatalf("metric %q is not in the vocabulary", r[2])
		case strings.HasSuffix(r[2], "_pct") && (v < 0 || v > 100):
			t.Fatalf("percentage out of range: %v", r)
		case strconv.FormatFloat(v, 'g', 5, 64) != r[3]:
			t.Fatalf("not written with 5 significant digits: %v", r)
		}
		if prev != nil && (prev[0] > r[0] && len(prev[0]) == len(r[0]) || prev[0] == r[0] && (prev[1] > r[1] || prev[1] == r[1] && prev[2] >= r[2])) {
			t.Fatalf("rows not sorted by (timestamp, service, metric): %v then %v", prev, r)
		}
		prev = r
		minutes[ts] = true
	}
	if len(minutes) != 45 {
		t.Errorf("%d minutes of data, want 45", len(minutes))
	}
	topo := readCSV(t, filepath.Join(dir, "topology.csv"))
	if !slices.Equal(topo[0], []string{"caller", "callee"}) || len(topo) != 13 {
		t.Errorf("topology.csv = %v", topo)
	}
}

// TestExportRootCauseShows checks each fault class leaves its mark on its
// root-cause service after fault_time, so the cases are worth ranking.
func TestExportRootCauseShows(t *testing.T) {
	tests := []struct {
		fault   FaultSpec
		metric  string
		factor  float64 // after/before must exceed this (or be below 1/|factor| if negative)
		falling bool
	}{
		{FaultSpec{Kind: FaultSlowDB, Service: "postgres"}, "latency_server_p90_s", 5, false},
		{FaultSpec{Kind: FaultCPUSaturation, Service: "payments"}, "cpu_usage_pct", 2, false},
		{FaultSpec{Kind: FaultBadDeploy, Service: "shipping"}, "success_rate_pct", 0.9, true},
		{FaultSpec{Kind: FaultMemoryLeak, Service: "recommendations", Params: map[string]float64{"mib_per_minute": 30}}, "mem_usage_pct", 1.5, false},
		{FaultSpec{Kind: FaultNetworkLatency, Service: "frontend", Target: "catalog"}, "latency_client_p90_s", 3, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault.Kind), func(t *testing.T) {
			dir := t.TempDir()
			f := tt.fault
			c, err := ExportCase(ExportOptions{Scenario: "healthy", Seed: 9, Fault: &f, Out: dir})
			if err != nil {
				t.Fatal(err)
			}
			var before, after []float64
			for _, r := range readCSV(t, filepath.Join(dir, "metrics.csv"))[1:] {
				if r[1] != f.Service || r[2] != tt.metric {
					continue
				}
				ts, _ := strconv.ParseInt(r[0], 10, 64)
				v, _ := strconv.ParseFloat(r[3], 64)
				if ts < c.FaultTime-120 {
					before = append(before, v)
				} else if ts >= c.FaultTime+300 {
					after = append(after, v)
				}
			}
			b, a := avg(before), avg(after)
			if tt.falling && a > b*tt.factor || !tt.falling && a < b*tt.factor {
				t.Errorf("%s of %s: %.4g before, %.4g after", tt.metric, f.Service, b, a)
			}
		})
	}
}

func avg(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(max(len(xs), 1))
}

func TestExportIsDeterministic(t *testing.T) {
	read := func(seed uint64) string {
		dir := t.TempDir()
		if _, err := ExportCase(ExportOptions{Scenario: "default", Seed: seed, Out: dir}); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, f := range []string{"case.json", "metrics.csv", "topology.csv"} {
			data, _ := os.ReadFile(filepath.Join(dir, f))
			b.Write(data)
		}
		return b.String()
	}
	if read(3) != read(3) {
		t.Error("the same seed exported different cases")
	}
	if read(3) == read(4) {
		t.Error("different seeds exported the same case")
	}
	if _, err := ExportCase(ExportOptions{Scenario: "healthy", Out: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "has no fault to export") {
		t.Errorf("healthy scenario: %v", err)
	}
}

// TestExportMatchesDevCases compares the format with the dev RCA cases when
// they are present beside the project.
func TestExportMatchesDevCases(t *testing.T) {
	dev := filepath.Join("..", "..", "..", "..", "shared", "data", "rca", "cases", "nezha-ob-001")
	if _, err := os.Stat(dev); err != nil {
		t.Skip("dev RCA cases not present")
	}
	ours := t.TempDir()
	if _, err := ExportCase(ExportOptions{Scenario: "default", Seed: 1, Out: ours}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"metrics.csv", "topology.csv"} {
		if a, b := readCSV(t, filepath.Join(dev, f))[0], readCSV(t, filepath.Join(ours, f))[0]; !slices.Equal(a, b) {
			t.Errorf("%s header %v, dev case has %v", f, b, a)
		}
	}
	devMetrics := map[string]bool{}
	for _, r := range readCSV(t, filepath.Join(dev, "metrics.csv"))[1:] {
		devMetrics[r[2]] = true
	}
	for _, m := range caseMetrics {
		if !devMetrics[m] {
			t.Errorf("metric %s is not used by the dev cases", m)
		}
	}
	var devCase, ourCase map[string]any
	b, _ := os.ReadFile(filepath.Join(dev, "case.json"))
	_ = json.Unmarshal(b, &devCase)
	b, _ = os.ReadFile(filepath.Join(ours, "case.json"))
	_ = json.Unmarshal(b, &ourCase)
	for k := range devCase {
		if _, ok := ourCase[k]; !ok {
			t.Errorf("case.json lacks the dev case's key %q", k)
		}
	}
}
