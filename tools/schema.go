package tools

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Schema is the subset of JSON Schema that every tool-calling provider
// accepts (OpenAI, Anthropic, Gemini, Bedrock). It marshals to plain JSON
// Schema.
type Schema struct {
	Type                 string             `json:"type,omitempty"`
	Description          string             `json:"description,omitempty"`
	Properties           map[string]*Schema `json:"properties,omitempty"`
	Required             []string           `json:"required,omitempty"`
	Items                *Schema            `json:"items,omitempty"`
	Enum                 []string           `json:"enum,omitempty"`
	Default              any                `json:"default,omitempty"`
	Minimum              *float64           `json:"minimum,omitempty"`
	Maximum              *float64           `json:"maximum,omitempty"`
	AdditionalProperties *bool              `json:"additionalProperties,omitempty"`
}

// Object returns an object schema with the given properties. Properties
// named in required must be present. Unknown properties are rejected, so a
// misspelt argument is reported to the model instead of silently ignored.
func Object(props map[string]*Schema, required ...string) *Schema {
	no := false
	return &Schema{Type: "object", Properties: props, Required: required, AdditionalProperties: &no}
}

// String returns a string schema.
func String(desc string) *Schema { return &Schema{Type: "string", Description: desc} }

// Enum returns a string schema limited to values.
func Enum(desc string, values ...string) *Schema {
	return &Schema{Type: "string", Description: desc, Enum: values}
}

// Integer returns an integer schema bounded to [min, max].
func Integer(desc string, min, max float64) *Schema {
	return &Schema{Type: "integer", Description: desc, Minimum: &min, Maximum: &max}
}

// Number returns a number schema.
func Number(desc string) *Schema { return &Schema{Type: "number", Description: desc} }

// Boolean returns a boolean schema.
func Boolean(desc string) *Schema { return &Schema{Type: "boolean", Description: desc} }

// Array returns an array schema of items.
func Array(desc string, items *Schema) *Schema {
	return &Schema{Type: "array", Description: desc, Items: items}
}

// Validate checks args against s and returns every problem found, each
// phrased so a model can correct its call. A nil schema accepts any object.
func (s *Schema) Validate(args json.RawMessage) error {
	var v any
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("arguments are not valid JSON (%v); send one JSON object", err)
	}
	if _, ok := v.(map[string]any); !ok {
		return fmt.Errorf("arguments must be a JSON object, not %s", jsonKind(v))
	}
	if s == nil {
		return nil
	}
	var errs []error
	s.validate("", v, &errs)
	return errors.Join(errs...)
}

func (s *Schema) validate(path string, v any, errs *[]error) {
	name := path
	if name == "" {
		name = "arguments"
	} else {
		name = fmt.Sprintf("argument %q", path)
	}
	fail := func(format string, a ...any) {
		*errs = append(*errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, a...)))
	}
	if v == nil {
		// A schema without a type (an MCP server's "string or null")
		// takes null as any other value.
		if s.Type != "" {
			fail("is null; omit it or give a %s", s.Type)
		}
		return
	}
	switch s.Type {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			fail("expected an object, got %s", jsonKind(v))
			return
		}
		// Every missing argument in one error: a caller told one at a time
		// (a model or a person) needs as many attempts as there are gaps.
		var missing []MissingArg
		for _, r := range s.Required {
			if _, ok := m[r]; !ok {
				arg := MissingArg{Name: r}
				if ps := s.Properties[r]; ps != nil {
					arg.Description = ps.Description
				}
				missing = append(missing, arg)
			}
		}
		if len(missing) > 0 {
			*errs = append(*errs, &MissingError{Path: path, Args: missing})
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ps, ok := s.Properties[k]
			if !ok {
				if s.AdditionalProperties != nil && !*s.AdditionalProperties {
					msg := fmt.Sprintf("unknown argument %q; valid arguments are %s", join(path, k), propNames(s))
					if near := Suggest(k, slices.Sorted(maps.Keys(s.Properties))); len(near) > 0 {
						msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(near, " or "))
					}
					*errs = append(*errs, errors.New(msg))
				}
				continue
			}
			ps.validate(join(path, k), m[k], errs)
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			fail("expected an array, got %s", jsonKind(v))
			return
		}
		if s.Items != nil {
			for i, e := range a {
				s.Items.validate(fmt.Sprintf("%s[%d]", path, i), e, errs)
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			fail("expected a string, got %s", jsonKind(v))
			return
		}
		if len(s.Enum) > 0 && !slices.Contains(s.Enum, str) {
			fail("%q is not one of %s", str, strings.Join(s.Enum, ", "))
		}
	case "integer", "number":
		n, ok := v.(json.Number)
		if !ok {
			fail("expected a %s, got %s", s.Type, jsonKind(v))
			return
		}
		f, err := n.Float64()
		if err != nil {
			fail("%s is not a number", n)
			return
		}
		if s.Type == "integer" && f != math.Trunc(f) {
			fail("expected an integer, got %s", n)
			return
		}
		if s.Minimum != nil && f < *s.Minimum {
			fail("%s is below the minimum %v", n, *s.Minimum)
		}
		if s.Maximum != nil && f > *s.Maximum {
			fail("%s is above the maximum %v", n, *s.Maximum)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			fail("expected true or false, got %s", jsonKind(v))
		}
	}
}

// MissingError is every required argument a call left out of one object.
// Validate returns it (joined with any other problems), so a surface can
// find it with errors.As and show the arguments with an example.
type MissingError struct {
	// Path is the object they are missing from: "" for the arguments
	// themselves, "deep" for a nested object.
	Path string
	// Args are the missing arguments, in the order the schema requires
	// them.
	Args []MissingArg
}

// MissingArg is one missing argument and what the schema says it is.
type MissingArg struct{ Name, Description string }

// Error names each argument with the start of its description, which is
// what a model (or a person) needs to fill it in; the full descriptions
// are in the tool's schema.
func (e *MissingError) Error() string {
	parts := make([]string, len(e.Args))
	for i, a := range e.Args {
		parts[i] = strconv.Quote(join(e.Path, a.Name))
		if d := ShortDescription(a.Description); d != "" {
			parts[i] += " (" + d + ")"
		}
	}
	if len(parts) == 1 {
		return "missing required argument " + parts[0]
	}
	return "missing required arguments " + strings.Join(parts, ", ")
}

// ShortDescription is the start of an argument's description, up to the
// first ";" and at most about 80 characters, cut between words: "PromQL
// expression" rather than the defaults and caveats that follow.
func ShortDescription(desc string) string {
	desc, _, _ = strings.Cut(strings.TrimSpace(desc), ";")
	desc = strings.TrimSuffix(strings.TrimSpace(desc), ".")
	r := []rune(desc)
	if len(r) <= 80 {
		return desc
	}
	cut := string(r[:80])
	if i := strings.LastIndexByte(cut, ' '); i > 40 {
		cut = cut[:i]
	}
	return strings.TrimRight(cut, " ,:") + "…"
}

// DecodeArgs decodes validated args into dst, rejecting unknown fields. The
// error is phrased for the model.
func DecodeArgs(args json.RawMessage, dst any) error {
	if len(bytes.TrimSpace(args)) == 0 {
		args = json.RawMessage("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("arguments do not fit this tool: %v", err)
	}
	return nil
}

func jsonKind(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return fmt.Sprintf("the string %q", truncateRunes(x, 40))
	case json.Number:
		return "the number " + x.String()
	case bool:
		return fmt.Sprintf("the boolean %t", x)
	default:
		return fmt.Sprintf("%T", v)
	}
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func propNames(s *Schema) string {
	names := make([]string, 0, len(s.Properties))
	for k := range s.Properties {
		names = append(names, k)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
