package logs

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxMessageBytes is how much of a message is mined: the rest of a
// runaway line (a dump, a 5 MB blob) would only slow mining down.
const maxMessageBytes = 64 << 10

// maxKeptBytes bounds the messages kept for refinement's split. A larger
// file is refined by merging only, and memory stays bounded by its
// templates and a pointer per line.
const maxKeptBytes = 512 << 20

// ParseResult is the template of every input line.
type ParseResult struct {
	// Lines holds, per input line in order, its template.
	Lines []*Template
}

// ParseLines reads lines from r (LF or CRLF, with or without a final
// newline), takes each line's Content by format (the whole line when it
// does not match; format may be nil), mines the message of JSON and
// logfmt lines (StructuredMessage) and the whole content of others, and
// refines the templates with the whole file in view (see refine.go).
// Every line gets a template, an empty line the empty one. It fails only
// when r does.
func ParseLines(r io.Reader, format *Format, cfg MinerConfig) (ParseResult, error) {
	ab := cfg.ablate
	// Lines keep their runs of variables until refinement has compared
	// them position by position.
	cfg.keepRuns = !ab.collapseEarly
	m := NewMiner(cfg)
	br := bufio.NewReaderSize(r, 1<<20)
	var msgs []string
	var assigned []*Template
	kept := 0
	for first := true; ; first = false {
		line, err := br.ReadString('\n')
		if line != "" {
			if first {
				line = strings.TrimPrefix(line, "\ufeff") // a byte-order mark is not content
			}
			line = strings.TrimRight(line, "\r\n")
			content := strings.TrimSpace(line)
			if format != nil {
				content, _ = format.Content(line)
			}
			if !ab.noStructured {
				content, _ = StructuredMessage(content)
			}
			content = cut(content, maxMessageBytes)
			if kept += len(content) + 16; kept <= maxKeptBytes {
				msgs = append(msgs, content)
			} else {
				msgs = nil
			}
			assigned = append(assigned, m.Add(content))
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return ParseResult{}, fmt.Errorf("read log lines: %w", err)
		}
	}
	if msgs == nil {
		ab.noSplit = true // too large to keep: merge only
	}
	return ParseResult{Lines: refineTemplates(m, msgs, assigned, ab)}, nil
}

// refineTemplates turns the miner's templates into groups, refines them
// with every line's tokens (split, merge, collapse, merge) and returns
// each line's final template, numbered in order of first appearance.
// msgs are the lines' messages, needed unless ab.noSplit.
func refineTemplates(m *Miner, msgs []string, assigned []*Template, ab ablation) []*Template {
	byTpl := map[*Template]*group{}
	var groups []*group
	for i, t := range assigned {
		g, ok := byTpl[t]
		if !ok {
			g = &group{tokens: slices.Clone(t.Tokens)}
			byTpl[t] = g
			groups = append(groups, g)
		}
		g.lines = append(g.lines, i)
	}
	if !ab.noRefine {
		var out []*group
		for _, g := range groups {
			var pos []int
			for i, t := range g.tokens {
				if isWild(t) {
					pos = append(pos, i)
				}
			}
			if len(pos) == 0 || len(g.lines) < 2 || ab.noSplit {
				out = append(out, g)
				continue
			}
			// Each line's tokens at the variable positions: the miner
			// joins only lines of its template's length, so they align.
			vals := make([][]string, len(g.lines))
			aligned := true
			for li, l := range g.lines {
				toks := m.tokenize(m.applyMasks(msgs[l]))
				if len(toks) != len(g.tokens) {
					aligned = false
					break
				}
				v := make([]string, len(pos))
				for k, i := range pos {
					v[k] = toks[i]
				}
				vals[li] = v
			}
			if !aligned {
				out = append(out, g)
				continue
			}
			out = append(out, split(g, pos, vals, ab)...)
		}
		groups = merge(out, ab)
	}
	if !ab.collapseEarly {
		groups = collapse(groups)
		if !ab.noRefine {
			groups = merge(groups, ab)
		}
	}
	out := make([]*Template, len(assigned))
	for _, g := range groups {
		t := &Template{Tokens: g.tokens, Count: len(g.lines)}
		for _, l := range g.lines {
			out[l] = t
		}
	}
	id := 0
	for _, t := range out {
		if t.ID == 0 {
			id++
			t.ID = id
		}
	}
	return out
}

// WriteCSV writes LineId,EventId,EventTemplate, one row per line, with the
// templates as they are after all lines were mined. Templates are written
// as valid UTF-8 without control characters, so any CSV reader takes them.
func (p ParseResult) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"LineId", "EventId", "EventTemplate"}); err != nil {
		return err
	}
	text := map[*Template]string{}
	for i, t := range p.Lines {
		s, ok := text[t]
		if !ok {
			s = printable(t.String())
			text[t] = s
		}
		if err := cw.Write([]string{strconv.Itoa(i + 1), "E" + strconv.Itoa(t.ID), s}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// printable replaces invalid UTF-8 and control characters.
func printable(s string) string {
	clean := utf8.ValidString(s)
	for i := 0; clean && i < len(s); i++ {
		clean = s[i] >= 0x20 && s[i] != 0x7f || s[i] == '\t'
	}
	if clean {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}
