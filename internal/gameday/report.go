package gameday

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/watchkeeper/watchkeeper/internal/config"
)

// Duration is a time.Duration that reads and writes as "1m30s".
type Duration time.Duration

// MarshalJSON writes d as Go's duration text.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads Go's duration text.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

func (d Duration) String() string { return time.Duration(d).Round(time.Second).String() }

// Thresholds are what a run must reach to pass: detection, diagnosis and
// recovery within these times of simulated time after the fault, and the
// shop's availability over the run where a fix exists.
type Thresholds struct {
	Detect       config.Duration `yaml:"detect" json:"detect"`
	Diagnose     config.Duration `yaml:"diagnose" json:"diagnose"`
	Recover      config.Duration `yaml:"recover" json:"recover"`
	Availability float64         `yaml:"availability" json:"availability"`
}

// DefaultThresholds are the issue's: detect ≤ 5 min, diagnose ≤ 10 min,
// recover ≤ 15 min, availability ≥ 0.99 where a fix exists.
func DefaultThresholds() Thresholds {
	return Thresholds{Detect: config.Duration(5 * time.Minute), Diagnose: config.Duration(10 * time.Minute),
		Recover: config.Duration(15 * time.Minute), Availability: 0.99}
}

func (t Thresholds) withDefaults() Thresholds {
	d := DefaultThresholds()
	if t.Detect <= 0 {
		t.Detect = d.Detect
	}
	if t.Diagnose <= 0 {
		t.Diagnose = d.Diagnose
	}
	if t.Recover <= 0 {
		t.Recover = d.Recover
	}
	if t.Availability == 0 {
		t.Availability = d.Availability
	}
	return t
}

func (t Thresholds) validate() error {
	if t.Detect < 0 || t.Diagnose < 0 || t.Recover < 0 {
		return fmt.Errorf("thresholds: times must not be negative (detect %s, diagnose %s, recover %s)", t.Detect.D(), t.Diagnose.D(), t.Recover.D())
	}
	if t.Availability < 0 || t.Availability > 1 {
		return fmt.Errorf("thresholds: availability %g is a share between 0 and 1", t.Availability)
	}
	return nil
}

// LoadThresholds reads a thresholds file (YAML: detect, diagnose,
// recover, availability); an unknown key is an error, what is left out
// keeps its default.
func LoadThresholds(path string) (Thresholds, error) {
	f, err := os.Open(path)
	if err != nil {
		return Thresholds{}, fmt.Errorf("--thresholds: %w", err)
	}
	defer f.Close()
	t := DefaultThresholds()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil && err != io.EOF {
		return Thresholds{}, fmt.Errorf("--thresholds %s: %w (the keys are detect, diagnose, recover, availability)", path, err)
	}
	return t, t.validate()
}

// judge sets r.Pass and says, for each threshold missed, which and by
// how much.
func (t Thresholds) judge(r *Run) {
	var fail []string
	if r.Error != "" {
		fail = append(fail, "the run failed: "+r.Error)
	}
	switch {
	case !r.Detected:
		fail = append(fail, "not detected: no alert fired after the fault")
	case time.Duration(r.DetectAfter) > t.Detect.D():
		fail = append(fail, fmt.Sprintf("detected after %s, %s over the %s threshold", r.DetectAfter, Duration(time.Duration(r.DetectAfter)-t.Detect.D()), t.Detect.D()))
	}
	switch {
	case !r.CauseCorrect:
		fail = append(fail, fmt.Sprintf("diagnosis: %s was never ranked first (first: %q)", r.Service, r.RankedFirst))
	case time.Duration(r.DiagnoseAfter) > t.Diagnose.D():
		fail = append(fail, fmt.Sprintf("diagnosed after %s, %s over the %s threshold", r.DiagnoseAfter, Duration(time.Duration(r.DiagnoseAfter)-t.Diagnose.D()), t.Diagnose.D()))
	}
	if r.Wrong > 0 {
		fail = append(fail, fmt.Sprintf("%d wrong change(s) approved and applied (to another service, or to a fault no change in the cluster fixes)", r.Wrong))
	}
	if r.Fixable {
		switch {
		case !r.Recovered:
			fail = append(fail, fmt.Sprintf("not recovered within %s of simulated time", r.Simulated))
		case time.Duration(r.RecoverAfter) > t.Recover.D():
			fail = append(fail, fmt.Sprintf("recovered after %s, %s over the %s threshold", r.RecoverAfter, Duration(time.Duration(r.RecoverAfter)-t.Recover.D()), t.Recover.D()))
		}
		if r.Availability < t.Availability {
			fail = append(fail, fmt.Sprintf("availability %.4f, %.4f under the %.4f threshold", r.Availability, t.Availability-r.Availability, t.Availability))
		}
	} else {
		// A change applied to it is counted wrong above.
		switch {
		case !r.Escalated:
			fail = append(fail, "no escalation: a fault without an in-cluster fix must be handed to a person")
		case r.EscalatedCause != r.Service:
			fail = append(fail, fmt.Sprintf("escalated with the wrong cause: %q, not %s", r.EscalatedCause, r.Service))
		}
	}
	if budget := 1 - t.Availability; budget > 0 {
		r.BudgetBurned = (1 - r.Availability) / budget
	}
	r.Failures, r.Pass = fail, len(fail) == 0
}

func (r Run) label() string {
	if r.Name != "" {
		return r.Name
	}
	return r.Fault
}

// Report is a game day's result.
type Report struct {
	Started    time.Time  `json:"started"`
	Wall       Duration   `json:"wall"`
	Speed      float64    `json:"speed"`
	Thresholds Thresholds `json:"thresholds"`
	Runs       []Run      `json:"runs"`
}

// Pass reports whether every run passed.
func (r Report) Pass() bool {
	for _, run := range r.Runs {
		if !run.Pass {
			return false
		}
	}
	return len(r.Runs) > 0
}

// WriteJSON writes the report as indented JSON.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteMarkdown writes a table per fault: medians over the seeds and the
// verdict, then every failure.
func (r Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	pass := 0
	for _, run := range r.Runs {
		if run.Pass {
			pass++
		}
	}
	fmt.Fprintf(&b, "# Game day\n\n%d of %d runs passed · speed %g× · wall time %s · thresholds: detect ≤ %s, diagnose ≤ %s, recover ≤ %s, availability ≥ %.2f where a fix exists\n\n",
		pass, len(r.Runs), r.Speed, r.Wall, r.Thresholds.Detect.D(), r.Thresholds.Diagnose.D(), r.Thresholds.Recover.D(), r.Thresholds.Availability)
	b.WriteString("| fault | runs | passed | detected | cause first | median detect | median diagnose | recovered / escalated | median recover | median availability | proposals (approved / rejected / wrong) |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, g := range groupByFault(r.Runs) {
		var det, diag, rec []time.Duration
		var avail []float64
		var passed, detected, cause, recovered, escalated, props, appr, rej, wrong int
		fixable := g[0].Fixable
		for _, run := range g {
			if run.Pass {
				passed++
			}
			if run.Detected {
				detected++
				det = append(det, time.Duration(run.DetectAfter))
			}
			if run.CauseCorrect {
				cause++
				diag = append(diag, time.Duration(run.DiagnoseAfter))
			}
			if run.Recovered {
				recovered++
				rec = append(rec, time.Duration(run.RecoverAfter))
			}
			if run.Escalated {
				escalated++
			}
			avail = append(avail, run.Availability)
			props, appr, rej, wrong = props+run.Proposals, appr+run.Approved, rej+run.Rejected, wrong+run.Wrong
		}
		outcome := fmt.Sprintf("%d recovered", recovered)
		if !fixable {
			outcome = fmt.Sprintf("%d escalated", escalated)
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %s | %s | %s | %s | %.4f | %d (%d / %d / %d) |\n",
			g[0].label(), len(g), passed, detected, cause, medianDur(det), medianDur(diag), outcome, medianDur(rec), median(avail), props, appr, rej, wrong)
	}
	var fails []string
	for _, run := range r.Runs {
		for _, f := range run.Failures {
			fails = append(fails, fmt.Sprintf("- %s seed %d (%s): %s", run.label(), run.Seed, run.Service, f))
		}
	}
	if len(fails) > 0 {
		b.WriteString("\n## Failures\n\n" + strings.Join(fails, "\n") + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// groupByFault groups the runs by their label: the game-day file's name
// for a run, else its fault.
func groupByFault(runs []Run) [][]Run {
	by := map[string][]Run{}
	var names []string
	for _, r := range runs {
		k := r.label()
		if _, ok := by[k]; !ok {
			names = append(names, k)
		}
		by[k] = append(by[k], r)
	}
	sort.Strings(names)
	out := make([][]Run, len(names))
	for i, n := range names {
		out[i] = by[n]
	}
	return out
}

func medianDur(ds []time.Duration) string {
	if len(ds) == 0 {
		return "—"
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return Duration(ds[len(ds)/2]).String()
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	ys := append([]float64(nil), xs...)
	sort.Float64s(ys)
	return ys[len(ys)/2]
}
