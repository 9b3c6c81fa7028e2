package cli_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestAnalyzeLogs(t *testing.T) {
	home := isolate(t)
	const format = `<Date> <Time> <Level> <Component>: <Content>`
	lines := []string{
		`2026-11-24 14:00:01 INFO db: connection to 10.0.0.7 established in 12 ms`,
		`2026-11-24 14:00:02 WARN http: request "GET /cart" failed, status=500`,
		`2026-11-24 14:00:03 INFO db: connection to 10.0.0.9 established in 40 ms`,
		`not a formatted line at all`,
		`2026-11-24 14:00:04 WARN http: request "GET /pay" failed, status=502`,
	}
	file := filepath.Join(home, "app.log")
	// CRLF endings and no final newline, as files from other systems come.
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\r\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	fromFile := run(t, home, "", nil, "analyze", "logs", "--input", file, "--format", format)
	fromStdin := run(t, home, strings.Join(lines, "\n")+"\n", nil, "analyze", "logs", "--input", "-", "--format", format)
	for name, r := range map[string]result{"file": fromFile, "stdin": fromStdin} {
		if r.code != 0 {
			t.Fatalf("%s: exit %d: %s", name, r.code, r.err)
		}
		rows, err := csv.NewReader(strings.NewReader(r.out)).ReadAll()
		if err != nil {
			t.Fatalf("%s: output is not CSV: %v\n%s", name, err, r.out)
		}
		if len(rows) != len(lines)+1 {
			t.Fatalf("%s: %d rows, want header + %d:\n%s", name, len(rows), len(lines), r.out)
		}
		if strings.Join(rows[0], ",") != "LineId,EventId,EventTemplate" {
			t.Errorf("%s: header %v", name, rows[0])
		}
		for i, row := range rows[1:] {
			if row[0] != strings.TrimSpace(string(rune('1'+i))) {
				t.Errorf("%s: row %d LineId %q", name, i+1, row[0])
			}
		}
		if rows[1][1] != rows[3][1] || rows[2][1] != rows[5][1] || rows[1][1] == rows[2][1] || rows[4][1] == rows[1][1] {
			t.Errorf("%s: grouping wrong: %v", name, rows)
		}
		// The template of the quoted line needs RFC 4180 quoting; the
		// reader above already proved it parses, so check it kept quotes.
		if !strings.Contains(rows[2][2], `"GET`) {
			t.Errorf("%s: template %q lost its quotes", name, rows[2][2])
		}
		if rows[1][2] != "connection to <*> established in <*>" { // "12 ms" is one value
			t.Errorf("%s: template %q", name, rows[1][2])
		}
	}
	if fromFile.out != fromStdin.out {
		t.Errorf("file and stdin differ:\n%s\n---\n%s", fromFile.out, fromStdin.out)
	}
}

func TestAnalyzeLogsMasks(t *testing.T) {
	home := isolate(t)
	in := "user alice logged in\nuser bob logged in\n"
	plain := run(t, home, in, nil, "analyze", "logs", "--input", "-", "--format", "<Content>")
	masked := run(t, home, in, nil, "analyze", "logs", "--input", "-", "--format", "<Content>", "--mask", `user \w+`)
	if plain.code != 0 || masked.code != 0 {
		t.Fatalf("exit %d/%d: %s %s", plain.code, masked.code, plain.err, masked.err)
	}
	if !strings.Contains(masked.out, "2,E1,<*> logged in") {
		t.Errorf("masked output:\n%s", masked.out)
	}
	if strings.Contains(plain.out, "E2") == strings.Contains(masked.out, "E2") && strings.Contains(masked.out, "E2") {
		t.Errorf("mask changed nothing:\n%s\n%s", plain.out, masked.out)
	}
}

func TestAnalyzeLogsBadInput(t *testing.T) {
	home := isolate(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no input", []string{"--format", "<Content>"}, "--input FILE is required"},
		{"no format", []string{"--input", "-"}, "--format is required"},
		{"format without content", []string{"--input", "-", "--format", "<Date> <Time>"}, "<Content>"},
		{"bad mask", []string{"--input", "-", "--format", "<Content>", "--mask", "("}, `--mask "("`},
		{"missing file", []string{"--input", "/nonexistent/x.log", "--format", "<Content>"}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, home, "", nil, append([]string{"analyze", "logs"}, tc.args...)...)
			if r.code != 2 || !strings.Contains(r.err, tc.want) || r.out != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 mentioning %q", r.code, r.out, r.err, tc.want)
			}
		})
	}
}

func TestAnalyzeDetect(t *testing.T) {
	home := isolate(t)
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3000 {
		v := 10 + math.Sin(float64(i)/20)
		if i == 2500 {
			v = 60 // a spike
		}
		fmt.Fprintf(&b, "%s,%g\n", start.Add(time.Duration(i)*5*time.Minute).Format("2006-01-02 15:04:05"), v)
	}
	file := filepath.Join(home, "s.csv")
	os.WriteFile(file, []byte(b.String()), 0o600)
	for _, detector := range []string{"ensemble", "records", "robust", "seasonal", "iforest", "cusum"} {
		r := run(t, home, "", nil, "analyze", "detect", "--input", file, "--detector", detector)
		if r.code != 0 {
			t.Fatalf("%s: exit %d: %s", detector, r.code, r.err)
		}
		rows, err := csv.NewReader(strings.NewReader(r.out)).ReadAll()
		if err != nil || len(rows) != 3001 || strings.Join(rows[0], ",") != "timestamp,value,anomaly_score" {
			t.Fatalf("%s: %d rows, header %v, %v", detector, len(rows), rows[0], err)
		}
		var scores []float64
		for i, row := range rows[1:] {
			s, err := strconv.ParseFloat(row[2], 64)
			if err != nil || s < 0 || s > 1 || math.IsNaN(s) {
				t.Fatalf("%s: row %d score %q", detector, i+1, row[2])
			}
			scores = append(scores, s)
		}
		// The spike is among the strongest scores (the sine's own new
		// extremes can be as surprising to a single detector early on).
		if detector != "cusum" {
			higher := 0
			for _, s := range scores {
				if s > scores[2500] {
					higher++
				}
			}
			if higher > 2 || scores[2500] < 0.8 {
				t.Errorf("%s: the spike scores %.3f with %d higher scores", detector, scores[2500], higher)
			}
		}
	}
	// Unix seconds, standard input, and the input's text echoed as is.
	r := run(t, home, "timestamp,value\n1700000000,1.50\n1700000060,NaN\n1700000120,2\n", nil, "analyze", "detect", "--input", "-")
	if r.code != 0 || !strings.HasPrefix(r.out, "timestamp,value,anomaly_score\n1700000000,1.50,0.000000\n1700000060,NaN,0.000000\n") ||
		!strings.Contains(r.err, "1 value is not a finite number") {
		t.Errorf("stdin: exit %d\n%s\n%s", r.code, r.out, r.err)
	}
}

func TestAnalyzeDetectBadInput(t *testing.T) {
	home := isolate(t)
	for _, tt := range []struct{ name, in, want string }{
		{"empty", "", "the input is empty"},
		{"wrong header", "time,val\n1,2\n", `header "time,val", want timestamp,value`},
		{"bad timestamp", "timestamp,value\nyesterday,3\n", `line 2: timestamp "yesterday"`},
		{"short row", "timestamp,value\n2026-01-01 00:00:00\n", "line 2: only one field"},
	} {
		r := run(t, home, tt.in, nil, "analyze", "detect", "--input", "-")
		if r.code != 2 || !strings.Contains(r.err, tt.want) || r.out != "" {
			t.Errorf("%s: exit %d, out %q, err %q; want exit 2 mentioning %q", tt.name, r.code, r.out, r.err, tt.want)
		}
	}
	r := run(t, home, "timestamp,value\n", nil, "analyze", "detect", "--input", "-")
	if r.code != 0 || r.out != "timestamp,value,anomaly_score\n" {
		t.Errorf("header only: exit %d %q", r.code, r.out)
	}
	r = run(t, home, "timestamp,value\n", nil, "analyze", "detect", "--input", "-", "--detector", "magic")
	if r.code != 2 || !strings.Contains(r.err, `unknown detector "magic"; choose one of ensemble, robust`) {
		t.Errorf("unknown detector: %d %q", r.code, r.err)
	}
}

func TestAnalyzeRCA(t *testing.T) {
	home := isolate(t)
	dir := filepath.Join(home, "case")
	r := run(t, home, "", nil, "sandbox", "export", "--scenario", "bad-deploy", "--seed", "3", "--out", dir)
	if r.code != 0 {
		t.Fatalf("export: %s", r.err)
	}
	r = run(t, home, "", nil, "analyze", "rca", "--case", dir)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	var out struct {
		Ranking []struct {
			Service  string
			Score    float64
			Evidence []map[string]any
		}
		Confidence float64
		Signature  struct{ Kind string }
	}
	if err := json.Unmarshal([]byte(r.out), &out); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.out)
	}
	if len(out.Ranking) < 5 || out.Ranking[0].Service != "checkout" || out.Signature.Kind != "change" || out.Confidence <= 0 {
		t.Errorf("ranking %+v", out)
	}
	seen := map[string]bool{}
	for i, x := range out.Ranking {
		if seen[x.Service] || math.IsNaN(x.Score) || (i > 0 && x.Score > out.Ranking[i-1].Score) {
			t.Errorf("ranking must be unique and non-increasing: %+v", out.Ranking)
		}
		seen[x.Service] = true
	}
	// A case without topology.csv or events.csv still ranks; a broken one
	// says what is wrong.
	os.Remove(filepath.Join(dir, "topology.csv"))
	os.Remove(filepath.Join(dir, "events.csv"))
	if r := run(t, home, "", nil, "analyze", "rca", "--case", dir); r.code != 0 || !strings.Contains(r.out, `"ranking"`) {
		t.Errorf("without topology: %d %s", r.code, r.err)
	}
	os.WriteFile(filepath.Join(dir, "topology.csv"), []byte("caller,callee\nfrontend,ghost\n"), 0o600)
	if r := run(t, home, "", nil, "analyze", "rca", "--case", dir); r.code != 0 || !strings.Contains(r.err, "without metrics: ghost") {
		t.Errorf("unknown service: %d %s", r.code, r.err)
	}
	for name, files := range map[string]map[string]string{
		"no case.json":  {"metrics.csv": "timestamp,service,metric,value\n1,a,cpu,1\n"},
		"empty metrics": {"case.json": "{}", "metrics.csv": ""},
		"no rows":       {"case.json": "{}", "metrics.csv": "timestamp,service,metric,value\n"},
		"bad header":    {"case.json": "{}", "metrics.csv": "t,s,m,v\n"},
		"bad json":      {"case.json": "{", "metrics.csv": "timestamp,service,metric,value\n1,a,cpu,1\n"},
	} {
		d := filepath.Join(home, strings.ReplaceAll(name, " ", "-"))
		os.MkdirAll(d, 0o700)
		for f, body := range files {
			os.WriteFile(filepath.Join(d, f), []byte(body), 0o600)
		}
		if r := run(t, home, "", nil, "analyze", "rca", "--case", d); r.code != 2 || r.out != "" || !strings.Contains(r.err, "case "+d) {
			t.Errorf("%s: exit %d, out %q, err %q", name, r.code, r.out, r.err)
		}
	}
}
