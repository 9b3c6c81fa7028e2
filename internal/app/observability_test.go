package app

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/watchkeeper/watchkeeper/internal/config"
)

func TestObservabilityToolsFromConfig(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: ctx, context: {cluster: c, user: u, namespace: shop}}]
current-context: ctx
`), 0o600)
	for _, tt := range []struct {
		name  string
		edit  func(*config.Config)
		tools []string
		err   string
	}{
		{"nothing configured", func(*config.Config) {}, []string{"current_time"}, ""},
		{"prometheus", func(c *config.Config) { c.Prometheus.URL = "http://prometheus:9090" },
			[]string{"anomaly_detect", "anomaly_scan", "current_time", "forecast_threshold", "prom_alerts", "prom_labels", "prom_metrics", "prom_query", "prom_query_range", "prom_rules", "prom_series", "prom_targets", "rca_rank"}, ""},
		{"loki", func(c *config.Config) { c.Logs.Backend, c.Logs.URL = "loki", "http://loki:3100" }, []string{"current_time", "logs_search"}, ""},
		{"victorialogs", func(c *config.Config) {
			c.Logs.Backend, c.Logs.URL, c.Logs.Tenant = "victorialogs", "http://vl:9428", "3:4"
		},
			[]string{"current_time", "logs_search"}, ""},
		{"kubernetes", func(c *config.Config) { c.Logs.Backend, c.Kubernetes.Kubeconfig = "kubernetes", kubeconfig },
			[]string{"current_time", "gitops_pull_request", "kube_changes", "kube_cordon", "kube_delete_pod", "kube_describe", "kube_get", "kube_pod_logs", "kube_remediate",
				"kube_rollout_history", "kube_rollout_restart", "kube_rollout_undo", "kube_scale", "kube_suspend_cronjob", "logs_search"}, ""},
		{"kubernetes without a kubeconfig", func(c *config.Config) {
			c.Logs.Backend, c.Kubernetes.Kubeconfig = "kubernetes", filepath.Join(t.TempDir(), "missing")
		}, nil, "set kubernetes.kubeconfig"},
		{"bad CA file", func(c *config.Config) {
			c.Prometheus.URL, c.Prometheus.TLS.CAFile = "https://p:9090", "/nonexistent/ca.pem"
		}, nil, "prometheus: read CA file"},
		{"jaeger", func(c *config.Config) { c.Traces.Backend, c.Traces.URL = "jaeger", "http://jaeger-query:16686" }, []string{"current_time", "trace_get", "traces_search"}, ""},
		{"tempo with grafana links", func(c *config.Config) {
			c.Traces.Backend, c.Traces.URL, c.Traces.Tenant = "tempo", "http://tempo:3200", "team-a"
			c.Traces.Link = config.Link{Kind: "grafana", URL: "https://grafana.example.com", Datasource: "tempo-uid"}
		}, []string{"current_time", "trace_get", "traces_search"}, ""},
		{"traces: bad CA file", func(c *config.Config) {
			c.Traces.Backend, c.Traces.URL, c.Traces.TLS.CAFile = "tempo", "https://tempo:3200", "/nonexistent/ca.pem"
		}, nil, "tempo: read CA file"},
		{"bad tenant", func(c *config.Config) {
			c.Logs.Backend, c.Logs.URL, c.Logs.Tenant = "victorialogs", "http://vl:9428", "team"
		}, nil, "AccountID:ProjectID"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "none"))
			cfg := config.Default()
			cfg.Store.Path = filepath.Join(t.TempDir(), "wk.db")
			tt.edit(&cfg)
			a, err := New(context.Background(), cfg, Options{})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			names := a.Tools().Names()
			slices.Sort(names)
			// The runbook tools are always there (the shipped examples by default).
			want := append(append([]string(nil), tt.tools...), "runbook_find", "runbook_read")
			slices.Sort(want)
			if !slices.Equal(names, want) {
				t.Errorf("tools %v, want %v", names, want)
			}
		})
	}
	if ns := kubeNamespace(config.Kubernetes{Kubeconfig: kubeconfig}); ns != "shop" {
		t.Errorf("namespace from the kubeconfig context = %q", ns)
	}
	if ns := kubeNamespace(config.Kubernetes{Kubeconfig: kubeconfig, Namespace: "prod"}); ns != "prod" {
		t.Errorf("configured namespace = %q", ns)
	}
}
