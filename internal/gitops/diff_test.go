package gitops

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitDiff is what git itself prints for a tracked file changed from old
// to new, with no user or system configuration in the way.
func gitDiff(t *testing.T, path string, old, new []byte) string {
	t.Helper()
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "HOME="+dir, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull, "LC_ALL=C")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git %s: %v", strings.Join(args, " "), err)
		}
		return string(out)
	}
	file := filepath.Join(dir, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	run("init", "-q")
	if err := os.WriteFile(file, old, 0o644); err != nil {
		t.Fatal(err)
	}
	run("add", "--", path)
	if err := os.WriteFile(file, new, 0o644); err != nil {
		t.Fatal(err)
	}
	return run("diff", "--no-color")
}

func numbered(n int, f func(i int) string) string {
	var sb strings.Builder
	for i := 1; i <= n; i++ {
		sb.WriteString(f(i) + "\n")
	}
	return sb.String()
}

func TestUnifiedDiffMatchesGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	long := numbered(30, func(i int) string { return fmt.Sprintf("  line%d: %d", i, i) })
	yamlish := numbered(40, func(i int) string {
		if i%10 == 1 {
			return fmt.Sprintf("section%d:", i/10)
		}
		return fmt.Sprintf("  key%d: value", i)
	})
	cases := []struct {
		name, path, old, new string
	}{
		{"one line", "a.yaml", long, strings.Replace(long, "line15: 15", "line15: x", 1)},
		{"changes 6 apart share a hunk", "a.yaml", long, strings.NewReplacer("line10: 10", "x", "line17: 17", "y").Replace(long)},
		{"changes 7 apart are two hunks", "a.yaml", long, strings.NewReplacer("line10: 10", "x", "line18: 18", "y").Replace(long)},
		{"first line", "a.yaml", long, "top\n" + long[strings.Index(long, "\n")+1:]},
		{"insert at the top", "a.yaml", long, "new: 1\n" + long},
		{"append at the end", "a.yaml", long, long + "tail: 1\n"},
		{"delete at the end", "a.yaml", long, long[:strings.LastIndex(long[:len(long)-1], "\n")+1]},
		{"old without final newline", "a.yaml", "a: 1\nb: 2", "a: 1\nb: 3\n"},
		{"new without final newline", "a.yaml", "a: 1\nb: 2\n", "a: 1\nb: 2"},
		{"neither has a final newline", "a.yaml", "a: 1\nb: 2", "a: 1\nb: 3"},
		{"emptied", "a.yaml", "a: 1\nb: 2\n", ""},
		{"from empty", "a.yaml", "", "a: 1\n"},
		{"function context is the enclosing top-level key", "x/values.yaml", yamlish, strings.Replace(yamlish, "key25: value", "key25: other", 1)},
		{"function context is cut at 80 bytes", "a.yaml", "k" + strings.Repeat("x", 100) + "   \n" + long, strings.Replace("k"+strings.Repeat("x", 100)+"   \n"+long, "line20: 20", "z", 1)},
		{"several changes", "a.yaml", yamlish, strings.NewReplacer("key3: value", "key3: v", "key22: value", "", "section3:", "section3: {}").Replace(yamlish)},
		{"a path git quotes", "dir/ünïcode \"x\".yaml", "a: 1\n", "a: 2\n"},
		{"a path with a space", "my dir/a b.yaml", "a: 1\n", "a: 2\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := unifiedDiff(tc.path, "100644", []byte(tc.old), []byte(tc.new))
			if want := gitDiff(t, tc.path, []byte(tc.old), []byte(tc.new)); got != want {
				t.Errorf("diff differs from git's:\n--- got\n%s--- git\n%s", got, want)
			}
		})
	}
}

// TestPlanDiffsMatchGit checks every edit Plan proposes in the tests
// diffs exactly as git prints it.
func TestPlanDiffsMatchGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	for _, tc := range planCases() {
		if tc.errText != "" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			e, err := Plan(planRepo, tc.src, tc.ch)
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			for p, data := range e.Files {
				old, err := os.ReadFile(filepath.Join(planRepo, filepath.FromSlash(p)))
				if err != nil {
					t.Fatal(err)
				}
				if want := gitDiff(t, p, old, data); e.Diff != want {
					t.Errorf("diff differs from git's:\n--- got\n%s--- git\n%s", e.Diff, want)
				}
			}
		})
	}
}

func TestUnifiedDiffEqual(t *testing.T) {
	if got := unifiedDiff("a.yaml", "100644", []byte("a: 1\n"), []byte("a: 1\n")); got != "" {
		t.Errorf("diff of equal files = %q, want empty", got)
	}
}

// TestLineChanges checks the line diff is minimal where lines repeat,
// which prefix and suffix stripping alone would not get right.
func TestLineChanges(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int // changed lines, deleted plus added
	}{
		{"a\nb\nc\n", "a\nc\n", 1},
		{"a\nb\na\nb\n", "b\na\nb\na\n", 2},
		{"x\na\nb\nc\ny\n", "x\nc\nb\na\ny\n", 4},
		{"a\n", "b\n", 2},
		{"", "a\nb\n", 2},
	} {
		n := 0
		for _, c := range lineChanges(splitLines(tc.a), splitLines(tc.b)) {
			n += c.a1 - c.a0 + c.b1 - c.b0
		}
		if n != tc.want {
			t.Errorf("lineChanges(%q, %q) changes %d lines, want %d", tc.a, tc.b, n, tc.want)
		}
	}
}
