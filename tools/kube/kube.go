// Package kube holds the Kubernetes read tools: compact tables of
// workloads, pods, nodes and their events, descriptions of one object,
// rollout history with what changed between revisions, and "what changed
// recently" across namespaces.
//
// Secrets are never read: the tools refuse the kind, and the RBAC role in
// deploy/kubernetes grants no access to them. Everything returned is text
// from the cluster and is marked as untrusted data for the model.
package kube

import (
	"fmt"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"

	"github.com/watchkeeper/watchkeeper/tools"
)

// Config configures the tools.
type Config struct {
	Client kubernetes.Interface
	// Namespace is used when a call names none.
	Namespace string
	// Now is the clock for ages and windows (time.Now when nil).
	Now func() time.Time
	// MaxRows bounds a table (default 50); the rest is counted.
	MaxRows int
}

func (c Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c Config) withDefaults() Config {
	if c.Namespace == "" {
		c.Namespace = "default"
	}
	if c.MaxRows <= 0 {
		c.MaxRows = 50
	}
	return c
}

// Tools returns the read tools.
func Tools(cfg Config) []tools.Tool {
	cfg = cfg.withDefaults()
	return []tools.Tool{getTool{cfg}, describeTool{cfg}, historyTool{cfg}, changesTool{cfg}, logsTool{cfg}}
}

// kinds maps the names people use to a canonical kind.
var kinds = map[string]string{
	"pod": "pods", "pods": "pods", "po": "pods",
	"deployment": "deployments", "deployments": "deployments", "deploy": "deployments",
	"statefulset": "statefulsets", "statefulsets": "statefulsets", "sts": "statefulsets",
	"daemonset": "daemonsets", "daemonsets": "daemonsets", "ds": "daemonsets",
	"replicaset": "replicasets", "replicasets": "replicasets", "rs": "replicasets",
	"job": "jobs", "jobs": "jobs", "cronjob": "cronjobs", "cronjobs": "cronjobs", "cj": "cronjobs",
	"service": "services", "services": "services", "svc": "services",
	"node": "nodes", "nodes": "nodes", "no": "nodes",
	"hpa": "hpa", "horizontalpodautoscaler": "hpa", "horizontalpodautoscalers": "hpa",
	"pvc": "pvc", "persistentvolumeclaim": "pvc", "persistentvolumeclaims": "pvc",
	"event": "events", "events": "events", "ev": "events",
	"namespace": "namespaces", "namespaces": "namespaces", "ns": "namespaces",
	"configmap": "configmaps", "configmaps": "configmaps", "cm": "configmaps",
}

// kindNames lists the canonical kinds for schemas and messages.
func kindNames() []string {
	seen := map[string]bool{}
	var out []string
	for _, k := range kinds {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// resolveKind returns the canonical kind, or a message for the model.
func resolveKind(k string) (string, string) {
	k = strings.ToLower(strings.TrimSpace(k))
	if k == "secret" || k == "secrets" {
		return "", "Secrets are never read by Watchkeeper (neither the tool nor its RBAC role allows it). Ask a person to check a secret's existence with kubectl if it matters."
	}
	if c, ok := kinds[k]; ok {
		return c, ""
	}
	return "", fmt.Sprintf("unknown kind %q; use one of %s", k, strings.Join(kindNames(), ", "))
}

// apiError turns an API error into what the model or a person can act on.
func apiError(what string, err error) (tools.Result, error) {
	switch {
	case apierrors.IsNotFound(err):
		return tools.Errorf("%s: not found. List the kind to see what exists.", what), nil
	case apierrors.IsForbidden(err):
		return tools.Errorf("%s: forbidden by the cluster's RBAC for Watchkeeper's identity (%v).", what, err), nil
	case apierrors.IsUnauthorized(err):
		return tools.Result{}, fmt.Errorf("%s: the cluster refused Watchkeeper's credentials; check kubernetes.kubeconfig or the service account token", what)
	}
	return tools.Result{}, fmt.Errorf("%s: %w", what, err)
}

// age renders how long ago t was, kubectl-style.
func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// table renders rows with aligned columns, at most max rows.
func table(header []string, rows [][]string, max int) string {
	if len(rows) == 0 {
		return ""
	}
	more := 0
	if len(rows) > max {
		more = len(rows) - max
		rows = rows[:max]
	}
	width := make([]int, len(header))
	for i, h := range header {
		width[i] = len(h)
	}
	for _, r := range rows {
		for i, c := range r {
			width[i] = max2(width[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		for i, c := range cells {
			if i == len(cells)-1 {
				b.WriteString(c)
				break
			}
			b.WriteString(c)
			b.WriteString(strings.Repeat(" ", width[i]-len([]rune(c))+2))
		}
		b.WriteByte('\n')
	}
	line(header)
	for _, r := range rows {
		line(r)
	}
	if more > 0 {
		fmt.Fprintf(&b, "… %d more; narrow with a label selector or a name.\n", more)
	}
	return b.String()
}

func max2(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// untrusted wraps cluster text for the model.
func untrusted(source, text string) string {
	return tools.Untrusted(source, text)
}
