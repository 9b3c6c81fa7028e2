package slack

import (
	"encoding/json"
	"testing"
)

func TestEnvelopeHead(t *testing.T) {
	for _, tt := range []struct {
		in, typ, id string
		ok          bool
	}{
		{`{"envelope_id":"e1","type":"events_api","payload":{"type":"x","envelope_id":"inner"}}`, "events_api", "e1", true},
		{` { "payload" : {"a":[1,{"type":"no"}]}, "type" : "interactive" , "envelope_id" : "e\u0032" } `, "interactive", "e2", true},
		{`{"type":"hello","num_connections":1}`, "hello", "", true},
		{`{"payload":{"text":"\"type\":\"fake\"","envelope_id":"x"},"type":"events_api","envelope_id":"e3"}`, "events_api", "e3", true},
		{`{"type":"a","type":"b","envelope_id":7}`, "b", "", true},
		{`{"typ\u0065":"escaped key","envelope_\u0069d":"e6"}`, "escaped key", "e6", true},
		{`{"type":"events_api","envelope_id":"e4"`, "", "", false},
		{`{"type":"events_api","envelope_id":"e5`, "", "", false},
		{`["type","events_api"]`, "", "", false},
		{``, "", "", false},
	} {
		typ, id, ok := envelopeHead([]byte(tt.in))
		if typ != tt.typ || id != tt.id || ok != tt.ok {
			t.Errorf("envelopeHead(%s) = %q %q %v, want %q %q %v", tt.in, typ, id, ok, tt.typ, tt.id, tt.ok)
		}
	}
}

// envelopeHead agrees with encoding/json on every valid object, and never
// panics on anything else.
func FuzzEnvelopeHead(f *testing.F) {
	for _, s := range []string{
		`{"envelope_id":"e1","type":"events_api","payload":{"event":{"text":"hi \"there\""}}}`,
		`{"type":"disconnect","reason":"refresh_requested"}`,
		`{"a":{"b":[{"c":"}"}]},"type":"x\\y","envelope_id":"\u00e9"}`,
		`{"type":1,"type":"s"}`,
		`{"typ\u0065":"k","envelope_id":"e"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		typ, id, ok := envelopeHead(data)
		var m map[string]json.RawMessage
		if !json.Valid(data) || json.Unmarshal(data, &m) != nil {
			return
		}
		if !ok {
			t.Fatalf("a valid object was not read: %s", data)
		}
		for key, got := range map[string]string{"type": typ, "envelope_id": id} {
			var want string
			raw, present := m[key]
			if !present {
				if got != "" {
					t.Fatalf("%s = %q, absent in %s", key, got, data)
				}
				continue
			}
			if json.Unmarshal(raw, &want) != nil {
				continue // not a string: not compared
			}
			if got != want {
				t.Fatalf("%s = %q, want %q in %s", key, got, want, data)
			}
		}
	})
}
