package anomaly

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/eval/nab"
)

// The generated suite is the check against tuning to NAB's dev files: a
// seeded population of series that vary what real systems vary —
// sampling step (regular or jittered with gaps), daily and weekly rhythm
// or none, noise level and kind (none to heavy-tailed), trends,
// quantisation, low counts with zero stretches, bursty counts, and what
// is measured (counts, error ratios, latencies, utilisations,
// temperatures, byte rates) — with labelled anomalies of every kind an
// operator cares about, and benign events that are not anomalies
// (periodic jobs, heavy tails, slow drift, weekends). Windows follow NAB's
// convention: 10 % of the series divided among its anomalies, centred on
// each onset. About a fifth of the series have no anomaly.
//
// An anomaly is kept only when it is visible: each series is generated
// twice from the same random numbers, with and without it, and the
// difference must stand out from the series' own noise (a count series
// whose outage drops 0.3 requests a minute to 0 has nothing to label).
// Nothing here was fitted to a detector: the ranges are what monitoring
// data looks like, fixed before any detector was scored on them.

var genSteps = []time.Duration{time.Minute, 5 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, time.Hour}

var genKinds = []string{"count", "ratio", "latency", "utilisation", "gauge", "bytes", "bursty"}

var genAnomalies = []string{"spike", "dip", "shift up", "shift down", "variance", "rhythm stops", "outage", "stuck",
	"ramp", "spike density", "wrong phase", "burst"}

// genFile is one generated series before it becomes a nab.File.
type genFile struct {
	name      string
	times     []time.Time
	values    []float64
	anomalies []int // onsets
}

// generatedSuite returns n labelled series; the same seed gives the same
// suite.
func generatedSuite(seed uint64, n int) []nab.File {
	out := make([]nab.File, 0, n)
	for k := range n {
		g := generate(seed, k)
		f := nab.File{Name: g.name, Timestamps: g.times, Values: g.values}
		if len(g.anomalies) > 0 {
			width := len(g.values) / 10 / len(g.anomalies)
			for _, a := range g.anomalies {
				lo, hi := max(0, a-width/2), min(len(g.values)-1, a+width/2)
				f.Windows = append(f.Windows, [2]time.Time{g.times[lo], g.times[hi]})
			}
		}
		out = append(out, f)
	}
	return out
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

func logUniform(rng *rand.Rand, lo, hi float64) float64 {
	return math.Exp(math.Log(lo) + rng.Float64()*(math.Log(hi)-math.Log(lo)))
}

// poisson draws a Poisson count (normal approximation for large means).
func poisson(rng *rand.Rand, lambda float64) float64 {
	if lambda <= 0 {
		return 0
	}
	if lambda > 50 {
		return math.Max(0, math.Round(lambda+math.Sqrt(lambda)*rng.NormFloat64()))
	}
	l, k, p := math.Exp(-lambda), 0.0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// genAnomaly is one injected anomaly.
type genAnomaly struct {
	kind     string
	at, dur  int
	strength float64 // 1 … 2
}

// genSeries holds what a series is made of, drawn once; render turns it
// into values with or without its anomalies.
type genSeries struct {
	seed, k    uint64
	n          int
	step       time.Duration
	jitter     bool
	kind       string
	start      time.Time
	dayAmp     float64
	weekAmp    float64
	business   bool
	phase      float64
	trend      float64
	wander     float64
	cron       int
	noiseKind  int
	noise      float64
	base       float64
	requests   float64
	quantum    float64
	burstRate  float64
	anomalies  []genAnomaly
	seasonName string
}

func generate(seed uint64, k int) genFile {
	rng := rand.New(rand.NewPCG(seed, uint64(k)+1))
	g := genSeries{seed: seed, k: uint64(k)}
	g.step = pick(rng, genSteps)
	g.jitter = rng.IntN(7) == 0
	g.n = 1500 + rng.IntN(5500)
	g.kind = pick(rng, genKinds)
	g.start = time.Date(2025, time.Month(1+rng.IntN(12)), 1+rng.IntN(28), rng.IntN(24), 0, 0, 0, time.UTC)
	seasonKind := rng.IntN(10) // 0-2 none, 3-7 daily, 8-9 daily + weekly
	g.seasonName = "flat"
	if seasonKind >= 3 {
		g.dayAmp = 0.2 + 0.7*rng.Float64()
		g.seasonName = "daily"
	}
	if seasonKind >= 8 {
		g.weekAmp = 0.2 + 0.5*rng.Float64()
		g.seasonName = "weekly"
	}
	g.business = rng.IntN(2) == 0
	g.phase = rng.Float64() * 24
	if rng.IntN(3) == 0 {
		g.trend = (rng.Float64() - 0.3) * 0.5 // relative change over the series
	}
	if rng.IntN(2) == 0 {
		g.wander = 0.02 + 0.08*rng.Float64()
	}
	if rng.IntN(5) == 0 {
		g.cron = pick(rng, []int{1, 2, 6, 24}) // a periodic job: benign bursts
	}
	g.noiseKind = rng.IntN(4) // gaussian, heavy-tailed, multiplicative, AR(1)
	g.noise = logUniform(rng, 0.02, 0.3)
	if rng.IntN(10) == 0 {
		g.noise = 0.001 // nearly noiseless, like a synthetic or a smooth gauge
	}
	g.base = map[string]float64{
		"count": logUniform(rng, 0.5, 5000), "ratio": logUniform(rng, 1e-4, 0.05), "latency": logUniform(rng, 0.005, 2),
		"utilisation": 5 + 60*rng.Float64(), "gauge": 20 + 60*rng.Float64(), "bytes": logUniform(rng, 1e3, 1e9),
		"bursty": logUniform(rng, 2, 200),
	}[g.kind]
	g.requests = logUniform(rng, 20, 20000)
	if g.kind == "utilisation" || g.kind == "gauge" {
		g.quantum = pick(rng, []float64{0, 0, 0.001, 0.1, 1})
	}
	g.burstRate = logUniform(rng, 0.2, 3) // benign bursts a day, for bursty counts

	// Anomalies: onsets after the probationary period, apart, in time
	// order; persistent ones (shifts, ramps) last to the end.
	na := pick(rng, []int{0, 1, 1, 1, 2, 2, 3})
	width := g.n / 10 / max(1, na)
	for len(g.anomalies) < na {
		a := genAnomaly{kind: pick(rng, genAnomalies), at: g.n/5 + rng.IntN(g.n*3/4), strength: 1 + rng.Float64()}
		ok := a.at < g.n-20
		for _, b := range g.anomalies {
			if a.at > b.at-2*width && a.at < b.at+2*width {
				ok = false
			}
		}
		if !ok {
			continue
		}
		switch a.kind {
		case "spike", "dip":
			a.dur = 1 + rng.IntN(3)
		case "rhythm stops", "wrong phase":
			if g.dayAmp == 0 {
				a.kind = "shift up"
			}
			a.dur = int(time.Duration(6+rng.IntN(18)) * time.Hour / g.step)
		default:
			a.dur = 20 + rng.IntN(200)
		}
		if a.kind == "shift up" || a.kind == "shift down" || a.kind == "ramp" {
			a.dur = g.n
		}
		g.anomalies = append(g.anomalies, a)
	}
	sort.Slice(g.anomalies, func(i, j int) bool { return g.anomalies[i].at < g.anomalies[j].at })

	// Keep only visible anomalies: compare with the clean series.
	times, clean := g.render(nil)
	noise := noiseScale(clean)
	var kept []genAnomaly
	for _, a := range g.anomalies {
		_, with := g.render([]genAnomaly{a})
		if visible(clean, with, a, noise) {
			kept = append(kept, a)
		}
	}
	_, vals := g.render(kept)
	name := fmt.Sprintf("gen/%02d_%s_%s_%v", k, g.kind, g.seasonName, g.step)
	if g.jitter {
		name += "~"
	}
	var onsets []int
	for _, a := range kept {
		name += "_" + a.kind
		onsets = append(onsets, a.at)
	}
	return genFile{name: name, times: times, values: vals, anomalies: onsets}
}

// noiseScale is the robust spread of a series' steps, or of its values
// when most steps are zero.
func noiseScale(vs []float64) float64 {
	d := make([]float64, 0, len(vs))
	for i := 1; i < len(vs); i++ {
		d = append(d, math.Abs(vs[i]-vs[i-1]))
	}
	s := 1.4826 * selectMedian(append([]float64(nil), d...)) / math.Sqrt2
	if s > 0 {
		return s
	}
	return mean(d) + 1e-12
}

// visible says whether an anomaly changes the series enough for a person
// to see it: a few points far outside the noise, or a stretch whose
// typical change is larger than the noise, or a stretch that goes flat.
func visible(clean, with []float64, a genAnomaly, noise float64) bool {
	end := min(len(clean), a.at+max(a.dur, 1))
	end = min(end, a.at+300)
	// A short anomaly must also stand out from what the series does
	// around it: a spike of a bursty series hides among its bursts.
	around := append([]float64(nil), clean[max(0, a.at-300):min(len(clean), a.at+300)]...)
	sort.Float64s(around)
	spread := around[len(around)*99/100] - around[len(around)/100]
	big, sum := 0, 0.0
	for i := a.at; i < end; i++ {
		d := math.Abs(with[i] - clean[i])
		sum += d
		if d > 6*noise && (a.dur > 3 || d > 0.3*spread) {
			big++
		}
	}
	if big >= 1 && (a.dur <= 3 || big >= 3) {
		return true
	}
	if a.kind == "stuck" {
		return stddev(clean[a.at:end]) > 3*noise
	}
	return sum/float64(end-a.at) > 1.5*noise
}

// render draws the series' values. Every point has its own random
// numbers, so the same series with and without an anomaly differs only
// where the anomaly acts.
func (g *genSeries) render(as []genAnomaly) ([]time.Time, []float64) {
	load := func(t time.Time, walk float64) float64 {
		h := float64(t.Hour()) + float64(t.Minute())/60
		x := 1.0
		if g.dayAmp > 0 {
			var d float64
			if g.business {
				hh := math.Mod(h-g.phase+48, 24)
				d = 1/(1+math.Exp(-(hh-8)*1.5))*1/(1+math.Exp((hh-18)*1.5))*2 - 1
			} else {
				d = math.Sin(2 * math.Pi * (h - g.phase) / 24)
			}
			x *= 1 + g.dayAmp*d
		}
		if g.weekAmp > 0 && (t.Weekday() == time.Saturday || t.Weekday() == time.Sunday) {
			x *= 1 - g.weekAmp
		}
		if g.cron > 0 && t.Hour()%g.cron == 0 && t.Minute() < 10 {
			x *= 1.8
		}
		return math.Max(0.01, x*(1+walk))
	}
	times := make([]time.Time, g.n)
	vals := make([]float64, g.n)
	walk, ar, burst := 0.0, 0.0, 0.0
	stuckAt := math.NaN()
	t := g.start
	for i := range g.n {
		rng := rand.New(rand.NewPCG(g.seed^0x9e3779b97f4a7c15, g.k<<32|uint64(i)))
		if i > 0 {
			d := g.step
			if g.jitter {
				d = time.Duration(float64(g.step) * (0.5 + rng.Float64()))
				if rng.IntN(200) == 0 {
					d *= time.Duration(5 + rng.IntN(30)) // a gap
				}
			}
			t = t.Add(d.Round(time.Second))
		}
		times[i] = t
		walk = 0.999*walk + g.wander*0.05*rng.NormFloat64()
		ar = 0.9*ar + math.Sqrt(1-0.81)*rng.NormFloat64()
		eps := rng.NormFloat64()
		heavy := 1 / math.Sqrt(math.Max(0.05, rng.ExpFloat64()))
		u1, u2 := rng.Float64(), rng.Float64()
		// Benign bursts of bursty counts: news, retries, batch jobs.
		burst *= 0.9
		if rng.Float64() < g.burstRate*float64(g.step)/float64(24*time.Hour) {
			burst += logUniform(rng, 1, 20)
		}
		x := load(t, walk) * (1 + g.trend*float64(i)/float64(g.n))
		amp, level, shift := 1.0, 1.0, 1.0
		var spike, add float64
		outage, stuck := false, false
		for _, a := range as {
			if i < a.at || i >= a.at+a.dur {
				continue
			}
			s := a.strength
			switch a.kind {
			case "spike":
				spike = 3 + 4*s
			case "dip":
				level *= 0.1
			case "shift up": // against the original level: a shift after a shift is a new level, not a return
				shift = 1 + 0.6*s
			case "shift down":
				shift = 1 / (1 + 0.6*s)
			case "variance":
				amp *= 3 + 2*s
			case "rhythm stops":
				x = load(t.Add(-time.Duration(t.Hour())*time.Hour), walk) // one level all day
			case "wrong phase":
				x = load(t.Add(12*time.Hour), walk)
			case "outage":
				outage = true
			case "stuck":
				stuck = true
			case "ramp":
				add = math.Min(1, float64(i-a.at)/float64(100+50*s)) * (1 + s)
			case "spike density":
				if u2 < 0.125 {
					spike = 2 + 2*s
				}
			case "burst":
				level *= 1 + 0.8*s
				amp *= 2
			}
		}
		x = (x*level + add) * shift
		switch g.noiseKind {
		case 0:
			x *= 1 + amp*g.noise*eps
		case 1:
			x *= 1 + amp*g.noise*eps*heavy
		case 2:
			x *= math.Exp(amp * g.noise * eps)
		case 3:
			x *= 1 + amp*g.noise*ar
		}
		if spike > 0 {
			x *= 1 + spike*math.Max(g.noise, 0.15)*(1+u1)
		}
		x = math.Max(0, x)
		var v float64
		switch g.kind {
		case "count":
			v = poisson(rng, g.base*x)
		case "bursty":
			v = poisson(rng, g.base*x*(1+burst))
		case "ratio":
			reqs := poisson(rng, g.requests*load(t, walk))
			if reqs > 0 {
				v = math.Min(1, poisson(rng, reqs*math.Min(1, g.base*x))/reqs)
			}
		case "latency":
			v = g.base * x * math.Exp(0.1*rng.NormFloat64())
		case "utilisation":
			v = math.Min(100, g.base*x)
		case "gauge":
			v = g.base * (0.7 + 0.3*x)
		case "bytes":
			v = g.base * x
		}
		if g.quantum > 0 {
			v = math.Round(v/g.quantum) * g.quantum
		}
		if outage {
			v = 0
		}
		if stuck {
			if math.IsNaN(stuckAt) {
				stuckAt = v
			}
			v = stuckAt
		} else {
			stuckAt = math.NaN()
		}
		vals[i] = v
	}
	return times, vals
}

// suiteSummary says what the suite holds, for the record.
func suiteSummary(files []nab.File) string {
	kinds := map[string]int{}
	windows := 0
	for _, f := range files {
		windows += len(f.Windows)
		parts := strings.Split(f.Name, "_")
		for _, p := range parts[4:] {
			kinds[p]++
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d series, %d windows:", len(files), windows)
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(&b, " %s %d,", k, kinds[k])
	}
	return strings.TrimSuffix(b.String(), ",")
}
