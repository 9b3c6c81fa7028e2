package gameday

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/sandbox"
)

// RunSpec is one fault a game day plays at every seed: the fault, and
// where and how hard when the team says so; what it leaves out the seed
// picks (world.PickFault), as for --faults.
type RunSpec struct {
	// Name labels the run in the report (default: the fault).
	Name    string             `yaml:"name" json:"name,omitempty"`
	Fault   string             `yaml:"fault" json:"fault"`
	Service string             `yaml:"service" json:"service,omitempty"`
	Target  string             `yaml:"target" json:"target,omitempty"`
	Params  map[string]float64 `yaml:"params" json:"params,omitempty"`
}

// label is the run's name in the report.
func (s RunSpec) label() string {
	if s.Name != "" {
		return s.Name
	}
	return s.Fault
}

// validate checks s against the catalogue and the shop's topology before
// anything runs: an unknown fault, service or parameter, an edge fault
// without its target.
func (s RunSpec) validate(topo sandbox.Topology) error {
	info, err := sandbox.LookupFault(s.Fault)
	if err != nil {
		return err
	}
	if s.Service == "" {
		if s.Target != "" {
			return s.named(fmt.Errorf("%s: a target (%s) needs the service that calls it", s.Fault, s.Target))
		}
		// The seed picks the service: check the parameters on the
		// catalogue's own example.
		spec, err := sandbox.PickFault(topo, info.Kind, 1)
		if err != nil {
			return err
		}
		maps.Copy(spec.Params, s.Params)
		return s.named(sandbox.ValidateFault(spec, topo))
	}
	return s.named(sandbox.ValidateFault(sandbox.FaultSpec{Kind: info.Kind, Service: s.Service, Target: s.Target, Params: s.Params}, topo))
}

// named prefixes err with the run's name when it has one (the world's
// messages name the fault already).
func (s RunSpec) named(err error) error {
	if err == nil || s.Name == "" {
		return err
	}
	return fmt.Errorf("%s: %w", s.Name, err)
}

// spec is the fault to inject at seed: the seed's pick, with what s says
// in its place.
func (s RunSpec) spec(topo sandbox.Topology, seed uint64) (sandbox.FaultSpec, error) {
	spec, err := sandbox.PickFault(topo, sandbox.FaultKind(s.Fault), seed)
	if err != nil {
		return spec, err
	}
	if s.Service != "" {
		spec.Service, spec.Target = s.Service, s.Target
	}
	if spec.Params == nil {
		spec.Params = map[string]float64{}
	}
	maps.Copy(spec.Params, s.Params)
	return spec, sandbox.ValidateFault(spec, topo)
}

// File is a game day a team writes for the sandbox, in YAML:
//
//	name: checkout's game day
//	seeds: 3
//	limit: 30m
//	thresholds: {detect: 5m, diagnose: 10m, recover: 15m, availability: 0.99}
//	runs:
//	  - fault: bad_deploy
//	    service: checkout
//	    params: {error_rate: 0.1}
//	  - name: slow payments call
//	    fault: network_latency
//	    service: checkout
//	    target: payments
//
// Unknown keys are errors, and every run is checked against the catalogue
// and the shop before anything runs.
type File struct {
	Name        string          `yaml:"name"`
	Description string          `yaml:"description"`
	Seeds       int             `yaml:"seeds"`
	Limit       config.Duration `yaml:"limit"`
	Thresholds  *Thresholds     `yaml:"thresholds"`
	Runs        []RunSpec       `yaml:"runs"`
}

// LoadFile reads and checks a game-day file.
func LoadFile(path string) (File, error) {
	f, err := os.Open(path)
	if err != nil {
		return File{}, fmt.Errorf("--scenario: %w", err)
	}
	defer f.Close()
	var gf File
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(&gf); err != nil {
		if errors.Is(err, io.EOF) {
			return File{}, fmt.Errorf("--scenario %s is empty: it needs runs (each a fault, optionally its service, target and params)", path)
		}
		return File{}, fmt.Errorf("--scenario %s: %w (the keys are name, description, seeds, limit, thresholds, runs)", path, err)
	}
	if len(gf.Runs) == 0 {
		return File{}, fmt.Errorf("--scenario %s has no runs: list at least one fault under runs", path)
	}
	if gf.Seeds < 0 {
		return File{}, fmt.Errorf("--scenario %s: seeds %d: play at least one seed", path, gf.Seeds)
	}
	if gf.Limit < 0 {
		return File{}, fmt.Errorf("--scenario %s: limit %s must not be negative", path, gf.Limit.D())
	}
	topo := sandbox.DefaultTopology()
	for i, r := range gf.Runs {
		if err := r.validate(topo); err != nil {
			return File{}, fmt.Errorf("--scenario %s, runs[%d]: %w", path, i, err)
		}
	}
	if gf.Thresholds != nil {
		if err := gf.Thresholds.validate(); err != nil {
			return File{}, fmt.Errorf("--scenario %s: %w", path, err)
		}
	}
	return gf, nil
}
