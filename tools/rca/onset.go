package rca

import (
	"math"
	"sort"
	"time"
)

// findOnset picks, when no onset is given, the sample time after which the
// metrics move most: each candidate in the middle of the window (at most
// 60 of them) is scored as an onset, and the one with the largest sum of
// metric scores wins. Every case format and the rca_rank tool carry an
// onset, so this is the fallback; a mean-shift change-point vote was
// measured against it and dropped (docs/benchmarks.md): it finds a clean
// level shift to the sample, but ranks worse on the dev cases, whose
// lead-ins hold earlier faults.
func findOnset(c *Case) time.Time {
	times := sampleTimes(c)
	if len(times) < 8 {
		if len(times) == 0 {
			return time.Time{}
		}
		return times[len(times)/2]
	}
	return bestOnset(c, times[len(times)/4:len(times)-2], times[len(times)/2])
}

// refineOnset moves an onset read from an alert back to when the metrics
// began to move, within slack before it: the alert fired after its
// condition held for its `for:` duration, and its condition after its rate
// window filled, so its start is minutes late, and measured from it the
// fault's first minutes would count as the normal level. The candidate
// after which the metrics move most wins; the given onset competes first,
// so that a tie keeps it. It never moves the onset later.
func refineOnset(c *Case, onset time.Time, slack time.Duration) time.Time {
	if slack <= 0 || len(sampleTimes(c)) < 8 {
		return onset
	}
	cands := []time.Time{onset}
	for _, t := range sampleTimes(c) {
		if !t.Before(onset.Add(-slack)) && t.Before(onset) {
			cands = append(cands, t)
		}
	}
	return bestOnset(c, cands, onset)
}

// onsetScorer scores a time as an onset: the sum of every metric's score
// after it against before it, and a full score for every metric that
// reported before it and not after (a service that went away: scored by
// its moves alone, the times before it went away would win, when its last
// samples still fall).
func onsetScorer(c *Case) func(time.Time) float64 {
	step := math.Max(samplingStep(c).Seconds(), 1)
	var prep []prepared
	for _, s := range c.Services() {
		prep = append(prep, prepareService(c.Metrics[s], c.Baseline[s])...)
	}
	return func(t time.Time) float64 {
		w := window{onset: float64(t.UnixNano()) / 1e9, step: step, before: math.Max(1800, 10*step),
			after: math.Max(300, 3*step), recent: math.Max(600, 3*step)}
		total := 0.0
		for _, p := range prep {
			if e, ok := score(p, w); ok {
				total += e.Score
			} else if n := len(p.t); n > 0 && p.t[0] <= w.onset-w.step && p.t[n-1] <= w.onset {
				total++ // stopped reporting: as clear as a move gets
			}
		}
		return total
	}
}

func sampleTimes(c *Case) []time.Time {
	var times []time.Time
	seen := map[int64]bool{}
	for _, m := range c.Metrics {
		for _, s := range m {
			for _, x := range s {
				if !seen[x.T.UnixNano()] {
					seen[x.T.UnixNano()] = true
					times = append(times, x.T)
				}
			}
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	return times
}

// bestOnset scores each candidate as an onset (at most 60 of them, evenly
// thinned) and returns the one after which the metrics move most, or def
// when none scores.
func bestOnset(c *Case, cands []time.Time, def time.Time) time.Time {
	if len(cands) > 60 {
		k := len(cands) / 60
		var thin []time.Time
		for i := 0; i < len(cands); i += k {
			thin = append(thin, cands[i])
		}
		cands = thin
	}
	sc := onsetScorer(c)
	best, bestAt := -1.0, def
	for _, t := range cands {
		if total := sc(t); total > best {
			best, bestAt = total, t
		}
	}
	return bestAt
}
