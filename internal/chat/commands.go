package chat

import (
	"errors"
	"fmt"
	"strings"

	"github.com/watchkeeper/watchkeeper/tools"
)

// The tool commands a person types: /tools, /tools NAME and the messages
// of /run that help fix a call. Parsing what follows the tool's name is
// tools.ParseArgs, which Slack can share.

// runUsage is what /run says when it is given nothing.
const runUsage = `usage: /run TOOL key=value …, e.g. /run current_time resolve="2h ago" timezone=Europe/Berlin
  For a tool with one required argument the rest of the line is that argument: /run prom_query count(up)
  /tools lists the tools; /tools NAME shows one's arguments`

// showTools lists the tools, or describes the one named.
func (c *Chat) showTools(name string) error {
	if name == "" {
		c.r.tools(c.cfg.Tools.Specs())
		return nil
	}
	spec, err := c.spec(name)
	if err != nil {
		return err
	}
	fmt.Fprint(c.cfg.Out, describeTool(spec))
	return nil
}

// spec finds a tool by name, or says which names were probably meant.
func (c *Chat) spec(name string) (tools.Spec, error) {
	t, ok := c.cfg.Tools.Get(name)
	if !ok {
		return tools.Spec{}, unknownTool(name, c.cfg.Tools.Names())
	}
	return t.Spec(), nil
}

func unknownTool(name string, names []string) error {
	msg := fmt.Sprintf("no tool called %q", name)
	if near := tools.Suggest(name, names); len(near) > 0 {
		msg += "; did you mean " + orList(near) + "?"
	}
	return errors.New(msg + " /tools lists them")
}

func orList(names []string) string {
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// argSummary is the argument line of /tools: names, the required ones
// marked.
func argSummary(s tools.Spec) string {
	params := tools.Params(s)
	if len(params) == 0 {
		return "no arguments"
	}
	names := make([]string, len(params))
	for i, p := range params {
		names[i] = p.Name
		if p.Required {
			names[i] += " (required)"
		}
	}
	return "arguments: " + strings.Join(names, ", ")
}

// describeTool is /tools NAME: the description, every argument with its
// type, whether it is required, its default, values and range, and
// examples in /run's syntax.
func describeTool(s tools.Spec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s — %s\n", s.Name, strings.Join(strings.Fields(s.Description), " "))
	if s.Mutating {
		b.WriteString("It proposes a change: nothing happens until you approve it.\n")
	}
	params := tools.Params(s)
	if len(params) == 0 {
		b.WriteString("\nIt takes no arguments.\n")
	} else {
		b.WriteString("\nArguments:\n")
		width := 0
		for _, p := range params {
			width = max(width, len(p.Name))
		}
		for _, p := range params {
			fmt.Fprintf(&b, "  %-*s  %s", width, p.Name, paramFacts(p))
			if p.Description != "" {
				b.WriteString(" — " + strings.Join(strings.Fields(p.Description), " "))
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("\nExample:\n")
	for _, ex := range examples(s) {
		fmt.Fprintf(&b, "  /run %s\n", ex)
	}
	if rest := tools.RestArg(s); rest != "" {
		fmt.Fprintf(&b, "The text after /run %s is its %s argument, as typed (no quotes or JSON needed); other arguments follow as key=value.\n", s.Name, rest)
	}
	return b.String()
}

// paramFacts is "string, required" or "integer, optional, 1–100, default 5".
func paramFacts(p tools.Param) string {
	facts := []string{p.Type}
	if p.Required {
		facts = append(facts, "required")
	} else {
		facts = append(facts, "optional")
	}
	if len(p.Enum) > 0 {
		facts = append(facts, "one of "+strings.Join(p.Enum, ", "))
	}
	switch {
	case p.Minimum != nil && p.Maximum != nil:
		facts = append(facts, fmt.Sprintf("%v–%v", *p.Minimum, *p.Maximum))
	case p.Minimum != nil:
		facts = append(facts, fmt.Sprintf("at least %v", *p.Minimum))
	case p.Maximum != nil:
		facts = append(facts, fmt.Sprintf("at most %v", *p.Maximum))
	}
	if p.Default != nil {
		facts = append(facts, fmt.Sprintf("default %v", p.Default))
	}
	if strings.HasPrefix(p.Type, "list") {
		facts = append(facts, "comma-separated")
	}
	return strings.Join(facts, ", ")
}

// examples are /run lines for a tool: the required arguments; the same
// with the optional arguments whose descriptions give an example; and,
// when the example holds no placeholder, the JSON a model would send.
func examples(s tools.Spec) []string {
	args, complete := tools.ExampleArgs(s)
	first := strings.TrimSpace(s.Name + " " + args)
	out := []string{first}
	var more []string
	hasRequired := false
	for _, p := range tools.Params(s) {
		hasRequired = hasRequired || p.Required
		if !p.Required && p.Example != "" && len(more) < 2 {
			more = append(more, p.Name+"="+tools.QuoteValue(p.Example))
		}
	}
	if hasRequired && len(more) > 0 {
		out = append(out, first+" "+strings.Join(more, " "))
	}
	if !complete || args == "" {
		return out
	}
	if raw, err := tools.ParseArgs(s, args); err == nil && s.Parameters.Validate(raw) == nil {
		out = append(out, s.Name+" "+string(raw))
	}
	return out
}

// argsProblem explains why the schema refused a /run call: every missing
// argument at once, then any other problem, then an example to copy.
func argsProblem(s tools.Spec, args []byte) error {
	err := s.Parameters.Validate(args)
	if err == nil {
		return nil
	}
	var lines []string
	for _, e := range flatten(err) {
		var missing *tools.MissingError
		if errors.As(e, &missing) && missing.Path == "" {
			parts := make([]string, len(missing.Args))
			for i, a := range missing.Args {
				parts[i] = a.Name
				if d := tools.ShortDescription(a.Description); d != "" {
					parts[i] += " (" + d + ")"
				}
			}
			lines = append(lines, fmt.Sprintf("%s needs: %s", s.Name, strings.Join(parts, ", ")))
			continue
		}
		lines = append(lines, fmt.Sprintf("%s: %v", s.Name, e))
	}
	lines = append(lines, exampleHint(s))
	return errors.New(strings.Join(lines, "\n"))
}

// exampleHint is the line under a refused /run: a call to copy, and where
// to read more.
func exampleHint(s tools.Spec) string {
	args, _ := tools.ExampleArgs(s)
	return fmt.Sprintf("  e.g. /run %s   (/tools %s shows every argument)", strings.TrimSpace(s.Name+" "+args), s.Name)
}

// flatten undoes errors.Join, so each problem gets its own line.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}
