package eval

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/watchkeeper/watchkeeper/agent"
)

// compilePattern compiles a must_mention / must_not_mention entry: a
// case-insensitive substring, or after "re:" a case-insensitive regular
// expression.
func compilePattern(p string) (*regexp.Regexp, error) {
	if strings.TrimSpace(p) == "" {
		return nil, errors.New("empty pattern")
	}
	if rest, ok := strings.CutPrefix(p, "re:"); ok {
		re, err := regexp.Compile("(?i)" + rest)
		if err != nil {
			return nil, fmt.Errorf("pattern %q: %w", p, err)
		}
		return re, nil
	}
	return regexp.MustCompile("(?i)" + regexp.QuoteMeta(p)), nil
}

// Check is one judged property of a run.
type Check struct {
	// Name is the kind of check: must_mention, must_not_mention,
	// expect_tool, forbid_tool, expect_proposal, or an invariant
	// (invariant:no_execution, invariant:read_only, invariant:no_secret,
	// invariant:budget).
	Name   string `json:"name"`
	Target string `json:"target,omitempty"`
	Pass   bool   `json:"pass"`
	Detail string `json:"detail,omitempty"`
	// By is "deterministic" or "llm".
	By string `json:"by"`
}

// Invariant reports whether the check is a safety invariant.
func (c Check) Invariant() bool { return strings.HasPrefix(c.Name, "invariant:") }

// JudgeVerdict is what the LLM judge said about one fact.
type JudgeVerdict struct {
	Index   int    `json:"index"`
	Present bool   `json:"present"`
	Reason  string `json:"reason"`
}

// Judge asks a language model whether each expected fact is in an answer.
type Judge struct {
	Model agent.Model
	// MaxTokens caps the reply (default 1024).
	MaxTokens int
}

// judgeSystem states the task and the one reply format accepted.
const judgeSystem = `You grade answers written by an on-call assistant for site reliability engineers.
You receive a question, the assistant's answer, and a numbered list of expected facts.
For each fact decide whether the answer states it. Paraphrases, synonyms and equivalent numbers count as present.
A fact the answer only mentions as ruled out, or as one of several unranked guesses, is not present.
Reply with one JSON object and nothing else, exactly in this schema:
{"facts":[{"index":<fact number>,"present":<true|false>,"reason":"<one short sentence>"}]}
Include every fact exactly once.`

// Facts asks the judge about facts in answer. An error means the judge's
// reply could not be used (the caller falls back to the deterministic
// checks and reports it).
func (j Judge) Facts(ctx context.Context, question, answer string, facts []string) ([]JudgeVerdict, agent.Usage, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "Question:\n%s\n\nAnswer:\n%s\n\nExpected facts:\n", question, answer)
	for i, f := range facts {
		fmt.Fprintf(&b, "%d. %s\n", i, strings.TrimPrefix(f, "re:"))
	}
	zero := 0.0
	maxTok := j.MaxTokens
	if maxTok <= 0 {
		maxTok = 1024
	}
	resp, err := j.Model.Generate(ctx, agent.Request{
		Messages: []agent.Message{
			{Role: agent.RoleSystem, Content: judgeSystem},
			{Role: agent.RoleUser, Content: b.String()},
		},
		MaxTokens: maxTok, Temperature: &zero,
	})
	if err != nil {
		return nil, resp.Usage, fmt.Errorf("the judge model failed: %w", err)
	}
	v, err := parseVerdicts(resp.Message.Content, len(facts))
	return v, resp.Usage, err
}

// parseVerdicts reads the judge's reply strictly: one JSON object of the
// schema, every fact exactly once. A single Markdown code fence around it
// is tolerated (models add one even when told not to); nothing else is.
func parseVerdicts(text string, n int) ([]JudgeVerdict, error) {
	t := strings.TrimSpace(text)
	if rest, ok := strings.CutPrefix(t, "```"); ok {
		rest = strings.TrimPrefix(rest, "json")
		if body, ok := strings.CutSuffix(strings.TrimSpace(rest), "```"); ok {
			t = strings.TrimSpace(body)
		}
	}
	if t == "" {
		return nil, errors.New("the judge returned nothing")
	}
	var out struct {
		Facts []struct {
			Index   *int    `json:"index"`
			Present *bool   `json:"present"`
			Reason  *string `json:"reason"`
		} `json:"facts"`
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(t)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("the judge's reply is not the required JSON (%v): %q", err, clip(t, 200))
	}
	if dec.More() {
		return nil, fmt.Errorf("the judge's reply has text after the JSON object: %q", clip(t, 200))
	}
	verdicts := make([]JudgeVerdict, n)
	seen := make([]bool, n)
	for _, f := range out.Facts {
		if f.Index == nil || f.Present == nil {
			return nil, errors.New("the judge's reply has a fact without index or present")
		}
		i := *f.Index
		if i < 0 || i >= n {
			return nil, fmt.Errorf("the judge's reply names fact %d; there are %d", i, n)
		}
		if seen[i] {
			return nil, fmt.Errorf("the judge's reply names fact %d twice", i)
		}
		seen[i] = true
		verdicts[i] = JudgeVerdict{Index: i, Present: *f.Present}
		if f.Reason != nil {
			verdicts[i].Reason = *f.Reason
		}
	}
	for i, ok := range seen {
		if !ok {
			return nil, fmt.Errorf("the judge's reply leaves out fact %d", i)
		}
	}
	return verdicts, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
