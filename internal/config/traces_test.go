package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The traces section loads from YAML and WATCHKEEPER_TRACES_*, and refuses
// what cannot work with a message that says what to set.
func TestTracesSettings(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "wk.yaml")
	os.WriteFile(path, []byte(`traces:
  backend: tempo
  url: http://tempo:3200
  tenant: team-a
  basic_auth: {username: wk}
  link: {kind: grafana, url: https://grafana.example.com, datasource: tempo-uid}
`), 0o600)
	l, err := Load(path, []string{"WATCHKEEPER_TRACES_BASIC_AUTH_PASSWORD=tempo-pass-987", "WATCHKEEPER_TRACES_TIMEOUT=12s", "WATCHKEEPER_TRACES_MAX_SPANS=5000"})
	if err != nil {
		t.Fatal(err)
	}
	tr := l.Traces
	if tr.Backend != "tempo" || tr.Tenant != "team-a" || tr.BasicAuth.Password.Reveal() != "tempo-pass-987" || tr.Timeout.D() != 12*time.Second ||
		tr.MaxSpans != 5000 || tr.Link.Datasource != "tempo-uid" {
		t.Errorf("traces = %+v", tr)
	}
	if out, _ := l.YAML(); strings.Contains(out, "tempo-pass-987") {
		t.Error("the password is printed")
	}
	if d := Default().Traces; d.Backend != "none" || d.MaxSpans != 200_000 || d.Timeout.D() != 30*time.Second {
		t.Errorf("defaults = %+v", d)
	}

	for _, tt := range []struct {
		name string
		env  []string
		want []string
	}{
		{"unknown backend", []string{"WATCHKEEPER_TRACES_BACKEND=zipkin"}, []string{`traces.backend: "zipkin" is not one of none, jaeger, tempo`}},
		{"no url", []string{"WATCHKEEPER_TRACES_BACKEND=jaeger"}, []string{"traces.url: is required for backend jaeger, e.g. http://jaeger-query:16686"}},
		{"bad url", []string{"WATCHKEEPER_TRACES_BACKEND=tempo", "WATCHKEEPER_TRACES_URL=tempo:3200"}, []string{`traces.url: "tempo:3200" is not an http(s) URL`}},
		{"tenant on jaeger", []string{"WATCHKEEPER_TRACES_BACKEND=jaeger", "WATCHKEEPER_TRACES_URL=http://j:16686", "WATCHKEEPER_TRACES_TENANT=a"},
			[]string{"traces.tenant: is sent as X-Scope-OrgID to Tempo only"}},
		{"grafana link without a datasource", []string{"WATCHKEEPER_TRACES_BACKEND=tempo", "WATCHKEEPER_TRACES_URL=http://t:3200",
			"WATCHKEEPER_TRACES_LINK_KIND=grafana", "WATCHKEEPER_TRACES_LINK_URL=http://g:3000"}, []string{"traces.link: kind grafana needs url"}},
		{"jaeger link on tempo", []string{"WATCHKEEPER_TRACES_BACKEND=tempo", "WATCHKEEPER_TRACES_URL=http://t:3200", "WATCHKEEPER_TRACES_LINK_KIND=jaeger"},
			[]string{"traces.link.kind: jaeger links need the jaeger backend"}},
		{"unknown link kind", []string{"WATCHKEEPER_TRACES_LINK_KIND=kibana"}, []string{`traces.link.kind: "kibana" is not one of jaeger, grafana, none`}},
		{"max spans", []string{"WATCHKEEPER_TRACES_MAX_SPANS=-1"}, []string{"traces.max_spans: -1 is outside 0..10000000"}},
		{"two credentials", []string{"WATCHKEEPER_TRACES_BEARER_TOKEN=x", "WATCHKEEPER_TRACES_BASIC_AUTH_USERNAME=u"}, []string{"traces: bearer_token and basic_auth are both set"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("", tt.env)
			wantErrs(t, err, tt.want...)
		})
	}
}
