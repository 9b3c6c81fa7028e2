package anomaly

import (
	"math"
	"sort"
)

// rolling keeps the last n values in arrival order and in sorted order, so
// that the median and the median absolute deviation of the window are
// available after each push in O(n) memmove and O(log n) search, with no
// allocation once full. Non-finite values are not admitted.
type rolling struct {
	n      int
	ring   []float64
	head   int
	sorted []float64
}

func newRolling(n int) *rolling {
	return &rolling{n: n, ring: make([]float64, 0, n), sorted: make([]float64, 0, n)}
}

func (r *rolling) len() int { return len(r.sorted) }

// push adds v, dropping the oldest value when full.
func (r *rolling) push(v float64) {
	if len(r.ring) < r.n {
		r.ring = append(r.ring, v)
	} else {
		old := r.ring[r.head]
		r.ring[r.head] = v
		r.head = (r.head + 1) % r.n
		i := sort.SearchFloat64s(r.sorted, old)
		copy(r.sorted[i:], r.sorted[i+1:])
		r.sorted = r.sorted[:len(r.sorted)-1]
	}
	i := sort.SearchFloat64s(r.sorted, v)
	r.sorted = append(r.sorted, 0)
	copy(r.sorted[i+1:], r.sorted[i:])
	r.sorted[i] = v
}

// quantile returns the q-quantile by linear interpolation.
func (r *rolling) quantile(q float64) float64 {
	n := len(r.sorted)
	if n == 0 {
		return math.NaN()
	}
	pos := q * float64(n-1)
	lo := int(pos)
	if lo >= n-1 {
		return r.sorted[n-1]
	}
	f := pos - float64(lo)
	return r.sorted[lo]*(1-f) + r.sorted[lo+1]*f
}

func (r *rolling) median() float64 { return r.quantile(0.5) }

// mad returns the median absolute deviation from m: the median of
// |x - m|. The distances below m (read outwards) and above m are two
// sorted runs, so their k-th smallest is found by binary search in
// O(log n) without building either.
func (r *rolling) mad(m float64) float64 {
	s := r.sorted
	n := len(s)
	if n == 0 {
		return math.NaN()
	}
	split := sort.SearchFloat64s(s, m)                   // s[:split] < m <= s[split:]
	a := func(i int) float64 { return m - s[split-1-i] } // ascending, len split
	b := func(j int) float64 { return s[split+j] - m }   // ascending, len n-split
	if n%2 == 1 {
		return kthOfTwo(a, split, b, n-split, n/2)
	}
	return (kthOfTwo(a, split, b, n-split, n/2-1) + kthOfTwo(a, split, b, n-split, n/2)) / 2
}

// kthOfTwo returns the k-th smallest (0-based) element of the union of two
// ascending sequences given by accessors, by binary search on how many
// come from the first.
func kthOfTwo(a func(int) float64, na int, b func(int) float64, nb int, k int) float64 {
	// Take i from a and k+1-i from b; find the i where both cuts agree.
	lo, hi := max(0, k+1-nb), min(k+1, na)
	for lo < hi {
		i := (lo + hi) / 2
		j := k + 1 - i
		// a[i] < b[j-1] means too few from a.
		if j > 0 && i < na && a(i) < b(j-1) {
			lo = i + 1
		} else {
			hi = i
		}
	}
	i := lo
	j := k + 1 - i
	switch {
	case i == 0:
		return b(j - 1)
	case j == 0:
		return a(i - 1)
	}
	return math.Max(a(i-1), b(j-1))
}
