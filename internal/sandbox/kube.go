package sandbox

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
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

// kube mirrors the world into a client-go clientset. The bot's Kubernetes
// code gets the clientset as a kubernetes.Interface; reads see the world,
// and writes — rollout restart, set image, rollout undo, scale, delete pod
// — change it, with the validation errors an API server would return.
type kube struct {
	mu      sync.Mutex
	cs      *fake.Clientset
	tracker k8stesting.ObjectTracker
	world   *World
	topo    Topology
	synced  map[string]podMark // pod name -> last mirrored state
	// services holds each service's last mirrored deployment state, so
	// unchanged objects are not rewritten every step.
	services map[string]string
	events   map[string]*corev1.Event
	created  time.Time
}

type podMark struct {
	ready    bool
	restarts int
}

func newKube(w *World, at time.Time) (*kube, error) {
	// NewSimpleClientset's plain object tracker, not NewClientset's
	// field-managed one: the latter rebuilds a REST mapper on every write,
	// which made each simulated step cost 60ms. The plain tracker applies
	// the JSON, merge and strategic-merge patches kubectl sends; only
	// server-side apply is missing, which the bot does not use.
	k := &kube{cs: fake.NewSimpleClientset(), world: w, topo: w.Topology(), synced: map[string]podMark{}, //nolint:staticcheck // see above
		services: map[string]string{}, events: map[string]*corev1.Event{}, created: at.Add(-30 * 24 * time.Hour)}
	k.tracker = k.cs.Tracker()
	objs := []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace, CreationTimestamp: metav1.NewTime(k.created)}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default", CreationTimestamp: metav1.NewTime(k.created)}},
	}
	for i := 1; i <= 3; i++ {
		objs = append(objs, node(fmt.Sprintf("node-%d", i), k.created))
	}
	for _, s := range k.topo.Services {
		objs = append(objs, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: Namespace, Labels: map[string]string{"app": s.Name}, CreationTimestamp: metav1.NewTime(k.created)},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": s.Name}, Type: corev1.ServiceTypeClusterIP,
				ClusterIP: fmt.Sprintf("10.96.%d.%d", 1+len(s.Name)%200, 10+int(hash64(0, s.Name)%200)),
				Ports:     []corev1.ServicePort{{Name: "http", Port: portOf(s.Kind), Protocol: corev1.ProtocolTCP}}},
		})
		if s.Kind == KindHTTP {
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
func (k *kube) onDryRun(action k8stesting.Action) (bool, runtime.Object, error) {
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
func (k *kube) Clientset() kubernetes.Interface { return k.cs }

// sync mirrors a snapshot: deployments and ReplicaSets when their template
// or replicas changed, pods when their state changed, and new events.
func (k *kube) sync(s *Snapshot) error {
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

func (k *kube) syncService(spec ServiceSpec, st ServiceState, now time.Time) error {
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
func (k *kube) syncDeployment(spec ServiceSpec, st ServiceState) error {
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
	if spec.Kind == KindHTTP {
		cm := configMap(spec.Name, st.ConfigRev, k.created)
		if err := put(k.tracker, gvrConfigMaps, cm, Namespace, cm.Name); err != nil {
			return err
		}
	}
	return nil
}

// syncPods mirrors pods whose state changed and removes replaced ones.
func (k *kube) syncPods(spec ServiceSpec, st ServiceState, now time.Time) error {
	want := map[string]bool{}
	changed := false
	for _, p := range st.Pods {
		want[p.Name] = true
		mark := podMark{ready: p.Ready, restarts: p.Restarts}
		if old, ok := k.synced[p.Name]; ok && old == mark {
			continue
		}
		if err := put(k.tracker, gvrPods, podObject(spec, p, st, now), Namespace, p.Name); err != nil {
			return err
		}
		k.synced[p.Name] = mark
		changed = true
	}
	if !changed {
		return nil
	}
	list, err := k.tracker.List(gvrPods, corev1.SchemeGroupVersion.WithKind("Pod"), Namespace)
	if err != nil {
		return err
	}
	for _, item := range list.(*corev1.PodList).Items {
		if item.Labels["app"] == spec.Name && !want[item.Name] {
			if err := k.tracker.Delete(gvrPods, Namespace, item.Name); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
			delete(k.synced, item.Name)
		}
	}
	return nil
}

func (k *kube) putDeployment(spec ServiceSpec, st ServiceState) error {
	d := deploymentObject(spec, st, k.created)
	return put(k.tracker, gvrDeployments, d, Namespace, d.Name)
}

// addEvent records a world event as a Kubernetes Event, aggregating
// repeats as the API server does (count, lastTimestamp).
func (k *kube) addEvent(e WorldEvent) {
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
		_ = k.tracker.Update(gvrEvents, ev.DeepCopy(), Namespace)
		return
	}
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", name, e.Time.UnixNano()+int64(len(k.events))), Namespace: Namespace,
			CreationTimestamp: metav1.NewTime(e.Time)},
		InvolvedObject: corev1.ObjectReference{Kind: kind, Namespace: Namespace, Name: name},
		Reason:         e.Reason, Message: e.Message, Type: e.Type, Count: 1,
		FirstTimestamp: metav1.NewTime(e.Time), LastTimestamp: metav1.NewTime(e.Time),
		Source: corev1.EventSource{Component: component},
	}
	k.events[key] = ev
	_ = k.tracker.Add(ev.DeepCopy())
}

// pruneEvents drops events older than the API server's default TTL.
func (k *kube) pruneEvents(now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for key, ev := range k.events {
		if now.Sub(ev.LastTimestamp.Time) > time.Hour {
			_ = k.tracker.Delete(gvrEvents, Namespace, ev.Name)
			delete(k.events, key)
		}
	}
}

// onDeploymentWrite applies an update or patch of a Deployment, checks it
// as the API server would, and tells the world about replicas and template
// changes.
func (k *kube) onDeploymentWrite(action k8stesting.Action) (bool, runtime.Object, error) {
	switch action.GetSubresource() {
	case "scale":
		return k.onScaleWrite(action)
	case "":
	default:
		return false, nil, nil
	}
	name := actionName(action)
	if _, known := k.topo.service(name); !known || action.GetNamespace() != Namespace {
		return false, nil, nil // not a shop deployment: default handling
	}
	old, err := k.tracker.Get(gvrDeployments, Namespace, name)
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
		_ = k.tracker.Update(gvrDeployments, old, Namespace)
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
	cur, err := k.tracker.Get(gvrDeployments, Namespace, name)
	return true, cur, err
}

// refresh mirrors one service's current state after an action.
func (k *kube) refresh(service string) error {
	dep, err := k.world.Deployment(service)
	if err != nil {
		return err
	}
	pods, err := k.world.Pods(service)
	if err != nil {
		return err
	}
	spec, _ := k.topo.service(service)
	st := ServiceState{Name: service, Kind: spec.Kind, Replicas: dep.Replicas, Version: dep.Version, Revision: dep.Revision,
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
func (k *kube) onScaleGet(action k8stesting.Action) (bool, runtime.Object, error) {
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
func (k *kube) onScaleWrite(action k8stesting.Action) (bool, runtime.Object, error) {
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
	if _, known := k.topo.service(name); known && action.GetNamespace() == Namespace {
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
func (k *kube) onPodDelete(action k8stesting.Action) (bool, runtime.Object, error) {
	if action.GetNamespace() != Namespace {
		return false, nil, nil
	}
	name := actionName(action)
	obj, err := k.tracker.Get(gvrPods, Namespace, name)
	if err != nil {
		return true, nil, err
	}
	service := obj.(*corev1.Pod).Labels["app"]
	if _, known := k.topo.service(service); !known {
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

func template(spec ServiceSpec, version string, configRev int, restartedAt string) corev1.PodTemplateSpec {
	ann := map[string]string{}
	if configRev > 0 {
		ann[annConfigRev] = strconv.Itoa(configRev)
	}
	if restartedAt != "" {
		ann[annRestartedAt] = restartedAt
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": spec.Name}, Annotations: ann},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: spec.Name, Image: spec.Image + ":" + version,
			Ports: []corev1.ContainerPort{{ContainerPort: portOf(spec.Kind), Protocol: corev1.ProtocolTCP}},
			Resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceCPU: cpuQuantity(spec.CPULimit), corev1.ResourceMemory: memQuantity(spec.MemoryLimit)},
				Requests: corev1.ResourceList{corev1.ResourceCPU: cpuQuantity(spec.CPULimit / 2), corev1.ResourceMemory: memQuantity(spec.MemoryBase)},
			},
		}}},
	}
}

func deploymentObject(spec ServiceSpec, st ServiceState, created time.Time) *appsv1.Deployment {
	replicas := int32(st.Replicas)
	ready := int32(st.Ready)
	cond := corev1.ConditionTrue
	if ready < replicas {
		cond = corev1.ConditionFalse
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: spec.Name, Namespace: Namespace, Labels: map[string]string{"app": spec.Name},
			Annotations: map[string]string{annRevision: strconv.FormatInt(st.Revision, 10)}, CreationTimestamp: metav1.NewTime(created),
			UID: types.UID("dep-" + spec.Name), Generation: st.Revision},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": spec.Name}},
			Template: template(spec, strings.TrimPrefix(st.Image, spec.Image+":"), st.ConfigRev, st.RestartedAt),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType}},
		Status: appsv1.DeploymentStatus{ObservedGeneration: st.Revision, Replicas: replicas, UpdatedReplicas: replicas,
			ReadyReplicas: ready, AvailableReplicas: ready, UnavailableReplicas: replicas - ready,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: cond, Reason: "MinimumReplicasAvailable"}}},
	}
}

func replicaSet(spec ServiceSpec, r Revision, replicas int32, st ServiceState, created time.Time) *appsv1.ReplicaSet {
	tpl := template(spec, r.Version, r.ConfigRev, r.RestartedAt)
	tpl.Labels = map[string]string{"app": spec.Name, "pod-template-hash": r.Hash}
	ready := int32(0)
	if r.Number == st.Revision {
		ready = int32(st.Ready)
	}
	c := r.Created
	if c.Before(created) {
		c = created
	}
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: spec.Name + "-" + r.Hash, Namespace: Namespace,
			Labels:            map[string]string{"app": spec.Name, "pod-template-hash": r.Hash},
			Annotations:       map[string]string{annRevision: strconv.FormatInt(r.Number, 10)},
			CreationTimestamp: metav1.NewTime(c),
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: spec.Name,
				UID: types.UID("dep-" + spec.Name), Controller: ptr(true)}}},
		Spec: appsv1.ReplicaSetSpec{Replicas: &replicas, Template: tpl,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": spec.Name, "pod-template-hash": r.Hash}}},
		Status: appsv1.ReplicaSetStatus{Replicas: replicas, ReadyReplicas: ready, AvailableReplicas: ready},
	}
}

func podObject(spec ServiceSpec, p PodState, st ServiceState, now time.Time) *corev1.Pod {
	var rev Revision
	for _, r := range st.Revisions {
		if r.Number == p.Revision {
			rev = r
		}
	}
	tpl := template(spec, rev.Version, rev.ConfigRev, rev.RestartedAt)
	ready := corev1.ConditionFalse
	if p.Ready {
		ready = corev1.ConditionTrue
	}
	cs := corev1.ContainerStatus{Name: spec.Name, Ready: p.Ready, RestartCount: int32(p.Restarts), Image: tpl.Spec.Containers[0].Image,
		ImageID: "docker-pullable://" + tpl.Spec.Containers[0].Image + "@sha256:" + fmt.Sprintf("%064x", hash64(0, tpl.Spec.Containers[0].Image))[:64],
		Started: ptr(p.Ready)}
	switch {
	case p.Ready:
		startedAt := p.Started
		if !p.LastExit.IsZero() {
			startedAt = p.LastExit.Add(10 * time.Second)
		}
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(startedAt)}
	case p.Restarts > 1 && p.LastReason != "":
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
			Message: fmt.Sprintf("back-off restarting failed container %s in pod %s_%s", spec.Name, p.Name, Namespace)}
	default:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(p.Started)}
	}
	if p.LastReason != "" {
		code := int32(137)
		cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{Reason: p.LastReason, ExitCode: code,
			StartedAt: metav1.NewTime(p.Started), FinishedAt: metav1.NewTime(p.LastExit)}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: Namespace,
			Labels:            map[string]string{"app": spec.Name, "pod-template-hash": p.Hash},
			Annotations:       tpl.Annotations,
			CreationTimestamp: metav1.NewTime(p.Started),
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: spec.Name + "-" + p.Hash,
				Controller: ptr(true)}}},
		Spec: corev1.PodSpec{NodeName: p.Node, Containers: tpl.Spec.Containers},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: podIP(p.Name), HostIP: "192.168.0." + p.Node[len(p.Node)-1:],
			StartTime:         ptr(metav1.NewTime(p.Started)),
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: ready, LastTransitionTime: metav1.NewTime(now)}},
			ContainerStatuses: []corev1.ContainerStatus{cs}},
	}
}

func configMap(service string, rev int, created time.Time) *corev1.ConfigMap {
	data := map[string]string{"LOG_LEVEL": "info", "FEATURE_NEW_PRICING": "false", "UPSTREAM_TIMEOUT_MS": "2000"}
	if rev > 0 {
		data["FEATURE_NEW_PRICING"] = "true"
		data["PRICING_TIER_TABLE"] = "tiers-v" + strconv.Itoa(rev+1)
	}
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: service + "-config", Namespace: Namespace, Labels: map[string]string{"app": service},
			Annotations: map[string]string{annConfigRev: strconv.Itoa(rev)}, CreationTimestamp: metav1.NewTime(created)},
		Data: data,
	}
}

func node(name string, created time.Time) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created),
			Labels: map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "topology.kubernetes.io/zone": "zone-" + name[len(name)-1:]}},
		Status: corev1.NodeStatus{
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi"), corev1.ResourcePods: resource.MustParse("110")},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3800m"), corev1.ResourceMemory: resource.MustParse("15Gi"), corev1.ResourcePods: resource.MustParse("110")},
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status"}},
			NodeInfo:    corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", ContainerRuntimeVersion: "containerd://2.1.0", OSImage: "Debian GNU/Linux 12 (bookworm)"},
		},
	}
}

func scaleOf(d *appsv1.Deployment) *autoscalingv1.Scale {
	replicas := int32(1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	sel := []string{}
	for k, v := range d.Spec.Selector.MatchLabels {
		sel = append(sel, k+"="+v)
	}
	sort.Strings(sel)
	return &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: d.Name, Namespace: d.Namespace},
		Spec: autoscalingv1.ScaleSpec{Replicas: replicas}, Status: autoscalingv1.ScaleStatus{Replicas: d.Status.Replicas, Selector: strings.Join(sel, ",")}}
}

func portOf(k Kind) int32 {
	switch k {
	case KindRedis:
		return 6379
	case KindPostgres:
		return 5432
	}
	return 8080
}

func cpuQuantity(cores float64) resource.Quantity {
	return *resource.NewMilliQuantity(int64(cores*1000), resource.DecimalSI)
}

func memQuantity(bytes float64) resource.Quantity {
	return *resource.NewQuantity(int64(bytes), resource.BinarySI)
}

func podIP(name string) string {
	h := hash64(0, name)
	return fmt.Sprintf("10.244.%d.%d", h%4, 2+(h>>8)%250)
}

func ptr[T any](v T) *T { return &v }
