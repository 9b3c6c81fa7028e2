// Package kubelogs is a log backend that reads container logs through the
// Kubernetes API (what `kubectl logs` does): no log store needed, only
// what the kubelet still holds — the current and the previous container
// instance.
package kubelogs

import (
	"bufio"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/watchkeeper/watchkeeper/tools/logs"
)

// Config configures the backend.
type Config struct {
	Client kubernetes.Interface
	// Namespace is used when a query names none (default "default").
	Namespace string
	// ServiceLabels are the pod labels tried, in order, to find a
	// service's pods (default app.kubernetes.io/name, app, service).
	ServiceLabels []string
	// MaxPods read per search (default 20); MaxBytesPerContainer is the
	// limitBytes of each log request (default 8 MiB).
	MaxPods              int
	MaxBytesPerContainer int64
	// Concurrency bounds parallel log streams (default 4).
	Concurrency int
}

// Backend reads pod logs. It is safe for concurrent use.
type Backend struct{ cfg Config }

// New returns a backend for cfg.
func New(cfg Config) (*Backend, error) {
	if cfg.Client == nil {
		return nil, errors.New("kubelogs: no Kubernetes client configured")
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	if len(cfg.ServiceLabels) == 0 {
		cfg.ServiceLabels = []string{"app.kubernetes.io/name", "app", "service"}
	}
	if cfg.MaxPods <= 0 {
		cfg.MaxPods = 20
	}
	if cfg.MaxBytesPerContainer <= 0 {
		cfg.MaxBytesPerContainer = 8 << 20
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	return &Backend{cfg: cfg}, nil
}

// Name implements logs.Backend.
func (b *Backend) Name() string { return "kubernetes" }

type target struct {
	pod       string
	container string
}

// Search implements logs.Backend: it finds the pods, reads each
// container's log since q.Start with timestamps, filters on the client,
// and merges the streams in time order.
func (b *Backend) Search(ctx context.Context, q logs.Query, each func(logs.Entry) error) (logs.Stats, error) {
	ns := q.Namespace
	if ns == "" {
		ns = b.cfg.Namespace
	}
	m, err := logs.NewMatcher(logs.Query{Contains: q.Contains, Regex: q.Regex, MinLevel: q.MinLevel})
	if err != nil {
		return logs.Stats{}, &logs.QueryError{Backend: "kubernetes", Message: err.Error()}
	}
	pods, selector, err := b.pods(ctx, ns, q)
	st := logs.Stats{Native: native(ns, q, selector)}
	if err != nil {
		return st, err
	}
	if len(pods) > b.cfg.MaxPods {
		st.Notes = append(st.Notes, fmt.Sprintf("%d pods match; read the first %d by name — name a pod to read another", len(pods), b.cfg.MaxPods))
		pods = pods[:b.cfg.MaxPods]
		st.Truncated = true
	}
	var targets []target
	for _, p := range pods {
		for _, c := range p.Spec.Containers {
			if q.Container == "" || c.Name == q.Container {
				targets = append(targets, target{p.Name, c.Name})
			}
		}
	}
	if len(targets) == 0 {
		if q.Container != "" && len(pods) > 0 {
			return st, &logs.QueryError{Backend: "kubernetes", Message: fmt.Sprintf("no container %q in the matching pods; their containers are %s", q.Container, containerNames(pods))}
		}
		return st, nil
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 1000
	}
	streams := make([][]logs.Entry, len(targets))
	errs := make([]error, len(targets))
	truncated := make([]bool, len(targets))
	sem := make(chan struct{}, b.cfg.Concurrency)
	var wg sync.WaitGroup
	for i, tg := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			streams[i], truncated[i], errs[i] = b.read(ctx, ns, tg, q, m, limit)
		}()
	}
	wg.Wait()
	failed := 0
	for i, err := range errs {
		if err == nil {
			st.Truncated = st.Truncated || truncated[i]
			continue
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return st, err
		}
		var qe *logs.QueryError
		if !errors.As(err, &qe) {
			return st, err // the API server failed, not the query
		}
		failed++
		st.Notes = append(st.Notes, fmt.Sprintf("%s/%s: %s", targets[i].pod, targets[i].container, qe.Message))
	}
	if failed == len(targets) {
		return st, &logs.QueryError{Backend: "kubernetes", Message: strings.Join(st.Notes, "; ")}
	}
	n, err := merge(streams, limit, q.Tail, each)
	if err != nil {
		return st, err
	}
	total := 0
	for _, s := range streams {
		total += len(s)
	}
	st.Truncated = st.Truncated || total > n
	return st, nil
}

func containerNames(pods []corev1.Pod) string {
	set := map[string]bool{}
	for _, p := range pods {
		for _, c := range p.Spec.Containers {
			set[c.Name] = true
		}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// pods finds the query's pods: the named one, or those matching the
// service label (the first of ServiceLabels that matches any) and labels.
func (b *Backend) pods(ctx context.Context, ns string, q logs.Query) ([]corev1.Pod, string, error) {
	if q.Pod != "" {
		p, err := b.cfg.Client.CoreV1().Pods(ns).Get(ctx, q.Pod, metav1.GetOptions{})
		if err != nil {
			return nil, "", b.apiError(err, fmt.Sprintf("pod %s in namespace %s", q.Pod, ns))
		}
		return []corev1.Pod{*p}, "", nil
	}
	extra := labels.Set(q.Labels)
	candidates := []string{""}
	if q.Service != "" {
		candidates = candidates[:0]
		for _, l := range b.cfg.ServiceLabels {
			set := labels.Set{l: q.Service}
			for k, v := range extra {
				set[k] = v
			}
			candidates = append(candidates, labels.SelectorFromSet(set).String())
		}
	} else if len(extra) > 0 {
		candidates = []string{labels.SelectorFromSet(extra).String()}
	}
	for _, sel := range candidates {
		list, err := b.cfg.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return nil, sel, b.apiError(err, "pods in namespace "+ns)
		}
		if len(list.Items) > 0 {
			pods := list.Items
			sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
			return pods, sel, nil
		}
	}
	return nil, candidates[0], nil
}

// read reads one container's log and keeps the matching lines in the
// range: the first limit of them, or the last limit with q.Tail.
//
// For the last lines it first reads only the end of the log (tailLines):
// when that holds limit matching lines in the range they are the newest
// ones, since a log is in time order. Otherwise — the range ends earlier,
// or filters are selective — it reads the range from its start.
func (b *Backend) read(ctx context.Context, ns string, tg target, q logs.Query, m *logs.Matcher, limit int) ([]logs.Entry, bool, error) {
	if q.Tail {
		tailLines := int64(max(limit*10, 1000))
		out, truncated, err := b.readOnce(ctx, ns, tg, q, m, limit, &tailLines)
		if err != nil || len(out) >= limit {
			return out, truncated, err
		}
	}
	return b.readOnce(ctx, ns, tg, q, m, limit, nil)
}

func (b *Backend) readOnce(ctx context.Context, ns string, tg target, q logs.Query, m *logs.Matcher, limit int, tailLines *int64) ([]logs.Entry, bool, error) {
	opts := &corev1.PodLogOptions{Container: tg.container, Timestamps: true, Previous: q.Previous, LimitBytes: &b.cfg.MaxBytesPerContainer, TailLines: tailLines}
	if !q.Start.IsZero() {
		since := metav1.NewTime(q.Start.Truncate(time.Second))
		opts.SinceTime = &since
	}
	rc, err := b.cfg.Client.CoreV1().Pods(ns).GetLogs(tg.pod, opts).Stream(ctx)
	if err != nil {
		return nil, false, b.apiError(err, fmt.Sprintf("logs of %s/%s", tg.pod, tg.container))
	}
	defer rc.Close()
	labels := map[string]string{"namespace": ns, "pod": tg.pod, "container": tg.container}
	if q.Service != "" {
		labels["service"] = q.Service
	}
	var out []logs.Entry
	truncated := false
	var read int64
	r := bufio.NewReaderSize(rc, 64<<10)
	for {
		line, err := readLine(r, logs.MaxLineBytes*4)
		read += int64(len(line)) + 1
		if len(line) > 0 {
			e, ok := parse(line)
			if ok && (q.Start.IsZero() || !e.Time.Before(q.Start)) && (q.End.IsZero() || e.Time.Before(q.End)) && m.Match(e.Line) {
				e.Labels = labels
				out = append(out, e)
				if len(out) > limit {
					truncated = true
					if !q.Tail {
						return out[:limit], true, nil
					}
					// Keep the newest limit lines, compacting now and then
					// rather than shifting on every line.
					if len(out) >= 2*limit {
						out = append(out[:0], out[len(out)-limit:]...)
					}
				}
			}
			if ok && !q.End.IsZero() && !e.Time.Before(q.End) {
				if len(out) > limit {
					out = out[len(out)-limit:]
				}
				return out, truncated, nil // the rest is later still
			}
		}
		if errors.Is(err, io.EOF) {
			if read >= b.cfg.MaxBytesPerContainer {
				truncated = true
			}
			if len(out) > limit {
				out = out[len(out)-limit:]
			}
			return out, truncated, nil
		}
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return nil, false, err
			}
			return nil, false, fmt.Errorf("read logs of %s/%s: %w", tg.pod, tg.container, err)
		}
	}
}

// readLine reads a line, keeping at most max bytes of it.
func readLine(r *bufio.Reader, max int) (string, error) {
	var b []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if room := max - len(b); room > 0 {
			b = append(b, chunk[:min(len(chunk), room)]...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return strings.TrimRight(string(b), "\r\n"), err
	}
}

// parse splits "2026-11-24T14:00:00.123456789Z message" as the kubelet
// writes it with timestamps=true.
func parse(line string) (logs.Entry, bool) {
	ts, msg, ok := strings.Cut(line, " ")
	if !ok {
		ts, msg = line, ""
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return logs.Entry{Line: line}, false
	}
	return logs.Entry{Time: t.UTC(), Line: msg}, true
}

// merge calls each for the lines of all streams in time order: the first
// limit of them, or the last limit with tail. It returns how many.
func merge(streams [][]logs.Entry, limit int, tail bool, each func(logs.Entry) error) (int, error) {
	h := &mergeHeap{}
	for i, s := range streams {
		if len(s) > 0 {
			*h = append(*h, cursor{stream: i, s: s})
		}
	}
	heap.Init(h)
	var all []logs.Entry
	n := 0
	for h.Len() > 0 {
		c := &(*h)[0]
		e := c.s[c.i]
		c.i++
		if c.i == len(c.s) {
			heap.Pop(h)
		} else {
			heap.Fix(h, 0)
		}
		if tail {
			all = append(all, e)
			continue
		}
		if n == limit {
			break
		}
		if err := each(e); err != nil {
			return n, err
		}
		n++
	}
	if tail {
		if len(all) > limit {
			all = all[len(all)-limit:]
		}
		for _, e := range all {
			if err := each(e); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

type cursor struct {
	stream int
	s      []logs.Entry
	i      int
}

type mergeHeap []cursor

func (h mergeHeap) Len() int { return len(h) }
func (h mergeHeap) Less(i, j int) bool {
	a, b := h[i].s[h[i].i].Time, h[j].s[h[j].i].Time
	if a.Equal(b) {
		return h[i].stream < h[j].stream
	}
	return a.Before(b)
}
func (h mergeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap) Push(x any)   { *h = append(*h, x.(cursor)) }
func (h *mergeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// apiError turns an API error into a query error the model can fix (not
// found, bad request such as no previous container) or a clear failure.
func (b *Backend) apiError(err error, what string) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var se apierrors.APIStatus
	msg := err.Error()
	if errors.As(err, &se) {
		msg = se.Status().Message
	}
	switch {
	case apierrors.IsNotFound(err):
		return &logs.QueryError{Backend: "kubernetes", Message: what + " not found: " + msg}
	case apierrors.IsBadRequest(err):
		return &logs.QueryError{Backend: "kubernetes", Message: msg}
	case apierrors.IsForbidden(err):
		return fmt.Errorf("kubernetes API forbids reading %s (%s); grant the bot's service account get/list on pods and get on pods/log", what, msg)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("kubernetes API refused the credentials reading %s (%s); check kubernetes.kubeconfig", what, msg)
	}
	return fmt.Errorf("kubernetes API, reading %s: %w", what, err)
}

// native is the kubectl command that reads the same logs.
func native(ns string, q logs.Query, selector string) string {
	var b strings.Builder
	b.WriteString("kubectl logs -n " + ns)
	switch {
	case q.Pod != "":
		b.WriteString(" " + q.Pod)
	case selector != "":
		b.WriteString(" -l " + selector)
	}
	if q.Container != "" {
		b.WriteString(" -c " + q.Container)
	} else {
		b.WriteString(" --all-containers")
	}
	if q.Previous {
		b.WriteString(" --previous")
	}
	if !q.Start.IsZero() {
		b.WriteString(" --since-time=" + q.Start.UTC().Format(time.RFC3339))
	}
	b.WriteString(" --timestamps")
	var filters []string
	for _, c := range q.Contains {
		filters = append(filters, fmt.Sprintf("contains %q", c))
	}
	if q.Regex != "" {
		filters = append(filters, fmt.Sprintf("matches /%s/", q.Regex))
	}
	if q.MinLevel != logs.LevelUnknown {
		filters = append(filters, "level ≥ "+q.MinLevel.String())
	}
	if len(filters) > 0 {
		b.WriteString(" (then " + strings.Join(filters, ", ") + ")")
	}
	return b.String()
}
