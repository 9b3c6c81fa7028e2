package eval

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Grounding is how well an answer cites the run's evidence. The contract
// the agent's answers follow: the run's tool calls are numbered 1, 2, 3 …
// in the order they were made (the order of the run's tool_start events),
// and a claim is followed by the numbers of the calls that support it —
// "[2]", "[2][5]" or "[2, 5]".
//
// A claim is a sentence, list item or table row that asserts something
// checkable about the observed systems: it holds a number (a value, a
// percentage, a time, a version, a count), a technical name (inline code, a
// hyphenated, snake_case, CamelCase or slash-separated identifier, or a
// name the run's tool calls used as an argument, such as a service or a
// namespace), a word for what the tools measure or list ("memory",
// "requests", "pods", "logs", "revision"), or a word of cause, change or
// state ("because", "rose", "restarted", "failing", "down", "healthy").
// These are not claims, whatever they contain: headings, and short lines
// (12 words at most) that end in a colon and cite nothing; questions;
// statements that the cause is unresolved or undetermined;
// recommendations, next steps and the agent's intentions (a sentence that
// starts with an imperative or "I recommend", "I'll", "you could", "if …",
// or anything under a heading such as "Next steps" or "Recommendations");
// reference lists (lines that start with a citation); lines that only
// quote code; and code blocks. Inside text, inline code and the text of Markdown and
// Slack links count, their brackets do not: "rate(x[5m])" and
// "[runbook](https://…)" cite nothing.
//
// The definition is a heuristic on free text; it errs towards counting a
// sentence as a claim, since an uncited claim is what the score exists to
// find. Safe to copy; the zero value is an answer without claims.
type Grounding struct {
	// Claims counts the claims; Cited those followed by at least one
	// citation of a real tool call.
	Claims int `json:"claims"`
	Cited  int `json:"cited"`
	// Uncited are the claims without a valid citation, as written
	// (clipped), so a reader can see what the score counted.
	Uncited []string `json:"uncited,omitempty"`
	// Citations counts every cited number; InvalidCitations lists, once
	// per occurrence, the numbers that name no tool call of the run.
	Citations        int   `json:"citations"`
	InvalidCitations []int `json:"invalid_citations,omitempty"`
	// Unresolved is set when the answer says the cause is unresolved or
	// undetermined.
	Unresolved bool `json:"unresolved,omitempty"`
	// Groundedness is Cited/Claims, nil when the answer makes no claim
	// (a question back to the user, a refusal): nothing to cite is
	// neither good nor bad grounding.
	Groundedness *float64 `json:"groundedness"`
}

// Ground scores answer against the run's agent tool calls, numbered from 1
// in the order given.
func Ground(answer string, calls []Call) Grounding {
	g := Grounding{}
	names := argumentNames(calls)
	valid := func(n int) bool { return n >= 1 && n <= len(calls) }

	for _, u := range splitUnits(answer) {
		for _, n := range u.cites {
			g.Citations++
			if !valid(n) {
				g.InvalidCitations = append(g.InvalidCitations, n)
			}
		}
		if uncertainRe.MatchString(u.text) {
			g.Unresolved = true
			continue
		}
		if u.skip || !isClaim(u.text, names) {
			continue
		}
		g.Claims++
		if slices.ContainsFunc(u.cites, valid) {
			g.Cited++
		} else {
			g.Uncited = append(g.Uncited, clip(strings.TrimSpace(u.raw), 160))
		}
	}
	if g.Claims > 0 {
		v := round(float64(g.Cited)/float64(g.Claims), 4)
		g.Groundedness = &v
	}
	return g
}

// unit is one sentence, list item or table row of an answer.
type unit struct {
	raw   string // as written, for reports
	text  string // without citations, links and code, for classifying
	cites []int
	// skip marks text that is never a claim (headings, reference lists,
	// next steps) but whose citations still count.
	skip bool
}

var (
	fenceRe = regexp.MustCompile("^\\s*(```|~~~)")
	// inlineCodeRe is a code span: PromQL, a pod name, a log line.
	inlineCodeRe = regexp.MustCompile("`[^`\n]*`")
	// mdLinkRe is a Markdown link or image, [text](url).
	mdLinkRe = regexp.MustCompile(`!?\[([^\]\n]*)\]\(([^)\s]*)\)`)
	// slackLinkRe is a Slack link, <url|text> or <url>.
	slackLinkRe = regexp.MustCompile(`<((?:https?|mailto):[^|>\s]*)(?:\|([^>]*))?>`)
	urlRe       = regexp.MustCompile(`https?://\S+`)
	// citeRe is one citation group: [2] or [2, 5].
	citeRe = regexp.MustCompile(`\[\s*(\d{1,4}(?:\s*,\s*\d{1,4})*)\s*\]`)
	// leadingCitesRe is citations at the start of a line: a reference list
	// entry ("[1] prom_query …"), not a claim.
	leadingCitesRe = regexp.MustCompile(`^(?:\[\s*\d{1,4}(?:\s*,\s*\d{1,4})*\s*\]\s*)+`)
	// trailingCitesRe is citations written after a sentence's period.
	trailingCitesRe = regexp.MustCompile(`^(?:\s*\[\s*\d{1,4}(?:\s*,\s*\d{1,4})*\s*\])+`)
	markerRe        = regexp.MustCompile(`^(?:[-*•+]|\d{1,3}[.)]|>)\s+`)
	headingRe       = regexp.MustCompile(`^#{1,6}\s`)
	// emphasisOnlyRe is a line that is only bold or italic text, maybe
	// with a colon: a heading in Slack's mrkdwn.
	emphasisOnlyRe = regexp.MustCompile(`^(\*\*|__|\*|_)[^*_]+(\*\*|__|\*|_):?$`)
	ruleRe         = regexp.MustCompile(`^([-*_]\s*){3,}$`)
	tableSepRe     = regexp.MustCompile(`^\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?$`)

	// adviceHeadingRe names sections of recommendations, not claims.
	adviceHeadingRe = regexp.MustCompile(`(?i)\b(next(?: steps?)?|recommend\w*|suggest\w*|actions?|what (to|you can) do|mitigation|remediation|follow[- ]?ups?|to ?dos?|options|how to fix|fix)\b`)
	// adviceRe is a sentence that advises rather than asserts.
	adviceRe = regexp.MustCompile(`(?i)^(?:(?:then|and|so|also|but),?\s+)?(?:` +
		`(?:i|we)(?:'ll|'d)\s|` +
		`(?:i|we)(?:\s+would)?\s+(?:recommend|suggest|propose[sd]?|can|could|will|should|may|might|can't|cannot)\b|` +
		`i(?:'ve| have)\s+proposed\b|` +
		`(?:you|they)\s+(?:can|could|should|may|might|want|need|will need)\b|` +
		`(?:let me know|want me to|shall i|should i|would you|do you want|please)\b|` +
		`(?:recommend(?:ed|ation)?|suggest(?:ion|ed)?|consider|next(?:\s+steps?)?|to\s+(?:confirm|verify|fix|mitigate|check|investigate|rule out|resolve|recover)|` +
		`if|once|unless|when you|before|after you|see|check|look|read|use|follow|make sure|ensure|find out|run|roll\s?back|revert|restart|redeploy|scale|increase|raise|reduce|lower|approve|investigate|` +
		`monitor|watch|add|fix|silence|page|escalate|open|inspect|review|verify|confirm|keep an eye|ask|contact|try|wait)\b)`)
	// uncertainRe is a statement that nothing was established.
	uncertainRe = regexp.MustCompile(`(?i)\b(unresolved|undetermined|not (?:yet )?(?:been )?determined|could ?n[o']t (?:determine|establish|identify|confirm) (?:the|a|why|what|which)|cannot (?:determine|tell)|can't (?:determine|tell)|unclear)\b`)

	// Signals that a sentence asserts something checkable.
	digitRe      = regexp.MustCompile(`\d`)
	identifierRe = regexp.MustCompile(`[A-Za-z][A-Za-z0-9]*(?:[-_/.:][A-Za-z0-9]{2,})+|[a-z]+[A-Z][A-Za-z]*|[A-Z][a-z]+[A-Z][A-Za-z]*|[A-Z]{2,}[a-z]+[A-Za-z]*|\w+\{`)
	causalRe     = regexp.MustCompile(`(?i)\b(because|caused?|causes|causing|due to|led to|leads? to|leading to|result(?:s|ed|ing)? in|triggered|since|started|began|increas\w*|decreas\w*|rose|risen|rising|dropp\w*|drops?|spik\w*|fell|falling|climb\w*|doubled|tripled|jump\w*|grew|grow\w*|restart\w*|crash\w*|fail\w*|errors?|erroring|saturat\w*|exhaust\w*|killed|leak\w*|fir(?:ing|ed)|down|degraded|slow\w*|latency|timed out|time ?outs?|timing out|rolled out|rollout|deploy\w*|unavailable|unreachable|healthy|unhealthy|normal|abnormal|anomal\w*|stable|fine|throttl\w*|evicted|pending|full|filling|broke|broken|bug|regression|misconfigur\w*|changed|refused|rejected|missing)\b`)
	// measureRe names what the tools measure and list.
	measureRe = regexp.MustCompile(`(?i)\b(memory|cpu|disk|network|traffic|throughput|requests?|connections?|queues?|drifts?|usage|load|utili[sz]ation|replicas?|pods?|containers?|nodes?|alerts?|logs?|metrics?|traces?|spans?|p\d\d|percentile|ratio|rate|quota|limits?|image|revision|version|events?)\b`)
	wordRe    = regexp.MustCompile(`[A-Za-z0-9][A-Za-z0-9_.-]*`)
)

// codeMark stands for inline code: a technical name, never a citation.
const codeMark = "⟨code⟩"

// splitUnits breaks an answer into units, marking those that are never
// claims.
func splitUnits(answer string) []unit {
	var out []unit
	lines := strings.Split(strings.ReplaceAll(answer, "\r\n", "\n"), "\n")
	inFence := false
	// advice: under a heading of advice ("## Next steps"), until the next
	// heading; adviceList: under a line of advice ending in a colon
	// ("Next steps:"), while its list goes on.
	advice, adviceList := false, false
	for i, line := range lines {
		if fenceRe.MatchString(line) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		l := clean(strings.TrimSpace(line))
		if l == "" || ruleRe.MatchString(l) {
			continue
		}
		if strings.HasPrefix(l, "|") {
			if tableSepRe.MatchString(l) {
				continue
			}
			u := unitOf(l)
			// The row above a separator is the table's header.
			header := i+1 < len(lines) && tableSepRe.MatchString(strings.TrimSpace(lines[i+1]))
			u.skip = header || advice || adviceList
			out = append(out, u)
			continue
		}
		if !markerRe.MatchString(l) {
			adviceList = false // the list under "Next steps:" ended
		}
		l = markerRe.ReplaceAllString(l, "")
		l = markerRe.ReplaceAllString(l, "") // "> - item"
		switch {
		case headingRe.MatchString(l) || emphasisOnlyRe.MatchString(l):
			advice, adviceList = adviceHeadingRe.MatchString(l), false
			out = append(out, skipped(l))
			continue
		case strings.HasSuffix(l, ":") && len(strings.Fields(l)) <= 12 && !citeRe.MatchString(l):
			// A short line that introduces what follows; one that cites
			// evidence is making a claim.
			adviceList = adviceHeadingRe.MatchString(l)
			out = append(out, skipped(l))
			continue
		case leadingCitesRe.MatchString(l):
			out = append(out, skipped(l))
			continue
		}
		// "Next steps: roll back …" — a heading run into its text.
		if h, _, ok := strings.Cut(l, ":"); ok && len(strings.Fields(h)) <= 4 && adviceHeadingRe.MatchString(stripEmphasis(h)) {
			out = append(out, skipped(l))
			continue
		}
		for _, s := range sentences(l) {
			u := unitOf(s)
			if strings.TrimSpace(strings.Trim(u.text, ".,;:!—–- ")) == "" && len(out) > 0 {
				// Citations alone belong to the sentence before them.
				out[len(out)-1].cites = append(out[len(out)-1].cites, u.cites...)
				continue
			}
			lead := strings.TrimLeft(stripEmphasis(u.text), "—–-:;,. ")
			u.skip = advice || adviceList || adviceRe.MatchString(lead) || strings.HasSuffix(strings.TrimRight(u.text, "*_)\"' "), "?") || codeOnly(u.text)
			out = append(out, u)
		}
	}
	return out
}

// codeOnlyRe is a unit that only quotes code, maybe after a short label
// ("Query: `…`"): the evidence itself, not a claim about it.
var codeOnlyRe = regexp.MustCompile(`^(?:[\w ]{1,24}:\s*)?(?:` + codeMark + `[\s.,;]*)+$`)

func codeOnly(text string) bool {
	return codeOnlyRe.MatchString(strings.TrimSpace(stripEmphasis(text)))
}

func skipped(l string) unit {
	u := unitOf(l)
	u.skip = true
	return u
}

// clean replaces what is not prose: code spans by a mark, links by their
// text, bare URLs by nothing.
func clean(l string) string {
	l = inlineCodeRe.ReplaceAllString(l, codeMark)
	l = mdLinkRe.ReplaceAllStringFunc(l, func(m string) string {
		text := mdLinkRe.FindStringSubmatch(m)[1]
		if citeRe.MatchString("[" + text + "]") {
			return "[" + text + "]" // a citation that links to its evidence
		}
		return text
	})
	l = slackLinkRe.ReplaceAllString(l, "$2")
	return urlRe.ReplaceAllString(l, "")
}

// unitOf takes the citations out of s.
func unitOf(s string) unit {
	u := unit{raw: s}
	u.text = citeRe.ReplaceAllStringFunc(s, func(m string) string {
		for _, f := range strings.Split(citeRe.FindStringSubmatch(m)[1], ",") {
			if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
				u.cites = append(u.cites, n)
			}
		}
		return " "
	})
	return u
}

// abbreviations end in a period without ending a sentence.
var abbreviations = map[string]bool{"e.g": true, "i.e": true, "vs": true, "etc": true, "approx": true, "incl": true, "cf": true, "no": true, "fig": true, "min": true, "max": true}

// sentences splits a line at ".", "!" or "?" followed by a space, keeping
// the citations written after the period with the sentence before it.
func sentences(l string) []string {
	var out []string
	start := 0
	for i := 0; i < len(l); i++ {
		c := l[i]
		if c != '.' && c != '!' && c != '?' {
			continue
		}
		end := i + 1
		for end < len(l) && (l[end] == '*' || l[end] == '_' || l[end] == ')' || l[end] == '"') {
			end++
		}
		if loc := trailingCitesRe.FindStringIndex(l[end:]); loc != nil {
			end += loc[1]
		}
		if end < len(l) && !unicode.IsSpace(rune(l[end])) {
			continue
		}
		if c == '.' && abbreviations[strings.ToLower(lastWord(l[start:i]))] {
			continue
		}
		out = append(out, strings.TrimSpace(l[start:end]))
		start = end
		i = end - 1
	}
	if rest := strings.TrimSpace(l[start:]); rest != "" {
		out = append(out, rest)
	}
	return out
}

func lastWord(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return strings.TrimLeft(f[len(f)-1], "(*_")
}

func stripEmphasis(s string) string {
	return strings.TrimSpace(strings.NewReplacer("**", "", "__", "", "*", "").Replace(s))
}

// isClaim reports whether text asserts something checkable.
func isClaim(text string, names map[string]bool) bool {
	t := stripEmphasis(text)
	if strings.Contains(t, codeMark) || digitRe.MatchString(t) || identifierRe.MatchString(t) || causalRe.MatchString(t) || measureRe.MatchString(t) {
		return true
	}
	for _, w := range wordRe.FindAllString(t, -1) {
		if names[strings.ToLower(strings.TrimRight(w, "."))] {
			return true
		}
	}
	return false
}

// labelValueRe finds label values in selectors: service="checkout".
var labelValueRe = regexp.MustCompile(`\w+\s*=~?\s*"([A-Za-z][\w.-]*)"`)

// nameArgRe is an argument value that names a thing: a service, a
// namespace, a pod.
var nameArgRe = regexp.MustCompile(`^[A-Za-z][\w.-]{2,62}$`)

// kindArgs hold kinds and settings ("pods", "error", "5m"), not names of
// things in the observed systems.
var kindArgs = map[string]bool{"kind": true, "level": true, "type": true, "resource": true, "format": true,
	"step": true, "range": true, "direction": true, "order": true, "sort": true, "unit": true, "reason": true}

// argumentNames are the names the run's tool calls asked about, lower
// case: a sentence that names one talks about the evidence.
func argumentNames(calls []Call) map[string]bool {
	names := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			if nameArgRe.MatchString(x) {
				names[strings.ToLower(x)] = true
			}
			for _, m := range labelValueRe.FindAllStringSubmatch(x, -1) {
				names[strings.ToLower(m[1])] = true
			}
		case map[string]any:
			for k, e := range x {
				if !kindArgs[k] {
					walk(e)
				}
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	for _, c := range calls {
		var v any
		if json.Unmarshal(c.Args, &v) == nil {
			walk(v)
		}
	}
	return names
}
