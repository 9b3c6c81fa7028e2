// Package loggen generates labelled log files for measuring template
// mining on systems it was not developed on: each System has a header
// layout (syslog, bracketed, Java, pipe-separated, JSON, logfmt …) with
// its logparser format, between 10 and 200 message templates whose
// variables are numbers, IDs, UUIDs, hex, paths, URLs, durations, sizes,
// ip:port, timestamps, key=value pairs and words without digits, families
// of templates that differ in one constant word, a skewed frequency of
// templates, and the ground-truth template of every line.
//
// Generation is deterministic: the same seed gives the same files.
package loggen

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// System is one generated log file with its ground truth.
type System struct {
	Name   string
	Format string // the logparser format of its lines
	Lines  []string
	// Truth is each line's template, an index into Templates.
	Truth     []int
	Templates []string
}

// Suite returns n systems generated from seed; system i of a suite does
// not depend on n.
func Suite(seed uint64, n int) []System {
	out := make([]System, n)
	for i := range out {
		out[i] = Generate(seed, i)
	}
	return out
}

// Generate returns system i of the suite of seed.
func Generate(seed uint64, i int) System {
	r := rand.New(rand.NewPCG(seed, uint64(i)))
	h := headers[i%len(headers)]
	if i >= len(headers) {
		h = headers[r.IntN(len(headers))]
	}
	g := &gen{r: r, h: h}
	nTemplates := int(math.Round(math.Exp(math.Log(10) + r.Float64()*(math.Log(200)-math.Log(10)))))
	nLines := []int{2000, 2000, 2000, 1000, 5000}[r.IntN(5)]
	skew := 0.6 + r.Float64()*0.9
	// A system writes its messages in a vocabulary of its own, so its
	// templates share words, as a real program's do.
	for _, k := range r.Perm(len(words))[:30+r.IntN(60)] {
		g.vocab = append(g.vocab, words[k])
	}
	g.components = g.componentPool()
	g.hosts = []string{"combo", fmt.Sprintf("calvisitor-10-%d-%d-%d", r.IntN(256), r.IntN(256), r.IntN(256)), "dn228", "app-server"}[:1+r.IntN(3)]
	seen := map[string]bool{}
	for len(g.templates) < nTemplates {
		t := g.template()
		sk := t.skeleton()
		if seen[sk] {
			continue
		}
		seen[sk] = true
		g.templates = append(g.templates, t)
	}
	// Stack-trace lines do not match a header layout; they are mined whole.
	if h.name == "java" || h.name == "threaded" {
		g.templates = append(g.templates, &template{foreign: true, parts: []part{{text: "\tat"}, {slot: &slot{kind: kWord, pool: javaFrames}}}})
	}
	order := r.Perm(len(g.templates))
	weights := make([]float64, len(g.templates))
	total := 0.0
	for rank, ti := range order {
		weights[ti] = 1 / math.Pow(float64(rank+1), skew)
		total += weights[ti]
	}
	s := System{Name: fmt.Sprintf("gen%02d-%s", i, h.name), Format: h.format}
	now := time.Date(2026, time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), 0, 0, 0, time.UTC)
	used := map[int]int{}
	for range nLines {
		x := r.Float64() * total
		ti := len(weights) - 1
		for k, w := range weights {
			if x < w {
				ti = k
				break
			}
			x -= w
		}
		now = now.Add(time.Duration(r.ExpFloat64() * float64(2*time.Second)))
		s.Lines = append(s.Lines, g.line(now, g.templates[ti]))
		id, ok := used[ti]
		if !ok {
			id = len(s.Templates)
			used[ti] = id
			s.Templates = append(s.Templates, g.templates[ti].truth())
		}
		s.Truth = append(s.Truth, id)
	}
	return s
}

var javaFrames = []string{"org.example.server.Handler.run(Handler.java:88)", "java.lang.Thread.run(Thread.java:750)", "org.example.db.Pool.get(Pool.java:120)", "sun.nio.ch.SocketChannelImpl.read(SocketChannelImpl.java:380)"}

type gen struct {
	r          *rand.Rand
	h          header
	templates  []*template
	vocab      []string
	components []string
	hosts      []string
}

type template struct {
	parts     []part
	level     string
	component string
	host      string
	pid       bool   // the optional header part is present
	fields    []slot // extra JSON or logfmt fields
	foreign   bool   // written without the header
}

type part struct {
	text      string // a constant word
	slot      *slot
	pre, post string // punctuation around a variable
}

// template draws a new template, a fifth of the time as a sibling of an
// existing one that differs in one constant word (opened/closed), has one
// more or one fewer, or one constant more at its end.
func (g *gen) template() *template {
	r := g.r
	if len(g.templates) > 0 && r.IntN(5) == 0 {
		base := g.templates[r.IntN(len(g.templates))]
		if t := g.sibling(base); t != nil {
			return t
		}
	}
	t := &template{
		level:     []string{"info", "info", "info", "debug", "warn", "error"}[r.IntN(6)],
		component: g.components[r.IntN(len(g.components))],
		host:      g.hosts[r.IntN(len(g.hosts))],
		pid:       r.IntN(3) > 0,
	}
	n := 1 + int(r.ExpFloat64()*4)
	n = min(n, 16)
	nVars := 0
	if n > 1 || r.IntN(2) == 0 {
		nVars = min(r.IntN(4)+r.IntN(2), n)
	}
	if r.IntN(6) == 0 {
		nVars = 0
	}
	var constCount int
	for i := range n + nVars {
		_ = i
		isVar := nVars > 0 && r.IntN(n+nVars-len(t.parts)) < nVars-t.varCount()
		if isVar && len(t.parts) == 0 && r.IntN(4) > 0 {
			isVar = false // most messages start with a word
		}
		if isVar {
			s := newSlot(r)
			p := part{slot: &s}
			if r.IntN(3) == 0 {
				pp := []string{"(", ")", "[", "]", "'", "'", "\"", "\"", "<", ">", "", ",", "", ":", "", ";", "{", "}"}
				k := r.IntN(len(pp) / 2)
				p.pre, p.post = pp[2*k], pp[2*k+1]
			}
			t.parts = append(t.parts, p)
			continue
		}
		t.parts = append(t.parts, part{text: g.word(constCount == 0)})
		constCount++
	}
	if constCount == 0 {
		t.parts = append([]part{{text: g.word(true)}}, t.parts...)
	}
	if r.IntN(4) == 0 {
		// A trailing key=value section, as structured messages have.
		for range 1 + r.IntN(3) {
			s := slot{kind: kKeyValue, fixed: keys[r.IntN(len(keys))]}
			t.parts = append(t.parts, part{slot: &s})
		}
	}
	for range r.IntN(3) {
		t.fields = append(t.fields, newSlot(r))
	}
	return t
}

func (t *template) varCount() int {
	n := 0
	for _, p := range t.parts {
		if p.slot != nil {
			n++
		}
	}
	return n
}

// word draws a constant word; a message's first word is capitalised
// sometimes, and words end in punctuation sometimes.
func (g *gen) word(first bool) string {
	r := g.r
	var w string
	switch x := r.IntN(100); {
	case x < 3:
		w = digitWords[r.IntN(len(digitWords))]
	case x < 10:
		w = opposites[r.IntN(len(opposites))][r.IntN(2)]
	case x < 25 && !first:
		w = glue[r.IntN(len(glue))]
	default:
		w = skewed(r, g.vocab)
	}
	if first && r.IntN(2) == 0 {
		w = capital(w)
	}
	if r.IntN(12) == 0 {
		w += []string{":", ",", ".", ";", "!"}[r.IntN(5)]
	}
	return w
}

// sibling returns a template like base but for one constant word.
func (g *gen) sibling(base *template) *template {
	r := g.r
	t := *base
	t.parts = slices.Clone(base.parts)
	var consts []int
	for i, p := range t.parts {
		if p.slot == nil {
			consts = append(consts, i)
		}
	}
	if len(consts) == 0 {
		return nil
	}
	i := consts[r.IntN(len(consts))]
	switch r.IntN(5) {
	case 4: // the same opening, then something else
		fresh := g.template()
		keep := 1 + r.IntN(min(3, len(t.parts)))
		t.parts = append(t.parts[:keep:keep], fresh.parts...)
		t.fields = fresh.fields
	case 0, 1: // swap a word for its opposite, or for another word
		w := t.parts[i].text
		t.parts[i].text = g.word(i == 0)
		for _, o := range opposites {
			if w == o[0] {
				t.parts[i].text = o[1]
			} else if w == o[1] {
				t.parts[i].text = o[0]
			}
		}
	case 2: // one more word
		t.parts = slices.Insert(t.parts, i+1, part{text: g.word(false)})
	default: // one fewer
		if len(consts) < 2 {
			return nil
		}
		t.parts = slices.Delete(t.parts, i, i+1)
	}
	return &t
}

// truth is the template text with <*> for every variable.
func (t *template) truth() string {
	var b strings.Builder
	for i, p := range t.parts {
		if i > 0 {
			b.WriteByte(' ')
		}
		if p.slot == nil {
			b.WriteString(strings.TrimSpace(p.text))
			continue
		}
		b.WriteString(p.pre)
		switch p.slot.kind {
		case kGlued:
			b.WriteString(p.slot.fixed)
		case kKeyValue:
			b.WriteString(p.slot.fixed + "=")
		}
		b.WriteString("<*>")
		b.WriteString(p.post)
	}
	return b.String()
}

// skeleton is what no two templates of a system may share: the tokens,
// with every token that holds a variable reduced to <*> and runs of them
// to one. Templates equal at this level cannot be told apart by any
// miner, and truth would not tell them apart either.
func (t *template) skeleton() string {
	var out []string
	for _, tok := range strings.Fields(t.truth()) {
		if strings.Contains(tok, "<*>") || strings.IndexFunc(tok, func(r rune) bool { return r >= '0' && r <= '9' }) >= 0 {
			tok = "<*>"
		}
		if tok == "<*>" && len(out) > 0 && out[len(out)-1] == "<*>" {
			continue
		}
		out = append(out, tok)
	}
	return strings.Join(out, " ")
}

func (g *gen) message(t *template) string {
	var b strings.Builder
	for i, p := range t.parts {
		if i > 0 {
			b.WriteByte(' ')
		}
		if p.slot == nil {
			b.WriteString(p.text)
			continue
		}
		b.WriteString(p.pre)
		b.WriteString(p.slot.value(g.r))
		b.WriteString(p.post)
	}
	return b.String()
}

func (g *gen) line(now time.Time, t *template) string {
	msg := g.message(t)
	if t.foreign {
		return msg
	}
	switch g.h.name {
	case "json":
		return g.jsonLine(now, t, msg)
	case "logfmt":
		return g.logfmtLine(now, t, msg)
	}
	return g.h.write(g.r, now, t, msg)
}

// messageKeys are where structured loggers put the message; a system uses
// one of them.
var messageKeys = []string{"msg", "message", "log", "MESSAGE", "@m", "short_message", "text", "body", "event"}

func (g *gen) jsonLine(now time.Time, t *template, msg string) string {
	sysKey := messageKeys[g.seedOf("key")%uint64(len(messageKeys))]
	var b strings.Builder
	b.WriteString("{")
	put := func(k string, v any) {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(v)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	first := g.seedOf("order")%2 == 0
	if first {
		put(sysKey, msg)
	}
	put("time", now.Format(time.RFC3339Nano))
	put("level", t.level)
	put("logger", t.component)
	for i, f := range t.fields {
		v := f.value(g.r)
		if n, err := strconv.ParseFloat(v, 64); err == nil {
			put(fmt.Sprintf("%s_%d", keys[i%len(keys)], i), n)
		} else {
			put(fmt.Sprintf("%s_%d", keys[i%len(keys)], i), v)
		}
	}
	if !first {
		put(sysKey, msg)
	}
	b.WriteString("}")
	return b.String()
}

func (g *gen) logfmtLine(now time.Time, t *template, msg string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "ts=%s level=%s msg=%s", now.Format(time.RFC3339Nano), t.level, logfmtValue(msg))
	for i, f := range t.fields {
		fmt.Fprintf(&b, " %s_%d=%s", keys[i%len(keys)], i, logfmtValue(f.value(g.r)))
	}
	return b.String()
}

func logfmtValue(v string) string {
	if v == "" || strings.ContainsAny(v, " \"=\\") {
		return strconv.Quote(v)
	}
	return v
}

// seedOf is a per-system constant derived from the templates' generator.
func (g *gen) seedOf(what string) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range g.h.name + what + g.components[0] {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return h
}

// componentPool names the writers of a system's lines in the style of its
// header: daemons for syslog, Java classes, CamelCase tags.
func (g *gen) componentPool() []string {
	r := g.r
	out := make([]string, 2+r.IntN(10))
	for i := range out {
		a, b := words[r.IntN(len(words))], words[r.IntN(len(words))]
		switch g.h.name {
		case "syslog":
			out[i] = []string{a + "d", a, a + "(pam_unix)", "kernel", "systemd"}[r.IntN(5)]
		case "java", "threaded":
			out[i] = "org.example." + a + "." + capital(a) + capital(b)
		case "cloud":
			out[i] = "nova." + a + "." + b
		case "servicing":
			out[i] = []string{"CBS", "CSI", "Trusted", "WinUpd"}[r.IntN(4)]
		default:
			out[i] = capital(a) + capital(b)
		}
	}
	return out
}
