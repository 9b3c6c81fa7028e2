package scope_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/watchkeeper/watchkeeper/tools"
	"github.com/watchkeeper/watchkeeper/tools/scope"
)

var (
	withNamespace = tools.Spec{Name: "kube_changes", Parameters: tools.Object(map[string]*tools.Schema{
		"namespace": tools.String("namespace (default: all)"), "since": tools.String("since")})}
	promQuery = tools.Spec{Name: "prom_query", PromQL: []string{"query"}, Parameters: tools.Object(map[string]*tools.Schema{
		"query": tools.String("PromQL")}, "query")}
	series = tools.Spec{Name: "prom_series", PromQL: []string{"match"}, Parameters: tools.Object(map[string]*tools.Schema{
		"match": tools.String("selector")})}
	cordon = tools.Spec{Name: "kube_cordon", ClusterScoped: true, Parameters: tools.Object(map[string]*tools.Schema{
		"name": tools.String("node")}, "name")}
	plain   = tools.Spec{Name: "current_time", Parameters: tools.Object(nil)}
	silence = tools.Spec{Name: "alertmanager_silence", LabelMatchers: []string{"matchers"}, Parameters: tools.Object(map[string]*tools.Schema{
		"matchers": {Type: "object"}, "duration": tools.String("d")})}
)

// A channel limited to namespaces cannot be escaped by leaving the
// namespace out (the tools then fall back to a default, or to all), by
// naming "all", by a PromQL selector without a namespace, or by a
// cluster-wide action.
func TestSecurityScopeCannotBeBypassed(t *testing.T) {
	one := scope.Limits{Namespaces: []string{"shop"}}
	two := scope.Limits{Namespaces: []string{"shop", "pay.ments"}}
	for _, tt := range []struct {
		name   string
		limits scope.Limits
		spec   tools.Spec
		args   string
		want   string // exact JSON out, or "error: <substring>"
	}{
		{"namespace omitted, one allowed: filled in", one, withNamespace, `{"since":"1h ago"}`, `{"namespace":"shop","since":"1h ago"}`},
		{"namespace empty, one allowed: filled in", one, withNamespace, `{"namespace":""}`, `{"namespace":"shop"}`},
		{"namespace omitted, several allowed: refused", two, withNamespace, `{}`, "error: name one of them"},
		{"all is not a namespace in scope", one, withNamespace, `{"namespace":"all"}`, `error: namespace "all" is outside`},
		{"another namespace", one, withNamespace, `{"namespace":"kube-system"}`, `error: namespace "kube-system" is outside`},
		{"allowed namespace", two, withNamespace, `{"namespace":"pay.ments"}`, `{"namespace":"pay.ments"}`},
		{"cluster-wide action", one, cordon, `{"name":"node-1"}`, "error: acts on the whole cluster"},
		{"tool without namespace", one, plain, `{}`, `{}`},
		{"no limits", scope.Limits{}, withNamespace, `{}`, `{}`},
		{"promql without namespace", one, promQuery, `{"query":"sum(rate(http_requests_total[5m]))"}`,
			`{"query":"sum(rate(http_requests_total{namespace=~\"shop\"}[5m]))"}`},
		{"promql, several namespaces, regex-quoted", two, promQuery, `{"query":"up"}`, `{"query":"up{namespace=~\"shop|pay\\\\.ments\"}"}`},
		{"promql naming an allowed namespace", one, promQuery, `{"query":"up{namespace=\"shop\"}"}`, `{"query":"up{namespace=\"shop\"}"}`},
		{"promql naming another namespace", one, promQuery, `{"query":"up{namespace=\"kube-system\"}"}`, `error: namespace "kube-system" is outside`},
		{"promql regex on namespace gets the limit too", one, promQuery, `{"query":"up{namespace=~\".+\"}"}`,
			`{"query":"up{namespace=~\".+\",namespace=~\"shop\"}"}`},
		{"every selector of a binary expression and a subquery", one, promQuery,
			`{"query":"rate(a[5m]) / on() group_left max_over_time(b[1h:1m])"}`,
			`{"query":"rate(a{namespace=~\"shop\"}[5m]) / on () group_left () max_over_time(b{namespace=~\"shop\"}[1h:1m])"}`},
		{"unparsable promql is refused", one, promQuery, `{"query":"sum(("}`, "error: cannot be parsed"},
		{"an empty selector would be every series", one, series, `{"match":""}`, `{"match":"{namespace=~\"shop\"}"}`},
		{"an omitted selector would be every series too", one, series, `{}`, `{"match":"{namespace=~\"shop\"}"}`},
		{"a silence without a namespace matcher gets one", one, silence, `{"matchers":{"alertname":"X"}}`,
			`{"matchers":{"alertname":"X","namespace":"shop"}}`},
		{"a silence of another namespace", one, silence, `{"matchers":{"alertname":"X","namespace":"kube-system"}}`, `error: namespace "kube-system" is outside`},
		{"a silence without a namespace, several allowed", two, silence, `{"matchers":{"alertname":"X"}}`, "error: needs a namespace matcher"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.limits.Args(tt.spec, json.RawMessage(tt.args))
			if want, ok := strings.CutPrefix(tt.want, "error: "); ok {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("got %s, %v; want an error with %q", got, err, want)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Errorf("got %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

// TestLimitIsIdempotent: a call limited by its surface and again on the
// one invocation path (tools.Invoker) is limited once.
func TestLimitIsIdempotent(t *testing.T) {
	l := scope.Limits{Namespaces: []string{"shop", "pay"}}
	for _, q := range []string{`rate(http_requests_total[5m])`, `sum by (service) (up{job="x"}) / on() group_left count(kube_pod_info)`} {
		once, err := scope.Query(q, l.Namespaces)
		if err != nil {
			t.Fatal(err)
		}
		twice, err := scope.Query(once, l.Namespaces)
		if err != nil || twice != once {
			t.Errorf("%s:\nonce  %s\ntwice %s (%v)", q, once, twice, err)
		}
	}
}
