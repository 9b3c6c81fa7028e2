package kube_test

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/watchkeeper/watchkeeper/tools"
	"github.com/watchkeeper/watchkeeper/tools/kube"
)

// A rollback restores the ReplicaSet the approver saw: when the ReplicaSet
// that carries the proposed revision is edited, or deleted and replaced by
// another with the same revision number, applying refuses and changes
// nothing.
func TestSecurityRollbackRefusesChangedRevision(t *testing.T) {
	_, c, ns := startShop(t, 1)
	ctx := context.Background()
	rollTo(t, c, ns, "shop/cart:v2")
	tl := byName(kube.ActionTools(kube.ActionConfig{Config: kube.Config{Client: c, Namespace: ns}, RolloutTimeout: 30 * time.Second}))
	undo := tl["kube_rollout_undo"]

	// In order: the imposter carries the same image (only its identity
	// differs); then its template is edited.
	for _, tt := range []struct {
		name string
		// tamper makes revision 1 something else than what was proposed.
		tamper func(t *testing.T, rs *appsv1.ReplicaSet)
	}{
		{"replaced by another ReplicaSet with the same revision", func(t *testing.T, rs *appsv1.ReplicaSet) {
			if err := c.AppsV1().ReplicaSets(ns).Delete(ctx, rs.Name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the old ReplicaSet to go", func() bool {
				_, err := c.AppsV1().ReplicaSets(ns).Get(ctx, rs.Name, metav1.GetOptions{})
				return err != nil
			})
			imposter := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "cart-imposter", Namespace: ns,
				Labels:          map[string]string{"app": "cart", appsv1.DefaultDeploymentUniqueLabelKey: "imposter"},
				Annotations:     map[string]string{"deployment.kubernetes.io/revision": "1"},
				OwnerReferences: rs.OwnerReferences},
				Spec: *rs.Spec.DeepCopy()}
			imposter.Spec.Replicas = ptr(int32(0))
			imposter.Spec.Selector = &metav1.LabelSelector{MatchLabels: imposter.Labels}
			imposter.Spec.Template.Labels = imposter.Labels
			if _, err := c.AppsV1().ReplicaSets(ns).Create(ctx, imposter, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}},
		{"template edited", func(t *testing.T, rs *appsv1.ReplicaSet) {
			patch := `{"spec":{"template":{"spec":{"containers":[{"name":"cart","image":"evil/miner:latest"}]}}}}`
			if _, err := c.AppsV1().ReplicaSets(ns).Patch(ctx, rs.Name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := propose(t, undo, `{"name": "cart", "revision": 1, "reason": "errors since v2"}`)
			if !strings.Contains(p.Details, "cart image shop/cart:v2 → shop/cart:v1") {
				t.Fatalf("proposal: %+v", p)
			}
			tt.tamper(t, revisionSet(t, c, ns, "1"))
			before, _ := c.AppsV1().Deployments(ns).Get(ctx, "cart", metav1.GetOptions{})
			_, err := apply(t, undo, p)
			if err == nil || !strings.Contains(err.Error(), "nothing was done") || !strings.Contains(err.Error(), "fresh proposal") {
				t.Errorf("apply after the revision changed: %v", err)
			}
			after, _ := c.AppsV1().Deployments(ns).Get(ctx, "cart", metav1.GetOptions{})
			if img := after.Spec.Template.Spec.Containers[0].Image; img != "shop/cart:v2" || after.Generation != before.Generation {
				t.Errorf("the deployment changed: image %s, generation %d → %d", img, before.Generation, after.Generation)
			}
		})
	}
}

// rollTo rolls cart, in namespace ns, to image and waits until the
// rollout completed.
func rollTo(t *testing.T, c kubernetes.Interface, ns, image string) {
	t.Helper()
	ctx := context.Background()
	d, _ := c.AppsV1().Deployments(ns).Get(ctx, "cart", metav1.GetOptions{})
	d.Spec.Template.Spec.Containers[0].Image = image
	if _, err := c.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the rollout to "+image, func() bool {
		d, err := c.AppsV1().Deployments(ns).Get(ctx, "cart", metav1.GetOptions{})
		return err == nil && d.Status.ObservedGeneration == d.Generation && d.Status.UpdatedReplicas == *d.Spec.Replicas &&
			d.Status.Replicas == *d.Spec.Replicas && d.Status.AvailableReplicas == *d.Spec.Replicas
	})
}

// revisionSet returns cart's ReplicaSet, in namespace ns, carrying revision rev.
func revisionSet(t *testing.T, c kubernetes.Interface, ns, rev string) *appsv1.ReplicaSet {
	t.Helper()
	rss, err := c.AppsV1().ReplicaSets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=cart"})
	if err != nil {
		t.Fatal(err)
	}
	for _, rs := range rss.Items {
		if rs.Annotations["deployment.kubernetes.io/revision"] == rev {
			return &rs
		}
	}
	t.Fatalf("no ReplicaSet of cart has revision %s", rev)
	return nil
}

// What an approver is shown about a rollback covers what makes a pod
// dangerous or different, not only images and environment: each change of
// the pod spec appears in the revision's diff, secrets by name only.
func TestSecurityRollbackDiffShowsEverything(t *testing.T) {
	base := func() corev1.PodSpec {
		return corev1.PodSpec{
			ServiceAccountName: "cart",
			SecurityContext:    &corev1.PodSecurityContext{RunAsNonRoot: ptr(true), RunAsUser: ptr(int64(65532))},
			InitContainers:     []corev1.Container{{Name: "migrate", Image: "shop/migrate:v1"}},
			Containers: []corev1.Container{{Name: "cart", Image: "shop/cart:v1",
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr(false), ReadOnlyRootFilesystem: ptr(true)},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("http")}},
					PeriodSeconds: 5}}},
			Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "cart-v1"}}}}},
		}
	}
	cart := func(s *corev1.PodSpec) *corev1.Container { return &s.Containers[0] }
	for _, tt := range []struct {
		name   string
		change func(s *corev1.PodSpec)
		want   []string
	}{
		{"secret volume added", func(s *corev1.PodSpec) {
			s.Volumes = append(s.Volumes, corev1.Volume{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "db-password"}}})
		}, []string{"volume creds added (secret db-password)"}},
		{"volume source changed", func(s *corev1.PodSpec) {
			s.Volumes[0].ConfigMap.Name = "cart-v2"
		}, []string{"volume config configMap cart-v1 → configMap cart-v2"}},
		{"volume removed", func(s *corev1.PodSpec) { s.Volumes = nil }, []string{"volume config removed (configMap cart-v1)"}},
		{"host path volume", func(s *corev1.PodSpec) {
			s.Volumes = append(s.Volumes, corev1.Volume{Name: "docker", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/run/docker.sock"}}})
		}, []string{"volume docker added (hostPath /var/run/docker.sock: the node's filesystem)"}},
		{"service account", func(s *corev1.PodSpec) { s.ServiceAccountName = "cluster-admin" },
			[]string{"serviceAccountName cart → cluster-admin"}},
		{"host namespaces", func(s *corev1.PodSpec) { s.HostNetwork, s.HostPID = true, true },
			[]string{"pod hostNetwork false → true", "pod hostPID false → true"}},
		{"pod runs as root", func(s *corev1.PodSpec) { s.SecurityContext = nil },
			[]string{"pod runAsNonRoot true → unset", "pod runAsUser 65532 → unset"}},
		{"privileged container", func(s *corev1.PodSpec) {
			cart(s).SecurityContext = &corev1.SecurityContext{Privileged: ptr(true), RunAsUser: ptr(int64(0)), RunAsNonRoot: ptr(false),
				AllowPrivilegeEscalation: ptr(true), Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_ADMIN", "NET_ADMIN"}}}
		}, []string{"cart privileged unset → true", "cart runAsUser unset → 0", "cart runAsNonRoot unset → false",
			"cart allowPrivilegeEscalation false → true", "cart readOnlyRootFilesystem true → unset", "cart capabilities add [] → [NET_ADMIN SYS_ADMIN]"}},
		{"init container added", func(s *corev1.PodSpec) {
			s.InitContainers = append(s.InitContainers, corev1.Container{Name: "setup", Image: "busybox:latest"})
		}, []string{"init container setup added (image busybox:latest)"}},
		{"init container image", func(s *corev1.PodSpec) { s.InitContainers[0].Image = "shop/migrate:v2" },
			[]string{"init container migrate image shop/migrate:v1 → shop/migrate:v2"}},
		{"init container removed", func(s *corev1.PodSpec) { s.InitContainers = nil }, []string{"init container migrate removed"}},
		{"init container privileged", func(s *corev1.PodSpec) {
			s.InitContainers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr(true)}
		}, []string{"init container migrate privileged unset → true"}},
		{"probe changed", func(s *corev1.PodSpec) { cart(s).ReadinessProbe.HTTPGet.Path = "/" },
			[]string{"cart readinessProbe httpGet /readyz port http every 5s → httpGet / port http every 5s"}},
		{"probe timing changed", func(s *corev1.PodSpec) { cart(s).ReadinessProbe.FailureThreshold = 100 },
			[]string{"cart readinessProbe changed"}},
		{"probe removed", func(s *corev1.PodSpec) { cart(s).ReadinessProbe = nil }, []string{"cart readinessProbe removed"}},
		{"probes added", func(s *corev1.PodSpec) {
			cart(s).LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}}
			cart(s).StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"cat", "/tmp/ready"}}}}
		}, []string{"cart livenessProbe added (tcpSocket port 8080)", `cart startupProbe added (exec "cat /tmp/ready")`}},
		{"env from another secret", func(s *corev1.PodSpec) {
			cart(s).Env = []corev1.EnvVar{{Name: "DB_URL", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "admin-creds"}, Key: "url"}}}}
		}, []string{"cart env DB_URL added = (from secret admin-creds key url)"}},
		{"fields the diff does not describe are named", func(s *corev1.PodSpec) {
			cart(s).Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "curl evil"}}}}
			cart(s).VolumeMounts = []corev1.VolumeMount{{Name: "config", MountPath: "/etc/cart"}}
			s.NodeSelector = map[string]string{"pool": "gpu"}
		}, []string{"other changes (see kube_describe): cart.lifecycle, cart.volumeMounts, nodeSelector"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cur := base()
			tt.change(&cur)
			text := historyOf(t, base(), cur)
			for _, want := range tt.want {
				if !strings.Contains(text, "  changed: "+want+"\n") {
					t.Errorf("history lacks %q:\n%s", want, text)
				}
			}
			for _, line := range strings.Split(text, "\n") {
				if len(line) > 160 {
					t.Errorf("line of %d characters: %s", len(line), line)
				}
			}
			if strings.Contains(text, "hunter2") {
				t.Errorf("a secret's data appeared:\n%s", text)
			}
		})
	}
}

// historyOf returns kube_rollout_history of a deployment whose revision 1
// had the pod spec old and revision 2 has cur.
func historyOf(t *testing.T, old, cur corev1.PodSpec) string {
	t.Helper()
	labels := map[string]string{"app": "cart"}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "cart", Namespace: "shop", UID: "dep-uid",
		Annotations: map[string]string{"deployment.kubernetes.io/revision": "2"}},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}}}
	rs := func(rev string, spec corev1.PodSpec) *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "cart-" + rev, Namespace: "shop", Labels: labels,
			Annotations:     map[string]string{"deployment.kubernetes.io/revision": rev},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "cart", UID: "dep-uid", Controller: ptr(true)}}},
			Spec: appsv1.ReplicaSetSpec{Template: corev1.PodTemplateSpec{Spec: spec}}}
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db-password", Namespace: "shop"}, Data: map[string][]byte{"password": []byte("hunter2")}}
	c := fake.NewClientset(dep, rs("1", old), rs("2", cur), secret)
	tl := byName(kube.Tools(kube.Config{Client: c, Namespace: "shop"}))
	res := run(t, tl["kube_rollout_history"], `{"name": "cart"}`)
	if res.Error != "" {
		t.Fatal(res.Error)
	}
	return res.Text
}

// A proposal says what the dry run really did: with impersonation and a
// read-only identity the dry run is skipped, and no path (a single tool,
// a remediation plan's step, a verification's way back) claims the API
// server accepted it.
func TestSecurityDryRunClaimIsTrue(t *testing.T) {
	k, c, ns := startShop(t, 1)
	ctx := context.Background()
	rollTo(t, c, ns, "shop/cart:v2")
	// bob, the approver, may change shop and read it (a rollback reads
	// the ReplicaSets); Watchkeeper's own identity only reads.
	bindActionsRole(t, c, ns, "bob")
	applyReadRole(t, c)
	if _, err := c.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "read-bob"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "watchkeeper-read"},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "bob"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	self, _ := kubernetes.NewForConfig(k.As("watchkeeper"))
	bob, _ := kubernetes.NewForConfig(k.As("bob"))
	waitFor(t, "the roles to take effect", func() bool {
		_, err := self.AppsV1().Deployments(ns).Get(ctx, "cart", metav1.GetOptions{})
		_, bobErr := bob.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
		return err == nil && bobErr == nil
	})
	worse := func(_ context.Context, _ string, _, end time.Time) (float64, error) {
		if end.Before(time.Now().Add(-time.Minute)) {
			return 0.01, nil
		}
		return 0.5, nil
	}
	tl := byName(kube.ActionTools(kube.ActionConfig{Config: kube.Config{Client: self, Namespace: ns}, RolloutTimeout: 30 * time.Second,
		Impersonate: kube.Impersonating(k.Admin, map[string]string{"UBOB": "bob"}, nil),
		Verify:      &kube.Verification{Name: "error ratio", Query: "errors", Window: time.Minute, Mean: worse}}))
	honest := func(what string, p *tools.Proposal) {
		t.Helper()
		if p == nil {
			t.Fatalf("%s: no proposal", what)
		}
		if strings.Contains(p.Details, "accepted") || !strings.Contains(p.Details, "dry run: not possible with Watchkeeper's own identity") {
			t.Errorf("%s claims a dry run that did not happen:\n%s", what, p.Details)
		}
	}
	honest("kube_remediate", propose(t, tl["kube_remediate"], `{"name": "cart", "signature": "change", "reason": "errors since v2"}`))
	undo := propose(t, tl["kube_rollout_undo"], `{"name": "cart", "reason": "errors since v2"}`)
	honest("kube_rollout_undo", undo)
	if _, err := tl["kube_rollout_undo"].(tools.Applier).Apply(tools.WithApprover(ctx, "UBOB"), *undo); err != nil {
		t.Fatal(err)
	}
	v, err := tl["kube_rollout_undo"].(tools.Verifier).Verify(ctx, *undo, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !v.Worse {
		t.Fatalf("verification: %+v", v)
	}
	honest("the verification's way back", v.Rollback)
}

// Scaling to zero stops a service: it is refused unless
// kubernetes.min_replicas allows it, the refusal names the settings that
// exist, and the remediation ladder's scale-out never leaves the bounds.
func TestSecurityScaleToZeroRefusedByDefault(t *testing.T) {
	_, c, ns := startShop(t, 3)
	cfg := kube.ActionConfig{Config: kube.Config{Client: c, Namespace: ns}, RolloutTimeout: 30 * time.Second}
	for _, tt := range []struct {
		name     string
		min, max *int32
		args     string
		// want is in the refusal; empty: a proposal.
		want string
	}{
		{"zero by default", nil, nil, `{"name": "cart", "replicas": 0, "reason": "x"}`,
			"0 replicas is below kubernetes.min_replicas (1): scaling to zero stops the service; set kubernetes.min_replicas: 0 to allow it"},
		{"zero when allowed", ptr(int32(0)), nil, `{"name": "cart", "replicas": 0, "reason": "x"}`, ""},
		{"below a higher minimum", ptr(int32(2)), nil, `{"name": "cart", "replicas": 1, "reason": "x"}`,
			"1 replicas is below kubernetes.min_replicas (2)"},
		{"above the maximum", nil, ptr(int32(10)), `{"name": "cart", "replicas": 40, "reason": "x"}`,
			"40 replicas is above kubernetes.max_replicas (10)"},
		{"one by default", nil, nil, `{"name": "cart", "replicas": 1, "reason": "x"}`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := cfg
			cfg.MinReplicas = tt.min
			if tt.max != nil {
				cfg.MaxReplicas = *tt.max
			}
			res := run(t, byName(kube.ActionTools(cfg))["kube_scale"], tt.args)
			if strings.Contains(res.Error, "scale bounds") {
				t.Errorf("the refusal names a setting that does not exist: %s", res.Error)
			}
			if tt.want == "" {
				if res.Proposal == nil {
					t.Errorf("no proposal: %+v", res)
				}
				return
			}
			if res.Proposal != nil || !strings.Contains(res.Error, tt.want) {
				t.Errorf("got %+v; want the refusal %q", res, tt.want)
			}
		})
	}
	// Three replicas and a maximum of two: scaling "out" must not scale
	// in; the plan goes on to its next step.
	t.Run("scale out at the maximum", func(t *testing.T) {
		cfg := cfg
		cfg.MaxReplicas = 2
		p := propose(t, byName(kube.ActionTools(cfg))["kube_remediate"], `{"name": "cart", "signature": "cpu", "reason": "CPU saturated"}`)
		if !strings.HasPrefix(p.Summary, "Step 3 of the cpu plan: Restart") || !strings.Contains(p.Details, "kubernetes.max_replicas (2)") {
			t.Errorf("plan at the maximum: %+v", p)
		}
	})
}
