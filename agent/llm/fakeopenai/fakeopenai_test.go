package fakeopenai_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/watchkeeper/watchkeeper/agent/llm/fakeopenai"
)

func post(t *testing.T, url, key, body string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// TestEnforcesAPIRules checks the fake refuses what the real API refuses,
// with the real API's error shape.
func TestEnforcesAPIRules(t *testing.T) {
	srv := fakeopenai.New(nil, fakeopenai.WithAPIKey("sk-right"))
	defer srv.Close()
	url := srv.URL + "/chat/completions"
	user := `{"role":"user","content":"hi"}`
	tests := []struct {
		name, key, body string
		status          int
		want            string
	}{
		{"no key", "", `{"model":"m","messages":[` + user + `]}`, 401, "Incorrect API key provided"},
		{"no model", "sk-right", `{"messages":[` + user + `]}`, 400, "you must provide a model parameter"},
		{"no messages", "sk-right", `{"model":"m","messages":[]}`, 400, "too short - 'messages'"},
		{"unknown parameter", "sk-right", `{"model":"m","messages":[` + user + `],"temprature":1}`, 400, "Unrecognized request argument supplied: temprature"},
		{"bad role", "sk-right", `{"model":"m","messages":[{"role":"robot","content":"x"}]}`, 400, "Invalid value: 'robot'"},
		{"orphan tool message", "sk-right", `{"model":"m","messages":[` + user + `,{"role":"tool","tool_call_id":"x","content":"r"}]}`, 400, "must be a response to a preceeding message with 'tool_calls'"},
		{"unanswered tool call", "sk-right", `{"model":"m","messages":[` + user + `,{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},` + user + `]}`, 400, "did not have response messages: c1"},
		{"bad tool name", "sk-right", `{"model":"m","messages":[` + user + `],"tools":[{"type":"function","function":{"name":"bad name","parameters":{"type":"object"}}}]}`, 400, "string does not match pattern"},
		{"non-object schema", "sk-right", `{"model":"m","messages":[` + user + `],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"string"}}}]}`, 400, "schema must be a JSON Schema of 'type: \"object\"'"},
		{"tool_choice without tools", "sk-right", `{"model":"m","messages":[` + user + `],"tool_choice":"auto"}`, 400, "only allowed when 'tools' are specified"},
		{"stream_options without stream", "sk-right", `{"model":"m","messages":[` + user + `],"stream_options":{"include_usage":true}}`, 400, "only allowed when 'stream' is enabled"},
		{"script exhausted", "sk-right", `{"model":"m","messages":[` + user + `]}`, 500, "unexpected request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := post(t, url, tt.key, tt.body)
			var e struct {
				Error struct{ Message, Type string }
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("error body is not OpenAI's shape: %s", body)
			}
			if status != tt.status || !strings.Contains(e.Error.Message, tt.want) || e.Error.Type == "" {
				t.Errorf("status %d, body %s; want %d and %q", status, body, tt.status, tt.want)
			}
		})
	}
	if len(srv.Unexpected()) != 1 {
		t.Errorf("Unexpected() = %v", srv.Unexpected())
	}
}

func TestStreamingWireFormat(t *testing.T) {
	srv := fakeopenai.New([]fakeopenai.Reply{{Content: "héllo wörld", ToolCalls: []fakeopenai.ToolCall{{ID: "c1", Name: "f", Arguments: `{"a":1}`}}}})
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/chat/completions",
		strings.NewReader(`{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("content type %q", ct)
	}
	var content, args strings.Builder
	var sawUsage, sawDone bool
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			sawDone = true
			continue
		}
		var chunk struct {
			Object  string
			Choices []struct {
				Delta struct {
					Content   string
					ToolCalls []struct{ Function struct{ Arguments string } } `json:"tool_calls"`
				}
			}
			Usage *struct {
				TotalTokens int `json:"total_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal([]byte(data), &chunk); err != nil || chunk.Object != "chat.completion.chunk" {
			t.Fatalf("bad chunk %s: %v", data, err)
		}
		for _, c := range chunk.Choices {
			content.WriteString(c.Delta.Content)
			for _, tc := range c.Delta.ToolCalls {
				args.WriteString(tc.Function.Arguments)
			}
		}
		if chunk.Usage != nil && chunk.Usage.TotalTokens > 0 {
			sawUsage = true
		}
	}
	if content.String() != "héllo wörld" || args.String() != `{"a":1}` || !sawUsage || !sawDone {
		t.Errorf("content=%q args=%q usage=%v done=%v", content.String(), args.String(), sawUsage, sawDone)
	}
}
