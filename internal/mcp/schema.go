package mcp

import (
	"encoding/json"
	"strings"

	"github.com/watchkeeper/watchkeeper/tools"
)

// maxSchemaDepth bounds how deep a remote schema is followed: a hostile
// server could send one nested thousands deep.
const maxSchemaDepth = 8

// convertSchema maps a remote tool's JSON Schema onto the subset every
// model API accepts (tools.Schema). What the subset cannot say — anyOf, a
// $ref, a number enum — is dropped, leaving that part open: the remote
// server validates its own arguments, and the model still sees the names,
// types and descriptions it needs.
func convertSchema(in any) *tools.Schema {
	var m map[string]any
	switch v := in.(type) {
	case map[string]any:
		m = v
	case json.RawMessage:
		_ = json.Unmarshal(v, &m)
	case []byte:
		_ = json.Unmarshal(v, &m)
	default:
		b, err := json.Marshal(v)
		if err == nil {
			_ = json.Unmarshal(b, &m)
		}
	}
	s := schemaOf(m, 0)
	if s == nil || s.Type != "object" {
		// Arguments are an object whatever the server said.
		return &tools.Schema{Type: "object"}
	}
	return s
}

func schemaOf(m map[string]any, depth int) *tools.Schema {
	if m == nil || depth > maxSchemaDepth {
		return nil
	}
	s := &tools.Schema{}
	switch t := m["type"].(type) {
	case string:
		s.Type = t
	case []any: // ["string", "null"]: no one type; said in words
		var names []string
		for _, x := range t {
			if str, ok := x.(string); ok {
				names = append(names, str)
			}
		}
		if len(names) > 0 {
			s.Description = "(" + strings.Join(names, " or ") + ") "
		}
	}
	if d, ok := m["description"].(string); ok {
		s.Description += truncateBytes(d, 1000)
	}
	if props, ok := m["properties"].(map[string]any); ok {
		s.Properties = map[string]*tools.Schema{}
		for k, v := range props {
			pm, _ := v.(map[string]any)
			if ps := schemaOf(pm, depth+1); ps != nil {
				s.Properties[k] = ps
			} else {
				s.Properties[k] = &tools.Schema{}
			}
		}
		if s.Type == "" {
			s.Type = "object"
		}
	}
	if req, ok := m["required"].([]any); ok {
		for _, r := range req {
			if str, ok := r.(string); ok {
				s.Required = append(s.Required, str)
			}
		}
	}
	if items, ok := m["items"].(map[string]any); ok {
		s.Items = schemaOf(items, depth+1)
	}
	if enum, ok := m["enum"].([]any); ok {
		var out []string
		for _, e := range enum {
			str, ok := e.(string)
			if !ok {
				out = nil
				break
			}
			out = append(out, str)
		}
		s.Enum = out
	}
	if d, ok := m["default"]; ok {
		s.Default = d
	}
	for key, dst := range map[string]**float64{"minimum": &s.Minimum, "maximum": &s.Maximum} {
		if f, ok := m[key].(float64); ok {
			*dst = &f
		}
	}
	if ap, ok := m["additionalProperties"].(bool); ok {
		s.AdditionalProperties = &ap
	}
	return s
}
