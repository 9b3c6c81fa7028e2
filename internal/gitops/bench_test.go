package gitops

import (
	"strings"
	"testing"
)

// BenchmarkPlan is the work an approval does twice (propose, apply): find
// the workload in a tree and edit it, with the diff. The first case of
// each layout in TestPlan.
func BenchmarkPlan(b *testing.B) {
	done := map[string]bool{}
	for _, tc := range planCases() {
		layout, _, _ := strings.Cut(tc.name, "-")
		if tc.errText != "" || done[layout] {
			continue
		}
		done[layout] = true
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Plan(planRepo, tc.src, tc.ch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDiff is the unified diff of a 2,000-line file with one line
// changed in the middle.
func BenchmarkDiff(b *testing.B) {
	var lines []string
	for i := range 2000 {
		lines = append(lines, "  - name: service-"+strings.Repeat("x", i%7)+"\n    newTag: \"1.4.2\"")
	}
	before := strings.Join(lines, "\n") + "\n"
	lines[1000] = "  - name: checkout\n    newTag: \"1.4.3\""
	after := strings.Join(lines, "\n") + "\n"
	b.ReportAllocs()
	for b.Loop() {
		if d := unifiedDiff("a.yaml", "100644", []byte(before), []byte(after)); d == "" {
			b.Fatal("no diff")
		}
	}
}
