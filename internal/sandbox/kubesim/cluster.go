// Package kubesim is the sandbox's Kubernetes: a client-go clientset that
// mirrors the world's deployments, ReplicaSets, pods, ConfigMaps and events,
// and whose writes — rollout restart, set image, rollout undo, scale,
// delete pod — change the world, with the validation errors an API server
// would return. It imports the world and no other emulator.
package kubesim

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/watchkeeper/watchkeeper/internal/sandbox/world"
)

// Annotations the sandbox reads from pod templates.
const (
	annRestartedAt = "kubectl.kubernetes.io/restartedAt"
	annConfigRev   = "shop.example.com/config-revision"
	annRevision    = "deployment.kubernetes.io/revision"
)

var (
	gvrDeployments = appsv1.SchemeGroupVersion.WithResource("deployments")
	gvrReplicaSets = appsv1.SchemeGroupVersion.WithResource("replicasets")
	gvrPods        = corev1.SchemeGroupVersion.WithResource("pods")
	gvrEvents      = corev1.SchemeGroupVersion.WithResource("events")
	gvrConfigMaps  = corev1.SchemeGroupVersion.WithResource("configmaps")
)

// Cluster mirrors the world into a client-go clientset. The bot's
// Kubernetes code gets the clientset as a kubernetes.Interface; reads see
// the world, and writes — rollout restart, set image, rollout undo, scale,
// delete pod — change it, with the validation errors an API server would
// return. It is safe for concurrent use.
type Cluster struct {
	mu      sync.Mutex
	cs      *fake.Clientset
	tracker k8stesting.ObjectTracker
	world   *world.World
	topo    world.Topology
	synced  map[string]podMark // pod name -> last mirrored state
	// services holds each service's last mirrored deployment state, so
	// unchanged objects are not rewritten every step.
	services map[string]string
	events   map[string]*corev1.Event
	created  time.Time
	// labels are added to every shop Deployment (SetDeploymentLabels).
	labels map[string]string
}

type podMark struct {
	ready    bool
	restarts int
}

// New returns the cluster of w, created a month before at, with the
// shop's namespace, nodes, Services and ConfigMaps. Sync mirrors the rest.
func New(w *world.World, at time.Time) (*Cluster, error) {
	// NewSimpleClientset's plain object tracker, not NewClientset's
	// field-managed one: the latter rebuilds a REST mapper on every write,
	// which made each simulated step cost 60ms. The plain tracker applies
	// the JSON, merge and strategic-merge patches kubectl sends; only
	// server-side apply is missing, which the bot does not use.
	k := &Cluster{cs: fake.NewSimpleClientset(), world: w, topo: w.Topology(), synced: map[string]podMark{}, //nolint:staticcheck // see above
		services: map[string]string{}, events: map[string]*corev1.Event{}, created: at.Add(-30 * 24 * time.Hour)}
	k.tracker = k.cs.Tracker()
	objs := []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: world.Namespace, CreationTimestamp: metav1.NewTime(k.created)}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default", CreationTimestamp: metav1.NewTime(k.created)}},
	}
	for i := 1; i <= 3; i++ {
		objs = append(objs, node(fmt.Sprintf("node-%d", i), k.created))
	}
	for _, s := range k.topo.Services {
		objs = append(objs, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: world.Namespace, Labels: map[string]string{"app": s.Name}, CreationTimestamp: metav1.NewTime(k.created)},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": s.Name}, Type: corev1.ServiceTypeClusterIP,
				ClusterIP: fmt.Sprintf("10.96.%d.%d", 1+len(s.Name)%200, 10+int(world.Hash64(0, s.Name)%200)),
				Ports:     []corev1.ServicePort{{Name: "http", Port: s.Kind.Port(), Protocol: corev1.ProtocolTCP}}},
		})
		if s.Kind == world.KindHTTP {
			objs = append(objs, configMap(s.Name, 0, k.created))
		}
	}
	for _, o := range objs {
		if err := k.tracker.Add(o); err != nil {
			return nil, fmt.Errorf("seed Kubernetes objects: %w", err)
		}
	}
	k.cs.PrependReactor("update", "deployments", k.onDeploymentWrite)
	k.cs.PrependReactor("patch", "deployments", k.onDeploymentWrite)
	k.cs.PrependReactor("get", "deployments", k.onScaleGet)
	k.cs.PrependReactor("delete", "pods", k.onPodDelete)
	// Last prepended, first consulted: a dry run never reaches the world.
	k.cs.PrependReactor("*", "*", k.onDryRun)
	return k, nil
}

// onDryRun answers server-side dry runs as the API server does — the
// object must exist; nothing is written — where the fake clientset would
// otherwise apply them.
func (k *Cluster) onDryRun(action k8stesting.Action) (bool, runtime.Object, error) {
	var dry []string
	switch a := action.(type) {
	case k8stesting.PatchActionImpl:
		dry = a.PatchOptions.DryRun
	case k8stesting.UpdateActionImpl:
		dry = a.UpdateOptions.DryRun
		if len(dry) > 0 && action.GetSubresource() == "" {
			return true, a.GetObject(), nil
		}
	case k8stesting.DeleteActionImpl:
		dry = a.DeleteOptions.DryRun
	case k8stesting.CreateActionImpl:
		if len(a.CreateOptions.DryRun) > 0 {
			return true, a.GetObject(), nil
		}
		return false, nil, nil
	default:
		return false, nil, nil
	}
	if len(dry) == 0 {
		return false, nil, nil
	}
	obj, err := k.tracker.Get(action.GetResource(), action.GetNamespace(), actionName(action))
	if err != nil {
		return true, nil, err
	}
	if action.GetSubresource() == "scale" {
		if d, ok := obj.(*appsv1.Deployment); ok {
			return true, scaleOf(d), nil
		}
	}
	return true, obj, nil
}

// Clientset returns the client the bot uses.
func (k *Cluster) Clientset() kubernetes.Interface { return k.cs }

// Sync mirrors a snapshot: deployments and ReplicaSets when their template
// or replicas changed, pods when their state changed, and new events.
func (k *Cluster) Sync(s *world.Snapshot) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	for i, st := range s.Services {
		if err := k.syncService(k.topo.Services[i], st, s.Time); err != nil {
			return err
		}
	}
	for _, e := range s.Events {
		k.addEvent(e)
	}
	return nil
}

func (k *Cluster) syncService(spec world.ServiceSpec, st world.ServiceState, now time.Time) error {
	mark := fmt.Sprintf("%d/%d/%d/%d/%s/%d", st.Replicas, st.Ready, st.Revision, st.ConfigRev, st.RestartedAt, len(st.Revisions))
	if k.services[spec.Name] != mark {
		if err := k.syncDeployment(spec, st); err != nil {
			return err
		}
		k.services[spec.Name] = mark
	}
	return k.syncPods(spec, st, now)
}

// syncDeployment mirrors a deployment, its ReplicaSets and its ConfigMap.
func (k *Cluster) syncDeployment(spec world.ServiceSpec, st world.ServiceState) error {
	if err := k.putDeployment(spec, st); err != nil {
		return err
	}
	for _, r := range st.Revisions {
		replicas := int32(0)
		if r.Number == st.Revision {
			replicas = int32(st.Replicas)
		}
		rs := replicaSet(spec, r, replicas, st, k.created)
		if err := put(k.tracker, gvrReplicaSets, rs, rs.Namespace, rs.Name); err != nil {
			return err
		}
	}
	if spec.Kind == world.KindHTTP {
		cm := configMap(spec.Name, st.ConfigRev, k.created)
		if err := put(k.tracker, gvrConfigMaps, cm, world.Namespace, cm.Name); err != nil {
			return err
		}
	}
	return nil
}

// syncPods mirrors pods whose state changed and removes replaced ones.
func (k *Cluster) syncPods(spec world.ServiceSpec, st world.ServiceState, now time.Time) error {
	want := map[string]bool{}
	changed := false
	for _, p := range st.Pods {
		want[p.Name] = true
		mark := podMark{ready: p.Ready, restarts: p.Restarts}
		if old, ok := k.synced[p.Name]; ok && old == mark {
			continue
		}
		if err := put(k.tracker, gvrPods, podObject(spec, p, st, now), world.Namespace, p.Name); err != nil {
			return err
		}
		k.synced[p.Name] = mark
		changed = true
	}
	if !changed {
		return nil
	}
	list, err := k.tracker.List(gvrPods, corev1.SchemeGroupVersion.WithKind("Pod"), world.Namespace)
	if err != nil {
		return err
	}
	for _, item := range list.(*corev1.PodList).Items {
		if item.Labels["app"] == spec.Name && !want[item.Name] {
			if err := k.tracker.Delete(gvrPods, world.Namespace, item.Name); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
			delete(k.synced, item.Name)
		}
	}
	return nil
}

func (k *Cluster) putDeployment(spec world.ServiceSpec, st world.ServiceState) error {
	d := deploymentObject(spec, st, k.created)
	for key, v := range k.labels {
		d.Labels[key] = v
	}
	return put(k.tracker, gvrDeployments, d, world.Namespace, d.Name)
}

// addEvent records a world event as a Kubernetes Event, aggregating
// repeats as the API server does (count, lastTimestamp).
func (k *Cluster) addEvent(e world.Event) {
	kind, name := "Deployment", e.Service
	component := "deployment-controller"
	if e.Pod != "" {
		kind, name, component = "Pod", e.Pod, "kubelet"
	}
	if e.Reason == "ConfigMapUpdated" {
		kind, name, component = "ConfigMap", e.Service+"-config", "watchkeeper-sandbox"
	}
	key := kind + "/" + name + "/" + e.Reason + "/" + e.Message
	if ev, ok := k.events[key]; ok {
		ev.Count++
		ev.LastTimestamp = metav1.NewTime(e.Time)
		_ = k.tracker.Update(gvrEvents, ev.DeepCopy(), world.Namespace)
		return
	}
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", name, e.Time.UnixNano()+int64(len(k.events))), Namespace: world.Namespace,
			CreationTimestamp: metav1.NewTime(e.Time)},
		InvolvedObject: corev1.ObjectReference{Kind: kind, Namespace: world.Namespace, Name: name},
		Reason:         e.Reason, Message: e.Message, Type: e.Type, Count: 1,
		FirstTimestamp: metav1.NewTime(e.Time), LastTimestamp: metav1.NewTime(e.Time),
		Source: corev1.EventSource{Component: component},
	}
	k.events[key] = ev
	_ = k.tracker.Add(ev.DeepCopy())
}

// PruneEvents drops events older than the API server's default TTL.
func (k *Cluster) PruneEvents(now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for key, ev := range k.events {
		if now.Sub(ev.LastTimestamp.Time) > time.Hour {
			_ = k.tracker.Delete(gvrEvents, world.Namespace, ev.Name)
			delete(k.events, key)
		}
	}
}

// onDeploymentWrite applies an update or patch of a Deployment, checks it
// as the API server would, and tells the world about replicas and template
// changes.
func (k *Cluster) onDeploymentWrite(action k8stesting.Action) (bool, runtime.Object, error) {
	switch action.GetSubresource() {
	case "scale":
		return k.onScaleWrite(action)
	case "":
	default:
		return false, nil, nil
	}
	name := actionName(action)
	if _, known := k.topo.Service(name); !known || action.GetNamespace() != world.Namespace {
		return false, nil, nil // not a shop deployment: default handling
	}
	old, err := k.tracker.Get(gvrDeployments, world.Namespace, name)
	if err != nil {
		return true, nil, err
	}
	_, obj, err := k8stesting.ObjectReaction(k.tracker)(action)
	if err != nil {
		return true, nil, err
	}
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		return true, nil, fmt.Errorf("unexpected object %T", obj)
	}
	if errs := validateDeployment(d); len(errs) > 0 {
		_ = k.tracker.Update(gvrDeployments, old, world.Namespace)
		return true, nil, apierrors.NewInvalid(schema.GroupKind{Group: "apps", Kind: "Deployment"}, name, errs)
	}
	replicas := 1
	if d.Spec.Replicas != nil {
		replicas = int(*d.Spec.Replicas)
	}
	version, configRev, restartedAt := templateState(d.Spec.Template)
	if err := k.world.Scale(name, replicas); err != nil {
		return true, nil, err
	}
	if err := k.world.Rollout(name, version, configRev, restartedAt); err != nil {
		return true, nil, err
	}
	if err := k.refresh(name); err != nil {
		return true, nil, err
	}
	cur, err := k.tracker.Get(gvrDeployments, world.Namespace, name)
	return true, cur, err
}

// refresh mirrors one service's current state after an action.
func (k *Cluster) refresh(service string) error {
	dep, err := k.world.Deployment(service)
	if err != nil {
		return err
	}
	pods, err := k.world.Pods(service)
	if err != nil {
		return err
	}
	spec, _ := k.topo.Service(service)
	st := world.ServiceState{Name: service, Kind: spec.Kind, Replicas: dep.Replicas, Version: dep.Version, Revision: dep.Revision,
		ConfigRev: dep.ConfigRev, RestartedAt: dep.RestartedAt, Image: dep.Image, Revisions: dep.Revisions, Pods: pods}
	for _, p := range pods {
		if p.Ready {
			st.Ready++
		}
	}
	for _, r := range dep.Revisions {
		if r.Number == dep.Revision {
			st.Hash = r.Hash
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.syncService(spec, st, k.world.Now())
}

// onScaleGet serves GET deployments/scale, which the fake clientset cannot.
func (k *Cluster) onScaleGet(action k8stesting.Action) (bool, runtime.Object, error) {
	if action.GetSubresource() != "scale" {
		return false, nil, nil
	}
	obj, err := k.tracker.Get(gvrDeployments, action.GetNamespace(), actionName(action))
	if err != nil {
		return true, nil, err
	}
	return true, scaleOf(obj.(*appsv1.Deployment)), nil
}

// onScaleWrite serves PUT and PATCH of deployments/scale (kubectl scale).
func (k *Cluster) onScaleWrite(action k8stesting.Action) (bool, runtime.Object, error) {
	name := actionName(action)
	obj, err := k.tracker.Get(gvrDeployments, action.GetNamespace(), name)
	if err != nil {
		return true, nil, err
	}
	d := obj.(*appsv1.Deployment)
	var replicas int32
	switch a := action.(type) {
	case k8stesting.UpdateAction:
		s, ok := a.GetObject().(*autoscalingv1.Scale)
		if !ok {
			return true, nil, apierrors.NewBadRequest(fmt.Sprintf("expected a Scale, got %T", a.GetObject()))
		}
		replicas = s.Spec.Replicas
	case k8stesting.PatchAction:
		var p struct {
			Spec struct {
				Replicas *int32 `json:"replicas"`
			} `json:"spec"`
		}
		if err := json.Unmarshal(a.GetPatch(), &p); err != nil || p.Spec.Replicas == nil {
			return true, nil, apierrors.NewBadRequest("the scale patch must set spec.replicas")
		}
		replicas = *p.Spec.Replicas
	default:
		return false, nil, nil
	}
	if replicas < 0 {
		return true, nil, apierrors.NewInvalid(schema.GroupKind{Group: "autoscaling", Kind: "Scale"}, name, field.ErrorList{
			field.Invalid(field.NewPath("spec", "replicas"), replicas, "must be greater than or equal to 0")})
	}
	if _, known := k.topo.Service(name); known && action.GetNamespace() == world.Namespace {
		if err := k.world.Scale(name, int(replicas)); err != nil {
			return true, nil, err
		}
		if err := k.refresh(name); err != nil {
			return true, nil, err
		}
	} else {
		d.Spec.Replicas = &replicas
		if err := k.tracker.Update(gvrDeployments, d, action.GetNamespace()); err != nil {
			return true, nil, err
		}
	}
	cur, err := k.tracker.Get(gvrDeployments, action.GetNamespace(), name)
	if err != nil {
		return true, nil, err
	}
	return true, scaleOf(cur.(*appsv1.Deployment)), nil
}

// onPodDelete replaces a shop pod as its ReplicaSet would.
func (k *Cluster) onPodDelete(action k8stesting.Action) (bool, runtime.Object, error) {
	if action.GetNamespace() != world.Namespace {
		return false, nil, nil
	}
	name := actionName(action)
	obj, err := k.tracker.Get(gvrPods, world.Namespace, name)
	if err != nil {
		return true, nil, err
	}
	service := obj.(*corev1.Pod).Labels["app"]
	if _, known := k.topo.Service(service); !known {
		return false, nil, nil
	}
	if err := k.world.DeletePod(service, name); err != nil {
		return true, nil, err
	}
	return true, nil, k.refresh(service)
}

func validateDeployment(d *appsv1.Deployment) field.ErrorList {
	var errs field.ErrorList
	if d.Spec.Replicas != nil && *d.Spec.Replicas < 0 {
		errs = append(errs, field.Invalid(field.NewPath("spec", "replicas"), *d.Spec.Replicas, "must be greater than or equal to 0"))
	}
	if len(d.Spec.Template.Spec.Containers) == 0 {
		errs = append(errs, field.Required(field.NewPath("spec", "template", "spec", "containers"), ""))
	}
	for i, c := range d.Spec.Template.Spec.Containers {
		if c.Image == "" {
			errs = append(errs, field.Required(field.NewPath("spec", "template", "spec", "containers").Index(i).Child("image"), ""))
		}
	}
	return errs
}

// templateState reads the image tag, config revision and restartedAt from a
// pod template.
func templateState(t corev1.PodTemplateSpec) (version string, configRev int, restartedAt string) {
	if len(t.Spec.Containers) > 0 {
		img := t.Spec.Containers[0].Image
		if i := strings.LastIndexByte(img, ':'); i >= 0 && !strings.Contains(img[i:], "/") {
			version = img[i+1:]
		}
	}
	configRev, _ = strconv.Atoi(t.Annotations[annConfigRev])
	return version, configRev, t.Annotations[annRestartedAt]
}

func actionName(a k8stesting.Action) string {
	switch x := a.(type) {
	case k8stesting.GetAction:
		return x.GetName()
	case k8stesting.UpdateAction:
		if m, err := metaName(x.GetObject()); err == nil {
			return m
		}
	case k8stesting.PatchAction:
		return x.GetName()
	case k8stesting.DeleteAction:
		return x.GetName()
	}
	return ""
}

func metaName(o runtime.Object) (string, error) {
	type named interface{ GetName() string }
	if n, ok := o.(named); ok {
		return n.GetName(), nil
	}
	return "", fmt.Errorf("object %T has no name", o)
}

// put creates or updates an object in the tracker.
func put(t k8stesting.ObjectTracker, gvr schema.GroupVersionResource, obj runtime.Object, ns, name string) error {
	if _, err := t.Get(gvr, ns, name); apierrors.IsNotFound(err) {
		return t.Add(obj)
	}
	return t.Update(gvr, obj, ns)
}
