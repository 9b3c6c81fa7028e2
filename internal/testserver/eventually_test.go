package testserver

import (
	"testing"
	"time"
)

func TestScale(t *testing.T) {
	d := time.Second
	if got := Scale(d); got < d || got > 8*d {
		t.Errorf("Scale(1s) = %v, want between 1s and 8s", got)
	}
	t.Setenv("WATCHKEEPER_TEST_SLOWDOWN", "3")
	if got := Scale(d); got < 3*d || got > 24*d {
		t.Errorf("Scale(1s) with a slowdown of 3 = %v, want between 3s and 24s", got)
	}
	t.Setenv("WATCHKEEPER_TEST_SLOWDOWN", "fast")
	if got := Scale(d); got < d {
		t.Errorf("a bad slowdown shortened the deadline: %v", got)
	}
}
