package anomaly

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

func naiveMedian(xs []float64) float64 {
	c := append([]float64(nil), xs...)
	sort.Float64s(c)
	n := len(c)
	if n%2 == 1 {
		return c[n/2]
	}
	return (c[n/2-1] + c[n/2]) / 2
}

func TestRollingMedianAndMAD(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, n := range []int{1, 2, 3, 7, 64, 257} {
		r := newRolling(n)
		var all []float64
		for i := range 2000 {
			v := math.Round(rng.NormFloat64()*10) / 2 // ties on purpose
			if i%97 == 0 {
				v = 1e6
			}
			r.push(v)
			all = append(all, v)
			win := all[max(0, len(all)-n):]
			m := naiveMedian(win)
			if got := r.median(); got != m {
				t.Fatalf("n=%d i=%d: median %v, want %v", n, i, got, m)
			}
			dev := make([]float64, len(win))
			for k, x := range win {
				dev[k] = math.Abs(x - m)
			}
			if got, want := r.mad(m), naiveMedian(dev); got != want {
				t.Fatalf("n=%d i=%d: mad %v, want %v", n, i, got, want)
			}
		}
	}
}
