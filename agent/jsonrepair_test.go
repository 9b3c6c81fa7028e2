package agent

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestRepairJSON(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // JSON the repaired value must equal; "" means an error
	}{
		{"empty is an empty object", "", `{}`},
		{"valid stays", `{"a": 1, "b": [true, null]}`, `{"a":1,"b":[true,null]}`},
		{"code fence", "```json\n{\"q\": \"up\"}\n```", `{"q":"up"}`},
		{"prose around", `Sure! Here are the arguments: {"q": "up"} Hope this helps.`, `{"q":"up"}`},
		{"single quotes", `{'query': 'rate(http_requests_total[5m])'}`, `{"query":"rate(http_requests_total[5m])"}`},
		{"double quote inside single quotes", `{'q': 'say "hi"'}`, `{"q":"say \"hi\""}`},
		{"escaped single quote", `{'q': 'it\'s'}`, `{"q":"it's"}`},
		{"unquoted keys", `{query: "up", limit: 5}`, `{"query":"up","limit":5}`},
		{"python literals", `{"a": True, "b": False, "c": None}`, `{"a":true,"b":false,"c":null}`},
		{"trailing commas", `{"a": [1, 2,], "b": 3,}`, `{"a":[1,2],"b":3}`},
		{"missing comma", `{"a": 1 "b": 2}`, `{"a":1,"b":2}`},
		{"raw newline in string", "{\"q\": \"line1\nline2\"}", `{"q":"line1\nline2"}`},
		{"truncated", `{"q": "sum(rate(x[5m]))", "labels": ["a", "b"`, `{"q":"sum(rate(x[5m]))","labels":["a","b"]}`},
		{"truncated inside string", `{"q": "abc`, `{"q":"abc"}`},
		{"truncated after colon", `{"q":`, `{"q":null}`},
		{"line comment", "{\n\"a\": 1, // the count\n\"b\": 2}", `{"a":1,"b":2}`},
		{"negative and float", `{a: -1.5e3}`, `{"a":-1500}`},
		{"nested objects", `{outer: {inner: 'x'}, list: [{k: 1}{k: 2}]}`, `{"outer":{"inner":"x"},"list":[{"k":1},{"k":2}]}`},
		{"bare word value", `{"level": error}`, `{"level":"error"}`},
		{"no object", `just words`, ""},
		{"array only", `[1, 2]`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := repairJSON(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("repairJSON(%q) = %s, want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("repairJSON(%q): %v", tt.in, err)
			}
			var gv, wv any
			if err := json.Unmarshal(got, &gv); err != nil {
				t.Fatalf("output %s is not JSON: %v", got, err)
			}
			_ = json.Unmarshal([]byte(tt.want), &wv)
			if !reflect.DeepEqual(gv, wv) {
				t.Errorf("repairJSON(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzRepairJSON(f *testing.F) {
	for _, s := range []string{`{'a': [1,2,}`, `{a: True`, "```{\"x\":1}```", `{"a":"\u00e9`, `}{`, `{[}]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := repairJSON(s)
		if err == nil && !isObject(string(out)) {
			t.Fatalf("repairJSON(%q) returned %q, which is not a JSON object", s, out)
		}
	})
}
