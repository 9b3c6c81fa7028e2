// Package scope limits a tool call to what a conversation may look at: a
// Slack channel's namespaces and clusters. It is applied to the arguments
// of every call, by every caller, before the tool runs.
//
// The limit holds whatever the arguments leave out: a tool whose namespace
// argument is omitted would fall back to a default namespace, or to all of
// them (kube_changes), so an omitted namespace is filled in with the
// scope's only one or refused; and PromQL, where a namespace is a label
// matcher inside the expression, gets the scope's namespaces as a matcher
// on every selector.
package scope

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/watchkeeper/watchkeeper/tools"
)

// NamespaceLabel is the label Kubernetes metrics carry their namespace in.
const NamespaceLabel = "namespace"

// Limits are what a conversation may look at; nil lists allow everything.
type Limits struct {
	Namespaces []string
	Clusters   []string
}

// Args returns args limited to l for a call of the tool spec describes,
// or an error a person or a model can act on. A namespace argument (the
// spec's schema has "namespace") outside the scope is refused; omitted, it
// becomes the scope's only namespace, and with several the call must name
// one. Arguments the spec marks as PromQL get the scope's namespaces
// enforced on every selector, and label matchers (a silence's) a
// namespace matcher within the scope. A cluster argument outside Clusters
// is refused.
func (l Limits) Args(spec tools.Spec, args json.RawMessage) (json.RawMessage, error) {
	if l.Namespaces == nil && l.Clusters == nil {
		return args, nil
	}
	var a map[string]any
	if err := json.Unmarshal(args, &a); err != nil || a == nil {
		a = map[string]any{}
	}
	changed := false
	if l.Clusters != nil {
		if c, _ := a["cluster"].(string); c != "" && !slices.Contains(l.Clusters, c) {
			return nil, fmt.Errorf("cluster %q is outside this conversation's scope (allowed: %s)", c, strings.Join(l.Clusters, ", "))
		}
	}
	if l.Namespaces != nil {
		if hasParam(spec, NamespaceLabel) {
			ns, _ := a[NamespaceLabel].(string)
			switch {
			case ns == "" && len(l.Namespaces) == 1:
				a[NamespaceLabel], changed = l.Namespaces[0], true
			case ns == "":
				return nil, fmt.Errorf("%s needs a namespace here: this conversation may look at %s, so name one of them",
					spec.Name, strings.Join(l.Namespaces, ", "))
			case !slices.Contains(l.Namespaces, ns):
				return nil, fmt.Errorf("namespace %q is outside this conversation's scope (allowed: %s)", ns, strings.Join(l.Namespaces, ", "))
			}
		} else if spec.ClusterScoped {
			return nil, fmt.Errorf("%s acts on the whole cluster, which is outside this conversation's scope (namespaces %s)",
				spec.Name, strings.Join(l.Namespaces, ", "))
		}
		for _, name := range spec.PromQL {
			// Left out, a selector argument means every series: limited
			// like an empty one.
			v, ok := a[name]
			if !ok {
				v = ""
			}
			limited, err := l.promQLValue(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			a[name], changed = limited, true
		}
		for _, name := range spec.LabelMatchers {
			m, _ := a[name].(map[string]any)
			if m == nil {
				m = map[string]any{}
			}
			ns, _ := m[NamespaceLabel].(string)
			switch {
			case ns == "" && len(l.Namespaces) == 1:
				m[NamespaceLabel] = l.Namespaces[0]
			case ns == "":
				return nil, fmt.Errorf("%s needs a %s matcher here: this conversation may look at %s, so name one of them",
					name, NamespaceLabel, strings.Join(l.Namespaces, ", "))
			case !slices.Contains(l.Namespaces, ns):
				return nil, fmt.Errorf("namespace %q is outside this conversation's scope (allowed: %s)", ns, strings.Join(l.Namespaces, ", "))
			}
			a[name], changed = m, true
		}
	}
	if !changed {
		return args, nil
	}
	out, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encode scoped arguments: %w", err)
	}
	return out, nil
}

// promQLValue limits a PromQL argument: a string, or a list of strings.
func (l Limits) promQLValue(v any) (any, error) {
	switch v := v.(type) {
	case string:
		if strings.TrimSpace(v) == "" {
			// An empty selector would mean every series.
			return fmt.Sprintf("{%s=~%q}", NamespaceLabel, l.regex()), nil
		}
		return Query(v, l.Namespaces)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("element %d is not a string", i)
			}
			q, err := l.promQLValue(s)
			if err != nil {
				return nil, err
			}
			out[i] = q
		}
		return out, nil
	}
	return v, nil
}

func (l Limits) regex() string {
	quoted := make([]string, len(l.Namespaces))
	for i, n := range l.Namespaces {
		quoted[i] = regexp.QuoteMeta(n)
	}
	return strings.Join(quoted, "|")
}

// Query rewrites a PromQL expression so that every series it selects is in
// one of namespaces: each selector gets a namespace matcher (a series
// without the label does not match). A selector that names a namespace
// outside them is refused, so the person learns why nothing came back.
func Query(q string, namespaces []string) (string, error) {
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(q)
	if err != nil {
		return "", fmt.Errorf("the query cannot be parsed, so it cannot be limited to this conversation's namespaces: %w", err)
	}
	quoted := make([]string, len(namespaces))
	for i, n := range namespaces {
		quoted[i] = regexp.QuoteMeta(n)
	}
	limit, err := labels.NewMatcher(labels.MatchRegexp, NamespaceLabel, strings.Join(quoted, "|"))
	if err != nil {
		return "", err
	}
	var refused error
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		named := false
		for _, m := range vs.LabelMatchers {
			if m.Name == NamespaceLabel && m.Type == labels.MatchRegexp && m.Value == limit.Value {
				named = true // limited already: limiting is idempotent
			}
			if m.Name == NamespaceLabel && m.Type == labels.MatchEqual {
				if !slices.Contains(namespaces, m.Value) {
					refused = fmt.Errorf("namespace %q is outside this conversation's scope (allowed: %s)", m.Value, strings.Join(namespaces, ", "))
				}
				named = true
			}
		}
		if !named {
			// Added beside any other namespace matcher: both must hold.
			vs.LabelMatchers = append(vs.LabelMatchers, limit)
		}
		return nil
	})
	if refused != nil {
		return "", refused
	}
	return expr.String(), nil
}

func hasParam(spec tools.Spec, name string) bool {
	if spec.Parameters == nil {
		return false
	}
	_, ok := spec.Parameters.Properties[name]
	return ok
}
