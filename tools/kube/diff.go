package kube

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// templateDiff lists what differs between two pod specs, one short line
// per change, sorted so that the same change always reads the same. An
// approver decides a rollback from it, so it covers what makes a pod
// different or dangerous: containers and init containers (image, env,
// resources, args, command, security context, probes), volumes (a host
// path flagged), the service account and the pod's security settings.
// Secret values never appear: secrets are named, literal credentials
// hidden.
func templateDiff(old, cur corev1.PodSpec) []string {
	var out []string
	for _, f := range podFields {
		if a, b := f.show(old), f.show(cur); a != b {
			out = append(out, fmt.Sprintf("%s %s → %s", f.name, a, b))
		}
	}
	out = append(out, containersDiff("container ", "", old.Containers, cur.Containers)...)
	out = append(out, containersDiff("init container ", "init container ", old.InitContainers, cur.InitContainers)...)
	out = append(out, volumesDiff(old.Volumes, cur.Volumes)...)
	sort.Strings(out)
	// Whatever else differs is named, so no change is invisible: lifecycle
	// hooks, mounts, envFrom, ports, scheduling, pull secrets, …
	if other := otherChanges(old, cur); len(other) > 0 {
		out = append(out, "other changes (see kube_describe): "+strings.Join(other, ", "))
	}
	return out
}

// shownPodFields and shownContainerFields are the fields templateDiff
// (and the diffs it calls) describe; otherChanges names the rest.
var (
	shownPodFields = map[string]bool{"containers": true, "initContainers": true, "volumes": true, "serviceAccountName": true,
		"serviceAccount": true, "automountServiceAccountToken": true, "hostNetwork": true, "hostPID": true, "hostIPC": true, "securityContext": true}
	shownContainerFields = map[string]bool{"name": true, "image": true, "env": true, "resources": true, "args": true, "command": true,
		"securityContext": true, "livenessProbe": true, "readinessProbe": true, "startupProbe": true}
)

// otherChanges lists the fields, pod-level and per container, that differ
// between two pod specs and that the diff does not describe.
func otherChanges(old, cur corev1.PodSpec) []string {
	var out []string
	for _, f := range changedFields(old, cur) {
		if !shownPodFields[f] {
			out = append(out, f)
		}
	}
	olds := map[string]corev1.Container{}
	for _, c := range append(append([]corev1.Container(nil), old.InitContainers...), old.Containers...) {
		olds[c.Name] = c
	}
	for _, c := range append(append([]corev1.Container(nil), cur.InitContainers...), cur.Containers...) {
		o, ok := olds[c.Name]
		if !ok {
			continue // an added container is described whole
		}
		for _, f := range changedFields(o, c) {
			if !shownContainerFields[f] {
				out = append(out, c.Name+"."+f)
			}
		}
	}
	sort.Strings(out)
	return out
}

// changedFields compares two values field by field through their JSON
// form (the names people see in manifests).
func changedFields(a, b any) []string {
	var ma, mb map[string]json.RawMessage
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	_ = json.Unmarshal(ja, &ma)
	_ = json.Unmarshal(jb, &mb)
	var out []string
	for k, v := range ma {
		if w, ok := mb[k]; !ok || string(v) != string(w) {
			out = append(out, k)
		}
	}
	for k := range mb {
		if _, ok := ma[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

// envSource names where an environment value comes from, never the value.
func envSource(s corev1.EnvVarSource) string {
	switch {
	case s.SecretKeyRef != nil:
		return fmt.Sprintf("(from secret %s key %s)", s.SecretKeyRef.Name, s.SecretKeyRef.Key)
	case s.ConfigMapKeyRef != nil:
		return fmt.Sprintf("(from configmap %s key %s)", s.ConfigMapKeyRef.Name, s.ConfigMapKeyRef.Key)
	case s.FieldRef != nil:
		return "(from field " + s.FieldRef.FieldPath + ")"
	case s.ResourceFieldRef != nil:
		return "(from resource " + s.ResourceFieldRef.Resource + ")"
	}
	return "(from a reference)"
}

// podFields are the pod-level settings a diff shows, rendered for people.
var podFields = []struct {
	name string
	show func(corev1.PodSpec) string
}{
	{"serviceAccountName", func(s corev1.PodSpec) string {
		if s.ServiceAccountName == "" {
			return "default" // what Kubernetes uses when none is named
		}
		return s.ServiceAccountName
	}},
	{"pod automountServiceAccountToken", func(s corev1.PodSpec) string { return showPtr(s.AutomountServiceAccountToken) }},
	{"pod hostNetwork", func(s corev1.PodSpec) string { return strconv.FormatBool(s.HostNetwork) }},
	{"pod hostPID", func(s corev1.PodSpec) string { return strconv.FormatBool(s.HostPID) }},
	{"pod hostIPC", func(s corev1.PodSpec) string { return strconv.FormatBool(s.HostIPC) }},
	{"pod runAsUser", func(s corev1.PodSpec) string { return showPtr(podSecurity(s).RunAsUser) }},
	{"pod runAsNonRoot", func(s corev1.PodSpec) string { return showPtr(podSecurity(s).RunAsNonRoot) }},
}

func podSecurity(s corev1.PodSpec) corev1.PodSecurityContext {
	if s.SecurityContext == nil {
		return corev1.PodSecurityContext{}
	}
	return *s.SecurityContext
}

// containerFields are the per-container settings a diff shows, rendered
// for people; env and probes have their own wording.
var containerFields = []struct {
	name string
	show func(corev1.Container) string
}{
	{"image", func(c corev1.Container) string { return c.Image }},
	{"requests", func(c corev1.Container) string { return resources(c.Resources.Requests) }},
	{"limits", func(c corev1.Container) string { return resources(c.Resources.Limits) }},
	{"args", func(c corev1.Container) string { return strconv.Quote(strings.Join(c.Args, " ")) }},
	{"command", func(c corev1.Container) string { return strconv.Quote(strings.Join(c.Command, " ")) }},
	{"privileged", func(c corev1.Container) string { return showPtr(containerSecurity(c).Privileged) }},
	{"runAsUser", func(c corev1.Container) string { return showPtr(containerSecurity(c).RunAsUser) }},
	{"runAsNonRoot", func(c corev1.Container) string { return showPtr(containerSecurity(c).RunAsNonRoot) }},
	{"allowPrivilegeEscalation", func(c corev1.Container) string { return showPtr(containerSecurity(c).AllowPrivilegeEscalation) }},
	{"readOnlyRootFilesystem", func(c corev1.Container) string { return showPtr(containerSecurity(c).ReadOnlyRootFilesystem) }},
	{"capabilities add", func(c corev1.Container) string {
		var caps []string
		if s := containerSecurity(c).Capabilities; s != nil {
			for _, c := range s.Add {
				caps = append(caps, string(c))
			}
		}
		sort.Strings(caps)
		return fmt.Sprint(caps)
	}},
}

func containerSecurity(c corev1.Container) corev1.SecurityContext {
	if c.SecurityContext == nil {
		return corev1.SecurityContext{}
	}
	return *c.SecurityContext
}

// probes are a container's probes by name.
var probes = []struct {
	name string
	get  func(corev1.Container) *corev1.Probe
}{
	{"livenessProbe", func(c corev1.Container) *corev1.Probe { return c.LivenessProbe }},
	{"readinessProbe", func(c corev1.Container) *corev1.Probe { return c.ReadinessProbe }},
	{"startupProbe", func(c corev1.Container) *corev1.Probe { return c.StartupProbe }},
}

// containersDiff compares containers by name. prefix names a container in
// lines of its own ("init container migrate added"); label prefixes its
// changes (the app container's are "cart image …", as they always were).
func containersDiff(prefix, label string, old, cur []corev1.Container) []string {
	var out []string
	olds := map[string]corev1.Container{}
	for _, c := range old {
		olds[c.Name] = c
	}
	for _, c := range cur {
		o, ok := olds[c.Name]
		if !ok {
			out = append(out, fmt.Sprintf("%s%s added (image %s)", prefix, c.Name, c.Image))
			continue
		}
		delete(olds, c.Name)
		who := label + c.Name
		for _, f := range containerFields {
			if a, b := f.show(o), f.show(c); a != b {
				out = append(out, fmt.Sprintf("%s %s %s → %s", who, f.name, a, b))
			}
		}
		out = append(out, envDiff(who, o.Env, c.Env)...)
		for _, p := range probes {
			out = append(out, probeDiff(who+" "+p.name, p.get(o), p.get(c))...)
		}
	}
	for name := range olds {
		out = append(out, prefix+name+" removed")
	}
	return out
}

func probeDiff(what string, old, cur *corev1.Probe) []string {
	switch {
	case old == nil && cur == nil:
		return nil
	case old == nil:
		return []string{fmt.Sprintf("%s added (%s)", what, showProbe(*cur))}
	case cur == nil:
		return []string{what + " removed"}
	case showProbe(*old) != showProbe(*cur):
		return []string{fmt.Sprintf("%s %s → %s", what, showProbe(*old), showProbe(*cur))}
	case !equality.Semantic.DeepEqual(old, cur):
		// Thresholds and timeouts: named, not spelled out, to stay short.
		return []string{what + " changed"}
	}
	return nil
}

// showProbe renders what a probe checks and how often.
func showProbe(p corev1.Probe) string {
	var s string
	switch h := p.ProbeHandler; {
	case h.HTTPGet != nil:
		s = fmt.Sprintf("httpGet %s port %s", h.HTTPGet.Path, h.HTTPGet.Port.String())
	case h.TCPSocket != nil:
		s = "tcpSocket port " + h.TCPSocket.Port.String()
	case h.GRPC != nil:
		s = fmt.Sprintf("grpc port %d", h.GRPC.Port)
	case h.Exec != nil:
		s = "exec " + strconv.Quote(oneLine(strings.Join(h.Exec.Command, " "), 60))
	default:
		s = "no handler"
	}
	if p.PeriodSeconds > 0 {
		s += fmt.Sprintf(" every %ds", p.PeriodSeconds)
	}
	return s
}

// volumesDiff compares volumes by name.
func volumesDiff(old, cur []corev1.Volume) []string {
	var out []string
	olds := map[string]corev1.Volume{}
	for _, v := range old {
		olds[v.Name] = v
	}
	for _, v := range cur {
		o, ok := olds[v.Name]
		delete(olds, v.Name)
		switch a, b := showVolume(o.VolumeSource), showVolume(v.VolumeSource); {
		case !ok:
			out = append(out, fmt.Sprintf("volume %s added (%s)", v.Name, b))
		case a != b:
			out = append(out, fmt.Sprintf("volume %s %s → %s", v.Name, a, b))
		case !equality.Semantic.DeepEqual(o.VolumeSource, v.VolumeSource):
			// Items, modes, sizes: named, not spelled out.
			out = append(out, fmt.Sprintf("volume %s changed (%s)", v.Name, b))
		}
	}
	for name, v := range olds {
		out = append(out, fmt.Sprintf("volume %s removed (%s)", name, showVolume(v.VolumeSource)))
	}
	return out
}

// volumeDetails name what a volume of a kind refers to; kinds not listed
// are shown by kind alone. Nothing here reads a secret's data: a Secret
// volume is shown by the Secret's name.
var volumeDetails = map[string]func(corev1.VolumeSource) string{
	"secret":                func(s corev1.VolumeSource) string { return s.Secret.SecretName },
	"configMap":             func(s corev1.VolumeSource) string { return s.ConfigMap.Name },
	"persistentVolumeClaim": func(s corev1.VolumeSource) string { return s.PersistentVolumeClaim.ClaimName },
	// A host path reaches the node itself (its docker socket, its files):
	// say so, not only where.
	"hostPath": func(s corev1.VolumeSource) string { return s.HostPath.Path + ": the node's filesystem" },
	"nfs":      func(s corev1.VolumeSource) string { return s.NFS.Server + ":" + s.NFS.Path },
	"csi":      func(s corev1.VolumeSource) string { return s.CSI.Driver },
	"projected": func(s corev1.VolumeSource) string {
		var parts []string
		for _, p := range s.Projected.Sources {
			switch {
			case p.Secret != nil:
				parts = append(parts, "secret "+p.Secret.Name)
			case p.ConfigMap != nil:
				parts = append(parts, "configMap "+p.ConfigMap.Name)
			case p.ServiceAccountToken != nil:
				parts = append(parts, "serviceAccountToken")
			default:
				parts = append(parts, volumeKind(p))
			}
		}
		return oneLine(strings.Join(parts, ", "), 80)
	},
}

// showVolume renders a volume's source as "kind detail".
func showVolume(s corev1.VolumeSource) string {
	kind := volumeKind(s)
	if detail, ok := volumeDetails[kind]; ok {
		return kind + " " + detail(s)
	}
	return kind
}

// volumeKind is the name of the one source field set ("secret",
// "hostPath", …), read from the API's own field names so that kinds added
// to Kubernetes later are still named.
func volumeKind(source any) string {
	var fields map[string]json.RawMessage
	b, _ := json.Marshal(source)
	_ = json.Unmarshal(b, &fields)
	for k := range fields {
		return k
	}
	return "none"
}

func showPtr[T any](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}

// envDiff compares literal env values; values from secrets are named,
// never shown.
func envDiff(container string, old, cur []corev1.EnvVar) []string {
	show := func(e corev1.EnvVar) string {
		switch {
		case e.ValueFrom != nil:
			return envSource(*e.ValueFrom)
		case sensitiveName.MatchString(e.Name):
			// A literal credential in a template is still a credential.
			return fmt.Sprintf("(value hidden, %d characters)", len(e.Value))
		}
		return strconv.Quote(oneLine(e.Value, 80))
	}
	olds := map[string]corev1.EnvVar{}
	for _, e := range old {
		olds[e.Name] = e
	}
	var out []string
	for _, e := range cur {
		o, ok := olds[e.Name]
		delete(olds, e.Name)
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s env %s added = %s", container, e.Name, show(e)))
		case show(o) != show(e):
			out = append(out, fmt.Sprintf("%s env %s %s → %s", container, e.Name, show(o), show(e)))
		}
	}
	for name := range olds {
		out = append(out, fmt.Sprintf("%s env %s removed", container, name))
	}
	return out
}

// sensitiveName matches environment variables that hold credentials.
var sensitiveName = regexp.MustCompile(`(?i)pass|secret|token|key|credential|auth`)
