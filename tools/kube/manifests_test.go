package kube_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"

	"github.com/watchkeeper/watchkeeper/internal/testserver"
)

// Every manifest in deploy/kubernetes passes a server-side apply dry run
// against the real API server (schema, RBAC rules, references).
func TestManifestsApplyServerSide(t *testing.T) {
	k := testserver.SharedKubernetes(t)
	ctx := context.Background()
	// The example namespace of the per-namespace Role. Every object is a
	// dry run, so nothing stays on the shared control plane but this
	// namespace, which no other test uses (theirs are shop-N): it is kept
	// for the next run of this test (-count), not deleted.
	if _, err := k.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil &&
		!apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(k.Admin)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dyn, err := dynamic.NewForConfig(k.Admin)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("../../deploy/kubernetes/*.yaml")
	if len(files) < 2 {
		t.Fatalf("manifests: %v", files)
	}
	n := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewYAMLOrJSONDecoder(strings.NewReader(string(raw)), 4096)
		for {
			var obj unstructured.Unstructured
			if err := dec.Decode(&obj.Object); err != nil {
				break
			}
			if len(obj.Object) == 0 {
				continue
			}
			gvk := obj.GroupVersionKind()
			m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil {
				t.Fatalf("%s: %s: %v", f, gvk, err)
			}
			body, _ := obj.MarshalJSON()
			var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
			if ns := obj.GetNamespace(); ns != "" {
				// The namespace the manifests create does not exist in a
				// dry run; apply the namespaced objects where it would.
				if ns == "watchkeeper" {
					ns = "default"
					obj.SetNamespace(ns)
					body, _ = obj.MarshalJSON()
				}
				ri = dyn.Resource(m.Resource).Namespace(ns)
			}
			if _, err := ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, body,
				metav1.PatchOptions{FieldManager: "watchkeeper-test", DryRun: []string{metav1.DryRunAll}}); err != nil {
				t.Errorf("%s: %s %s: %v", filepath.Base(f), gvk.Kind, obj.GetName(), err)
			}
			n++
		}
	}
	if n < 8 {
		t.Errorf("only %d objects applied", n)
	}
}
