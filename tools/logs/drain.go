package logs

import (
	"regexp"
	"strings"
)

// Wildcard marks a variable part of a template.
const Wildcard = "<*>"

// MinerConfig tunes pattern mining. The zero value means the defaults,
// which are Drain's published ones; they are not tuned to any dataset.
type MinerConfig struct {
	// Depth of the prefix tree including the root and the length layer
	// (default 4: the first two tokens route a line).
	Depth int
	// Similarity is the share of a template's constant tokens a line must
	// match to join it (default 0.5).
	Similarity float64
	// MaxChildren bounds a tree node's children (default 100); beyond it
	// tokens are routed to the wildcard child.
	MaxChildren int
	// Masks are regular expressions whose matches are variables, applied
	// before tokenizing (domain knowledge such as block IDs).
	Masks []*regexp.Regexp

	// keepRuns keeps runs of variables as they are (ParseLines collapses
	// them after refinement instead).
	keepRuns bool
	// ablate turns parts of the method off, to measure them.
	ablate ablation
}

// Miner groups log messages into templates, Drain-style: messages are
// split into tokens, routed by token count and their first tokens through
// a fixed-depth tree, and joined to the most similar template in the leaf
// when similar enough; where they differ the template gets a wildcard.
//
// Tokens that are values — anything with a digit, paths, URLs, host
// names, booleans, units after numbers, dates (tokens.go) — are masked
// before routing and comparison, which is what keeps the tree small and
// the templates stable. The miner sees one line at a time; ParseLines,
// which has the whole file, refines its templates (refine.go).
//
// A Miner is not safe for concurrent use.
type Miner struct {
	cfg      MinerConfig
	root     map[int]*node
	clusters []*Template
	buf      []string
	raw      []string
	digits   []bool
	keys     map[string]string
}

// Template is a group of messages.
type Template struct {
	ID     int
	Tokens []string
	Count  int
}

// String returns the template text.
func (t *Template) String() string { return strings.Join(t.Tokens, " ") }

type node struct {
	children map[string]*node
	leaves   []*Template
}

// NewMiner returns a miner.
func NewMiner(cfg MinerConfig) *Miner {
	if cfg.Depth < 3 {
		cfg.Depth = 4
	}
	if cfg.Similarity <= 0 {
		cfg.Similarity = 0.5
	}
	if cfg.MaxChildren <= 0 {
		cfg.MaxChildren = 100
	}
	return &Miner{cfg: cfg, root: map[int]*node{}}
}

// Templates returns the templates found so far, in order of creation.
func (m *Miner) Templates() []*Template { return m.clusters }

// Add mines one message and returns its template.
func (m *Miner) Add(msg string) *Template {
	tokens := m.tokenize(m.applyMasks(msg))
	leaf := m.route(tokens)
	best, bestSim, bestWild := (*Template)(nil), -1.0, -1
	for _, t := range leaf.leaves {
		sim, wild := similarity(t.Tokens, tokens)
		if sim > bestSim || (sim == bestSim && wild > bestWild) {
			best, bestSim, bestWild = t, sim, wild
		}
	}
	if best != nil && bestSim >= m.cfg.Similarity {
		for i, tok := range tokens {
			if old := best.Tokens[i]; old != tok && old != Wildcard {
				best.Tokens[i] = Wildcard
				if k := fieldKey(old); k > 0 && k == fieldKey(tok) && old[:k] == tok[:k] {
					best.Tokens[i] = m.mask(old[:k] + "0")
				}
			}
		}
		best.Count++
		return best
	}
	t := &Template{ID: len(m.clusters) + 1, Tokens: append([]string(nil), tokens...), Count: 1}
	m.clusters = append(m.clusters, t)
	leaf.leaves = append(leaf.leaves, t)
	return t
}

// applyMasks replaces the matches of the configured masks with Wildcard.
func (m *Miner) applyMasks(msg string) string {
	for _, re := range m.cfg.Masks {
		if re.MatchString(msg) {
			msg = re.ReplaceAllLiteralString(msg, Wildcard)
		}
	}
	return msg
}

// route walks the tree to the leaf for tokens, creating nodes as needed.
func (m *Miner) route(tokens []string) *node {
	n, ok := m.root[len(tokens)]
	if !ok {
		n = &node{children: map[string]*node{}}
		m.root[len(tokens)] = n
	}
	for i := 0; i < m.cfg.Depth-2 && i < len(tokens); i++ {
		key := tokens[i]
		next, ok := n.children[key]
		if !ok {
			if len(n.children) >= m.cfg.MaxChildren-1 && key != Wildcard {
				key = Wildcard
				next = n.children[key]
			}
			if next == nil {
				next = &node{children: map[string]*node{}}
				n.children[key] = next
			}
		}
		n = next
	}
	return n
}

// similarity is the share of positions where the template's constant token
// equals the message's, and the number of wildcard positions (Drain's
// tie-break: prefer the more general template). A template with no
// constant token matches any message of its length: Drain scores it 0,
// which makes every all-variable message a template of its own.
func similarity(tpl, tokens []string) (float64, int) {
	if len(tokens) == 0 {
		return 1, 0
	}
	same, wild := 0, 0
	for i, t := range tpl {
		switch {
		case t == Wildcard:
			wild++
		case t == tokens[i]:
			same++
		}
	}
	if wild == len(tpl) {
		return 1, wild
	}
	return float64(same) / float64(len(tpl)), wild
}

// tokenize splits msg on whitespace and masks variable tokens. The returned
// slice is reused by the next call.
func (m *Miner) tokenize(msg string) []string {
	raw := m.raw[:0]
	start := -1
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' {
			if start >= 0 {
				raw = append(raw, msg[start:i])
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		raw = append(raw, msg[start:])
	}
	m.raw = raw
	digits := m.digits[:0]
	for _, t := range raw {
		digits = append(digits, hasDigit(t))
	}
	m.digits = digits
	toks := m.buf[:0]
	for i, t := range raw {
		masked := m.mask(t)
		if masked == t && !digits[i] && !m.cfg.ablate.noClasses {
			near := func(d int) bool { return i+d >= 0 && i+d < len(raw) && digits[i+d] }
			switch {
			case i > 0 && digits[i-1] && isUnit(t) && isNumeric(raw[i-1]):
				masked = Wildcard // 1.2 MB, <1 sec
			case (near(-2) || near(-1) || near(1) || near(2)) && isDateWord(t):
				masked = Wildcard // Sun Jul 17 14:03:05 2005
			}
		}
		toks = append(toks, masked)
	}
	if m.cfg.keepRuns {
		m.buf = toks
		return toks
	}
	// A run of variables is one variable: lists of IDs of any length
	// ("delete blk_1 blk_2 blk_3") belong to one template.
	out := toks[:0]
	for i, t := range toks {
		if t == Wildcard && i > 0 && out[len(out)-1] == Wildcard {
			continue
		}
		out = append(out, t)
	}
	m.buf = out
	return out
}

// mask returns Wildcard for a token that is a value (isVariable), except
// that a key=value token whose value is one keeps its key: "status=500"
// becomes "status=<*>", so templates of structured (logfmt) lines still
// say what their fields are. The masked forms are interned, so mining
// allocates nothing per line.
func (m *Miner) mask(tok string) string {
	variable := isVariable
	if m.cfg.ablate.noClasses {
		variable = digitOrHost
	}
	k := fieldKey(tok)
	if k == 0 {
		if variable(tok) {
			return Wildcard
		}
		return tok
	}
	if !variable(tok[k:]) {
		return tok
	}
	if v, ok := m.keys[tok[:k]]; ok {
		return v
	}
	if len(m.keys) >= maxInternedKeys {
		return Wildcard
	}
	if m.keys == nil {
		m.keys = map[string]string{}
	}
	v := tok[:k] + Wildcard
	m.keys[strings.Clone(tok[:k])] = v
	return v
}

// maxInternedKeys bounds the interned key=<*> forms, so hostile input
// with endless distinct keys cannot grow memory without bound.
const maxInternedKeys = 4096

// fieldKey returns the length of tok's "key=" prefix (including '='), or 0
// when tok is not key=value with an identifier-like key and a value.
func fieldKey(tok string) int {
	for i := 0; i < len(tok) && i < 64; i++ {
		c := tok[i]
		switch {
		case c == '=':
			if i == 0 || i == len(tok)-1 {
				return 0
			}
			return i + 1
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == '.', c == '-' && i > 0:
		default:
			return 0
		}
	}
	return 0
}
