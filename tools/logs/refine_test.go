package logs

import (
	"fmt"
	"strings"
	"testing"
)

// parse mines lines as `analyze logs --format '<Content>'` does and
// returns each line's template text.
func parse(t *testing.T, lines []string) []string {
	t.Helper()
	res, err := ParseLines(strings.NewReader(strings.Join(lines, "\n")), nil, MinerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(res.Lines))
	for i, tpl := range res.Lines {
		out[i] = fmt.Sprintf("E%d %s", tpl.ID, tpl.String())
	}
	return out
}

func TestRefinement(t *testing.T) {
	users := []string{"root", "admin", "alice", "bob", "carol", "dave", "erin", "frank"}
	tests := []struct {
		name  string
		lines func(i int) string
		n     int
		want  []string // the distinct templates, in order of appearance
	}{
		{"two outcomes are two templates", func(i int) string {
			return fmt.Sprintf("read leader on %s tries=%d pid=%d", []string{"succeeded", "failed"}[i%2], i, 100+i)
		}, 40, []string{"E1 read leader on succeeded tries=<*> pid=<*>", "E2 read leader on failed tries=<*> pid=<*>"}},
		{"three states are three templates", func(i int) string {
			return fmt.Sprintf("Notification: %d (n.leader), %s (n.state)", i, []string{"LOOKING", "FOLLOWING", "LEADING"}[i%3])
		}, 30, []string{"E1 Notification: <*> (n.leader), LOOKING (n.state)", "E2 Notification: <*> (n.leader), FOLLOWING (n.state)", "E3 Notification: <*> (n.leader), LEADING (n.state)"}},
		{"user names in the routing words are one variable", func(i int) string {
			return fmt.Sprintf("unavailable %s sent %d to server", users[i%len(users)], i)
		}, 40, []string{"E1 unavailable <*> sent <*> to server"}},
		{"one-word messages stay apart", func(i int) string {
			return []string{"Committed", "Closing", "Started", "Stopped", "Ready"}[i%5]
		}, 10, []string{"E1 Committed", "E2 Closing", "E3 Started", "E4 Stopped", "E5 Ready"}},
		{"lists of any length are one template", func(i int) string {
			ids := make([]string, 1+i%4)
			for k := range ids {
				ids[k] = fmt.Sprintf("blk_%d", i*10+k)
			}
			return "BLOCK* ask 10.0.0.1:50010 to delete " + strings.Join(ids, " ")
		}, 12, []string{"E1 BLOCK* ask <*> to delete <*>"}},
		{"a value recognised on some lines only", func(i int) string {
			host := []string{"'com.example.app'", "'com.google.android.gms'", "'org.mozilla.firefox'"}[i%3]
			return fmt.Sprintf("Boot %s %d interface up", host, i)
		}, 12, []string{"E1 Boot <*> interface up"}},
		{"JSON by its message", func(i int) string {
			return fmt.Sprintf(`{"time":"2026-01-02T10:00:%02dZ","level":"info","msg":"cache evicted %d entries","service":"cart"}`, i, i*7)
		}, 10, []string{"E1 cache evicted <*> entries"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := make([]string, tt.n)
			for i := range lines {
				lines[i] = tt.lines(i)
			}
			var got []string
			seen := map[string]bool{}
			for _, tpl := range parse(t, lines) {
				if !seen[tpl] {
					seen[tpl] = true
					got = append(got, tpl)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("templates:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
