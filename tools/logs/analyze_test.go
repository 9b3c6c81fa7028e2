package logs

import (
	"bytes"
	"encoding/csv"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestParseLinesBadInput feeds what real files contain besides log lines:
// every input gives one CSV row per line, valid UTF-8, in bounded time.
func TestParseLinesBadInput(t *testing.T) {
	junk := make([]byte, 64<<10)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range junk {
		junk[i] = byte(r.IntN(256))
	}
	huge := "Jun 14 15:16:01 combo app[1]: " + strings.Repeat("token 12 ", 5<<20/9)
	tests := []struct {
		name  string
		input string
		rows  int
	}{
		{"empty file", "", 0},
		{"only line ends", "\n\r\n\n", 3},
		{"CRLF without a final newline", "Jun 14 15:16:01 combo app[1]: started\r\nJun 14 15:16:02 combo app: started", 2},
		{"byte-order mark", "\ufeffJun 14 15:16:01 combo app[1]: started\n", 1},
		{"blank and white-space lines", "   \n\t\nJun 14 15:16:01 combo app[1]: started\n", 3},
		{"binary junk", string(junk), bytes.Count(junk, []byte("\n")) + 1},
		{"a 5 MB line", huge + "\nJun 14 15:16:02 combo app: started\n", 2},
		{"a 5 MB line without spaces", strings.Repeat("x", 5<<20), 1},
	}
	format, err := ParseFormat(`<Month> <Day> <Time> <Host> <Service>(\[<Pid>\])?: <Content>`)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			res, err := ParseLines(strings.NewReader(tt.input), format, MinerConfig{})
			if err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("took %v", took)
			}
			var out bytes.Buffer
			if err := res.WriteCSV(&out); err != nil {
				t.Fatal(err)
			}
			if !utf8.Valid(out.Bytes()) {
				t.Error("the CSV is not valid UTF-8")
			}
			rows, err := csv.NewReader(&out).ReadAll()
			if err != nil {
				t.Fatalf("the CSV does not parse: %v", err)
			}
			if len(rows) != tt.rows+1 {
				t.Fatalf("%d rows, want a header and %d", len(rows), tt.rows)
			}
			for i, row := range rows[1:] {
				if row[0] != itoa(i+1) || row[1] == "" {
					t.Fatalf("row %d: %q", i+1, row[:2])
				}
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
