package chat

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/watchkeeper/watchkeeper/tools"
)

type specTool struct{ spec tools.Spec }

func (s specTool) Spec() tools.Spec { return s.spec }
func (specTool) Run(context.Context, json.RawMessage) (tools.Result, error) {
	return tools.Text("ok"), nil
}

func TestCompletion(t *testing.T) {
	reg, err := tools.NewRegistry(
		specTool{tools.Spec{Name: "prom_query", Description: "Run a query.", Parameters: tools.Object(map[string]*tools.Schema{
			"query": tools.String("PromQL expression"), "time": tools.String("when"),
		}, "query")}},
		specTool{tools.Spec{Name: "prom_query_range", Description: "Run a range query.", Parameters: tools.Object(map[string]*tools.Schema{
			"query": tools.String("PromQL"), "start": tools.String("start"), "step": tools.String("step"),
			"kind": tools.Enum("kind", "ratio", "latency", "rate"), "chart": tools.Boolean("draw"),
		}, "query")}},
		specTool{tools.Spec{Name: "current_time", Description: "The time."}},
	)
	if err != nil {
		t.Fatal(err)
	}
	c := newCompleter(Config{Tools: reg, Commands: map[string]Command{"audit": {}}})
	tests := []struct {
		line      string
		want      []string // whole candidates
		wantWord  string
		wantSufix []string // what Do appends, for the first case only
	}{
		{"/", []string{"/approve ", "/audit ", "/help ", "/quit ", "/reset ", "/run ", "/tools ", "/work "}, "/", nil},
		{"/r", []string{"/reset ", "/run "}, "/r", nil},
		{"/ru", []string{"/run "}, "/ru", []string{"n "}},
		{"/run ", []string{"current_time ", "prom_query ", "prom_query_range "}, "", nil},
		{"/run prom", []string{"prom_query ", "prom_query_range "}, "prom", []string{"_query ", "_query_range "}},
		{"/tools prom_query_", []string{"prom_query_range"}, "prom_query_", nil},
		{"/run prom_query ", []string{"query=", "time="}, "", nil},
		{"/run prom_query t", []string{"time="}, "t", []string{"ime="}},
		{"/run prom_query_range query=up s", []string{"start=", "step="}, "s", nil},
		{"/run prom_query_range query=up ", []string{"chart=", "kind=", "start=", "step="}, "", nil},
		{"/run prom_query_range kind=", []string{"ratio ", "latency ", "rate "}, "", nil},
		{"/run prom_query_range kind=ra", []string{"ratio ", "rate "}, "ra", []string{"tio ", "te "}},
		{"/run prom_query_range chart=t", []string{"true "}, "t", nil},
		{"/run nope ", nil, "", nil},
		{"/tools prom_query ", nil, "", nil},
		{"/reset x", nil, "", nil},
		{"why is", nil, "", nil},
		{"", nil, "", nil},
	}
	for _, tt := range tests {
		got, word := c.candidates(tt.line)
		if !reflect.DeepEqual(got, tt.want) || word != tt.wantWord {
			t.Errorf("candidates(%q) = %q, %q; want %q, %q", tt.line, got, word, tt.want, tt.wantWord)
		}
		if tt.wantSufix == nil {
			continue
		}
		suffixes, n := c.Do([]rune(tt.line), len([]rune(tt.line)))
		var s []string
		for _, r := range suffixes {
			s = append(s, string(r))
		}
		if !reflect.DeepEqual(s, tt.wantSufix) || n != len([]rune(tt.wantWord)) {
			t.Errorf("Do(%q) = %q, %d; want %q, %d", tt.line, s, n, tt.wantSufix, len(tt.wantWord))
		}
	}
	// Only the text before the cursor counts.
	if got, n := c.Do([]rune("/ru prom"), 3); len(got) != 1 || string(got[0]) != "n " || n != 3 {
		t.Errorf("Do with the cursor mid-line = %q, %d", got, n)
	}
}
