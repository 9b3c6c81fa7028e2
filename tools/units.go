package tools

import (
	"math"
	"strconv"
	"strings"
)

// The humanising helpers write a measured value the way people read it:
// sizes in binary units, durations in the unit that suits them, shares as
// percentages, each with about three significant digits. Tools use them
// for both Text and Display: "384 MiB" serves a model as well as
// 4.027e+08 does, and a tool that needs the exact value prints it beside
// (Exact) or keeps it in Result.Data.

// Bytes writes a size in bytes with binary units: "512 B", "384 MiB",
// "1.5 GiB".
func Bytes(v float64) string {
	if s, ok := special(v); ok {
		return s + " B"
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := 0
	for math.Abs(v) >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return sig3(v) + " " + units[i]
}

// Seconds writes a duration given in seconds in the unit that suits it:
// "850 µs", "12.5 ms", "2.3 s", "4.5 min", "3.2 h", "2.1 d".
func Seconds(v float64) string {
	if s, ok := special(v); ok {
		return s + " s"
	}
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0 s"
	case a < 1e-6:
		return sig3(v*1e9) + " ns"
	case a < 1e-3:
		return sig3(v*1e6) + " µs"
	case a < 1:
		return sig3(v*1e3) + " ms"
	case a < 60:
		return sig3(v) + " s"
	case a < 3600:
		return sig3(v/60) + " min"
	case a < 86400:
		return sig3(v/3600) + " h"
	}
	return sig3(v/86400) + " d"
}

// Ratio writes a share of 1 as a percentage: 0.2544 is "25.4%", 0.0052
// is "0.52%", 1 is "100%".
func Ratio(v float64) string {
	if s, ok := special(v); ok {
		return s
	}
	p := 100 * v
	switch a := math.Abs(p); {
	case a == 0:
		return "0%"
	case a < 0.01:
		return sig3(p) + "%"
	case a < 1:
		return trimZeros(strconv.FormatFloat(p, 'f', 2, 64)) + "%"
	case a < 100:
		return trimZeros(strconv.FormatFloat(p, 'f', 1, 64)) + "%"
	}
	return strconv.FormatFloat(p, 'f', 0, 64) + "%"
}

// Exact writes a value in full, for printing beside its humanised form:
// whole numbers as they are ("402653184"), others with at most six
// significant digits ("0.2544", "1.23457e-07").
func Exact(v float64) string {
	if s, ok := special(v); ok {
		return s
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

// special writes the values that have no magnitude.
func special(v float64) (string, bool) {
	switch {
	case math.IsNaN(v):
		return "NaN", true
	case math.IsInf(v, 1):
		return "+Inf", true
	case math.IsInf(v, -1):
		return "-Inf", true
	}
	return "", false
}

// sig3 writes v with three significant digits, like %.3g, but never in
// exponent form between 0.001 and 10^15: "384", "1.5", "12.3", "1000".
func sig3(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a < 0.001 || a >= 1e15:
		return strconv.FormatFloat(v, 'g', 3, 64)
	case a >= 99.95:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 9.995:
		return trimZeros(strconv.FormatFloat(v, 'f', 1, 64))
	}
	// Below 10: three significant digits, so as many decimals as the
	// leading zeros need.
	decimals := 2 - int(math.Floor(math.Log10(a)))
	return trimZeros(strconv.FormatFloat(v, 'f', decimals, 64))
}

// trimZeros drops trailing zeros of a decimal fraction: "1.50" is "1.5",
// "2.0" is "2".
func trimZeros(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
