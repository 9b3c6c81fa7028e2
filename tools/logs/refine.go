package logs

import (
	"slices"
	"strings"
)

// Refinement. An online miner decides with what it has seen so far: the
// first lines of "read leader on succeeded" and "… on failed" look like
// one template with a variable, and a user name in the second word sends
// each user's lines down a tree branch of its own. When the whole file is
// known (ParseLines), each position of a template can be judged by all
// its values, with one rule both ways: a position whose values are words
// (no digits, no IDs) is a variable when it takes at least minDistinct
// different words, and the constant of separate templates when it takes
// fewer. minDistinct is 4: enumerations of two or three states
// (succeeded/failed, LOOKING/FOLLOWING/LEADING) are kept apart, as
// Loghub's annotators keep them; user names, hosts and file names come
// in more.

// minDistinct is the number of different words from which a position is
// a variable.
const minDistinct = 4

// maxBucket bounds the templates of one length that are compared
// pairwise, so a pathological file cannot take quadratic time; a larger
// set keeps the online miner's templates.
const maxBucket = 5000

// maxRounds bounds the rounds of merging; each round that merges nothing
// ends it earlier.
const maxRounds = 16

// A group is a set of lines (indexes into the file) and their template.
type group struct {
	tokens []string
	lines  []int
}

// ablation turns parts of the method off, so that TestVariants can
// measure what each brings. The zero value is the method.
type ablation struct {
	noClasses     bool // only digits and host names make a token a variable
	noStructured  bool // JSON and logfmt lines are mined whole
	noRefine      bool // the online miner's templates as they are
	collapseEarly bool // runs of variables are one as lines are tokenized
	halfBar       bool // constants must be half a template's length, not of its informative positions
	looseSubsume  bool // a template with one constant may absorb others
	minDistinct   int  // instead of minDistinct
	noSplit       bool // templates are merged but not split
}

func (a ablation) distinct() int {
	if a.minDistinct > 0 {
		return a.minDistinct
	}
	return minDistinct
}

// isWild reports whether a template token is a variable (<*> or key=<*>).
func isWild(t string) bool { return t == Wildcard || strings.HasSuffix(t, "="+Wildcard) }

func wildcards(toks []string) int {
	n := 0
	for _, t := range toks {
		if isWild(t) {
			n++
		}
	}
	return n
}

// split divides a group at the first variable position whose values are
// fewer than minDistinct words, and each part again. vals holds, per line
// of the group, its tokens at the template's variable positions pos.
func split(g *group, pos []int, vals [][]string, a ablation) []*group {
	for k, i := range pos {
		if !isWild(g.tokens[i]) {
			continue // made a constant by an earlier split
		}
		counts := map[string]int{}
		words := true
		for _, v := range vals {
			if isWild(v[k]) {
				words = false
				break
			}
			counts[v[k]]++
		}
		if !words || len(counts) >= a.distinct() {
			continue
		}
		parts := map[string]*group{}
		partVals := map[string][][]string{}
		var order []string
		for li, v := range vals {
			p, ok := parts[v[k]]
			if !ok {
				p = &group{tokens: slices.Clone(g.tokens)}
				p.tokens[i] = v[k]
				parts[v[k]] = p
				order = append(order, v[k])
			}
			p.lines = append(p.lines, g.lines[li])
			partVals[v[k]] = append(partVals[v[k]], v)
		}
		var out []*group
		for _, w := range order {
			out = append(out, split(parts[w], pos, partVals[w], a)...)
		}
		return out
	}
	return []*group{g}
}

// merge joins groups of one length: a group into a more general one that
// matches it (they differ only where the other has a variable), then
// groups that differ in one position only, when at least minDistinct of
// them share the rest. It repeats until nothing changes.
func merge(groups []*group, a ablation) []*group {
	byLen := map[int][]*group{}
	var lens []int
	for _, g := range groups {
		if _, ok := byLen[len(g.tokens)]; !ok {
			lens = append(lens, len(g.tokens))
		}
		byLen[len(g.tokens)] = append(byLen[len(g.tokens)], g)
	}
	var out []*group
	for _, n := range lens {
		gs := byLen[n]
		if len(gs) <= maxBucket {
			for round, changed := 0, true; changed && round < maxRounds; round++ {
				gs = subsume(gs, a)
				gs, changed = mergeColumns(gs, a)
			}
		}
		out = append(out, gs...)
	}
	return out
}

// enoughConstants reports whether a template says enough to group lines
// by: c constants against the n positions that carry information (those
// not variable in both templates compared), at least half of them as
// Drain's similarity asks of a line, and two in a template longer than
// two tokens, since one shared word is no evidence. Without it one-word
// messages would all be "<*>", and "<*> fetch <*>" could not absorb
// "<*> fetch <*>".
func enoughConstants(c, n, length int, a ablation) bool {
	if a.halfBar {
		return c >= 1 && 2*c >= length
	}
	return c >= 1 && 2*c >= n && (c >= 2 || length <= 2)
}

// subsume folds each group into the first more general group matching it.
func subsume(gs []*group, a ablation) []*group {
	// The most general first, so a group folds into the widest match.
	slices.SortStableFunc(gs, func(x, y *group) int { return wildcards(y.tokens) - wildcards(x.tokens) })
	alive := make([]bool, len(gs))
	for i := range alive {
		alive[i] = true
	}
	strict := 1
	if a.looseSubsume {
		strict = 0
	}
	for i, g := range gs {
		w := wildcards(g.tokens)
		if !alive[i] || w == 0 {
			continue
		}
		n := len(g.tokens)
		for j := i + 1; j < len(gs); j++ {
			if alive[j] && covers(g.tokens, gs[j].tokens) && enoughConstants(n-w, n-bothWild(g.tokens, gs[j].tokens), n+strict, a) {
				g.lines = append(g.lines, gs[j].lines...)
				alive[j] = false
			}
		}
	}
	out := gs[:0]
	for i, g := range gs {
		if alive[i] {
			out = append(out, g)
		}
	}
	return out
}

// covers reports whether template a matches everything template b does.
func covers(a, b []string) bool {
	for i, t := range a {
		switch {
		case t == b[i], t == Wildcard:
		case isWild(t) && strings.HasPrefix(b[i], t[:len(t)-len(Wildcard)]):
		default:
			return false
		}
	}
	return true
}

// bothWild counts the positions where both templates have a variable.
func bothWild(a, b []string) int {
	n := 0
	for i := range a {
		if isWild(a[i]) && isWild(b[i]) {
			n++
		}
	}
	return n
}

// mergeColumns merges, for one position at a time, the groups that agree
// everywhere else, when they are at least minDistinct.
func mergeColumns(gs []*group, a ablation) ([]*group, bool) {
	if len(gs) < a.distinct() {
		return gs, false
	}
	changed := false
	n := len(gs[0].tokens)
	var key strings.Builder
	for i := 0; i < n; i++ {
		buckets := map[string][]int{}
		var keys []string
		for gi, g := range gs {
			key.Reset()
			for j, t := range g.tokens {
				if j != i {
					key.WriteString(t)
				}
				key.WriteByte(0)
			}
			k := key.String()
			if _, ok := buckets[k]; !ok {
				keys = append(keys, k)
			}
			buckets[k] = append(buckets[k], gi)
		}
		dead := map[int]bool{}
		for _, k := range keys {
			b := buckets[k]
			w := wildcards(gs[b[0]].tokens)
			if isWild(gs[b[0]].tokens[i]) {
				w-- // the rest is what they share
			}
			if len(b) < a.distinct() || !enoughConstants(n-w-1, n-w, n, a) {
				continue
			}
			first := gs[b[0]]
			first.tokens[i] = generalise(gs, b, i)
			for _, gi := range b[1:] {
				first.lines = append(first.lines, gs[gi].lines...)
				dead[gi] = true
			}
			changed = true
		}
		if len(dead) > 0 {
			out := gs[:0]
			for gi, g := range gs {
				if !dead[gi] {
					out = append(out, g)
				}
			}
			gs = out
		}
	}
	return gs, changed
}

// generalise is the variable that replaces the tokens at position i of
// the groups b: key=<*> when they are all values of one key.
func generalise(gs []*group, b []int, i int) string {
	t := gs[b[0]].tokens[i]
	k := fieldKey(t)
	if k == 0 {
		return Wildcard
	}
	for _, gi := range b[1:] {
		if !strings.HasPrefix(gs[gi].tokens[i], t[:k]) {
			return Wildcard
		}
	}
	return t[:k] + Wildcard
}

// collapse makes a run of variables one variable, so that lists of any
// length ("delete blk_1 blk_2") are one template, and joins the groups
// that become equal. Collapsing only after the groups were compared keeps
// every line's positions aligned while they are.
func collapse(gs []*group) []*group {
	byText := map[string]*group{}
	var out []*group
	for _, g := range gs {
		g.tokens = collapseRuns(g.tokens)
		k := strings.Join(g.tokens, "\x00")
		if into, ok := byText[k]; ok {
			into.lines = append(into.lines, g.lines...)
			continue
		}
		byText[k] = g
		out = append(out, g)
	}
	return out
}

func collapseRuns(toks []string) []string {
	out := toks[:0]
	for i, t := range toks {
		if t == Wildcard && i > 0 && out[len(out)-1] == Wildcard {
			continue
		}
		out = append(out, t)
	}
	return out
}
