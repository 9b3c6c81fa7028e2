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
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
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
	// GitOps says, in kube_describe, which GitOps object owns the object
	// described and where its desired state lives (gitops.Describer); nil
	// says nothing.
	GitOps GitOpsDescriber
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

// size writes a quantity of bytes (memory, storage) for people and the
// model alike. One already in its largest binary unit stays as
// Kubernetes writes it ("384Mi", "15Gi"); any other is humanised, with
// Kubernetes' form beside it: "118 MiB (123456789)", "477 MiB (500M)",
// "15.6 GiB (16318836Ki)".
func size(q resource.Quantity) string {
	s := q.String()
	if q.IsZero() {
		return s
	}
	for _, suffix := range []string{"Ki", "Mi", "Gi", "Ti", "Pi", "Ei"} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			if v, err := strconv.ParseInt(n, 10, 64); err == nil && v < 1024 {
				return s
			}
			break
		}
	}
	return tools.Bytes(float64(q.Value())) + " (" + s + ")"
}

// untrusted wraps cluster text for the model.
func untrusted(source, text string) string {
	return tools.Untrusted(source, text)
}
