package anomaly

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestScoreCSV: bad input gives a clear error naming the line or a
// sensible result — one finite score in [0, 1] per row, in order — and
// never a crash, a NaN or a hang.
func TestScoreCSV(t *testing.T) {
	rows := func(n int, ts func(i int) string, v func(i int) string) string {
		var b strings.Builder
		b.WriteString("timestamp,value\n")
		for i := range n {
			fmt.Fprintf(&b, "%s,%s\n", ts(i), v(i))
		}
		return b.String()
	}
	minute := func(i int) string { return t0.Add(time.Duration(i) * time.Minute).Format("2006-01-02 15:04:05") }
	digit := func(i int) string { return strconv.Itoa(i % 10) }
	huge := strings.Repeat("7", 5<<20) // a 5 MB line
	for _, tt := range []struct {
		name, in string
		rows     int    // rows expected when the input is fine
		quiet    bool   // every score 0: nothing in the series to report
		line     int    // the line an InputError names, when not
		column   int    // and the column, when it names one
		err      string // what the error says
		warning  string // a warning expected on stderr
	}{
		{name: "empty file", in: "", line: 1, err: "the input is empty"},
		{name: "header only", in: "timestamp,value\n", rows: 0},
		{name: "wrong header", in: "time,value\n1,2\n", line: 1, err: `header "time,value", want timestamp,value`},
		{name: "single row", in: "timestamp,value\n2026-01-01 00:00:00,3\n", rows: 1},
		{name: "BOM, CRLF, extra columns, no final newline", in: "\ufefftimestamp,value,note\r\n2026-01-01 00:00:00,3,a\r\n2026-01-01 00:01:00,4,b", rows: 2},
		{name: "constant", in: rows(3000, minute, func(int) string { return "7" }), rows: 3000, quiet: true},
		{name: "zeros with one blip", in: rows(3000, minute, func(i int) string {
			if i == 2000 {
				return "1e-9"
			}
			return "0"
		}), rows: 3000},
		{name: "NaN and Inf", in: rows(2000, minute, func(i int) string {
			return []string{"1", "NaN", "+Inf", "-Inf", "", "null", "2.5"}[i%7]
		}), rows: 2000, warning: "values are not finite numbers"},
		{name: "duplicate timestamps", in: rows(2000, func(i int) string { return minute(i / 3) }, func(i int) string { return strconv.Itoa(i % 17) }),
			rows: 2000, warning: "timestamps repeat"},
		{name: "out of order", in: rows(2000, func(i int) string { return minute((i * 7919) % 2000) }, func(i int) string { return strconv.Itoa(i % 5) }),
			rows: 2000, warning: "timestamps go back"},
		{name: "huge and tiny values", in: rows(2000, minute, func(i int) string {
			return []string{"1e308", "-1e308", "1e-308", "0", "5e-324"}[i%5]
		}), rows: 2000},
		{name: "a bad timestamp half way", in: rows(10, minute, strconv.Itoa) + "soon,3\n", line: 12, err: `timestamp "soon" is neither`},
		{name: "a short row", in: "timestamp,value\n2026-01-01 00:00:00\n", line: 2, err: "only one field"},
		{name: "semicolons", in: "timestamp;value\n2026-01-01 00:00:00;1\n", line: 1, err: "want timestamp,value"},
		{name: "a bare quote", in: rows(3, minute, digit) + `2026-01-01 01:00:00,1"5` + "\n", line: 5, column: 22, err: `bare " in non-quoted-field; quote the whole field`},
		{name: "a quote never closed", in: rows(3, minute, digit) + `2026-01-01 01:00:00,"15` + "\n" + rows(100, minute, digit)[16:], line: 5,
			err: "a quoted field opened on this line is still open at line 105"},
		{name: "a field over two lines counts file lines", in: "timestamp,value\n2026-01-01 00:00:00,\"1\n2\"\nlater,3\n", line: 4, err: `timestamp "later"`},
		{name: "a 5 MB value", in: rows(100, minute, digit) + "2026-01-02 00:00:00," + huge + "\n" + rows(100, minute, digit)[16:],
			rows: 201, warning: "1 value is not a finite number"},
		{name: "a 5 MB line without a comma", in: rows(100, minute, digit) + huge + "\n", line: 102, err: `only one field, "777`},
		{name: "a 5 MB timestamp", in: rows(100, minute, digit) + huge + ",1\n", line: 102, err: "(5242880 bytes) is neither"},
		{name: "a 5 MB header", in: huge + ",value\n", line: 1, err: "(5242886 bytes), want timestamp,value"},
		{name: "years apart", in: rows(500, minute, digit) + "9999-12-31 23:59:59,3\n1970-01-01 00:00:00,4\n" + rows(2500, minute, digit)[16:],
			rows: 3002, warning: "1 timestamp goes back"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			start := time.Now()
			warnings, err := ScoreCSV(strings.NewReader(tt.in), &out, New(Options{}))
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v", d)
			}
			if tt.line > 0 {
				var bad *InputError
				prefix := fmt.Sprintf("line %d: ", tt.line)
				if tt.column > 0 {
					prefix = fmt.Sprintf("line %d, column %d: ", tt.line, tt.column)
				}
				if !errors.As(err, &bad) || !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %.300v, want one beginning %q and saying %q", err, prefix, tt.err)
				}
				if len(err.Error()) > 200 {
					t.Errorf("a %d-byte message: %.300s", len(err.Error()), err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.warning != "" && !strings.Contains(strings.Join(warnings, "; "), tt.warning) {
				t.Errorf("warnings %q, want %q", warnings, tt.warning)
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if lines[0] != "timestamp,value,anomaly_score" || len(lines) != tt.rows+1 {
				t.Fatalf("%d lines, header %q", len(lines), lines[0])
			}
			for i, l := range lines[1:] {
				f := strings.Split(l, ",")
				s, err := strconv.ParseFloat(f[len(f)-1], 64)
				if err != nil || math.IsNaN(s) || s < 0 || s > 1 {
					t.Fatalf("row %d: %.100q", i+1, l)
				}
				if tt.quiet && s != 0 {
					t.Fatalf("row %d scores %g in a series with nothing to report", i+1, s)
				}
			}
		})
	}
}

// TestScoreCSVStreams: a long series is scored as it is read, in bounded
// memory: the output begins before the input ends.
func TestScoreCSVStreams(t *testing.T) {
	n := 200_000
	if testing.Short() {
		n = 20_000
	}
	pr, pw := io.Pipe()
	go func() {
		fmt.Fprintln(pw, "timestamp,value")
		for i := range n {
			fmt.Fprintf(pw, "%d,%g\n", 1_700_000_000+60*i, math.Sin(float64(i)/50))
		}
		pw.Close()
	}()
	var out countingWriter
	if _, err := ScoreCSV(pr, &out, New(Options{})); err != nil {
		t.Fatal(err)
	}
	if out.lines != n+1 {
		t.Errorf("%d lines for %d rows", out.lines, n)
	}
}

type countingWriter struct{ lines int }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.lines += bytes.Count(p, []byte("\n"))
	return len(p), nil
}
