package app

import (
	"context"
	"path/filepath"

	"errors"
	"fmt"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"os"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/endpoint"
	"github.com/watchkeeper/watchkeeper/internal/gitops"
	"github.com/watchkeeper/watchkeeper/internal/redact"
	"github.com/watchkeeper/watchkeeper/runbooks"
	"github.com/watchkeeper/watchkeeper/tools"
	amtools "github.com/watchkeeper/watchkeeper/tools/alertmanager"
	"github.com/watchkeeper/watchkeeper/tools/anomaly"
	kubetools "github.com/watchkeeper/watchkeeper/tools/kube"
	"github.com/watchkeeper/watchkeeper/tools/logs"
	"github.com/watchkeeper/watchkeeper/tools/logs/kubelogs"
	"github.com/watchkeeper/watchkeeper/tools/logs/loki"
	"github.com/watchkeeper/watchkeeper/tools/logs/victorialogs"
	"github.com/watchkeeper/watchkeeper/tools/prom"
	"github.com/watchkeeper/watchkeeper/tools/rca"
	"github.com/watchkeeper/watchkeeper/tools/runbook"
	"github.com/watchkeeper/watchkeeper/tools/traces"
	"github.com/watchkeeper/watchkeeper/tools/traces/jaeger"
	"github.com/watchkeeper/watchkeeper/tools/traces/tempo"
)

// httpClient builds the client for one backend section.
func httpClient(name string, h config.HTTPClient, logger *slog.Logger) (*http.Client, error) {
	return endpoint.Config{
		Name: name, BearerToken: string(h.BearerToken),
		Username: h.BasicAuth.Username, Password: string(h.BasicAuth.Password),
		CAFile: h.TLS.CAFile, CertFile: h.TLS.CertFile, KeyFile: h.TLS.KeyFile,
		ServerName: h.TLS.ServerName, InsecureSkipVerify: h.TLS.InsecureSkipVerify,
		Headers: h.Headers, Timeout: h.Timeout.D(), Logger: logger,
	}.Client()
}

// observabilityTools builds the Prometheus, log and trace tools that cfg
// configures; sections left empty give no tools. It also returns the
// trace store's client (nil without one), which the investigation uses
// to keep an incident's traces.
func observabilityTools(cfg config.Config, kube kubernetes.Interface, dyn dynamic.Interface, repo *runbook.Repo, now func() time.Time, logger *slog.Logger) (out []tools.Tool, spanSource traces.Backend, lib *runbook.Library, err error) {
	if kube == nil {
		if k, d, err := kubeClient(cfg.Kubernetes); err == nil {
			kube, dyn = k, d
		} else {
			logger.Debug("no Kubernetes client: no Kubernetes tools, and root-cause ranking will not see deploys", "err", err)
		}
	}
	spanSource, err = traceBackend(cfg.Traces, logger)
	if err != nil {
		return nil, nil, nil, err
	}
	var promClient *prom.Client
	if p := cfg.Prometheus; p.URL != "" {
		hc, err := httpClient("prometheus", p.HTTPClient, logger)
		if err != nil {
			return nil, nil, nil, err
		}
		promClient, err = prom.New(prom.Config{URL: p.URL, HTTPClient: hc, LinkKind: p.Link.Kind, LinkURL: p.Link.URL, Datasource: p.Link.Datasource, Now: now})
		if err != nil {
			return nil, nil, nil, err
		}
	}
	if kube != nil {
		kc := kubetools.Config{Client: kube, Namespace: kubeNamespace(cfg.Kubernetes), Now: now}
		// GitOps owners are named in reads, and their workloads changed
		// by pull request.
		// What goes into git is redacted as what goes to Slack: the same
		// configured secrets.
		gc := gitOpsChanges(cfg, kube, dyn, now, redact.New(cfg.Secrets()...).Redact)
		kc.GitOps = gitops.Describer{Resolver: gc.Resolver, Client: kube}
		out = append(out, kubetools.Tools(kc)...)
		if cfg.Kubernetes.Actions {
			ac := kubetools.ActionConfig{Config: kc, MinReplicas: new(int32(cfg.Kubernetes.MinReplicas)), MaxReplicas: int32(cfg.Kubernetes.MaxReplicas), GitOps: gc}
			if v := cfg.Kubernetes.Verify; promClient != nil && v.Query != "" {
				ac.Verify = &kubetools.Verification{Name: v.Name, Query: v.Query, Window: v.Window.D(), Objective: v.Objective, Mean: meanOf(promClient)}
				if sat := v.Saturation; sat.Query != "" {
					ac.Saturation = &kubetools.Verification{Name: sat.Name, Query: sat.Query, Objective: sat.Objective, Mean: meanOf(promClient)}
				}
			}
			if imp := cfg.Kubernetes.Impersonate; len(imp.Users) > 0 {
				rc, err := kubeRules(cfg.Kubernetes).ClientConfig()
				if err != nil {
					if ic, icErr := rest.InClusterConfig(); icErr == nil {
						rc, err = ic, nil
					}
				}
				if err != nil {
					return nil, nil, nil, fmt.Errorf("kubernetes.impersonate needs a client configuration: %w", err)
				}
				ac.Impersonate = kubetools.Impersonating(rc, imp.Users, imp.Groups)
			}
			if ac.Verify != nil {
				gc.Check = func(ctx context.Context, w gitops.Workload, applied time.Time) (tools.Verification, error) {
					return kubetools.CheckDeployment(ctx, ac, w.Namespace, w.Name, applied)
				}
				gc.Window = ac.Verify.Window
				if gc.Window <= 0 {
					gc.Window = 5 * time.Minute
				}
			}
			out = append(out, kubetools.ActionTools(ac)...)
			out = append(out, gc)
		}
	}
	if c := promClient; c != nil {
		out = append(out, c.Tools()...)
		var signals []anomaly.Signal
		for _, s := range cfg.Anomaly.Signals {
			signals = append(signals, anomaly.Signal{Name: s.Name, Query: s.Query, Up: s.Up})
		}
		at, err := anomaly.NewTools(anomaly.ToolConfig{Prometheus: c, Signals: signals, Threshold: cfg.Anomaly.Threshold})
		if err != nil {
			return nil, nil, nil, err
		}
		out = append(out, at...)
		// Deploys for root-cause ranking come from Kubernetes when it is
		// reachable; without it the ranking uses metrics alone.
		rc := rca.ToolConfig{Prometheus: c}
		if spanSource != nil {
			rc.Traces = spanSource
		}
		if kube != nil {
			rc.Changes = rca.KubeChanges{Client: kube}
		}
		rt, err := rca.NewTool(rc)
		if err != nil {
			return nil, nil, nil, err
		}
		out = append(out, rt)
	}
	if am := cfg.Alertmanager; am.URL != "" {
		hc, err := httpClient("alertmanager", am.HTTPClient, logger)
		if err != nil {
			return nil, nil, nil, err
		}
		out = append(out, amtools.Silence{URL: am.URL, HTTP: hc, Now: now})
	}
	var books fs.FS = runbooks.Examples
	switch {
	case repo != nil:
		dir, err := repo.Sync(context.Background())
		if err != nil {
			logger.Warn("the runbooks repository could not be read; using what the working copy has", "err", err)
			dir = repo.Dir
		}
		if _, err := os.Stat(dir); err == nil {
			books = os.DirFS(dir)
		}
		out = append(out, runbook.UpdateTool{Repo: repo})
	case cfg.Runbooks.Dir != "":
		if _, err := os.Stat(cfg.Runbooks.Dir); err != nil {
			return nil, nil, nil, fmt.Errorf("runbooks.dir: %w", err)
		}
		books = os.DirFS(cfg.Runbooks.Dir)
	}
	lib, err = runbook.New(books)
	if err != nil {
		return nil, nil, nil, err
	}
	out = append(out, lib.Tools()...)
	backend, err := logBackend(cfg, kube, logger)
	if err != nil {
		return nil, nil, nil, err
	}
	if backend != nil {
		s, err := logs.NewSearch(logs.SearchConfig{Backend: backend, MaxLines: cfg.Logs.MaxLines, Now: now})
		if err != nil {
			return nil, nil, nil, err
		}
		out = append(out, s)
	}
	tt, err := traceTools(spanSource, cfg.Traces, now)
	if err != nil {
		return nil, nil, nil, err
	}
	out = append(out, tt...)
	return out, spanSource, lib, nil
}

// traceTools builds traces_search and trace_get on the trace store;
// none without one.
func traceTools(backend traces.Backend, c config.Traces, now func() time.Time) ([]tools.Tool, error) {
	if backend == nil {
		return nil, nil
	}
	s, err := traces.NewSearch(traces.SearchConfig{Backend: backend, MaxSpans: c.MaxSpans, Now: now})
	if err != nil {
		return nil, err
	}
	g, err := traces.NewGet(traces.GetConfig{Backend: backend})
	if err != nil {
		return nil, err
	}
	return []tools.Tool{s, g}, nil
}

// traceBackend is the configured trace store's client; nil when
// traces.backend is none.
func traceBackend(c config.Traces, logger *slog.Logger) (traces.Backend, error) {
	var backend traces.Backend
	switch c.Backend {
	case "", "none":
		return nil, nil
	case "jaeger":
		hc, err := httpClient("jaeger", c.HTTPClient, logger)
		if err != nil {
			return nil, err
		}
		jc := jaeger.Config{URL: c.URL, HTTPClient: hc, UIURL: c.Link.URL}
		if c.Link.Kind == "none" {
			jc.UIURL = "none"
		}
		b, err := jaeger.New(jc)
		if err != nil {
			return nil, err
		}
		backend = b
	case "tempo":
		hc, err := httpClient("tempo", c.HTTPClient, logger)
		if err != nil {
			return nil, err
		}
		tc := tempo.Config{URL: c.URL, HTTPClient: hc, Tenant: c.Tenant, MaxSpans: c.MaxSpans}
		if c.Link.Kind == "grafana" {
			tc.LinkURL, tc.Datasource = c.Link.URL, c.Link.Datasource
		}
		b, err := tempo.New(tc)
		if err != nil {
			return nil, err
		}
		backend = b
	default:
		return nil, fmt.Errorf("traces.backend %q is not one of none, jaeger, tempo", c.Backend)
	}
	return backend, nil
}

func logBackend(cfg config.Config, kube kubernetes.Interface, logger *slog.Logger) (logs.Backend, error) {
	l := cfg.Logs
	switch l.Backend {
	case "", "none":
		return nil, nil
	case "loki":
		hc, err := httpClient("loki", l.HTTPClient, logger)
		if err != nil {
			return nil, err
		}
		c := loki.Config{URL: l.URL, HTTPClient: hc, Tenant: l.Tenant,
			Labels: logs.LabelNames{Service: l.Labels.Service, Namespace: l.Labels.Namespace, Pod: l.Labels.Pod}}
		if l.Link.Kind == "grafana" {
			c.LinkURL, c.Datasource = l.Link.URL, l.Link.Datasource
		}
		return loki.New(c)
	case "victorialogs":
		hc, err := httpClient("victorialogs", l.HTTPClient, logger)
		if err != nil {
			return nil, err
		}
		return victorialogs.New(victorialogs.Config{URL: l.URL, HTTPClient: hc, Tenant: l.Tenant, LinkURL: l.Link.URL,
			Fields: logs.LabelNames{Service: l.Labels.Service, Namespace: l.Labels.Namespace, Pod: l.Labels.Pod}})
	case "kubernetes":
		if kube == nil {
			var err error
			kube, _, err = kubeClient(cfg.Kubernetes)
			if err != nil {
				return nil, err
			}
		}
		var serviceLabels []string
		if s := l.Labels.Service; s != "" && s != "service" {
			serviceLabels = append(serviceLabels, s)
		}
		serviceLabels = append(serviceLabels, "app.kubernetes.io/name", "app", "service")
		return kubelogs.New(kubelogs.Config{Client: kube, Namespace: kubeNamespace(cfg.Kubernetes), ServiceLabels: serviceLabels})
	}
	return nil, fmt.Errorf("logs.backend %q is not one of none, loki, victorialogs, kubernetes", l.Backend)
}

// kubeRules loads the kubeconfig as kubectl does: an explicit file, else
// $KUBECONFIG, else ~/.kube/config.
func kubeRules(k config.Kubernetes) clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if k.Kubeconfig != "" {
		rules.ExplicitPath = k.Kubeconfig
	}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: k.Context})
}

// kubeClient connects as kubectl would, or with the pod's service account
// when running in a cluster without a kubeconfig; the dynamic client reads
// other projects' kinds (Argo CD's, Flux's) with the same identity.
func kubeClient(k config.Kubernetes) (kubernetes.Interface, dynamic.Interface, error) {
	rc, err := kubeRules(k).ClientConfig()
	if err != nil && k.Kubeconfig == "" {
		if ic, icErr := rest.InClusterConfig(); icErr == nil {
			rc, err = ic, nil
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes: %w; set kubernetes.kubeconfig, or run in a cluster with a service account", err)
	}
	rc.UserAgent = "watchkeeper"
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes: %w", err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes: %w", err)
	}
	return cs, dyn, nil
}

// kubeNamespace is the configured namespace, else the kubeconfig
// context's, else "default".
func kubeNamespace(k config.Kubernetes) string {
	if k.Namespace != "" {
		return k.Namespace
	}
	if ns, _, err := kubeRules(k).Namespace(); err == nil && ns != "" {
		return ns
	}
	return "default"
}

// meanOf averages a query over a span, for verifying applied changes.
func meanOf(c *prom.Client) func(ctx context.Context, query string, start, end time.Time) (float64, error) {
	return func(ctx context.Context, query string, start, end time.Time) (float64, error) {
		step := max(end.Sub(start)/60, 15*time.Second)
		series, res, err := c.QueryRange(ctx, query, start, end, step)
		if err != nil {
			return 0, err
		}
		if res.Error != "" {
			return 0, errors.New(res.Error)
		}
		sum, n := 0.0, 0
		for _, s := range series {
			for _, p := range s.Points {
				if !math.IsNaN(p.V) && !math.IsInf(p.V, 0) {
					sum += p.V
					n++
				}
			}
		}
		if n == 0 {
			return math.NaN(), nil
		}
		return sum / float64(n), nil
	}
}

// runbookRepo is the configured runbooks repository, or nil.
func runbookRepo(cfg config.Config) (*runbook.Repo, error) {
	rc := cfg.Runbooks
	if rc.URL == "" {
		return nil, nil
	}
	dir := rc.Dir
	if dir == "" {
		dir = filepath.Join(filepath.Dir(cfg.Store.Path), "runbooks")
	}
	repo := &runbook.Repo{URL: rc.URL, Dir: dir, Base: rc.Branch, PRLink: rc.PRLink}
	switch {
	case rc.Token != "":
		repo.Auth = &githttp.BasicAuth{Username: "watchkeeper", Password: rc.Token.Reveal()}
	case rc.SSHKeyFile != "":
		auth, err := gitssh.NewPublicKeysFromFile("git", rc.SSHKeyFile, "")
		if err != nil {
			return nil, fmt.Errorf("runbooks.ssh_key_file: %w", err)
		}
		repo.Auth = auth
	}
	return repo, nil
}
