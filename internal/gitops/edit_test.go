package gitops

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var updateGitops = flag.Bool("update-gitops", false, "rewrite internal/gitops/testdata/golden/*.diff from Plan's output")

// planRepo is the checked-out repository the Plan and Desired tests use.
const planRepo = "testdata/repo"

const (
	checkout150 = "registry.example.com/shop/checkout:1.5.0"
	checkout142 = "registry.example.com/shop/checkout:1.4.2"
)

// planRestartAt is the time restart cases set; its zone is kept as given.
var planRestartAt = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

type planCase struct {
	name string
	src  Source
	ch   Change
	// where is a part of Edit.Where; the diff is testdata/golden/<name>.diff.
	where string
	// wantErr is the error's kind (ErrCannotEdit, ErrAlreadyDesired, or
	// nil for any other error) and errText a part of its message.
	wantErr error
	errText string
}

func deployment(ns, name string) Workload {
	return Workload{Kind: "Deployment", Namespace: ns, Name: name}
}

func imageChange(w Workload, container, from, to string) Change {
	return Change{Kind: ChangeImage, Workload: w, Container: container, From: from, Image: to}
}

func replicaChange(w Workload, n int32) Change {
	return Change{Kind: ChangeReplicas, Workload: w, Replicas: n}
}

func restartChange(w Workload) Change {
	return Change{Kind: ChangeRestart, Workload: w, At: planRestartAt}
}

func planCases() []planCase {
	single := Source{Path: "plain/single"}
	multi := Source{Path: "plain/multi"}
	prod := Source{Path: "kustomize/overlays/prod"}
	staging := Source{Path: "kustomize/overlays/staging"}
	patched := Source{Path: "kustomize/overlays/patched"}
	inline := Source{Path: "kustomize/inline"}
	remote := Source{Path: "kustomize/remote"}
	shop := Source{Path: "helm/shop"}
	shopProd := Source{Path: "helm/shop", Helm: &HelmSource{ValueFiles: []string{"values.yaml", "values-prod.yaml"}}}
	platform := Source{Path: "helm/nested", Helm: &HelmSource{}}
	ledger := Workload{Kind: "StatefulSet", Name: "ledger"}
	agent := Workload{Kind: "DaemonSet", Namespace: "monitoring", Name: "agent"}
	return []planCase{
		// Plain manifests.
		{name: "plain-image", src: single, ch: imageChange(deployment("shop", "checkout"), "app", checkout150, checkout142),
			where: "plain/single/deployment.yaml: Deployment checkout spec.template.spec.containers[app].image"},
		{name: "plain-image-init-double-quoted", src: single, ch: imageChange(deployment("shop", "checkout"), "migrate", "registry.example.com/shop/checkout-migrate:1.5.0", "registry.example.com/shop/checkout-migrate:1.4.2"),
			where: "initContainers[migrate].image"},
		{name: "plain-image-single-quoted", src: single, ch: imageChange(deployment("", "checkout"), "proxy", "envoyproxy/envoy:v1.30.1", "envoyproxy/envoy:v1.29.4"),
			where: "containers[proxy].image"},
		{name: "plain-replicas", src: single, ch: replicaChange(deployment("shop", "checkout"), 5), where: "spec.replicas"},
		{name: "plain-restart-adds-annotations", src: single, ch: restartChange(deployment("shop", "checkout")),
			where: "spec.template.metadata.annotations[kubectl.kubernetes.io/restartedAt]"},
		{name: "multi-restart-adds-metadata", src: multi, ch: restartChange(deployment("", "web"))},
		{name: "multi-restart-flow-labels", src: multi, ch: restartChange(deployment("default", "cart"))},
		{name: "multi-replicas", src: multi, ch: replicaChange(deployment("", "web"), 3), where: "plain/multi/all.yaml: Deployment web spec.replicas"},
		{name: "multi-replicas-raises-hpa", src: multi, ch: replicaChange(deployment("", "cart"), 4),
			where: "plain/multi/hpa.yml: HorizontalPodAutoscaler cart spec.minReplicas (the HPA scales Deployment cart"},
		{name: "multi-image-numeric-tag", src: multi, ch: imageChange(deployment("", "web"), "", "registry.example.com/shop/web:7.1", "registry.example.com/shop/web:7.0")},
		{name: "nested-restart-adds-key", src: multi, ch: restartChange(agent)},
		{name: "nested-image", src: multi, ch: imageChange(agent, "agent", "grafana/agent:v0.40.0", "grafana/agent:v0.39.2")},

		// Kustomize.
		{name: "kustomize-image-entry", src: prod, ch: imageChange(deployment("shop", "prod-checkout"), "app", checkout150, checkout142),
			where: "kustomize/overlays/prod/kustomization.yaml: images[registry.example.com/shop/checkout].newTag"},
		{name: "kustomize-image-entry-digest", src: prod, ch: imageChange(deployment("shop", "prod-checkout"), "app", checkout150, "registry.example.com/shop/checkout@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
			where: "images[registry.example.com/shop/checkout].digest"},
		{name: "kustomize-image-entry-newname", src: prod, ch: imageChange(deployment("shop", "prod-checkout"), "app", checkout150, "mirror.example.com/shop/checkout:1.4.2"),
			where: "images[registry.example.com/shop/checkout].newName+newTag"},
		{name: "kustomize-replicas-entry", src: prod, ch: replicaChange(deployment("shop", "prod-checkout"), 6), where: "replicas[checkout].count"},
		{name: "kustomize-image-adds-entry", src: staging, ch: imageChange(deployment("shop-staging", "checkout"), "app", "registry.example.com/shop/checkout:1.4.0", "registry.example.com/shop/checkout:1.3.9"),
			where: "kustomize/overlays/staging/kustomization.yaml: images[registry.example.com/shop/checkout] added (the workload is declared in kustomize/base/deployment.yaml"},
		{name: "kustomize-replicas-adds-entry", src: staging, ch: replicaChange(deployment("shop-staging", "checkout"), 3), where: "replicas[checkout] added"},
		{name: "kustomize-image-manifest-in-path", src: inline, ch: imageChange(ledger, "ledger", "registry.example.com/shop/ledger:3.2.1", "registry.example.com/shop/ledger:3.2.0"),
			where: "kustomize/inline/deployment.yaml: StatefulSet ledger spec.template.spec.containers[ledger].image"},
		{name: "kustomize-image-entry-short-name", src: inline, ch: imageChange(ledger, "init", "busybox:1.36", "busybox:1.37"), where: "images[busybox].newTag"},
		{name: "kustomize-replicas-raises-hpa", src: patched, ch: replicaChange(deployment("", "checkout"), 3), where: "HorizontalPodAutoscaler checkout spec.minReplicas"},
		{name: "kustomize-image-patched-adds-entry", src: patched, ch: imageChange(deployment("", "checkout"), "app", "registry.example.com/shop/checkout:1.4.0", checkout142), where: "images[registry.example.com/shop/checkout] added"},
		{name: "kustomize-remote-image-adds-entry", src: remote, ch: imageChange(deployment("payments", "api"), "api", "ghcr.io/acme/payments:2.0.0", "ghcr.io/acme/payments:1.9.9"),
			where: "declared in the remote base github.com/acme/payments//deploy?ref=v1.2.0"},
		{name: "kustomize-remote-replicas-adds-entry", src: remote, ch: replicaChange(deployment("payments", "api"), 2), where: "replicas[api] added"},

		// Helm.
		{name: "helm-image-tag", src: shop, ch: imageChange(deployment("shop", "shop"), "shop", checkout150, checkout142), where: "helm/shop/values.yaml: image.tag"},
		{name: "helm-replicas-last-values-file", src: shopProd, ch: replicaChange(deployment("shop", "shop"), 3), where: "helm/shop/values-prod.yaml: replicaCount"},
		{name: "helm-replicas-default", src: shop, ch: replicaChange(deployment("shop", "shop"), 3), where: "helm/shop/values.yaml: replicaCount"},
		{name: "helm-restart-empty-podannotations", src: shop, ch: restartChange(deployment("shop", "shop"))},
		{name: "helm-restart-podannotations", src: shopProd, ch: restartChange(deployment("shop", "shop")), where: "helm/shop/values-prod.yaml: podAnnotations[kubectl.kubernetes.io/restartedAt]"},
		{name: "helm-image-scoped-tag", src: platform, ch: imageChange(deployment("", "checkout"), "app", checkout150, checkout142), where: "helm/nested/values.yaml: checkout.image.tag"},
		{name: "helm-image-registry-and-repository", src: platform, ch: imageChange(deployment("", "cart"), "cart", "registry.example.com/shop/cart:1.5.0", "registry.example.com/shop/cart:1.4.0"), where: "cart.image.tag"},
		{name: "helm-replicas-scoped", src: platform, ch: replicaChange(deployment("", "platform-checkout"), 5), where: "checkout.replicaCount"},
		{name: "helm-replicas-autoscaling", src: platform, ch: replicaChange(deployment("", "cart"), 4), where: "cart.autoscaling.minReplicas (autoscaling is enabled"},

		// JSON manifests: values are replaced in place.
		{name: "json-image", src: Source{Path: "refuse/json"}, ch: imageChange(deployment("", "checkout"), "app", checkout150, checkout142)},
		{name: "json-replicas", src: Source{Path: "refuse/json"}, ch: replicaChange(deployment("", "checkout"), 4)},

		// Already desired.
		{name: "plain-image-already", src: single, ch: imageChange(deployment("shop", "checkout"), "app", "registry.example.com/shop/checkout:1.6.0", checkout150),
			wantErr: ErrAlreadyDesired, errText: "is already registry.example.com/shop/checkout:1.5.0 in the repository (plain/single/deployment.yaml); the cluster has not synced it yet"},
		{name: "kustomize-image-already", src: prod, ch: imageChange(deployment("shop", "prod-checkout"), "app", checkout142, checkout150), wantErr: ErrAlreadyDesired, errText: "already"},
		{name: "kustomize-replicas-already", src: prod, ch: replicaChange(deployment("shop", "prod-checkout"), 4), wantErr: ErrAlreadyDesired, errText: "already has 4 replicas"},
		{name: "hpa-already", src: multi, ch: replicaChange(deployment("", "cart"), 2), wantErr: ErrAlreadyDesired, errText: "already keeps at least 2"},
		{name: "helm-image-already", src: shop, ch: imageChange(deployment("shop", "shop"), "", checkout142, checkout150), wantErr: ErrAlreadyDesired, errText: "image.tag"},
		{name: "helm-replicas-already", src: shop, ch: replicaChange(deployment("shop", "shop"), 2), wantErr: ErrAlreadyDesired, errText: "replicaCount is already 2"},

		// Refusals.
		{name: "disagree", src: prod, ch: imageChange(deployment("shop", "prod-checkout"), "app", "registry.example.com/shop/checkout:1.4.9", checkout142),
			wantErr: ErrCannotEdit, errText: "the repository says registry.example.com/shop/checkout:1.5.0 (kustomize/base/deployment.yaml), the cluster runs registry.example.com/shop/checkout:1.4.9: the repository and the cluster disagree already; sync first or edit by hand"},
		{name: "not-found", src: single, ch: imageChange(deployment("payments", "checkout"), "app", checkout150, checkout142),
			wantErr: ErrCannotEdit, errText: "no manifest under plain/single declares Deployment payments/checkout (searched plain/single/deployment.yaml)"},
		{name: "no-container", src: single, ch: imageChange(deployment("shop", "checkout"), "sidecar", checkout150, checkout142), wantErr: ErrCannotEdit, errText: `has no container "sidecar" (it has app, proxy, migrate)`},
		{name: "several-containers", src: single, ch: imageChange(deployment("shop", "checkout"), "", checkout150, checkout142), wantErr: ErrCannotEdit, errText: "has several containers"},
		{name: "hpa-lower", src: multi, ch: replicaChange(deployment("", "cart"), 1), wantErr: ErrCannotEdit, errText: "scales Deployment cart between 2 and 10"},
		{name: "hpa-above-max", src: multi, ch: replicaChange(deployment("", "cart"), 11), wantErr: ErrCannotEdit, errText: "allows at most 10 replicas"},
		{name: "kustomize-restart-in-base", src: prod, ch: restartChange(deployment("shop", "prod-checkout")), wantErr: ErrCannotEdit,
			errText: "declared in kustomize/base/deployment.yaml, outside kustomize/overlays/prod, where other overlays may share it"},
		{name: "kustomize-remote-restart", src: remote, ch: restartChange(deployment("payments", "api")), wantErr: ErrCannotEdit, errText: "declared in a remote base (github.com/acme/payments//deploy?ref=v1.2.0)"},
		{name: "generated", src: Source{Path: "refuse/generated"}, ch: imageChange(deployment("", "checkout"), "app", checkout150, checkout142),
			wantErr: ErrCannotEdit, errText: `refuse/generated/deployment.yaml is marked generated ("# Code generated … DO NOT EDIT")`},
		{name: "rendered", src: Source{Path: "refuse/rendered"}, ch: imageChange(deployment("", "checkout"), "app", checkout150, checkout142),
			wantErr: ErrCannotEdit, errText: "rendered by helm template"},
		{name: "template", src: Source{Path: "refuse/template"}, ch: imageChange(deployment("", "checkout"), "app", "", checkout142),
			wantErr: ErrCannotEdit, errText: "is a template expression"},
		{name: "anchor", src: Source{Path: "refuse/anchor"}, ch: imageChange(deployment("", "checkout"), "app", checkout150, checkout142),
			wantErr: ErrCannotEdit, errText: "carries a YAML anchor (&img)"},
		{name: "alias", src: Source{Path: "refuse/anchor"}, ch: imageChange(deployment("", "checkout"), "sidecar", checkout150, checkout142),
			wantErr: ErrCannotEdit, errText: "is a YAML alias (*img)"},
		{name: "duplicate", src: Source{Path: "refuse/dup"}, ch: imageChange(deployment("", "checkout"), "app", checkout150, checkout142),
			wantErr: ErrCannotEdit, errText: "Deployment checkout is declared 2 times: refuse/dup/a.yaml (document 1), refuse/dup/b.yaml (document 1)"},
		{name: "json-restart", src: Source{Path: "refuse/json"}, ch: restartChange(deployment("", "checkout")), wantErr: ErrCannotEdit, errText: "is JSON; adding"},
		{name: "block-scalar", src: Source{Path: "refuse/block"}, ch: imageChange(deployment("", "checkout"), "app", checkout150, checkout142), wantErr: ErrCannotEdit, errText: "block scalar"},
		{name: "helm-no-tag", src: shop, ch: imageChange(deployment("shop", "shop"), "", "registry.example.com/shop/checkout:9.9.9", checkout142),
			wantErr: ErrCannotEdit, errText: "no values key holds the tag 9.9.9 of registry.example.com/shop/checkout in helm/shop/values.yaml; the chart may template it from something else"},
		{name: "helm-ambiguous", src: platform, ch: imageChange(deployment("", "checkout"), "cart", "registry.example.com/shop/cart:1.5.0", "registry.example.com/shop/cart:1.4.0"),
			wantErr: ErrCannotEdit, errText: "several values keys hold the tag 1.5.0 of registry.example.com/shop/cart (helm/nested/values.yaml: checkout.image.tag, helm/nested/values.yaml: cart.image.tag)"},
		{name: "helm-no-podannotations", src: platform, ch: restartChange(deployment("", "checkout")), wantErr: ErrCannotEdit, errText: "no podAnnotations in helm/nested/values.yaml"},
		{name: "helm-no-replicacount", src: platform, ch: replicaChange(deployment("", "web"), 2), wantErr: ErrCannotEdit, errText: "no replicaCount (or web.replicaCount) in helm/nested/values.yaml"},
		{name: "missing-path", src: Source{Path: "nowhere"}, ch: restartChange(deployment("", "x")), errText: "the owner's path nowhere"},
		{name: "bad-kind", src: single, ch: Change{Kind: "scale", Workload: deployment("", "x")}, errText: `unknown change kind "scale"`},
	}
}

func TestPlan(t *testing.T) {
	for _, tc := range planCases() {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Plan(planRepo, tc.src, tc.ch)
			if tc.errText != "" {
				if err == nil {
					t.Fatalf("Plan succeeded (%s), want an error containing %q", got.Where, tc.errText)
				}
				if !strings.Contains(err.Error(), tc.errText) {
					t.Errorf("error %q, want it to contain %q", err, tc.errText)
				}
				for _, kind := range []error{ErrCannotEdit, ErrAlreadyDesired} {
					if errors.Is(err, kind) != (tc.wantErr == kind) {
						t.Errorf("errors.Is(err, %v) = %v, want %v", kind, !(tc.wantErr == kind), tc.wantErr == kind)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			if !strings.Contains(got.Where, tc.where) {
				t.Errorf("Where = %q, want it to contain %q", got.Where, tc.where)
			}
			if len(got.Files) != 1 {
				t.Errorf("Plan changed %d files, want 1", len(got.Files))
			}
			golden := filepath.Join("testdata", "golden", tc.name+".diff")
			if *updateGitops {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got.Diff), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read the golden diff (run with -update-gitops to create it): %v", err)
			}
			if got.Diff != string(want) {
				t.Errorf("diff differs from %s:\n--- got\n%s--- want\n%s", golden, got.Diff, want)
			}
		})
	}
}

// TestPlanThenDesired applies each edit to a copy of the repository and
// checks the tree then declares what the change asked for: the edit
// lands where the owner reads it, not just somewhere that diffs well.
func TestPlanThenDesired(t *testing.T) {
	for _, tc := range planCases() {
		if tc.errText != "" || tc.src.Helm != nil || strings.HasPrefix(tc.src.Path, "helm/") || strings.Contains(tc.name, "remote") {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			e, err := Plan(planRepo, tc.src, tc.ch)
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			root := t.TempDir()
			if err := os.CopyFS(root, os.DirFS(planRepo)); err != nil {
				t.Fatal(err)
			}
			for p, data := range e.Files {
				if err := os.WriteFile(filepath.Join(root, filepath.FromSlash(p)), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			states, err := Desired(root, tc.src)
			if err != nil {
				t.Fatalf("Desired after the edit: %v", err)
			}
			// As in Plan, a namespace on one side only matches any.
			var st State
			ok := false
			for w, s := range states {
				if w.Kind == tc.ch.Workload.Kind && w.Name == tc.ch.Workload.Name &&
					(tc.ch.Workload.Namespace == "" || w.Namespace == "" || w.Namespace == tc.ch.Workload.Namespace) {
					st, ok = s, true
				}
			}
			if !ok {
				t.Fatalf("Desired has no %v after the edit: %v", tc.ch.Workload, states)
			}
			switch tc.ch.Kind {
			case ChangeImage:
				found := false
				for _, img := range st.Images {
					found = found || img == tc.ch.Image
				}
				if !found {
					t.Errorf("images after the edit = %v, want one to be %s", st.Images, tc.ch.Image)
				}
			case ChangeReplicas:
				if strings.Contains(e.Where, "minReplicas") {
					if st.Replicas != nil {
						t.Errorf("replicas = %d, want nil (an HPA scales it)", *st.Replicas)
					}
				} else if st.Replicas == nil || *st.Replicas != tc.ch.Replicas {
					t.Errorf("replicas after the edit = %v, want %d", st.Replicas, tc.ch.Replicas)
				}
			case ChangeRestart:
				if want := tc.ch.At.Format(time.RFC3339); st.RestartedAt != want {
					t.Errorf("restartedAt after the edit = %q, want %q", st.RestartedAt, want)
				}
			}
		})
	}
}

func TestDesired(t *testing.T) {
	n := func(v int32) *int32 { return &v }
	checkoutBase := State{Images: map[string]string{"app": checkout150}, Replicas: n(4)}
	for _, tc := range []struct {
		name    string
		src     Source
		want    map[Workload]State
		errText string
	}{
		{name: "plain multi-document, recursive", src: Source{Path: "plain/multi"}, want: map[Workload]State{
			deployment("", "cart"): {Images: map[string]string{"cart": "registry.example.com/shop/cart:2.0.1"}},
			deployment("", "web"):  {Images: map[string]string{"web": "registry.example.com/shop/web:7.1"}, Replicas: n(2)},
			{Kind: "DaemonSet", Namespace: "monitoring", Name: "agent"}: {Images: map[string]string{"agent": "grafana/agent:v0.40.0"}},
		}},
		{name: "plain single", src: Source{Path: "plain/single"}, want: map[Workload]State{
			deployment("shop", "checkout"): {Images: map[string]string{
				"app": checkout150, "proxy": "envoyproxy/envoy:v1.30.1", "migrate": "registry.example.com/shop/checkout-migrate:1.5.0"}, Replicas: n(3)},
		}},
		{name: "overlay images, replicas, prefix and namespace", src: Source{Path: "kustomize/overlays/prod"}, want: map[Workload]State{
			deployment("shop", "prod-checkout"): checkoutBase,
		}},
		{name: "overlay without entries", src: Source{Path: "kustomize/overlays/staging"}, want: map[Workload]State{
			deployment("shop-staging", "checkout"): {Images: map[string]string{"app": "registry.example.com/shop/checkout:1.4.0"}, Replicas: n(2)},
		}},
		{name: "an HPA leaves replicas to the cluster", src: Source{Path: "kustomize/overlays/patched"}, want: map[Workload]State{
			deployment("", "checkout"): {Images: map[string]string{"app": "registry.example.com/shop/checkout:1.4.0"}},
		}},
		{name: "short image name entry", src: Source{Path: "kustomize/inline"}, want: map[Workload]State{
			{Kind: "StatefulSet", Name: "ledger"}: {Images: map[string]string{"init": "busybox:1.36", "ledger": "registry.example.com/shop/ledger:3.2.1"}, Replicas: n(1)},
		}},
		{name: "helm", src: Source{Path: "helm/shop"}, errText: "helm/shop is a Helm chart; charts are not rendered here"},
		{name: "remote base", src: Source{Path: "kustomize/remote"}, errText: "remote bases (github.com/acme/payments//deploy?ref=v1.2.0)"},
		{name: "declared twice", src: Source{Path: "refuse/dup"}, errText: "Deployment checkout is declared twice (again in refuse/dup/b.yaml)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Desired(planRepo, tc.src)
			if tc.errText != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("Desired error = %v, want it to contain %q", err, tc.errText)
				}
				return
			}
			if err != nil {
				t.Fatalf("Desired: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Desired =\n%s\nwant\n%s", formatStates(got), formatStates(tc.want))
			}
		})
	}
}

func formatStates(m map[Workload]State) string {
	var lines []string
	for w, s := range m {
		r := "nil"
		if s.Replicas != nil {
			r = strconv.Itoa(int(*s.Replicas))
		}
		lines = append(lines, fmt.Sprintf("%v: images=%v replicas=%s restartedAt=%q", w, s.Images, r, s.RestartedAt))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// TestVerifyRefusesStrayEdits checks the safety net under every Plan: a
// splice that changes more than its stated change, or breaks the YAML,
// is refused rather than proposed.
func TestVerifyRefusesStrayEdits(t *testing.T) {
	f := &yamlFile{path: "d.yaml", data: []byte("a: 1\nb: 2\n")}
	for _, tc := range []struct {
		name    string
		splices []splice
		errText string
	}{
		{"the stated change", []splice{{3, 4, "5"}}, ""},
		{"one more value", []splice{{3, 4, "5"}, {8, 9, "7"}}, "would change more than a"},
		{"broken YAML", []splice{{3, 4, "[5"}}, "would leave YAML that does not parse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fe := &fileEdit{f: f, splices: tc.splices, ops: []op{{path: []any{"a"}, value: 5}}, where: "a"}
			_, err := fe.finish(t.TempDir())
			if tc.errText == "" {
				if err != nil {
					t.Fatalf("finish: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errText) || !errors.Is(err, ErrCannotEdit) {
				t.Fatalf("finish error = %v, want ErrCannotEdit containing %q", err, tc.errText)
			}
		})
	}
}
