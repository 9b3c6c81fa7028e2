package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/watchkeeper/watchkeeper/tools"
)

// maxLogBytes bounds one pod log read.
const maxLogBytes = 1 << 20

type logsTool struct{ cfg Config }

func (t logsTool) Spec() tools.Spec {
	return tools.Spec{
		Name: "kube_pod_logs",
		Description: "The last lines of one pod's container log, as kubectl logs --tail, from the current container or — with " +
			"previous — the instance before the last restart (why it crashed). For searching many pods over time use logs_search.",
		Evidence: tools.EvidenceText,
		Parameters: tools.Object(map[string]*tools.Schema{
			"pod":       tools.String("pod name"),
			"namespace": tools.String("namespace (default: the configured one)"),
			"container": tools.String("container (default: the pod's only or first container)"),
			"previous":  tools.Boolean("the previous instance of the container (before its last restart)"),
			"tail":      tools.Integer("how many of the last lines (default 100)", 1, 2000),
		}, "pod"),
	}
}

func (t logsTool) Run(ctx context.Context, raw json.RawMessage) (tools.Result, error) {
	var a struct {
		Pod, Namespace, Container string
		Previous                  bool
		Tail                      int64
	}
	if err := tools.DecodeArgs(raw, &a); err != nil {
		return tools.Errorf("%v", err), nil
	}
	if a.Namespace == "" {
		a.Namespace = t.cfg.Namespace
	}
	if a.Tail <= 0 {
		a.Tail = 100
	}
	limit := int64(maxLogBytes)
	req := t.cfg.Client.CoreV1().Pods(a.Namespace).GetLogs(a.Pod, &corev1.PodLogOptions{Container: a.Container, Previous: a.Previous,
		TailLines: &a.Tail, LimitBytes: &limit, Timestamps: true})
	rc, err := req.Stream(ctx)
	if err != nil {
		if apierrors.IsBadRequest(err) {
			// No previous instance, or a container that is not there.
			return tools.Errorf("%v", err), nil
		}
		return apiError("logs of pod "+a.Namespace+"/"+a.Pod, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxLogBytes+1))
	if err != nil {
		return tools.Result{}, fmt.Errorf("read logs of %s/%s: %w", a.Namespace, a.Pod, err)
	}
	text := strings.TrimRight(string(b), "\n")
	which := "current"
	if a.Previous {
		which = "previous"
	}
	if text == "" {
		return tools.Text(fmt.Sprintf("The %s container of pod %s/%s has written nothing.", which, a.Namespace, a.Pod)), nil
	}
	n := strings.Count(text, "\n") + 1
	head := fmt.Sprintf("Last %d lines of pod %s/%s (%s container%s):\n", n, a.Namespace, a.Pod, which, map[bool]string{true: " " + a.Container, false: ""}[a.Container != ""])
	return tools.Text(head + untrusted("pod logs", text)), nil
}
