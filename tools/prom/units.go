package prom

import (
	"math"
	"regexp"
	"strings"

	"github.com/watchkeeper/watchkeeper/tools"
)

// Units a query's values can be in, as valueUnit tells them.
const (
	unitBytes       = "bytes"
	unitBytesPerSec = "bytes/s"
	unitSeconds     = "seconds"
	unitRatio       = "ratio"
)

var (
	// Quoted strings, label matchers and range selectors say nothing of
	// the unit and may hold anything ("/", "*", names).
	quotedRE   = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	matchersRE = regexp.MustCompile(`\{[^{}]*\}|\[[^\[\]]*\]`)
	// Label lists of aggregations and vector matching.
	groupingRE = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	offsetRE   = regexp.MustCompile(`\boffset\s+-?[0-9a-z]+`)
	// A filter against a number at the end (an alert's threshold) keeps
	// the values' unit.
	thresholdRE = regexp.MustCompile(`\s*(?:>=|<=|==|!=|>|<)\s*(?:bool\s+)?[-+]?[0-9.]+(?:e[-+]?[0-9]+)?\s*$`)
	identRE     = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?`)
	// Numbers are written 0 so that an exponent reads neither as a name
	// nor as a subtraction.
	numberRE = regexp.MustCompile(`(^|[^A-Za-z0-9_:.])[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?`)
)

// keepsUnit are the functions and aggregations whose result is in the
// unit of their argument.
var keepsUnit = map[string]bool{
	"sum": true, "avg": true, "min": true, "max": true, "topk": true, "bottomk": true, "quantile": true,
	"stddev": true, "sort": true, "sort_desc": true, "abs": true, "clamp": true, "clamp_min": true, "clamp_max": true,
	"avg_over_time": true, "min_over_time": true, "max_over_time": true, "quantile_over_time": true,
	"last_over_time": true, "stddev_over_time": true, "label_replace": true, "label_join": true, "predict_linear": true,
	"increase": true, "delta": true, "idelta": true, "round": true, "ceil": true, "floor": true,
}

// perSecond are the functions whose result is the argument's unit per
// second.
var perSecond = map[string]bool{"rate": true, "irate": true, "deriv": true}

// valueUnit says what query's values measure — bytes, bytes per second,
// seconds or a ratio — when the metric names say so and nothing in the
// query changes it, or "" when it cannot tell. It errs towards "": a
// value wrongly written as "384 MiB" misleads, a bare number only asks
// to be read. Recognised: one metric whose name ends in _bytes,
// _bytes_total, _seconds, _seconds_total or _ratio, through aggregations
// and functions that keep the unit (rate and irate make bytes per second;
// a rate of seconds is left alone), histogram_quantile over a _bucket;
// the same metric divided by itself (a ratio, as errors over requests);
// X_sum divided by X_count (a mean in X's unit); and any of these
// compared with a number, as alert expressions are.
func valueUnit(query string) string {
	q := quotedRE.ReplaceAllString(query, `""`)
	q = matchersRE.ReplaceAllString(q, "")
	q = groupingRE.ReplaceAllString(q, "")
	q = offsetRE.ReplaceAllString(q, "")
	q = thresholdRE.ReplaceAllString(strings.TrimSpace(q), "")
	q = numberRE.ReplaceAllString(q, "${1}0")
	var metrics, funcs []string
	for _, m := range identRE.FindAllStringSubmatch(q, -1) {
		name := strings.TrimRight(m[0], " \t\n(")
		switch {
		case m[1] != "":
			funcs = append(funcs, name)
		case name == "bool" || name == "and" || name == "or" || name == "unless":
			return ""
		default:
			metrics = append(metrics, name)
		}
	}
	ops := strings.Count(q, "/") + strings.Count(q, "*") + strings.Count(q, "+") + strings.Count(q, "-") +
		strings.Count(q, "%") + strings.Count(q, "^")
	switch {
	case len(metrics) == 1 && ops == 0:
		return unitThrough(metrics[0], funcs)
	case len(metrics) == 2 && ops == 1 && strings.Count(q, "/") == 1:
		a, b := metrics[0], metrics[1]
		if !understood(funcs) {
			return ""
		}
		switch {
		case a == b:
			return unitRatio
		case strings.HasSuffix(a, "_sum") && b == strings.TrimSuffix(a, "_sum")+"_count":
			switch u := nameUnit(strings.TrimSuffix(a, "_sum")); u {
			case unitBytes, unitSeconds:
				return u
			}
		}
	}
	return ""
}

// understood reports whether a division of two metrics means what its
// parts say after funcs: unit-keeping functions and rates (applied to
// both sides alike, as people write them) do not change the quotient's
// unit; anything else may.
func understood(funcs []string) bool {
	for _, f := range funcs {
		if !keepsUnit[f] && !perSecond[f] {
			return false
		}
	}
	return true
}

// unitThrough is the unit of metric after funcs are applied to it.
func unitThrough(metric string, funcs []string) string {
	base := metric
	quantile := false
	for _, f := range funcs {
		switch {
		case f == "histogram_quantile":
			quantile = true
		case perSecond[f], keepsUnit[f]:
		default:
			return ""
		}
	}
	if quantile {
		// The rate inside a quantile is of the bucket counts; the
		// quantile is in the unit of the observations.
		b, ok := strings.CutSuffix(base, "_bucket")
		if !ok {
			return ""
		}
		return nameUnit(b)
	}
	if strings.HasSuffix(base, "_bucket") {
		return ""
	}
	u := nameUnit(base)
	for _, f := range funcs {
		if perSecond[f] {
			if u == unitBytes {
				return unitBytesPerSec
			}
			return ""
		}
	}
	return u
}

// nameUnit is the unit a metric's name ends in.
func nameUnit(name string) string {
	name = strings.TrimSuffix(name, "_total")
	switch {
	case strings.HasSuffix(name, "_bytes"):
		return unitBytes
	case strings.HasSuffix(name, "_seconds"):
		return unitSeconds
	case strings.HasSuffix(name, "_ratio"):
		return unitRatio
	}
	return ""
}

// seriesUnit is the unit of one series of a query with no unit of its
// own: kube-state-metrics labels its resource series unit="byte".
// Arithmetic would change the values but keep the label, so only a
// plain selection of one metric counts.
func seriesUnit(query string, labels map[string]string) string {
	if labels["unit"] != "byte" {
		return ""
	}
	q := quotedRE.ReplaceAllString(query, `""`)
	q = matchersRE.ReplaceAllString(q, "")
	q = groupingRE.ReplaceAllString(q, "")
	q = numberRE.ReplaceAllString(q, "${1}0")
	if strings.ContainsAny(q, "/*+-%^") {
		return ""
	}
	for _, m := range identRE.FindAllStringSubmatch(q, -1) {
		if m[1] != "" && !keepsUnit[strings.TrimRight(m[0], " \t\n(")] {
			return ""
		}
	}
	return unitBytes
}

// human writes v in unit, or "" when the unit is not one of ours.
func human(unit string, v float64) string {
	switch unit {
	case unitBytes:
		return tools.Bytes(v)
	case unitBytesPerSec:
		return tools.Bytes(v) + "/s"
	case unitSeconds:
		return tools.Seconds(v)
	case unitRatio:
		return tools.Ratio(v)
	}
	return ""
}

// withExact writes v humanised with its exact value beside it, for the
// model: "384 MiB (402653184 bytes)", "825 ms (0.825 s)",
// "25.4% (0.2544)". Without a unit it is num(v); when both forms say the
// same ("2 s"), once.
func withExact(unit string, v float64) string {
	h := human(unit, v)
	if h == "" {
		return num(v)
	}
	var exact string
	switch unit {
	case unitBytes, unitBytesPerSec:
		// Bytes are whole; a byte more or less says nothing.
		exact = tools.Exact(math.Round(v)) + " " + unit
	case unitSeconds:
		exact = num(v) + " s"
	default:
		exact = num(v)
	}
	if exact == h {
		return h
	}
	return h + " (" + exact + ")"
}
