package world

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

//go:embed scenarios/*.yaml
var scenarioFiles embed.FS

// Scenario is a world's script: its seed, how much history to generate,
// and the faults that happen when, relative to the end of the history
// (negative times are in the history, positive ones happen live).
type Scenario struct {
	Name        string         `yaml:"name"`
	Description string         `yaml:"description"`
	Seed        uint64         `yaml:"seed"`
	History     time.Duration  `yaml:"history"`
	Timeline    []TimedFault   `yaml:"timeline"`
	Injections  []LogInjection `yaml:"log_injections,omitempty"`
	// Primary is the index in Timeline of the fault that is the
	// scenario's root cause; the last fault when unset.
	Primary *int `yaml:"primary,omitempty"`
	// GitOps, when set, puts the shop under an Argo CD-style Application
	// over a git repository the sandbox serves.
	GitOps *GitOps `yaml:"gitops,omitempty"`
}

// GitOps is a scenario's GitOps setup.
type GitOps struct {
	// SyncInterval is how often, in simulated time, the reconciler makes
	// the cluster match the repository (3m, Argo CD's default, when zero).
	SyncInterval time.Duration `yaml:"sync_interval,omitempty"`
}

// TimedFault is a fault at a time relative to the end of the history.
type TimedFault struct {
	At        time.Duration `yaml:"at"`
	FaultSpec `yaml:",inline"`
}

// PrimaryFault returns the scenario's root-cause fault, if any.
func (s *Scenario) PrimaryFault() (TimedFault, bool) {
	if len(s.Timeline) == 0 {
		return TimedFault{}, false
	}
	if s.Primary != nil {
		return s.Timeline[*s.Primary], true
	}
	return s.Timeline[len(s.Timeline)-1], true
}

// Scenarios returns the names of the built-in scenarios.
func Scenarios() []string {
	entries, _ := fs.ReadDir(scenarioFiles, "scenarios")
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(out)
	return out
}

// LoadScenario returns a built-in scenario by name, or reads one from a
// YAML file when name ends in .yaml or .yml.
func LoadScenario(name string, topo Topology) (*Scenario, error) {
	if name == "" {
		name = "default"
	}
	var (
		b   []byte
		err error
	)
	if strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") {
		b, err = os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read scenario: %w", err)
		}
	} else {
		b, err = scenarioFiles.ReadFile(path.Join("scenarios", name+".yaml"))
		if err != nil {
			return nil, fmt.Errorf("unknown scenario %q; the built-in scenarios are %s, or give a path to a .yaml file",
				name, strings.Join(Scenarios(), ", "))
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var s Scenario
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("scenario %s: %w", name, err)
	}
	if s.History == 0 {
		s.History = 6 * time.Hour
	}
	if s.History < 30*time.Minute || s.History > 7*24*time.Hour {
		return nil, fmt.Errorf("scenario %s: history %s is outside 30m..168h", name, s.History)
	}
	for i, f := range s.Timeline {
		if err := validateFault(f.FaultSpec, topo); err != nil {
			return nil, fmt.Errorf("scenario %s, timeline[%d]: %w", name, i, err)
		}
		if -f.At > s.History {
			return nil, fmt.Errorf("scenario %s, timeline[%d]: at %s is before the %s of history", name, i, f.At, s.History)
		}
	}
	if s.GitOps != nil && s.GitOps.SyncInterval == 0 {
		s.GitOps.SyncInterval = 3 * time.Minute
	}
	if s.GitOps != nil && (s.GitOps.SyncInterval < Step || s.GitOps.SyncInterval%Step != 0) {
		return nil, fmt.Errorf("scenario %s: gitops.sync_interval %s must be a whole number of %s steps", name, s.GitOps.SyncInterval, Step)
	}
	if s.Primary != nil && (*s.Primary < 0 || *s.Primary >= len(s.Timeline)) {
		return nil, fmt.Errorf("scenario %s: primary %d is not an index of the timeline", name, *s.Primary)
	}
	for i, inj := range s.Injections {
		if _, ok := topo.Service(inj.Service); !ok {
			return nil, fmt.Errorf("scenario %s, log_injections[%d]: unknown service %q", name, i, inj.Service)
		}
	}
	return &s, nil
}

// LogInjection is a line a scenario plants in a service's logs, At
// relative to the end of the history.
type LogInjection struct {
	At      time.Duration `yaml:"at"`
	Service string        `yaml:"service"`
	Line    string        `yaml:"line"`
}
