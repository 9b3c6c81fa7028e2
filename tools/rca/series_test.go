package rca

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestMedianMatchesSorting: the selection gives the sorted median on
// random, repeated and tiny inputs.
func TestMedianMatchesSorting(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for n := 1; n <= 60; n++ {
		for trial := range 20 {
			v := make([]float64, n)
			for i := range v {
				v[i] = rng.NormFloat64()
				if trial%3 == 0 {
					v[i] = math.Round(v[i]) // many ties
				}
			}
			s := slices.Clone(v)
			slices.Sort(s)
			want := s[n/2]
			if n%2 == 0 {
				want = (s[n/2-1] + s[n/2]) / 2
			}
			if got := median(v); got != want {
				t.Fatalf("n=%d %v: median %v, want %v", n, v, got, want)
			}
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Error("the median of nothing is NaN")
	}
}
