package tools

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file is the people's side of a tool's arguments: what a person
// types after a tool's name (the terminal's /run, Slack's commands), the
// arguments described for a help screen with an example, "did you mean"
// for a misspelt name, and the one-line summary of a description. A model
// sends JSON and never comes through here.

// ParseArgs turns the text typed after a tool's name into the tool's JSON
// arguments. It accepts three forms:
//
//   - a JSON object, as a model sends it: {"query": "up"};
//   - key=value pairs: query=up time="10m ago". A value runs until the
//     next pair whose key is one of the tool's arguments, so it may hold
//     spaces; quote it ("…" or '…') to keep a " key=" inside it. Spaces
//     inside brackets never split a value: query=sum by (job) (rate(x[5m]));
//   - for a tool with exactly one required argument, or only one argument
//     (RestArg), the text itself as that argument — count(up),
//     sum(rate(x[5m])) by (job) — optionally followed by key=value pairs
//     for the other arguments. The text is taken this way whenever its
//     first word is not "argument=" for one of the tool's arguments, so
//     PromQL such as up{job="x"} is never mistaken for a pair.
//
// Values are converted to the argument's schema type: integer and number
// (a JSON number), boolean (true/false, yes/no, on/off, 1/0), array
// (comma-separated items, each converted, or a JSON array; a repeated key
// adds items), object (a JSON object, or k=v,k2=v2 as strings), string
// (as typed, without the quotes around it).
//
// ParseArgs does not check required arguments, enums or ranges: the
// schema does that for every caller (Schema.Validate, through Invoker),
// and its MissingError lists every missing argument at once. The error
// returned here says what to type instead; it does not name the tool, so
// the caller prefixes it and adds an example in its own syntax
// (ExampleArgs). ParseArgs is a pure function, safe for concurrent use.
func ParseArgs(spec Spec, text string) (json.RawMessage, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return json.RawMessage("{}"), nil
	}
	rest := RestArg(spec)
	if text[0] == '{' {
		var v any
		err := json.Unmarshal([]byte(text), &v)
		if _, isObject := v.(map[string]any); err == nil && isObject {
			return json.RawMessage(text), nil
		}
		// A single argument may itself start with a brace: the PromQL
		// selector {job="api"}.
		if rest == "" {
			if err == nil {
				err = errors.New("not an object")
			}
			return nil, fmt.Errorf("the arguments look like JSON but are not valid JSON (%v); send one JSON object, or key=value pairs", err)
		}
	}
	props := properties(spec)
	if len(props) == 0 {
		return nil, errors.New("it takes no arguments; run it without any")
	}

	// Split the text into fields (an argument and the span of its value),
	// keeping the raw text so a PromQL value keeps its quotes and spaces.
	type field struct {
		name       string
		positional bool
		start, end int
	}
	var fields []field
	for i, tok := range tokenize(text) {
		raw := text[tok.start:tok.end]
		key, _, isPair := strings.Cut(raw, "=")
		isPair = isPair && isIdent(key)
		_, known := props[key]
		switch {
		case isPair && known:
			fields = append(fields, field{name: key, start: tok.start + len(key) + 1, end: tok.end})
		case i == 0 && rest != "":
			fields = append(fields, field{name: rest, positional: true, start: tok.start, end: tok.end})
		case isPair:
			return nil, unknownArg(spec, key, i > 0)
		case i == 0:
			return nil, fmt.Errorf("%q is not key=value; the arguments are %s",
				shortText(raw), strings.Join(slices.Sorted(maps.Keys(props)), ", "))
		default:
			// A word with no key continues the value before it.
			fields[len(fields)-1].end = tok.end
		}
	}

	values := make(map[string]any, len(fields))
	for _, f := range fields {
		raw := strings.TrimSpace(text[f.start:f.end])
		v, quoted, err := unquote(raw)
		switch {
		case err != nil && f.positional:
			// Unbalanced quotes in a whole-line argument are the
			// argument's own business (PromQL will say what is wrong).
			v = raw
		case err != nil:
			return nil, fmt.Errorf("argument %q: %w", f.name, err)
		}
		conv, err := convert(f.name, props[f.name], v, quoted)
		if err != nil {
			return nil, err
		}
		prev, dup := values[f.name]
		switch {
		case !dup:
			values[f.name] = conv
		case props[f.name].Type == "array":
			values[f.name] = appendItems(prev, conv)
		default:
			return nil, fmt.Errorf("argument %q is given twice; give it once", f.name)
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	// PromQL's > and < stay readable in what the tool and the audit log get.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(values); err != nil {
		return nil, fmt.Errorf("encode the arguments: %w", err)
	}
	return json.RawMessage(bytes.TrimSpace(b.Bytes())), nil
}

// RestArg returns the argument that the whole text after a tool's name
// stands for (ParseArgs): the only required argument, or the only
// argument of a tool that has one; "" when the tool has no such argument.
func RestArg(spec Spec) string {
	p := spec.Parameters
	if p == nil {
		return ""
	}
	switch {
	case len(p.Required) == 1:
		if _, ok := p.Properties[p.Required[0]]; ok {
			return p.Required[0]
		}
	case len(p.Required) == 0 && len(p.Properties) == 1:
		for name := range p.Properties {
			return name
		}
	}
	return ""
}

func properties(spec Spec) map[string]*Schema {
	if spec.Parameters == nil {
		return nil
	}
	return spec.Parameters.Properties
}

// unknownArg says that key is not an argument, and what was probably
// meant. afterValue marks a key=value after another argument's value,
// which may have been meant as part of that value.
func unknownArg(spec Spec, key string, afterValue bool) error {
	names := slices.Sorted(maps.Keys(properties(spec)))
	msg := fmt.Sprintf("no argument %q", key)
	if near := Suggest(key, names); len(near) > 0 {
		msg += fmt.Sprintf("; did you mean %s?", strings.Join(near, " or "))
	}
	msg += fmt.Sprintf(" (the arguments are %s)", strings.Join(names, ", "))
	if afterValue {
		msg += fmt.Sprintf("; if %s= is part of the value before it, quote that value", key)
	}
	return errors.New(msg)
}

// token is one word of typed text: a byte span, where spaces inside quotes
// or brackets do not end the word.
type token struct{ start, end int }

func tokenize(text string) []token {
	var toks []token
	i := 0
	for {
		for i < len(text) && isSpace(text[i]) {
			i++
		}
		if i >= len(text) {
			return toks
		}
		start, depth := i, 0
		var quote byte
	word:
		for ; i < len(text); i++ {
			ch := text[i]
			if quote != 0 {
				switch {
				case ch == '\\' && quote == '"':
					i++
				case ch == quote:
					quote = 0
				}
				continue
			}
			switch ch {
			case '"', '\'':
				quote = ch
			case '(', '[', '{':
				depth++
			case ')', ']', '}':
				depth = max(depth-1, 0)
			default:
				if isSpace(ch) && depth == 0 {
					break word
				}
			}
		}
		toks = append(toks, token{start, min(i, len(text))})
	}
}

func isSpace(ch byte) bool { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' }

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || unicode.IsLetter(r) || (i > 0 && unicode.IsDigit(r))) {
			return false
		}
	}
	return true
}

// unquote removes the quotes around a value that is wholly quoted ("a b"
// or 'a b'; in double quotes \" and \\ are escapes) and reports whether it
// was. A value that only contains quotes (up{job="x"}) is left as typed.
func unquote(v string) (string, bool, error) {
	if v == "" || (v[0] != '"' && v[0] != '\'') {
		return v, false, nil
	}
	q := v[0]
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		ch := v[i]
		switch {
		case q == '"' && ch == '\\' && i+1 < len(v) && (v[i+1] == '"' || v[i+1] == '\\'):
			i++
			b.WriteByte(v[i])
		case ch == q && i == len(v)-1:
			return b.String(), true, nil
		case ch == q:
			return v, false, nil
		default:
			b.WriteByte(ch)
		}
	}
	return "", false, fmt.Errorf("the quote %c is not closed; close it or drop it", q)
}

// convert turns typed text into a value of the argument's schema type.
// quoted text is always a string where a string is possible.
func convert(name string, s *Schema, v string, quoted bool) (any, error) {
	typ := ""
	if s != nil {
		typ = s.Type
	}
	switch typ {
	case "string":
		return v, nil
	case "integer", "number":
		if isNumber(v) {
			return json.Number(v), nil
		}
		what := "a number"
		if typ == "integer" {
			what = "an integer"
		}
		return nil, fmt.Errorf("argument %q takes %s, not %q", name, what, shortText(v))
	case "boolean":
		switch strings.ToLower(v) {
		case "true", "yes", "y", "on", "1":
			return true, nil
		case "false", "no", "n", "off", "0":
			return false, nil
		}
		return nil, fmt.Errorf("argument %q takes true or false, not %q", name, shortText(v))
	case "array":
		if strings.HasPrefix(v, "[") && !quoted {
			if isJSON(v, '[') {
				return json.RawMessage(v), nil
			}
			return nil, fmt.Errorf("argument %q: %s is not a valid JSON array; give a JSON array or comma-separated items", name, shortText(v))
		}
		items := []any{}
		if strings.TrimSpace(v) == "" {
			return items, nil
		}
		for i, part := range splitTop(v, ',') {
			item, q, err := unquote(strings.TrimSpace(part))
			if err != nil {
				return nil, fmt.Errorf("argument %q, item %d: %w", name, i+1, err)
			}
			conv, err := convert(fmt.Sprintf("%s[%d]", name, i), s.Items, item, q)
			if err != nil {
				return nil, err
			}
			items = append(items, conv)
		}
		return items, nil
	case "object":
		if strings.HasPrefix(v, "{") {
			if isJSON(v, '{') {
				return json.RawMessage(v), nil
			}
			return nil, fmt.Errorf("argument %q: %s is not a valid JSON object", name, shortText(v))
		}
		obj := map[string]any{}
		for _, part := range splitTop(v, ',') {
			k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || strings.TrimSpace(k) == "" {
				return nil, fmt.Errorf(`argument %q takes a JSON object or label=value pairs, e.g. %s='{"alertname": "HighErrorRate"}' or %s=alertname=HighErrorRate,namespace=shop`, name, name, name)
			}
			val, _, err := unquote(strings.TrimSpace(val))
			if err != nil {
				return nil, fmt.Errorf("argument %q, key %q: %w", name, k, err)
			}
			obj[strings.TrimSpace(k)] = val
		}
		return obj, nil
	default:
		// An argument of no declared type: JSON if it is JSON.
		if !quoted && json.Valid([]byte(v)) {
			return json.RawMessage(v), nil
		}
		return v, nil
	}
}

func isNumber(v string) bool {
	if v == "" || !(v[0] == '-' || (v[0] >= '0' && v[0] <= '9')) {
		return false
	}
	var n json.Number
	return json.Unmarshal([]byte(v), &n) == nil
}

func isJSON(v string, open byte) bool {
	return strings.HasPrefix(v, string(open)) && json.Valid([]byte(v))
}

// appendItems adds the items of a repeated array argument to the ones
// before it.
func appendItems(prev, next any) any {
	return append(asItems(prev), asItems(next)...)
}

func asItems(v any) []any {
	switch x := v.(type) {
	case []any:
		return x
	case json.RawMessage:
		var items []any
		dec := json.NewDecoder(bytes.NewReader(x))
		dec.UseNumber()
		if dec.Decode(&items) == nil {
			return items
		}
	}
	return []any{v}
}

// splitTop splits s at sep outside quotes and brackets, so an item such as
// sum by (a, b) (x) stays whole.
func splitTop(s string, sep byte) []string {
	var parts []string
	depth, start := 0, 0
	var quote byte
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote != 0:
			if ch == '\\' && quote == '"' {
				i++
			} else if ch == quote {
				quote = 0
			}
		case ch == '"' || ch == '\'':
			quote = ch
		case ch == '(' || ch == '[' || ch == '{':
			depth++
		case ch == ')' || ch == ']' || ch == '}':
			depth = max(depth-1, 0)
		case ch == sep && depth == 0:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

func shortText(s string) string { return truncateRunes(s, 60) }

// Param describes one argument of a tool for people: a help screen such
// as the terminal's /tools NAME, or Slack's.
type Param struct {
	Name string
	// Type is the schema type in words: "string", "integer", "list of
	// string", "object"; "any" when the schema declares none.
	Type        string
	Description string
	Required    bool
	// Rest marks the argument the whole text after the tool's name stands
	// for (RestArg).
	Rest bool
	// Enum, Default, Minimum and Maximum are the schema's.
	Enum             []string
	Default          any
	Minimum, Maximum *float64
	// Example is a value to type, from the description's "e.g." or the
	// schema ("up" for PromQL, an enum's first value); "" when there is
	// none to give.
	Example string
}

// Params returns a tool's arguments: the required ones first, in the order
// the schema requires them, then the others by name.
func Params(spec Spec) []Param {
	props := properties(spec)
	if len(props) == 0 {
		return nil
	}
	required := map[string]bool{}
	names := []string{}
	for _, r := range spec.Parameters.Required {
		if _, ok := props[r]; ok && !required[r] {
			required[r] = true
			names = append(names, r)
		}
	}
	optional := []string{}
	for name := range props {
		if !required[name] {
			optional = append(optional, name)
		}
	}
	sort.Strings(optional)
	names = append(names, optional...)
	rest := RestArg(spec)
	out := make([]Param, 0, len(names))
	for _, name := range names {
		s := props[name]
		p := Param{Name: name, Type: "any", Required: required[name], Rest: name == rest}
		if s != nil {
			p.Type, p.Description, p.Enum, p.Default, p.Minimum, p.Maximum = typeName(s), s.Description, s.Enum, s.Default, s.Minimum, s.Maximum
			p.Example = exampleValue(s, slices.Contains(spec.PromQL, name))
		}
		out = append(out, p)
	}
	return out
}

func typeName(s *Schema) string {
	switch {
	case s.Type == "":
		return "any"
	case s.Type == "array" && s.Items != nil && s.Items.Type != "":
		return "list of " + s.Items.Type
	case s.Type == "array":
		return "list"
	}
	return s.Type
}

// ExampleArgs returns what to type after a tool's name for a call that
// gives every required argument — or, for a tool with none, one optional
// argument with an example, the one its description gives an example for
// first — in ParseArgs's syntax: "up" for prom_query, "name=NAME
// reason=REASON" for a restart. A value with no example is the argument's
// name in capitals, a placeholder to replace; complete is false when the
// example holds one.
func ExampleArgs(spec Spec) (args string, complete bool) {
	params := Params(spec)
	var use []Param
	for _, p := range params {
		if p.Required {
			use = append(use, p)
		}
	}
	if len(use) == 0 {
		best := -1
		for i, p := range params {
			if p.Example == "" {
				continue
			}
			if best < 0 || exampleRank(p) < exampleRank(params[best]) {
				best = i
			}
		}
		switch {
		case best >= 0:
			use = append(use, params[best])
		case len(params) == 1:
			use = append(use, params[0])
		}
	}
	complete = true
	parts := make([]string, 0, len(use))
	for _, p := range use {
		v := p.Example
		if v == "" {
			v, complete = strings.ToUpper(p.Name), false
		}
		if p.Rest {
			parts = append(parts, v)
			continue
		}
		parts = append(parts, p.Name+"="+QuoteValue(v))
	}
	return strings.Join(parts, " "), complete
}

// exampleRank prefers the example a description gives over one made from
// the schema: "service=checkout" says more than "compare=true".
func exampleRank(p Param) int {
	switch {
	case exampleFromDescription(p.Description) == p.Example:
		return 0
	case len(p.Enum) > 0:
		return 1
	case p.Type == "boolean":
		return 3
	}
	return 2
}

// QuoteValue quotes v for a key=value pair when ParseArgs would otherwise
// split it or read it differently (spaces, an empty value, a leading
// quote).
func QuoteValue(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\n") && v[0] != '"' && v[0] != '\'' {
		return v
	}
	if strings.Contains(v, `"`) && !strings.Contains(v, `'`) {
		return "'" + v + "'"
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

// exampleValue finds a value to show for an argument.
func exampleValue(s *Schema, promQL bool) string {
	if len(s.Enum) > 0 {
		return s.Enum[0]
	}
	if v := exampleFromDescription(s.Description); v != "" {
		if _, err := convert("", s, v, false); err == nil {
			return v
		}
	}
	switch {
	case promQL && s.Type == "string":
		return "up"
	case s.Type == "boolean":
		return "true"
	}
	// A number is not made up: replicas=0 or tail=1 would mislead.
	return ""
}

// exampleFromDescription takes the value after "e.g." in a description:
// a quoted value, a bracketed one, or the word that follows.
func exampleFromDescription(desc string) string {
	_, after, ok := strings.Cut(desc, "e.g. ")
	if !ok {
		return ""
	}
	after = strings.TrimSpace(after)
	if after == "" {
		return ""
	}
	if q := after[0]; q == '"' || q == '\'' {
		if end := strings.IndexByte(after[1:], q); end >= 0 {
			return after[1 : end+1]
		}
		return ""
	}
	tok := tokenize(after)[0]
	v := strings.TrimRight(after[tok.start:tok.end], ".,;:")
	if strings.HasPrefix(after, "{") || strings.HasPrefix(after, "[") {
		return v
	}
	// "(e.g. HighErrorRate)": the parenthesis closes the description's.
	for strings.HasSuffix(v, ")") && strings.Count(v, ")") > strings.Count(v, "(") {
		v = strings.TrimSuffix(v, ")")
	}
	// "e.g. the memory limit in bytes" describes, it gives no value.
	switch strings.ToLower(v) {
	case "a", "an", "the", "one", "some":
		return ""
	}
	return v
}

// Suggest returns the names among candidates that name was probably meant
// to be, best first, at most five: those within a few typing mistakes
// (edits, or two letters swapped), then those it is the start of, then
// those that contain it. It returns nil when nothing is close.
func Suggest(name string, candidates []string) []string {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" {
		return nil
	}
	type scored struct {
		name        string
		class, dist int
	}
	limit := 1 + utf8.RuneCountInString(name)/4
	var found []scored
	for _, c := range candidates {
		lc := strings.ToLower(c)
		if lc == name {
			continue
		}
		d := distance(name, lc)
		switch {
		case d <= limit:
			found = append(found, scored{c, 0, d})
		case len(name) >= 2 && strings.HasPrefix(lc, name):
			found = append(found, scored{c, 1, d})
		case len(name) >= 3 && strings.Contains(lc, name):
			found = append(found, scored{c, 2, d})
		}
	}
	sort.Slice(found, func(i, j int) bool {
		a, b := found[i], found[j]
		if a.class != b.class {
			return a.class < b.class
		}
		if a.dist != b.dist {
			return a.dist < b.dist
		}
		return a.name < b.name
	})
	var out []string
	for i := 0; i < len(found) && i < 5; i++ {
		out = append(out, found[i].name)
	}
	return out
}

// distance is the number of edits (insert, delete, replace, or swap two
// neighbours) that turn a into b.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// abbreviations end in a full stop that does not end a sentence.
var abbreviations = []string{"e.g", "i.e", "etc", "vs", "cf", "approx", "incl", "esp", "resp"}

// FirstSentence returns the first sentence of a description, with its
// full stop, for one-line lists of tools. A full stop ends the sentence
// when a space or the end follows it, it does not close an abbreviation
// ("e.g.", "i.e.", "etc."), and the next sentence does not start in lower
// case; "1.5" and "v1.2.3" never end one.
func FirstSentence(desc string) string {
	desc = strings.TrimSpace(desc)
	for i := 0; i < len(desc); i++ {
		ch := desc[i]
		if ch != '.' && ch != '?' && ch != '!' {
			continue
		}
		if i+1 == len(desc) {
			break
		}
		if !isSpace(desc[i+1]) {
			continue
		}
		if ch == '.' && endsWithAbbreviation(desc[:i]) {
			continue
		}
		if next, _ := utf8.DecodeRuneInString(strings.TrimLeft(desc[i+1:], " \t\r\n")); unicode.IsLower(next) {
			continue
		}
		return desc[:i+1]
	}
	return desc
}

func endsWithAbbreviation(before string) bool {
	word := before[strings.LastIndexAny(before, " \t\n(\"'[")+1:]
	word = strings.ToLower(word)
	return slices.Contains(abbreviations, word)
}
