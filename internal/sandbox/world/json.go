package world

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// The JSON of faults, as the sandbox's HTTP API (/sandbox/v1) serves and
// accepts them: snake_case names throughout, durations as Go duration
// strings ("10m0s"), and times that never happened left out rather than
// written as 0001-01-01T00:00:00Z.

// faultSpecJSON is FaultSpec on the wire.
type faultSpecJSON struct {
	Kind     FaultKind          `json:"fault"`
	Service  string             `json:"service"`
	Target   string             `json:"target,omitempty"`
	Params   map[string]float64 `json:"params,omitempty"`
	Duration jsonDuration       `json:"duration,omitempty"`
}

// faultJSON is Fault on the wire.
type faultJSON struct {
	ID int `json:"id"`
	faultSpecJSON
	Start   time.Time `json:"start"`
	End     time.Time `json:"end,omitzero"`
	FixedAt time.Time `json:"fixed_at,omitzero"`
	FixedBy string    `json:"fixed_by,omitempty"`
}

// MarshalJSON writes the spec with its duration as a Go duration string.
func (s FaultSpec) MarshalJSON() ([]byte, error) { return json.Marshal(s.wire()) }

// UnmarshalJSON reads a spec strictly: an unknown field is an error, so a
// misspelt "duraton" is not silently a fault without end. The duration is
// a Go duration string ("10m") or, as before, a number of nanoseconds.
func (s *FaultSpec) UnmarshalJSON(b []byte) error {
	var w faultSpecJSON
	if err := strictJSON(b, &w); err != nil {
		return err
	}
	*s = w.spec()
	return nil
}

// MarshalJSON writes the fault in snake_case, without the times that have
// not happened (end, fixed_at).
func (f Fault) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultJSON{ID: f.ID, faultSpecJSON: f.FaultSpec.wire(), Start: f.Start, End: f.End,
		FixedAt: f.FixedAt, FixedBy: f.FixedBy})
}

// UnmarshalJSON reads what MarshalJSON writes. Without it the embedded
// FaultSpec's method would be promoted and read only the spec.
func (f *Fault) UnmarshalJSON(b []byte) error {
	var w faultJSON
	if err := strictJSON(b, &w); err != nil {
		return err
	}
	*f = Fault{FaultSpec: w.spec(), ID: w.ID, Start: w.Start, End: w.End, FixedAt: w.FixedAt, FixedBy: w.FixedBy}
	return nil
}

func (s FaultSpec) wire() faultSpecJSON {
	return faultSpecJSON{Kind: s.Kind, Service: s.Service, Target: s.Target, Params: s.Params, Duration: jsonDuration(s.Duration)}
}

func (w faultSpecJSON) spec() FaultSpec {
	return FaultSpec{Kind: w.Kind, Service: w.Service, Target: w.Target, Params: w.Params, Duration: time.Duration(w.Duration)}
}

func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// jsonDuration is a time.Duration written as "10m0s".
type jsonDuration time.Duration

func (d jsonDuration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: want a Go duration such as \"10m\" or \"1h30m\"", s)
		}
		*d = jsonDuration(v)
		return nil
	}
	var ns int64
	if err := json.Unmarshal(b, &ns); err != nil {
		return fmt.Errorf("duration %s: want a Go duration such as \"10m\"", b)
	}
	*d = jsonDuration(ns)
	return nil
}
