package kubesim

// The objects the cluster holds, built from the world's state as the
// controllers and kubelet would have written them.

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/watchkeeper/watchkeeper/internal/sandbox/world"
)

func template(spec world.ServiceSpec, version string, configRev int, restartedAt string) corev1.PodTemplateSpec {
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
			Ports: []corev1.ContainerPort{{ContainerPort: spec.Kind.Port(), Protocol: corev1.ProtocolTCP}},
			Resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceCPU: cpuQuantity(spec.CPULimit), corev1.ResourceMemory: memQuantity(spec.MemoryLimit)},
				Requests: corev1.ResourceList{corev1.ResourceCPU: cpuQuantity(spec.CPULimit / 2), corev1.ResourceMemory: memQuantity(spec.MemoryBase)},
			},
		}}},
	}
}

func deploymentObject(spec world.ServiceSpec, st world.ServiceState, created time.Time) *appsv1.Deployment {
	replicas := int32(st.Replicas)
	ready := int32(st.Ready)
	cond := corev1.ConditionTrue
	if ready < replicas {
		cond = corev1.ConditionFalse
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: spec.Name, Namespace: world.Namespace, Labels: map[string]string{"app": spec.Name},
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

func replicaSet(spec world.ServiceSpec, r world.Revision, replicas int32, st world.ServiceState, created time.Time) *appsv1.ReplicaSet {
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
		ObjectMeta: metav1.ObjectMeta{Name: spec.Name + "-" + r.Hash, Namespace: world.Namespace,
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

func podObject(spec world.ServiceSpec, p world.PodState, st world.ServiceState, now time.Time) *corev1.Pod {
	var rev world.Revision
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
		ImageID: "docker-pullable://" + tpl.Spec.Containers[0].Image + "@sha256:" + fmt.Sprintf("%064x", world.Hash64(0, tpl.Spec.Containers[0].Image))[:64],
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
			Message: fmt.Sprintf("back-off restarting failed container %s in pod %s_%s", spec.Name, p.Name, world.Namespace)}
	default:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(p.Started)}
	}
	if p.LastReason != "" {
		code := int32(137)
		cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{Reason: p.LastReason, ExitCode: code,
			StartedAt: metav1.NewTime(p.Started), FinishedAt: metav1.NewTime(p.LastExit)}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: world.Namespace,
			Labels:            map[string]string{"app": spec.Name, "pod-template-hash": p.Hash},
			Annotations:       tpl.Annotations,
			CreationTimestamp: metav1.NewTime(p.Started),
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: spec.Name + "-" + p.Hash,
				Controller: ptr(true)}}},
		Spec: corev1.PodSpec{NodeName: p.Node, Containers: tpl.Spec.Containers},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: world.PodIP(p.Name), HostIP: "192.168.0." + p.Node[len(p.Node)-1:],
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
		ObjectMeta: metav1.ObjectMeta{Name: service + "-config", Namespace: world.Namespace, Labels: map[string]string{"app": service},
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

func cpuQuantity(cores float64) resource.Quantity {
	return *resource.NewMilliQuantity(int64(cores*1000), resource.DecimalSI)
}

func memQuantity(bytes float64) resource.Quantity {
	return *resource.NewQuantity(int64(bytes), resource.BinarySI)
}

func ptr[T any](v T) *T { return &v }
