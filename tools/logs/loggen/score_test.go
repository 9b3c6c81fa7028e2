package loggen

import (
	"math"
	"testing"
)

func TestScore(t *testing.T) {
	tests := []struct {
		name        string
		truth, pred []string
		ga, f1      float64
	}{
		{"perfect", []string{"a", "a", "b"}, []string{"x", "x", "y"}, 1, 1},
		{"one merged group", []string{"a", "a", "b"}, []string{"x", "x", "x"}, 0, 0.5},
		// Split: 1 of 3 true pairs recovered, precision 1, recall 1/3.
		{"one split group", []string{"a", "a", "a", "b"}, []string{"x", "x", "y", "z"}, 0.25, 0.5},
		{"all alone, truth alone", []string{"a", "b"}, []string{"x", "y"}, 1, 1},
		{"empty", nil, nil, 0, 1},
	}
	for _, tt := range tests {
		s := Score(tt.truth, tt.pred)
		if math.Abs(s.GA-tt.ga) > 1e-9 || math.Abs(s.F1-tt.f1) > 1e-9 {
			t.Errorf("%s: GA %.4f F1 %.4f, want %.4f %.4f", tt.name, s.GA, s.F1, tt.ga, tt.f1)
		}
	}
}
