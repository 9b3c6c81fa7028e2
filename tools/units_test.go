package tools_test

import (
	"math"
	"testing"

	"github.com/watchkeeper/watchkeeper/tools"
)

func TestUnits(t *testing.T) {
	tests := []struct {
		name string
		f    func(float64) string
		in   float64
		want string
	}{
		{"bytes zero", tools.Bytes, 0, "0 B"},
		{"bytes small", tools.Bytes, 512, "512 B"},
		{"bytes limit", tools.Bytes, 402653184, "384 MiB"},
		{"bytes fraction", tools.Bytes, 1.5 * (1 << 30), "1.5 GiB"},
		{"bytes rounded", tools.Bytes, 123456789, "118 MiB"},
		{"bytes under the next unit", tools.Bytes, 1000 * (1 << 20), "1000 MiB"},
		{"bytes negative", tools.Bytes, -3 * (1 << 20), "-3 MiB"},
		{"bytes NaN", tools.Bytes, math.NaN(), "NaN B"},
		{"seconds zero", tools.Seconds, 0, "0 s"},
		{"seconds ns", tools.Seconds, 4e-8, "40 ns"},
		{"seconds µs", tools.Seconds, 0.00085, "850 µs"},
		{"seconds ms", tools.Seconds, 0.825, "825 ms"},
		{"seconds ms fraction", tools.Seconds, 0.0125, "12.5 ms"},
		{"seconds s", tools.Seconds, 2.34, "2.34 s"},
		{"seconds min", tools.Seconds, 270, "4.5 min"},
		{"seconds h", tools.Seconds, 3 * 3600, "3 h"},
		{"seconds d", tools.Seconds, 2 * 86400, "2 d"},
		{"seconds Inf", tools.Seconds, math.Inf(1), "+Inf s"},
		{"ratio zero", tools.Ratio, 0, "0%"},
		{"ratio error rate", tools.Ratio, 0.2544, "25.4%"},
		{"ratio small", tools.Ratio, 0.0052, "0.52%"},
		{"ratio tiny", tools.Ratio, 0.0000123, "0.00123%"},
		{"ratio whole", tools.Ratio, 1, "100%"},
		{"ratio over one", tools.Ratio, 1.005, "100%"},
		{"ratio negative", tools.Ratio, -0.05, "-5%"},
		{"exact whole", tools.Exact, 402653184, "402653184"},
		{"exact fraction", tools.Exact, 0.2542372881355932, "0.254237"},
		{"exact huge", tools.Exact, 1e20, "1e+20"},
	}
	for _, tt := range tests {
		if got := tt.f(tt.in); got != tt.want {
			t.Errorf("%s: %v gives %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

// Between 0.001 and 10^15 a humanised value never uses exponent form,
// whatever the unit.
func TestUnitsNeverUseExponents(t *testing.T) {
	for _, v := range []float64{0.00123, 0.999, 9.996, 99.96, 999.6, 1023.9, 1e6, 4.027e8, 1e12, 1e14} {
		for _, s := range []string{tools.Bytes(v), tools.Seconds(v), tools.Ratio(v / 1e3)} {
			for _, r := range s {
				if r == 'e' {
					t.Errorf("%v is written %q", v, s)
				}
			}
		}
	}
}
