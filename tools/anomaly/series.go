package anomaly

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Row is one input row: its text as read (written back unchanged) and its
// parsed time and value.
type Row struct {
	TimeText, ValueText string
	Time                time.Time
	Value               float64
}

// ReadCSV reads a series with the header timestamp,value. Timestamps are
// "YYYY-MM-DD HH:MM:SS" (fractional seconds and RFC 3339 accepted) or Unix
// seconds. A value that is not a number (empty, "NaN", "null") is read as
// NaN: the row is kept and scored 0, and a warning says so. Rows are kept
// in input order; warnings note timestamps that go backwards or repeat.
func ReadCSV(r io.Reader) (rows []Row, warnings []string, err error) {
	warnings, err = readRows(r, func(row Row) error {
		rows = append(rows, row)
		return nil
	})
	if err != nil {
		return nil, warnings, err
	}
	return rows, warnings, nil
}

// ScoreCSV reads a series as ReadCSV does and writes, as it goes, the
// rows with their scores from d as WriteScores does, so that memory does
// not grow with the input. On a malformed line it stops with an
// *InputError naming the line; rows before it may have been written.
func ScoreCSV(r io.Reader, w io.Writer, d Detector) (warnings []string, err error) {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"timestamp", "value", "anomaly_score"}); err != nil {
		return nil, err
	}
	warnings, err = readRows(r, func(row Row) error {
		return cw.Write([]string{row.TimeText, row.ValueText, strconv.FormatFloat(unitScore(d.Score(row.Time, row.Value)), 'f', 6, 64)})
	})
	if err != nil {
		return warnings, err
	}
	cw.Flush()
	return warnings, cw.Error()
}

// InputError is a problem with the input CSV rather than with writing the
// output: callers tell a bad file (the user's to fix) from a failed write.
type InputError struct {
	Line   int // in the file, from 1 (the header, or the first line of an empty file)
	Column int // in bytes from 1 when known, else 0
	Err    error
}

func (e *InputError) Error() string {
	if e.Column > 0 {
		return fmt.Sprintf("line %d, column %d: %v", e.Line, e.Column, e.Err)
	}
	return fmt.Sprintf("line %d: %v", e.Line, e.Err)
}

// Unwrap returns the underlying problem.
func (e *InputError) Unwrap() error { return e.Err }

// readRows parses the CSV and calls each with every row, in order.
func readRows(r io.Reader, each func(Row) error) (warnings []string, err error) {
	cr := csv.NewReader(bufio.NewReaderSize(r, 1<<16))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, &InputError{Line: 1, Err: errors.New("the input is empty; want a CSV with the header timestamp,value")}
	}
	if err != nil {
		return nil, csvError(err)
	}
	if len(header) < 2 || !strings.EqualFold(strings.TrimSpace(strings.TrimPrefix(header[0], "\ufeff")), "timestamp") ||
		!strings.EqualFold(strings.TrimSpace(header[1]), "value") {
		line, _ := cr.FieldPos(0)
		return nil, &InputError{Line: line, Err: fmt.Errorf("header %s, want timestamp,value", clip(strings.Join(header, ",")))}
	}
	var badValues, backwards, repeats, n int
	var prev time.Time
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return warnings, csvError(err)
		}
		// The line in the file, not the record's number: a quoted field
		// may span lines, and blank lines are skipped.
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // a line of blanks
		}
		if len(rec) < 2 {
			return warnings, &InputError{Line: line, Err: fmt.Errorf("only one field, %s; want timestamp,value separated by a comma", clip(rec[0]))}
		}
		t, err := ParseTime(rec[0])
		if err != nil {
			return warnings, &InputError{Line: line, Err: err}
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rec[1]), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			v = math.NaN()
			badValues++
		}
		if n > 0 {
			switch {
			case t.Before(prev):
				backwards++
			case t.Equal(prev):
				repeats++
			}
		}
		n++
		prev = t
		if err := each(Row{TimeText: rec[0], ValueText: rec[1], Time: t, Value: v}); err != nil {
			return warnings, err
		}
	}
	if badValues > 0 {
		warnings = append(warnings, plural(badValues, "value is not a finite number; its row is", "values are not finite numbers; their rows are")+" scored 0")
	}
	if backwards > 0 {
		warnings = append(warnings, plural(backwards, "timestamp goes", "timestamps go")+" back in time; rows are scored in input order")
	}
	if repeats > 0 {
		warnings = append(warnings, plural(repeats, "timestamp repeats", "timestamps repeat")+" the previous one")
	}
	return warnings, nil
}

// plural is n with the phrase that agrees with it.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// csvError turns the CSV reader's error into an InputError at the line
// to fix: for a quote left open, the line it was opened on, which may be
// far above where the reader gave up.
func csvError(err error) error {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return &InputError{Line: 1, Err: err}
	}
	if errors.Is(pe.Err, csv.ErrQuote) && pe.StartLine != pe.Line {
		return &InputError{Line: pe.StartLine, Err: fmt.Errorf("a quoted field opened on this line is still open at line %d; close or remove the quote", pe.Line)}
	}
	hint := ""
	if errors.Is(pe.Err, csv.ErrBareQuote) || errors.Is(pe.Err, csv.ErrQuote) {
		hint = `; quote the whole field and double the quotes inside it ("a""b"), or remove the quote`
	}
	return &InputError{Line: pe.Line, Column: pe.Column, Err: fmt.Errorf("%w%s", pe.Err, hint)}
}

// clip quotes s for an error message, cut to 40 characters: a message
// about a 5 MB line should not be 5 MB.
func clip(s string) string {
	const keep = 40
	if len(s) <= keep {
		return strconv.Quote(s)
	}
	cut := keep
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(s[:cut]), len(s))
}

// ParseTime reads "YYYY-MM-DD HH:MM:SS[.frac]", RFC 3339, or Unix seconds
// (integer or fractional), as UTC.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) && math.Abs(f) < 1e12 {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("timestamp %s is neither YYYY-MM-DD HH:MM:SS nor Unix seconds", clip(s))
}

// WriteScores writes timestamp,value,anomaly_score, one row per input
// row in order, with the input's own text for the first two columns.
func WriteScores(w io.Writer, rows []Row, scores []float64) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"timestamp", "value", "anomaly_score"}); err != nil {
		return err
	}
	for i, r := range rows {
		if err := cw.Write([]string{r.TimeText, r.ValueText, strconv.FormatFloat(scores[i], 'f', 6, 64)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// Kinds are the detectors NewDetector knows, the default first.
var Kinds = []string{"ensemble", "robust", "seasonal", "iforest", "cusum", "records"}

// NewDetector returns a detector by name: the ensemble (the default and
// the best), its records alone, or one of the other detectors alone,
// calibrated the same way.
func NewDetector(kind string, o Options) (Detector, error) {
	o = o.withDefaults()
	switch kind {
	case "", "ensemble":
		return New(o), nil
	case "records":
		return newDesign(o, design{recordGain: defaultDesign.recordGain, residRecord: true}), nil
	case "robust":
		return newCalibrated(o, newRobustZ(o.Window), newDiffZ(o.Window)), nil
	case "seasonal":
		e := newEnsemble(o)
		e.ds = newDeseason(o.Window)
		e.value = []*channel{calibrated(newRobustZ(o.Window), o, 1)}
		e.resid = []*channel{calibrated(newRobustZ(o.Window), o, 1)}
		return e, nil
	case "iforest":
		return newCalibrated(o, newIsolation(o.Window, 1)), nil
	case "cusum":
		return newCalibrated(o, newCUSUM(o.Window)), nil
	}
	return nil, fmt.Errorf("unknown detector %q; choose one of %s", kind, strings.Join(Kinds, ", "))
}

// ScoreRows runs d over rows in order and returns a score in [0, 1] per
// row; rows without a number score 0.
func ScoreRows(d Detector, rows []Row) []float64 {
	out := make([]float64, len(rows))
	for i, r := range rows {
		out[i] = unitScore(d.Score(r.Time, r.Value))
	}
	return out
}

// unitScore keeps a score in [0, 1], NaN as 0.
func unitScore(s float64) float64 {
	if math.IsNaN(s) || s < 0 {
		return 0
	}
	return math.Min(s, 1)
}
