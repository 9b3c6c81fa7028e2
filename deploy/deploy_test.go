// Package deploy_test checks what ships in deploy/: the Helm chart renders,
// lints and applies (server-side dry run) against a real API server, the
// raw manifests are the chart's, the monitoring rules pass promtool, the
// dashboard queries metrics Watchkeeper exports, and the Dockerfile builds
// a static, non-root image.
package deploy_test

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/telemetry"
	"github.com/watchkeeper/watchkeeper/internal/testserver"
)

const chart = "helm/watchkeeper"

// helm finds the helm binary `make deps` builds.
func helm(t *testing.T) string {
	t.Helper()
	home, _ := os.UserHomeDir()
	for _, c := range []string{filepath.Join(home, ".cache", "watchkeeper", "bin", "helm")} {
		if _, err := os.Stat(c); err == nil {
			return c
		}
	}
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("helm is not installed; `make deps` builds it")
	}
	t.Skip("helm not installed; run `make deps`")
	return ""
}

func render(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(helm(t), append([]string{"template", "watchkeeper", chart, "--namespace", "watchkeeper"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm template %v: %v\n%s", args, err, errb.String())
	}
	return out.String()
}

func objects(t *testing.T, manifests string) []unstructured.Unstructured {
	t.Helper()
	var out []unstructured.Unstructured
	dec := yaml.NewYAMLOrJSONDecoder(strings.NewReader(manifests), 4096)
	for {
		var obj unstructured.Unstructured
		if err := dec.Decode(&obj.Object); err != nil {
			if !errors.Is(err, errEOF) && err.Error() != "EOF" {
				t.Fatal(err)
			}
			break
		}
		if len(obj.Object) > 0 {
			out = append(out, obj)
		}
	}
	return out
}

var errEOF = errors.New("EOF")

func TestChartLints(t *testing.T) {
	for _, values := range [][]string{nil, {"-f", chart + "/ci/ha-values.yaml"}, {"-f", chart + "/ci/impersonate-values.yaml"}} {
		cmd := exec.Command(helm(t), append([]string{"lint", "--strict", chart}, values...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("helm lint %v: %v\n%s", values, err, out)
		}
	}
}

func TestChartRefusesWhatCannotWork(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--set", "replicaCount=2"}, "replicaCount > 1 needs config.store.driver: postgres"},
		{[]string{"--set", "config.store.driver=postgres"}, "needs secrets.store.existingSecret"},
	} {
		cmd := exec.Command(helm(t), append([]string{"template", "watchkeeper", chart}, tt.args...)...)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tt.want) {
			t.Errorf("%v: %v\n%s", tt.args, err, out)
		}
	}
}

// TestChartAppliesServerSide renders the chart with its default values and
// with the HA values, checks the configuration it writes loads in
// Watchkeeper, and applies every object with a server-side dry run
// against the real API server, the Prometheus Operator's CRDs installed.
func TestChartAppliesServerSide(t *testing.T) {
	helm(t) // skip before starting a control plane when helm is missing
	k := testserver.SharedKubernetes(t)
	ctx := context.Background()
	for _, ns := range []string{"watchkeeper", "shop", "payments"} {
		ensureNamespace(t, k, ns)
	}
	dyn, err := dynamic.NewForConfig(k.Admin)
	if err != nil {
		t.Fatal(err)
	}
	installOperatorCRDs(t, dyn)
	dc, err := discovery.NewDiscoveryClientForConfig(k.Admin)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))

	for _, tt := range []struct {
		name  string
		args  []string
		env   []string
		kinds []string
	}{
		{"default values", nil, nil,
			[]string{"ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "PersistentVolumeClaim", "Secret", "Service", "ServiceAccount"}},
		{"two replicas on PostgreSQL", []string{"-f", chart + "/ci/ha-values.yaml"},
			[]string{"WATCHKEEPER_STORE_DSN=postgres://wk:pw@db:5432/wk", "WATCHKEEPER_LLM_API_KEY=sk-test", "SLACK_BOT_TOKEN=xoxb-1", "SLACK_SIGNING_SECRET=s"},
			[]string{"ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "PodDisruptionBudget", "PrometheusRule", "Role", "RoleBinding", "Service", "ServiceAccount", "ServiceMonitor"}},
		{"impersonation and an AlertmanagerConfig", []string{"-f", chart + "/ci/impersonate-values.yaml"}, nil,
			[]string{"AlertmanagerConfig", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "PersistentVolumeClaim", "Secret", "Service", "ServiceAccount"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			objs := objects(t, render(t, tt.args...))
			var kinds []string
			for _, obj := range objs {
				if !slices.Contains(kinds, obj.GetKind()) {
					kinds = append(kinds, obj.GetKind())
				}
				if obj.GetKind() == "ConfigMap" {
					checkConfig(t, obj, tt.env)
				}
				if obj.GetKind() == "Deployment" {
					checkPod(t, obj)
				}
				gvk := obj.GroupVersionKind()
				m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
				if err != nil {
					mapper.Reset()
					if m, err = mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
						t.Fatalf("%s: %v", gvk, err)
					}
				}
				body, _ := obj.MarshalJSON()
				var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
				if ns := obj.GetNamespace(); ns != "" {
					ri = dyn.Resource(m.Resource).Namespace(ns)
				}
				if _, err := ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, body,
					metav1.PatchOptions{FieldManager: "watchkeeper-chart-test", DryRun: []string{metav1.DryRunAll}}); err != nil {
					t.Errorf("%s %s/%s: %v", gvk.Kind, obj.GetNamespace(), obj.GetName(), err)
				}
			}
			slices.Sort(kinds)
			if !slices.Equal(kinds, tt.kinds) {
				t.Errorf("kinds = %v, want %v", kinds, tt.kinds)
			}
		})
	}

	// The install notes warn about settings that leave a part not working.
	t.Run("notes", func(t *testing.T) {
		for _, tt := range []struct {
			args []string
			warn bool
		}{
			{nil, true},
			{[]string{"--set", "rbac.actionNamespaces={shop}"}, false},
			{[]string{"--set", "rbac.impersonate=true", "--set", "config.kubernetes.impersonate.users.U0ALICE=alice"}, false},
			{[]string{"--set", "config.kubernetes.actions=false"}, false},
		} {
			cmd := exec.Command(helm(t), append([]string{"install", "watchkeeper", chart, "--namespace", "watchkeeper",
				"--dry-run=client", "--kubeconfig", k.Kubeconfig}, tt.args...)...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("helm install --dry-run %v: %v\n%s", tt.args, err, out)
			}
			notes := string(out[max(0, strings.LastIndex(string(out), "NOTES:")):])
			if got := strings.Contains(notes, "rbac.actionNamespaces is empty"); got != tt.warn {
				t.Errorf("%v: RBAC warning shown = %v, want %v\n%s", tt.args, got, tt.warn, notes)
			}
			// The receiver to paste, authenticated with the generated token.
			for _, want := range []string{"url: http://watchkeeper.watchkeeper.svc:8080/webhooks/alertmanager", "send_resolved: true",
				"credentials_file: /etc/alertmanager/secrets/watchkeeper-webhook/webhook-token",
				"kubectl -n watchkeeper get secret watchkeeper-webhook -o jsonpath='{.data.webhook-token}' | base64 -d"} {
				if !strings.Contains(notes, want) {
					t.Errorf("%v: the notes lack %q\n%s", tt.args, want, notes)
				}
			}
		}
	})
}

// checkConfig loads the ConfigMap's config.yaml as Watchkeeper does.
func checkConfig(t *testing.T, cm unstructured.Unstructured, env []string) {
	t.Helper()
	data, _, _ := unstructured.NestedString(cm.Object, "data", "config.yaml")
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := config.Load(path, env)
	if err == nil {
		err = l.Validate()
	}
	if err != nil {
		t.Fatalf("the chart's configuration does not load: %v\n%s", err, data)
	}
	if l.Server.Listen != "0.0.0.0:8080" {
		t.Errorf("server.listen = %q", l.Server.Listen)
	}
	if l.Store.Driver == "postgres" && (!l.LeaderElection.Enabled || l.LeaderElection.Namespace != "watchkeeper") {
		t.Errorf("several replicas without leader election: %+v", l.LeaderElection)
	}
}

// checkPod holds the pod to what a cluster with the restricted Pod
// Security Standard admits.
func checkPod(t *testing.T, d unstructured.Unstructured) {
	t.Helper()
	b, _ := json.Marshal(d.Object)
	for _, want := range []string{`"runAsNonRoot":true`, `"readOnlyRootFilesystem":true`, `"allowPrivilegeEscalation":false`,
		`"drop":["ALL"]`, `"seccompProfile":{"type":"RuntimeDefault"}`, `"path":"/healthz"`, `"path":"/readyz"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the Deployment lacks %s", want)
		}
	}
}

// installOperatorCRDs installs the Prometheus Operator's ServiceMonitor,
// PrometheusRule and AlertmanagerConfig CRDs, from its Go module, and waits
// until they serve.
func installOperatorCRDs(t *testing.T, dyn dynamic.Interface) {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", "github.com/prometheus-operator/prometheus-operator@v0.80.1").Output()
	if err != nil {
		t.Fatalf("download the Prometheus Operator module for its CRDs: %v", err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download: %v %s", err, out)
	}
	crds := dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	for _, name := range []string{"servicemonitors", "prometheusrules", "alertmanagerconfigs"} {
		raw, err := os.ReadFile(filepath.Join(mod.Dir, "example", "prometheus-operator-crd", "monitoring.coreos.com_"+name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		obj := objects(t, string(raw))[0]
		body, _ := obj.MarshalJSON()
		if _, err := crds.Patch(context.Background(), obj.GetName(), types.ApplyPatchType, body,
			metav1.PatchOptions{FieldManager: "watchkeeper-chart-test"}); err != nil {
			t.Fatalf("install %s: %v", obj.GetName(), err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, name := range []string{"servicemonitors.monitoring.coreos.com", "prometheusrules.monitoring.coreos.com", "alertmanagerconfigs.monitoring.coreos.com"} {
		for {
			u, err := crds.Get(context.Background(), name, metav1.GetOptions{})
			established := false
			if err == nil {
				conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
				for _, c := range conds {
					m := c.(map[string]any)
					if m["type"] == "Established" && m["status"] == "True" {
						established = true
					}
				}
			}
			if established {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("CRD %s not established", name)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// rawManifestArgs are the values `make manifests` renders
// deploy/kubernetes/watchkeeper.yaml with: the chart's defaults, but the
// webhook token from a Secret the user creates — a token the chart
// generated would be committed with the file, the same for everyone.
var rawManifestArgs = []string{"--set", "secrets.alertmanager.existingSecret=watchkeeper-webhook"}

// TestRawManifestsAreTheChart: deploy/kubernetes/watchkeeper.yaml is what
// `make manifests` renders, so it cannot drift from the chart.
func TestRawManifestsAreTheChart(t *testing.T) {
	committed, err := os.ReadFile("kubernetes/watchkeeper.yaml")
	if err != nil {
		t.Fatal(err)
	}
	body := string(committed)
	if i := strings.Index(body, "---"); i > 0 {
		body = body[i:]
	}
	if fresh := render(t, rawManifestArgs...); body != fresh {
		t.Error("deploy/kubernetes/watchkeeper.yaml differs from the chart's rendering; run `make manifests`")
	}
}

func TestMonitoringRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed; `make deps` installs it")
		}
		t.Skip("promtool not installed")
	}
	for _, args := range [][]string{{"check", "rules", "watchkeeper-rules.yaml"}, {"test", "rules", "watchkeeper-rules.test.yaml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "monitoring"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
	a, _ := os.ReadFile("monitoring/watchkeeper-rules.yaml")
	b, _ := os.ReadFile(chart + "/files/watchkeeper-rules.yaml")
	if !bytes.Equal(a, b) {
		t.Error("the chart's copy of the rules differs from deploy/monitoring/watchkeeper-rules.yaml; copy it")
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert, Expr string
			}
		}
	}
	if err := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(a), 4096).Decode(&rules); err != nil {
		t.Fatal(err)
	}
	exported := exportedMetrics(t)
	var alerts []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			checkExpr(t, "rule "+r.Alert, r.Expr, exported)
		}
	}
	// The four subjects, plus leadership.
	for _, want := range []string{"WatchkeeperModelErrors", "WatchkeeperToolErrors", "WatchkeeperApprovalWaiting", "WatchkeeperSlackDeliveryFailures", "WatchkeeperNoLeader"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s", want)
		}
	}
}

func TestDashboard(t *testing.T) {
	raw, err := os.ReadFile("monitoring/watchkeeper-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string
		UID    string
		Panels []struct {
			ID      int
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	if dash.UID == "" || len(dash.Panels) < 10 {
		t.Fatalf("dashboard %q with %d panels", dash.UID, len(dash.Panels))
	}
	exported := exportedMetrics(t)
	ids := map[int]bool{}
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, tg := range p.Targets {
			// Grafana's variables, as Grafana would substitute them.
			expr := strings.NewReplacer("$__rate_interval", "5m", "$namespace", ".*").Replace(tg.Expr)
			checkExpr(t, "panel "+p.Title, expr, exported)
		}
	}
}

// exportedMetrics are the series names Watchkeeper's /metrics can have.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	m := telemetry.NewMetrics("test", "test")
	m.WatchApprovalQueue(func() (int, time.Duration, error) { return 0, 0, nil })
	m.SlackDeliveryFailed("post", "x")
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, f := range families {
		out[f.GetName()] = true
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			out[f.GetName()+suffix] = true
		}
	}
	// Counter and histogram vectors without observations are not
	// gathered; read their names from the source of truth instead.
	src, err := os.ReadFile("../internal/telemetry/metrics.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range regexp.MustCompile(`Name: "(watchkeeper_[a-z_]+)"`).FindAllStringSubmatch(string(src), -1) {
		for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
			out[n[1]+suffix] = true
		}
	}
	return out
}

func checkExpr(t *testing.T, where, expr string, exported map[string]bool) {
	t.Helper()
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: %v\n%s", where, err, expr)
		return
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok && !exported[vs.Name] {
			t.Errorf("%s: %s is not a metric Watchkeeper exports", where, vs.Name)
		}
		return nil
	})
}

// TestDockerfile builds the binary as the Dockerfile does and checks it is
// static, and that the image runs as non-root without a HEALTHCHECK.
func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	if n := len(regexp.MustCompile(`(?m)^FROM `).FindAllString(df, -1)); n < 2 {
		t.Errorf("%d stages; want a build stage and a runtime stage", n)
	}
	for _, want := range []string{"CGO_ENABLED=0", "FROM gcr.io/distroless/static-debian12:nonroot", "USER 65532:65532", "./cmd/bot"} {
		if !strings.Contains(df, want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
	if regexp.MustCompile(`(?m)^HEALTHCHECK`).MatchString(df) {
		t.Error("the Dockerfile has a HEALTHCHECK; Kubernetes probes /healthz and /readyz")
	}
	bin := filepath.Join(t.TempDir(), "watchkeeper")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./cmd/bot")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Fatal("the binary is dynamically linked")
		}
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "watchkeeper") {
		t.Errorf("the static binary does not run: %v %s", err, out)
	}
}

// The Alertmanager webhook is authenticated out of the box: without an
// existing Secret the chart generates a random token, the pod reads it,
// and the optional AlertmanagerConfig sends it; with one, that Secret is
// used and none is generated.
func TestSecurityChartWebhookTokenByDefault(t *testing.T) {
	tokens := map[string]bool{}
	for _, tt := range []struct {
		name string
		args []string
		// secret is the Secret the token comes from; generated: by the chart.
		secret    string
		generated bool
	}{
		{"default values", nil, "watchkeeper-webhook", true},
		{"default values again", nil, "watchkeeper-webhook", true},
		{"an existing Secret", []string{"--set", "secrets.alertmanager.existingSecret=am-webhook"}, "am-webhook", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			objs := objects(t, render(t, append([]string{"--set", "alertmanagerConfig.enabled=true"}, tt.args...)...))
			var secrets []string
			for _, o := range byKind(objs, "Secret") {
				secrets = append(secrets, o.GetName())
				token, _, _ := unstructured.NestedString(o.Object, "data", "webhook-token")
				plain, err := base64.StdEncoding.DecodeString(token)
				if err != nil || len(plain) < 32 {
					t.Errorf("Secret %s: webhook-token %q is not a long random token (%v)", o.GetName(), token, err)
				}
				if tokens[token] {
					t.Errorf("two renderings generated the same token")
				}
				tokens[token] = true
			}
			if want := map[bool][]string{true: {tt.secret}, false: nil}[tt.generated]; !slices.Equal(secrets, want) {
				t.Errorf("Secrets rendered: %v, want %v", secrets, want)
			}
			deploy := byKind(objs, "Deployment")[0]
			containers, _, _ := unstructured.NestedSlice(deploy.Object, "spec", "template", "spec", "containers")
			env, _, _ := unstructured.NestedSlice(containers[0].(map[string]any), "env")
			var ref map[string]any
			for _, e := range env {
				if e := e.(map[string]any); e["name"] == "WATCHKEEPER_INCIDENTS_BEARER_TOKEN" {
					ref, _, _ = unstructured.NestedMap(e, "valueFrom", "secretKeyRef")
				}
			}
			if ref["name"] != tt.secret || ref["key"] != "webhook-token" || ref["optional"] == true {
				t.Errorf("the pod reads the webhook token from %v; want Secret %s, key webhook-token, required", ref, tt.secret)
			}
			amc := byKind(objs, "AlertmanagerConfig")
			if len(amc) != 1 {
				t.Fatalf("%d AlertmanagerConfigs", len(amc))
			}
			route, _, _ := unstructured.NestedString(amc[0].Object, "spec", "route", "receiver")
			receivers, _, _ := unstructured.NestedSlice(amc[0].Object, "spec", "receivers")
			hook, _, _ := unstructured.NestedSlice(receivers[0].(map[string]any), "webhookConfigs")
			h := hook[0].(map[string]any)
			cred, _, _ := unstructured.NestedStringMap(h, "httpConfig", "authorization", "credentials")
			if receivers[0].(map[string]any)["name"] != route || h["url"] != "http://watchkeeper.watchkeeper.svc:8080/webhooks/alertmanager" ||
				h["sendResolved"] != true || cred["name"] != tt.secret || cred["key"] != "webhook-token" {
				t.Errorf("AlertmanagerConfig: route to %q, receivers %v", route, receivers)
			}
		})
	}
}

func byKind(objs []unstructured.Unstructured, kind string) []unstructured.Unstructured {
	var out []unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// The service account may impersonate exactly the Kubernetes users and
// groups the configuration maps approvers to: rendering refuses no users
// and system: groups, and the real API server lets it act as a mapped
// user, never as anyone else or as system:masters.
func TestSecurityImpersonationIsLimited(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--set", "rbac.impersonate=true"}, "rbac.impersonate needs config.kubernetes.impersonate.users"},
		{[]string{"--set", "rbac.impersonate=true", "--set", "config.kubernetes.impersonate.users.U0ALICE=alice",
			"--set", "config.kubernetes.impersonate.groups={sre,system:masters}"}, `"system:masters"`},
		{[]string{"--set", "rbac.impersonate=true", "--set", "config.kubernetes.impersonate.users.U0ROOT=system:admin"}, `"system:admin"`},
	} {
		cmd := exec.Command(helm(t), append([]string{"template", "watchkeeper", chart}, tt.args...)...)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tt.want) {
			t.Errorf("%v: rendered without refusing %s (%v)\n%.300s", tt.args, tt.want, err, out)
		}
	}

	k := testserver.SharedKubernetes(t)
	ctx := context.Background()
	ensureNamespace(t, k, "watchkeeper")
	dyn, err := dynamic.NewForConfig(k.Admin)
	if err != nil {
		t.Fatal(err)
	}
	rendered := objects(t, render(t, "--set", "rbac.impersonate=true", "--set", "rbac.read=false",
		"--set", "config.kubernetes.impersonate.users.U0ALICE=alice", "--set", "config.kubernetes.impersonate.users.U0BOB=bob",
		"--set", "config.kubernetes.impersonate.groups={sre}"))
	resources := map[string]schema.GroupVersionResource{
		"ServiceAccount":     {Version: "v1", Resource: "serviceaccounts"},
		"ClusterRole":        {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"},
		"ClusterRoleBinding": {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"},
	}
	for _, obj := range rendered {
		gvr, ok := resources[obj.GetKind()]
		if !ok {
			continue
		}
		var ri dynamic.ResourceInterface = dyn.Resource(gvr)
		if ns := obj.GetNamespace(); ns != "" {
			ri = dyn.Resource(gvr).Namespace(ns)
		}
		body, _ := obj.MarshalJSON()
		if _, err := ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: "watchkeeper-chart-test"}); err != nil {
			t.Fatalf("apply %s %s: %v", obj.GetKind(), obj.GetName(), err)
		}
		// The control plane is shared: helm install (in
		// TestChartAppliesServerSide) refuses to install over objects it
		// did not make, so they go when the test ends.
		t.Cleanup(func() {
			if err := ri.Delete(context.Background(), obj.GetName(), metav1.DeleteOptions{}); err != nil {
				t.Errorf("delete %s %s: %v", obj.GetKind(), obj.GetName(), err)
			}
		})
	}
	tok, err := k.Client.CoreV1().ServiceAccounts("watchkeeper").CreateToken(ctx, "watchkeeper",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// whoAmI asks the API server, as the service account impersonating
	// user and groups, who it is.
	whoAmI := func(user string, groups ...string) (string, error) {
		rc := rest.AnonymousClientConfig(k.Admin)
		rc.BearerToken = tok.Status.Token
		rc.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
		cs, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return "", err
		}
		r, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			return "", err
		}
		return r.Status.UserInfo.Username, nil
	}
	testserver.Eventually(t, 30*time.Second, "the impersonation role to take effect", func() bool {
		who, err := whoAmI("alice")
		return err == nil && who == "alice"
	})
	for _, tt := range []struct {
		user   string
		groups []string
		ok     bool
	}{
		{"alice", nil, true},
		{"bob", []string{"sre"}, true},
		{"mallory", nil, false},
		{"admin", nil, false},
		{"system:admin", nil, false},
		{"alice", []string{"system:masters"}, false},
		{"alice", []string{"sre", "cluster-admins"}, false},
	} {
		who, err := whoAmI(tt.user, tt.groups...)
		switch {
		case tt.ok && (err != nil || who != tt.user):
			t.Errorf("impersonating %s %v: %q, %v; want allowed", tt.user, tt.groups, who, err)
		case !tt.ok && !apierrors.IsForbidden(err):
			t.Errorf("impersonating %s %v: %q, %v; want forbidden", tt.user, tt.groups, who, err)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// ensureNamespace creates namespace ns on the package's shared control
// plane unless it is there. Both tests on it need the chart's own
// namespace (its objects are rendered into "watchkeeper"), and they get
// on in it, in either order and under -count: TestChartAppliesServerSide
// only dry-runs the chart (and its CRDs are the same each time), and
// TestSecurityImpersonationIsLimited, the one test that applies chart
// objects for real, deletes them when it ends. The namespaces stay.
func ensureNamespace(t *testing.T, k *testserver.Kubernetes, ns string) {
	t.Helper()
	_, err := k.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}
