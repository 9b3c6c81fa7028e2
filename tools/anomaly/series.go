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
	cr := csv.NewReader(bufio.NewReaderSize(r, 1<<16))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, errors.New("the input is empty; want a CSV with the header timestamp,value")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("line 1: %w", err)
	}
	if len(header) < 2 || !strings.EqualFold(strings.TrimSpace(strings.TrimPrefix(header[0], "\ufeff")), "timestamp") ||
		!strings.EqualFold(strings.TrimSpace(header[1]), "value") {
		return nil, nil, fmt.Errorf("line 1: header %q, want timestamp,value", strings.Join(header, ","))
	}
	var badValues, backwards, repeats int
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, warnings, fmt.Errorf("line %d: %w", line, err)
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // a blank line
		}
		if len(rec) < 2 {
			return nil, warnings, fmt.Errorf("line %d: %d field, want timestamp,value", line, len(rec))
		}
		t, err := ParseTime(rec[0])
		if err != nil {
			return nil, warnings, fmt.Errorf("line %d: %w", line, err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rec[1]), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			v = math.NaN()
			badValues++
		}
		if n := len(rows); n > 0 {
			switch {
			case t.Before(rows[n-1].Time):
				backwards++
			case t.Equal(rows[n-1].Time):
				repeats++
			}
		}
		rows = append(rows, Row{TimeText: rec[0], ValueText: rec[1], Time: t, Value: v})
	}
	if badValues > 0 {
		warnings = append(warnings, fmt.Sprintf("%d values are not finite numbers; their rows are scored 0", badValues))
	}
	if backwards > 0 {
		warnings = append(warnings, fmt.Sprintf("%d timestamps go back in time; rows are scored in input order", backwards))
	}
	if repeats > 0 {
		warnings = append(warnings, fmt.Sprintf("%d timestamps repeat the previous one", repeats))
	}
	return rows, warnings, nil
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
	return time.Time{}, fmt.Errorf("timestamp %q is neither YYYY-MM-DD HH:MM:SS nor Unix seconds", s)
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
var Kinds = []string{"ensemble", "robust", "seasonal", "iforest", "cusum"}

// NewDetector returns a detector by name: the ensemble (the default and
// the best), or one of its parts alone, calibrated the same way.
func NewDetector(kind string, o Options) (Detector, error) {
	o = o.withDefaults()
	switch kind {
	case "", "ensemble":
		return New(o), nil
	case "robust":
		return newEnsemble(o, newRobustZ(o.Window), newDiffZ(o.Window)), nil
	case "seasonal":
		return newSeasonalEnsemble(o, func() []raw { return []raw{newRobustZ(o.Window)} }), nil
	case "iforest":
		return newEnsemble(o, newIsolation(o.Window, 1)), nil
	case "cusum":
		return newEnsemble(o, newCUSUM(o.Window)), nil
	}
	return nil, fmt.Errorf("unknown detector %q; choose one of %s", kind, strings.Join(Kinds, ", "))
}

// ScoreRows runs d over rows in order and returns a score in [0, 1] per
// row; rows without a number score 0.
func ScoreRows(d Detector, rows []Row) []float64 {
	out := make([]float64, len(rows))
	for i, r := range rows {
		s := d.Score(r.Time, r.Value)
		if math.IsNaN(s) || s < 0 {
			s = 0
		}
		out[i] = math.Min(s, 1)
	}
	return out
}
