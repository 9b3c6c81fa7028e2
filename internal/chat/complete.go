package chat

import (
	"sort"
	"strings"

	"github.com/watchkeeper/watchkeeper/tools"
)

// completer is Tab in the line editor: /commands at the start of a line,
// a tool's name after /run and /tools, and after /run TOOL the tool's
// argument names (as "key=", leaving out those already given) or, after
// "key=", an enum's or a boolean's values. It reads the registry on every
// Tab, so it always offers the tools there are. It implements
// readline.AutoCompleter.
type completer struct {
	tools    *tools.Registry
	commands []string // with the slash
}

func newCompleter(cfg Config) completer {
	cmds := []string{"/help", "/tools", "/run", "/approve", "/work", "/reset", "/quit"}
	for name := range cfg.Commands {
		cmds = append(cmds, "/"+name)
	}
	sort.Strings(cmds)
	reg := cfg.Tools
	if reg == nil {
		reg = &tools.Registry{}
	}
	return completer{tools: reg, commands: cmds}
}

// Do returns, for the line up to pos, the rest of each candidate after
// the word being typed and that word's length, as readline wants.
func (c completer) Do(line []rune, pos int) ([][]rune, int) {
	pos = min(max(pos, 0), len(line))
	cands, word := c.candidates(string(line[:pos]))
	out := make([][]rune, len(cands))
	for i, cand := range cands {
		out[i] = []rune(strings.TrimPrefix(cand, word))
	}
	return out, len([]rune(word))
}

// candidates returns the whole words that could replace word, the word
// being typed at the end of before.
func (c completer) candidates(before string) (cands []string, word string) {
	if !strings.HasPrefix(before, "/") {
		return nil, ""
	}
	fields := strings.Fields(before)
	ended := before != strings.TrimRight(before, " \t")
	if len(fields) == 1 && !ended {
		return withPrefix(c.commands, fields[0], " "), fields[0]
	}
	cmd := fields[0]
	if cmd != "/run" && cmd != "/tools" {
		return nil, ""
	}
	// The tool's name.
	if len(fields) == 1 || (len(fields) == 2 && !ended) {
		word = ""
		if len(fields) == 2 {
			word = fields[1]
		}
		suffix := " "
		if cmd == "/tools" {
			suffix = ""
		}
		return withPrefix(c.tools.Names(), word, suffix), word
	}
	if cmd != "/run" {
		return nil, ""
	}
	t, ok := c.tools.Get(fields[1])
	if !ok {
		return nil, ""
	}
	spec := t.Spec()
	word = ""
	if !ended {
		word = fields[len(fields)-1]
	}
	// A value after key=: an enum's values, or true and false.
	if key, val, isPair := strings.Cut(word, "="); isPair {
		var values []string
		for _, p := range tools.Params(spec) {
			switch {
			case p.Name != key:
			case len(p.Enum) > 0:
				values = p.Enum
			case p.Type == "boolean":
				values = []string{"true", "false"}
			}
		}
		return withPrefix(values, val, " "), val
	}
	given := map[string]bool{}
	for _, f := range fields[2:] {
		if key, _, ok := strings.Cut(f, "="); ok {
			given[key] = true
		}
	}
	var keys []string
	for _, p := range tools.Params(spec) {
		if !given[p.Name] {
			keys = append(keys, p.Name)
		}
	}
	return withPrefix(keys, word, "="), word
}

// withPrefix returns the names that start with prefix, each followed by
// suffix.
func withPrefix(names []string, prefix, suffix string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n+suffix)
		}
	}
	return out
}
