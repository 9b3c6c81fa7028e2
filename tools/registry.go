package tools

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"sync"
)

// validName is what every provider accepts as a function name (OpenAI allows
// ^[a-zA-Z0-9_-]{1,64}$); we keep to the lower-case subset so names read the
// same in prompts, Slack and logs.
var validName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// Registry holds the tools offered to the agent, by name. Tools are added
// explicitly at wiring time; nothing registers itself.
//
// The zero value is an empty registry ready to use. A Registry is safe for
// concurrent use.
type Registry struct {
	mu    sync.RWMutex
	tools map[string]Tool
}

// NewRegistry returns a registry holding ts. It fails if any tool is invalid
// or two share a name; all problems are reported together.
func NewRegistry(ts ...Tool) (*Registry, error) {
	r := &Registry{}
	var errs []error
	for _, t := range ts {
		if err := r.Add(t); err != nil {
			errs = append(errs, err)
		}
	}
	return r, errors.Join(errs...)
}

// Add adds t. It fails if the name is invalid or taken, if the schema is not
// an object schema, or if a mutating tool cannot apply its proposals.
func (r *Registry) Add(t Tool) error {
	spec := t.Spec()
	if !validName.MatchString(spec.Name) {
		return fmt.Errorf("tool name %q: must match %s", spec.Name, validName)
	}
	if spec.Description == "" {
		return fmt.Errorf("tool %s: description is empty; the model cannot use a tool it is not told about", spec.Name)
	}
	if spec.Parameters != nil && spec.Parameters.Type != "object" {
		return fmt.Errorf("tool %s: parameters schema must have type object, not %q", spec.Name, spec.Parameters.Type)
	}
	if _, ok := t.(Applier); spec.Mutating && !ok {
		return fmt.Errorf("tool %s: is mutating but does not implement Applier", spec.Name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tools == nil {
		r.tools = make(map[string]Tool)
	}
	if _, dup := r.tools[spec.Name]; dup {
		return fmt.Errorf("tool %s: registered twice", spec.Name)
	}
	r.tools[spec.Name] = t
	return nil
}

// Get returns the tool called name.
func (r *Registry) Get(name string) (Tool, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.tools[name]
	return t, ok
}

// Specs returns the specs of all tools, sorted by name so prompts are stable.
func (r *Registry) Specs() []Spec {
	r.mu.RLock()
	defer r.mu.RUnlock()
	specs := make([]Spec, 0, len(r.tools))
	for _, t := range r.tools {
		specs = append(specs, t.Spec())
	}
	sort.Slice(specs, func(i, j int) bool { return specs[i].Name < specs[j].Name })
	return specs
}

// Names returns the sorted tool names.
func (r *Registry) Names() []string {
	specs := r.Specs()
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	return names
}

// Len returns the number of tools.
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.tools)
}
