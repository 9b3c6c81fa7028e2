package anomaly

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/watchkeeper/watchkeeper/tools"
)

// Kind is what a series measures. It decides how a change is measured —
// as a difference or as a factor — and how large it must be to matter,
// which a spread estimated from the data alone cannot say: a ratio that
// sat at exactly 0 has no spread, yet 0 → 0.6 % errors is not an
// incident and 0.5 % → 25 % is.
type Kind string

// The kinds. KindAuto infers one from the values.
const (
	KindAuto Kind = ""
	// KindRatio is a share in [0, 1], such as an error ratio: changes in
	// percentage points, one point at least — ten times the error budget
	// of a 99.9 % objective, about the burn rate that pages in an hour.
	KindRatio Kind = "ratio"
	// KindRate is events per second, such as requests: changes as
	// factors, 1.5 at least (a third less or half as much again).
	KindRate Kind = "rate"
	// KindLatency is a duration in seconds: factors, 1.5 at least.
	KindLatency Kind = "latency"
	// KindUsage is a resource in use, such as CPU cores: factors, 1.5 at
	// least.
	KindUsage Kind = "usage"
	// KindBytes is a size in bytes, such as memory: factors, 1.5 at least.
	KindBytes Kind = "bytes"
	// KindCount is events per interval, such as restarts: differences,
	// one event at least.
	KindCount Kind = "count"
	// KindLevel is anything else (it may be negative): differences, at
	// least 5 % of its usual magnitude or range.
	KindLevel Kind = "level"
)

// kindSpec is how one kind behaves.
type kindSpec struct {
	// relative kinds are measured on the log of the values, so a change is
	// a factor; the others as differences.
	relative bool
	// floor is the smallest change that matters (a log factor for
	// relative kinds); 0 takes 5 % of the series' magnitude.
	floor float64
	// format prints a value of the kind.
	format func(float64) string
}

var kindTable = map[Kind]kindSpec{
	KindRatio:   {floor: 0.01, format: percent},
	KindRate:    {relative: true, floor: math.Log(1.5), format: func(v float64) string { return num(v) + "/s" }},
	KindLatency: {relative: true, floor: math.Log(1.5), format: tools.Seconds},
	KindUsage:   {relative: true, floor: math.Log(1.5), format: num},
	KindBytes:   {relative: true, floor: math.Log(1.5), format: tools.Bytes},
	KindCount:   {floor: 1, format: num},
	KindLevel:   {format: num},
}

// ParseKind reads a kind's name; "" and "auto" are KindAuto.
func ParseKind(s string) (Kind, error) {
	k := Kind(strings.ToLower(strings.TrimSpace(s)))
	if k == "auto" {
		return KindAuto, nil
	}
	if _, ok := kindTable[k]; ok || k == KindAuto {
		return k, nil
	}
	return "", fmt.Errorf("unknown kind %q; use ratio, rate, latency, usage, bytes, count, level or auto", s)
}

// inferKind guesses a kind from the values: shares stay in [0, 1],
// resources and rates are never negative, anything else is a level.
func inferKind(vs []float64) Kind {
	share, positive, any := true, true, false
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		any = true
		if v < 0 {
			positive, share = false, false
			break
		}
		if v > 1 {
			share = false
		}
	}
	switch {
	case !any:
		return KindLevel
	case share:
		return KindRatio
	case positive:
		return KindUsage
	}
	return KindLevel
}

// maxZ caps Finding.Z: past it the number says nothing more, and a
// baseline that never varied would make it infinite.
const maxZ = 1000

// measure is one series prepared for measuring changes: its values on
// the kind's scale (the log for relative kinds), a baseline per point,
// the baseline's noise, and the change that matters.
type measure struct {
	kind     Kind
	spec     kindSpec
	x        []float64 // NaN where a value is missing
	eps      float64   // offset of the log, so that 0 stays finite
	base     []float64
	seasonal bool
	sigma    float64 // robust spread of the baseline's residuals
	need     float64 // the change that matters, on the x scale
}

// newMeasure transforms s's values into x (which it keeps); nil when
// there is no finite value. scratch must hold len(s.Values) values.
func newMeasure(s Series, x, scratch []float64) *measure {
	k := s.Kind
	if k == KindAuto {
		k = inferKind(s.Values)
	}
	spec, ok := kindTable[k]
	if !ok {
		k, spec = KindLevel, kindTable[KindLevel]
	}
	m := &measure{kind: k, spec: spec, x: x}
	if spec.relative {
		// Zeros become a small positive level: a hundredth of the series'
		// typical magnitude, so that 0 → typical is a large factor and a
		// few stray events on a dead series are not.
		mags := scratch[:0]
		for _, v := range s.Values {
			if v > 0 && !math.IsInf(v, 0) {
				mags = append(mags, v)
			}
		}
		if len(mags) == 0 {
			m.eps = 1
		} else {
			m.eps = 0.01 * selectMedian(mags)
		}
	}
	finite := false
	for i, v := range s.Values {
		switch {
		case math.IsNaN(v) || math.IsInf(v, 0):
			x[i] = math.NaN()
		case spec.relative:
			x[i] = math.Log(math.Max(v, 0) + m.eps)
			finite = true
		default:
			x[i] = v
			finite = true
		}
	}
	if !finite {
		return nil
	}
	return m
}

// baseline sets the baseline of every point — the same time on earlier
// days when the daily rhythm explains the series, else the median of the
// window points before first — and the noise and the change that
// matters.
func (m *measure) baseline(times []time.Time, first, window int, base, scratch []float64) {
	m.base = base
	lo := max(0, first-window)
	m.seasonal = seasonalBaseline(times, m.x, base, scratch)
	if !m.seasonal {
		w := scratch[:0]
		for _, v := range m.x[lo:first] {
			if !math.IsNaN(v) {
				w = append(w, v)
			}
		}
		med := math.NaN()
		if len(w) > 0 {
			med = selectMedian(w)
		}
		for i := range base {
			base[i] = med
		}
	}
	// The noise: the robust spread of what the baseline left over,
	// before the range.
	res := scratch[:0]
	for i := lo; i < first; i++ {
		if r := m.x[i] - base[i]; !math.IsNaN(r) {
			res = append(res, math.Abs(r))
		}
	}
	if len(res) > 0 {
		m.sigma = 1.4826 * selectMedian(res)
	}
	m.need = math.Max(m.spec.floor, zMin*m.sigma)
	if m.spec.floor == 0 {
		m.need = math.Max(m.need, 0.05*m.magnitude(scratch))
	}
}

// magnitude is the series' usual size for levels: the larger of its
// median's absolute value and its 5–95 % range, never 0.
func (m *measure) magnitude(scratch []float64) float64 {
	w := scratch[:0]
	for _, v := range m.x {
		if !math.IsNaN(v) {
			w = append(w, v)
		}
	}
	if len(w) == 0 {
		return 1e-9
	}
	med := math.Abs(selectMedian(w))
	lo, hi := quickselect(w, len(w)/20), quickselect(w, len(w)-1-len(w)/20)
	return math.Max(math.Max(med, hi-lo), 1e-9)
}

// effect is the change at i against its baseline, on the x scale, of the
// median of i and its neighbours: one odd sample is not a change.
func (m *measure) effect(i int) float64 {
	if math.IsNaN(m.base[i]) {
		return math.NaN()
	}
	var w [3]float64
	k := 0
	for j := max(0, i-1); j <= min(len(m.x)-1, i+1); j++ {
		if !math.IsNaN(m.x[j]) {
			w[k] = m.x[j]
			k++
		}
	}
	if k == 0 || math.IsNaN(m.x[i]) {
		return math.NaN()
	}
	var v float64
	switch k {
	case 1:
		v = w[0]
	case 2:
		v = (w[0] + w[1]) / 2
	default:
		v = median3(w[0], w[1], w[2])
	}
	return v - m.base[i]
}

// value turns an x back into the series' units.
func (m *measure) value(x float64) float64 {
	if m.spec.relative {
		return math.Exp(x) - m.eps
	}
	return x
}

// finding measures the change at peak; scanned is how many points the
// peak was chosen from.
func (m *measure) finding(peak, scanned int) Finding {
	e := m.effect(peak)
	a := math.Abs(e)
	f := Finding{Kind: m.kind, Seasonal: m.seasonal, Up: e > 0,
		Value: m.value(m.base[peak] + e), Baseline: m.value(m.base[peak])}
	f.Severity = a / m.need
	f.Score = f.Severity / (1 + f.Severity)
	z := math.Inf(1)
	if m.sigma > 0 || a == 0 {
		z = a / math.Max(m.sigma, math.SmallestNonzeroFloat64)
	}
	f.Z = math.Min(z, maxZ)
	p := math.Erfc(z/math.Sqrt2) * float64(max(scanned, 1))
	f.Confidence = 1 - math.Min(1, p)
	f.Change = f.Value - f.Baseline
	if m.spec.relative {
		f.Change = math.Exp(e)
	}
	return f
}

// describeChange says how a finding's value compares with its baseline,
// in the kind's own terms: "0.60% → 25.6% (+25.0 pp)", "46.2/s → 57.3/s
// (+24%)", "110 MiB → 380 MiB (3.5×)".
func describeChange(f Finding) string {
	spec, ok := kindTable[f.Kind]
	if !ok {
		spec = kindTable[KindLevel]
	}
	var change string
	switch {
	case f.Kind == KindRatio:
		change = fmt.Sprintf("%+.1f pp", 100*f.Change)
	case spec.relative && (f.Change >= 2 || f.Change <= 0):
		change = fmt.Sprintf("%.1f×", f.Change)
	case spec.relative:
		change = fmt.Sprintf("%+.0f%%", 100*(f.Change-1))
	default:
		change = signed(f.Change)
	}
	return fmt.Sprintf("%s → %s (%s)", spec.format(f.Baseline), spec.format(f.Value), change)
}

func signed(v float64) string {
	if v >= 0 {
		return "+" + num(v)
	}
	return "−" + num(-v)
}

func percent(v float64) string {
	switch a := math.Abs(100 * v); {
	case a == 0:
		return "0%"
	case a < 1:
		return fmt.Sprintf("%.2f%%", 100*v)
	case a < 10:
		return fmt.Sprintf("%.1f%%", 100*v)
	}
	return fmt.Sprintf("%.0f%%", 100*v)
}
