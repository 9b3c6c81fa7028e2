// Package nab scores anomaly detectors the way the Numenta Anomaly Benchmark
// does, from its published rules: a probationary period that is not scored,
// labelled windows in which the earliest detection earns a reward through a
// scaled sigmoid, false positives that cost less just after a window, missed
// windows, one threshold per profile optimised over the whole corpus, and a
// score normalised so that the null detector gets 0 and the perfect one 100.
//
// It is a test-side tool: the detectors are evaluated with it, and the
// figures in docs/benchmarks.md come from it.
package nab

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Profile is a cost matrix.
type Profile struct {
	Name       string
	TP, FP, FN float64
}

// Profiles are NAB's three: standard, reward_low_FP_rate, reward_low_FN_rate.
var Profiles = []Profile{
	{"standard", 1, 0.11, 1},
	{"reward_low_FP_rate", 1, 0.22, 1},
	{"reward_low_FN_rate", 1, 0.11, 2},
}

// File is one data file with a detector's scores.
type File struct {
	Name       string
	Timestamps []time.Time
	Values     []float64
	Scores     []float64
	// Windows are the labelled anomaly windows, inclusive at both ends.
	Windows [][2]time.Time
}

// Result is a profile's score over a corpus.
type Result struct {
	Profile    string
	Normalized float64
	Raw        float64
	Threshold  float64
	// Null and Perfect are the raw scores of the null and perfect
	// detectors, the ends of the normalisation.
	Null, Perfect float64
	// TP counts detected windows, FN missed ones, FP detections outside
	// windows.
	TP, FN, FP int
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// scaledSigmoid is NAB's reward curve: 0.987 at a window's left edge, 0 at
// its right edge, falling to -1 three window-widths after it.
func scaledSigmoid(pos float64) float64 {
	if pos >= 3 {
		return -1
	}
	return 2*sigmoid(-5*pos) - 1
}

// point is one scorable row: its anomaly score, its weighted reward if
// detected, and its window (-1 outside windows).
type point struct {
	score  float64
	reward float64
	window int
}

// probation is NAB's probationary length: 15 % of the rows, at most 750.
func probation(n int) int {
	return int(math.Min(math.Floor(0.15*float64(n)), 0.15*5000))
}

// sweep computes every row's reward under p, as NAB's sweeper does, and
// returns the scorable rows with window IDs offset by base.
func sweep(f File, p Profile, base int) ([]point, int, error) {
	n := len(f.Timestamps)
	if len(f.Scores) != n {
		return nil, 0, fmt.Errorf("%s: %d scores for %d rows", f.Name, len(f.Scores), n)
	}
	index := make(map[int64]int, n)
	for i, t := range f.Timestamps {
		index[t.UnixNano()] = i
	}
	type win struct{ left, right int }
	var wins []win
	for _, w := range f.Windows {
		l, ok1 := index[w[0].UnixNano()]
		r, ok2 := index[w[1].UnixNano()]
		if !ok1 || !ok2 {
			return nil, 0, fmt.Errorf("%s: window %v–%v does not fall on rows", f.Name, w[0], w[1])
		}
		wins = append(wins, win{l, r})
	}
	maxTP := scaledSigmoid(-1)
	prob := probation(n)
	var out []point
	cur, prevRight, prevWidth := -1, -1, 0.0
	next := 0
	windowsSeen := map[int]bool{}
	for i := 0; i < n; i++ {
		if next < len(wins) && i == wins[next].left {
			cur = next
			next++
		}
		var reward float64
		w := -1
		if cur >= 0 {
			width := float64(wins[cur].right - wins[cur].left + 1)
			pos := -float64(wins[cur].right-i+1) / width
			reward = scaledSigmoid(pos) * p.TP / maxTP
			w = base + cur
		} else {
			pos := 3.0
			if prevRight >= 0 {
				pos = math.Abs(float64(prevRight-i)) / (prevWidth - 1)
			}
			reward = scaledSigmoid(pos) * p.FP
		}
		if i >= prob {
			s := f.Scores[i]
			if math.IsNaN(s) {
				return nil, 0, fmt.Errorf("%s: row %d: NaN score", f.Name, i+1)
			}
			out = append(out, point{s, reward, w})
			if w >= 0 {
				windowsSeen[w] = true
			}
		}
		if cur >= 0 && i == wins[cur].right {
			prevRight, prevWidth = i, float64(wins[cur].right-wins[cur].left+1)
			cur = -1
		}
	}
	return out, len(windowsSeen), nil
}

// Score scores a corpus under one profile, with the threshold that
// maximises the corpus score.
func Score(files []File, p Profile) (Result, error) {
	var all []point
	windows := map[int]bool{}
	base := 0
	for _, f := range files {
		pts, _, err := sweep(f, p, base)
		if err != nil {
			return Result{}, err
		}
		for _, pt := range pts {
			if pt.window >= 0 {
				windows[pt.window] = true
			}
		}
		all = append(all, pts...)
		base += len(f.Windows)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].score > all[j].score })
	// Sweep the threshold down through every distinct score. At each, the
	// corpus score is the false positives' costs plus, per window, the
	// best reward of a detection in it (or the miss cost).
	best := make(map[int]float64, len(windows))
	for w := range windows {
		best[w] = -p.FN
	}
	nw := float64(len(windows))
	fpSum, winSum := 0.0, -p.FN*nw
	res := Result{Profile: p.Name, Raw: winSum, Threshold: 1.1, FN: len(windows)}
	tp, fp := 0, 0
	for i := 0; i < len(all); {
		thr := all[i].score
		for ; i < len(all) && all[i].score == thr; i++ {
			pt := all[i]
			if pt.window < 0 {
				fpSum += pt.reward
				fp++
				continue
			}
			if old := best[pt.window]; pt.reward > old {
				if old == -p.FN {
					tp++
				}
				winSum += pt.reward - old
				best[pt.window] = pt.reward
			}
		}
		if s := fpSum + winSum; s > res.Raw {
			res.Raw, res.Threshold, res.TP, res.FN, res.FP = s, thr, tp, len(windows)-tp, fp
		}
	}
	res.Null, res.Perfect = -p.FN*nw, p.TP*nw
	if res.Perfect != res.Null {
		res.Normalized = 100 * (res.Raw - res.Null) / (res.Perfect - res.Null)
	}
	return res, nil
}

// LoadCorpus reads NAB's data folder layout: data/<category>/<file>.csv
// and labels/combined_windows.json.
func LoadCorpus(dir string) ([]File, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "labels", "combined_windows.json"))
	if err != nil {
		return nil, err
	}
	var labels map[string][][2]string
	if err := json.Unmarshal(raw, &labels); err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	names := make([]string, 0, len(labels))
	for k := range labels {
		names = append(names, k)
	}
	sort.Strings(names)
	var files []File
	for _, name := range names {
		f, err := os.Open(filepath.Join(dir, "data", name))
		if err != nil {
			return nil, err
		}
		ts, vs, err := ReadCSV(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		file := File{Name: name, Timestamps: ts, Values: vs}
		for _, w := range labels[name] {
			a, err1 := parseTime(w[0])
			b, err2 := parseTime(w[1])
			if err := errors.Join(err1, err2); err != nil {
				return nil, fmt.Errorf("%s: window: %w", name, err)
			}
			file.Windows = append(file.Windows, [2]time.Time{a, b})
		}
		files = append(files, file)
	}
	return files, nil
}

func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"2006-01-02 15:04:05.000000", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %q", s)
}

// ReadCSV reads timestamp,value rows.
func ReadCSV(r io.Reader) ([]time.Time, []float64, error) {
	cr := csv.NewReader(bufio.NewReader(r))
	if _, err := cr.Read(); err != nil {
		return nil, nil, err
	}
	var ts []time.Time
	var vs []float64
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return ts, vs, nil
		}
		if err != nil {
			return nil, nil, err
		}
		t, err := parseTime(rec[0])
		if err != nil {
			return nil, nil, err
		}
		v, err := strconv.ParseFloat(rec[1], 64)
		if err != nil {
			return nil, nil, err
		}
		ts = append(ts, t)
		vs = append(vs, v)
	}
}
