package agent

import (
	"strings"
	"testing"
)

// A label is one short line whatever name the model invented, so the
// result under it cannot be pushed onto the label's line or hidden.
func TestLabel(t *testing.T) {
	for _, tt := range []struct {
		n          int
		tool, want string
	}{
		{3, "prom_query", "[3] prom_query\n"},
		{12, "made up\nname", "[12] made_up_name\n"},
		{1, strings.Repeat("x", 100), "[1] " + strings.Repeat("x", 64) + "…\n"},
	} {
		if got := label(tt.n, tt.tool); got != tt.want {
			t.Errorf("label(%d, %q) = %q, want %q", tt.n, tt.tool, got, tt.want)
		}
	}
}
