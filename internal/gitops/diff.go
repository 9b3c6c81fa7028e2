package gitops

import (
	"crypto/sha1"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// diffContext is git's default number of context lines around a change.
const diffContext = 3

// unifiedDiff returns the diff of one file as `git diff` prints it: the
// diff --git and index headers (blob ids abbreviated to 7 digits, as git
// does in a repository of fewer than about 16k objects; bigger
// repositories print longer ids, which `git apply` accepts either way),
// hunks with 3 lines of context merged when at most 6 lines apart, and
// the hunk header's function context (the nearest earlier line that
// starts with a letter, '_' or '$', cut at 80 bytes), which for YAML is
// the enclosing top-level key. It returns "" when old and new are equal.
//
// The line diff is Myers' algorithm with common prefix and suffix
// stripped first. Git slides ambiguous insertions (a block that could
// sit one line higher or lower because lines repeat) with its indent
// heuristic; this does not, so for such a block the hunk may differ
// from git's while still applying the same change.
func unifiedDiff(path, mode string, old, new []byte) string {
	if string(old) == string(new) {
		return ""
	}
	a, b := splitLines(string(old)), splitLines(string(new))
	changes := lineChanges(a, b)

	var sb strings.Builder
	qa, qb := quotePath("a/"+path), quotePath("b/"+path)
	fmt.Fprintf(&sb, "diff --git %s %s\n", qa, qb)
	fmt.Fprintf(&sb, "index %s..%s %s\n", blobID(old)[:7], blobID(new)[:7], mode)
	// Git ends these two lines with a tab when the path has a space, so
	// that patch(1) does not take the space for the end of the name.
	tab := ""
	if strings.Contains(path, " ") {
		tab = "\t"
	}
	fmt.Fprintf(&sb, "--- %s%s\n+++ %s%s\n", qa, tab, qb, tab)

	for i := 0; i < len(changes); {
		// A hunk takes every following change whose gap of unchanged
		// lines its context would cover from both sides.
		j := i
		for j+1 < len(changes) && changes[j+1].a0-changes[j].a1 <= 2*diffContext {
			j++
		}
		first, last := changes[i], changes[j]
		a0 := max(first.a0-diffContext, 0)
		a1 := min(last.a1+diffContext, len(a))
		b0 := first.b0 - (first.a0 - a0)
		b1 := last.b1 + (a1 - last.a1)

		sb.WriteString("@@ -" + hunkRange(a0, a1-a0) + " +" + hunkRange(b0, b1-b0) + " @@")
		if fn := funcLine(a, a0); fn != "" {
			sb.WriteString(" " + fn)
		}
		sb.WriteByte('\n')

		ai := a0
		for _, c := range changes[i : j+1] {
			for ; ai < c.a0; ai++ {
				writeLine(&sb, ' ', a[ai])
			}
			for _, l := range a[c.a0:c.a1] {
				writeLine(&sb, '-', l)
			}
			for _, l := range b[c.b0:c.b1] {
				writeLine(&sb, '+', l)
			}
			ai = c.a1
		}
		for ; ai < a1; ai++ {
			writeLine(&sb, ' ', a[ai])
		}
		i = j + 1
	}
	return sb.String()
}

// change replaces the old lines [a0, a1) by the new lines [b0, b1).
type change struct{ a0, a1, b0, b1 int }

// splitLines cuts s after each newline; the last line keeps no newline
// when the file ends without one, which is what makes git print
// "\ No newline at end of file".
func splitLines(s string) []string {
	var lines []string
	for l := range strings.Lines(s) {
		lines = append(lines, l)
	}
	return lines
}

// lineChanges lists the changed regions between a and b, in order.
func lineChanges(a, b []string) []change {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	ma, mb := a[pre:len(a)-suf], b[pre:len(b)-suf]

	var out []change
	x, y := 0, 0
	flush := func(nx, ny int) {
		// The region between the previous match and (nx, ny) changed.
		if x < nx || y < ny {
			out = append(out, change{a0: pre + x, a1: pre + nx, b0: pre + y, b1: pre + ny})
		}
	}
	for _, m := range myersMatches(ma, mb) {
		flush(m[0], m[1])
		x, y = m[0]+1, m[1]+1
	}
	flush(len(ma), len(mb))
	return out
}

// myersMatches returns the pairs (i, j) with a[i] == b[j] of a shortest
// edit script from a to b (Myers, "An O(ND) Difference Algorithm"),
// in order. Files here are small, so every frontier is kept for the
// walk back.
func myersMatches(a, b []string) [][2]int {
	n, m := len(a), len(b)
	if n == 0 || m == 0 {
		return nil
	}
	off := n + m + 1
	v := make([]int, 2*off+1)
	var trace [][]int
	for d := 0; d <= n+m; d++ {
		trace = append(trace, append([]int(nil), v...))
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1] // down: an insertion
			} else {
				x = v[off+k-1] + 1 // right: a deletion
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x, y = x+1, y+1
			}
			v[off+k] = x
			if x >= n && y >= m {
				return backtrack(trace, off, n, m)
			}
		}
	}
	return nil
}

// backtrack walks the saved frontiers from (n, m) back to (0, 0) and
// collects the diagonal moves, which are the matched lines.
func backtrack(trace [][]int, off, n, m int) [][2]int {
	var matches [][2]int
	x, y := n, m
	for d := len(trace) - 1; d >= 0; d-- {
		v := trace[d]
		k := x - y
		pk := k - 1
		if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
			pk = k + 1
		}
		px := v[off+pk]
		py := px - pk
		for x > px && y > py && x > 0 && y > 0 {
			matches = append(matches, [2]int{x - 1, y - 1})
			x, y = x-1, y-1
		}
		if d > 0 {
			x, y = px, py
		}
	}
	slices.Reverse(matches)
	return matches
}

func hunkRange(start, n int) string {
	// Git numbers from 1 and, for an empty range, names the line before.
	if n == 0 {
		return strconv.Itoa(start) + ",0"
	}
	if n == 1 {
		return strconv.Itoa(start + 1)
	}
	return strconv.Itoa(start+1) + "," + strconv.Itoa(n)
}

// funcLine is xdiff's default function context: the nearest line before
// the hunk that starts with a letter, '_' or '$', cut at 80 bytes and
// stripped of trailing white space.
func funcLine(a []string, before int) string {
	for i := before - 1; i >= 0; i-- {
		l := a[i]
		if l == "" {
			continue
		}
		c := l[0]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '$' {
			if len(l) > 80 {
				l = l[:80]
			}
			return strings.TrimRight(l, " \t\n\r\v\f")
		}
	}
	return ""
}

func writeLine(sb *strings.Builder, mark byte, l string) {
	sb.WriteByte(mark)
	sb.WriteString(l)
	if !strings.HasSuffix(l, "\n") {
		sb.WriteString("\n\\ No newline at end of file\n")
	}
}

// blobID is the object id git gives a file's content.
func blobID(data []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(data))
	h.Write(data)
	return fmt.Sprintf("%x", h.Sum(nil))
}

// quotePath quotes a path as git's quote_c_style does when it holds a
// double quote, a backslash, a control character or a non-ASCII byte
// (core.quotePath, on by default); other paths are printed as they are.
func quotePath(p string) string {
	needs := false
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			needs = true
			break
		}
	}
	if !needs {
		return p
	}
	var sb strings.Builder
	sb.WriteByte('"')
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '"', '\\':
			sb.WriteByte('\\')
			sb.WriteByte(c)
		case '\a':
			sb.WriteString(`\a`)
		case '\b':
			sb.WriteString(`\b`)
		case '\t':
			sb.WriteString(`\t`)
		case '\n':
			sb.WriteString(`\n`)
		case '\v':
			sb.WriteString(`\v`)
		case '\f':
			sb.WriteString(`\f`)
		case '\r':
			sb.WriteString(`\r`)
		default:
			if c < 0x20 || c >= 0x7f {
				fmt.Fprintf(&sb, `\%03o`, c)
			} else {
				sb.WriteByte(c)
			}
		}
	}
	sb.WriteByte('"')
	return sb.String()
}
