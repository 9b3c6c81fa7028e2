package loggen

import (
	"slices"
	"strings"
	"testing"
)

func TestDeterministic(t *testing.T) {
	a, b := Generate(7, 3), Generate(7, 3)
	if !slices.Equal(a.Lines, b.Lines) || !slices.Equal(a.Truth, b.Truth) || a.Format != b.Format {
		t.Error("the same seed gave different systems")
	}
	if c := Generate(8, 3); slices.Equal(a.Lines, c.Lines) {
		t.Error("another seed gave the same system")
	}
	if s := Suite(7, 5)[3]; !slices.Equal(s.Lines, a.Lines) {
		t.Error("a system depends on the size of its suite")
	}
}

// TestSuiteVaries checks that a suite covers what it promises: every
// header layout, 10 to 200 templates, and the truth consistent with the
// lines.
func TestSuiteVaries(t *testing.T) {
	layouts := map[string]bool{}
	for _, s := range Suite(1, 32) {
		layouts[s.Format] = true
		if len(s.Truth) != len(s.Lines) || len(s.Lines) < 1000 {
			t.Fatalf("%s: %d lines, %d labels", s.Name, len(s.Lines), len(s.Truth))
		}
		if n := len(s.Templates); n < 5 || n > 201 {
			t.Errorf("%s: %d templates", s.Name, n)
		}
		for i, id := range s.Truth {
			// Every constant word of the template is in its line.
			for _, w := range strings.Fields(s.Templates[id]) {
				if !strings.Contains(w, "<*>") && !strings.Contains(s.Lines[i], w) {
					t.Fatalf("%s line %d: %q lacks %q of %q", s.Name, i, s.Lines[i], w, s.Templates[id])
				}
			}
		}
	}
	if len(layouts) < 10 {
		t.Errorf("%d layouts", len(layouts))
	}
}
