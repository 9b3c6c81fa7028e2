package agent

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// Tool calls some local models write as text instead of in the API's
// tool_calls field: Hermes and Qwen wrap them in <tool_call> tags, others
// answer with the bare JSON object (or a list of them), sometimes in a
// fenced block.
var (
	reToolCallTag = regexp.MustCompile(`(?s)<tool_call>\s*(.*?)\s*</tool_call>`)
	reFence       = regexp.MustCompile("(?s)^```(?:json)?\\s*(.*?)\\s*```$")
)

type textCall struct {
	Name       string          `json:"name"`
	Arguments  json.RawMessage `json:"arguments"`
	Parameters json.RawMessage `json:"parameters"`
}

// textToolCalls reads content as tool calls when it is nothing but calls
// of tools known says exist; otherwise (prose, a JSON answer, an unknown
// name) it returns nil and the content stays an answer.
func textToolCalls(content string, step int, known func(string) bool) []ToolCall {
	text := strings.TrimSpace(content)
	var raws []string
	if tags := reToolCallTag.FindAllStringSubmatch(text, -1); len(tags) > 0 {
		if strings.TrimSpace(reToolCallTag.ReplaceAllString(text, "")) != "" {
			return nil
		}
		for _, t := range tags {
			raws = append(raws, t[1])
		}
	} else {
		if m := reFence.FindStringSubmatch(text); m != nil {
			text = m[1]
		}
		var list []json.RawMessage
		switch {
		case strings.HasPrefix(text, "[") && json.Unmarshal([]byte(text), &list) == nil:
			for _, l := range list {
				raws = append(raws, string(l))
			}
		case strings.HasPrefix(text, "{"):
			raws = []string{text}
		}
	}
	var out []ToolCall
	for i, raw := range raws {
		var c textCall
		if err := json.Unmarshal([]byte(raw), &c); err != nil || c.Name == "" || !known(c.Name) {
			return nil
		}
		args := c.Arguments
		if len(args) == 0 {
			args = c.Parameters
		}
		// Some write the arguments as a JSON string.
		var s string
		if json.Unmarshal(args, &s) == nil {
			args = json.RawMessage(s)
		}
		if len(args) == 0 || string(args) == "null" {
			args = json.RawMessage("{}")
		}
		out = append(out, ToolCall{ID: fmt.Sprintf("text_%d_%d", step, i+1), Name: c.Name, Arguments: string(args)})
	}
	return out
}

// reThink is a reasoning model's thinking, as DeepSeek-R1, Qwen3 and
// their peers served by Ollama or vLLM write it into the content; an
// unclosed block (the reply was cut) runs to the end.
var reThink = regexp.MustCompile(`(?s)<think(?:ing)?>.*?(?:</think(?:ing)?>|$)`)

// stripReasoning removes a reasoning model's thinking from a reply: it is
// not the answer, and a reply that is only thinking is an empty one.
func stripReasoning(content string) string {
	if !strings.Contains(content, "<think") {
		return content
	}
	return strings.TrimSpace(reThink.ReplaceAllString(content, ""))
}
