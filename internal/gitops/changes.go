package gitops

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/watchkeeper/watchkeeper/tools"
)

// ToolName is the tool whose proposals are pull requests.
const ToolName = "gitops_pull_request"

// Remote is how to reach one repository: its working copy, and its forge
// (nil: the branch is pushed and a person opens the pull request).
type Remote struct {
	Repo  *Repo
	Forge Forge
	// Compare, when there is no forge, is a link template with {base}
	// and {branch} for opening the pull request by hand.
	Compare string
}

// Changes makes changes to GitOps-owned workloads as pull requests to the
// owner's repository. It implements tools/kube's GitOps (Owner,
// AcceptsDrift, Propose) and is the gitops_pull_request tool, whose
// approved proposals push a watchkeeper/… branch and open the pull
// request, and whose checks follow it until it is merged and the owner
// synced it, then verify the change as a direct one would be.
type Changes struct {
	// Client reads workloads and their owners.
	Client kubernetes.Interface
	// Resolver reads the owners' sources.
	Resolver Resolver
	// Remote returns how to reach a repository, or an error saying what
	// is missing (no credentials configured for it).
	Remote func(repoURL string) (Remote, error)
	// AcceptDrift are the actions (restart, scale, rollback) still made
	// directly (gitops.accept_drift).
	AcceptDrift []string
	// PollInterval is how often an open pull request is looked at (1m);
	// SyncTimeout how long a merged one may wait for its sync (10m).
	PollInterval, SyncTimeout time.Duration
	// Check, when set, checks a synced change as a direct one is checked
	// (the workload's error ratio before and after applied); Window is
	// how long after the sync it needs.
	Check  func(ctx context.Context, w Workload, applied time.Time) (tools.Verification, error)
	Window time.Duration
	// Now is the wall clock (time.Now); WorldNow the observed systems'
	// (Now), for the check's times.
	Now, WorldNow func() time.Time
	// Redact removes secrets from what goes into git and the pull request
	// (the reason, in the words of whoever asked, may quote a log line).
	Redact func(string) string
	// MinReplicas and MaxReplicas bound a replica change as they bound a
	// direct one (kubernetes.min_replicas, max_replicas); 0 and 0: 1..50.
	MinReplicas, MaxReplicas int32
	// FollowFor bounds how long a pull request is followed (7 days).
	FollowFor time.Duration

	// seen is when each branch's change was first found synced, in the
	// observed systems' time: the check compares the metric around it.
	// A restart forgets it, and the change is then checked from the next
	// look — later by at most a poll, never earlier than the sync.
	mu    sync.Mutex
	seen  map[string]time.Time
	locks map[string]*sync.Mutex
}

// lock serialises the work on one repository's working copy: a tree
// checked out for planning must not change under the plan (another
// proposal's checkout or commit) until the plan is made — and, applying,
// until the branch is pushed.
func (c *Changes) lock(repoURL string) func() {
	c.mu.Lock()
	if c.locks == nil {
		c.locks = map[string]*sync.Mutex{}
	}
	l, ok := c.locks[repoURL]
	if !ok {
		l = &sync.Mutex{}
		c.locks[repoURL] = l
	}
	c.mu.Unlock()
	l.Lock()
	return l.Unlock
}

func (c *Changes) redact(s string) string {
	if c.Redact == nil {
		return s
	}
	return c.Redact(s)
}

// first records, once, when key was first seen (now by clock) and returns
// that time.
func (c *Changes) first(key string, clock func() time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]time.Time{}
	}
	if t, ok := c.seen[key]; ok {
		return t
	}
	t := clock()
	c.seen[key] = t
	return t
}

// forget drops what first recorded for a branch once its check decided.
func (c *Changes) forget(branch string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.seen, "merged:"+branch)
	delete(c.seen, "synced:"+branch)
}

func (c *Changes) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Changes) worldNow() time.Time {
	if c.WorldNow != nil {
		return c.WorldNow()
	}
	return c.now()
}

// Owner implements tools/kube's GitOps.
func (c *Changes) Owner(ctx context.Context, w Workload) (string, error) {
	ref, ok, err := OwnerOfWorkload(ctx, c.Client, w.Kind, w.Namespace, w.Name)
	if err != nil || !ok {
		return "", err
	}
	return c.Resolver.Namespace(ref).String(), nil
}

// AcceptsDrift implements tools/kube's GitOps.
func (c *Changes) AcceptsDrift(action string) bool { return slices.Contains(c.AcceptDrift, action) }

// prArgs are a pull request proposal's arguments: everything Apply needs
// to make exactly the change the approver saw.
type prArgs struct {
	Owner  Ref    `json:"owner"`
	Source Source `json:"source"`
	Change Change `json:"change"`
	// Base is the branch the owner follows; BaseCommit what the edit was
	// planned on; Diff the edit as the approver saw it.
	Base       string `json:"base"`
	BaseCommit string `json:"base_commit"`
	Branch     string `json:"branch"`
	Diff       string `json:"diff"`
	Title      string `json:"title"`
	Reason     string `json:"reason,omitempty"`
}

// Propose implements tools/kube's GitOps: the change planned on the
// owner's repository as it is now, as a proposal of ToolName.
func (c *Changes) Propose(ctx context.Context, ch Change, summary, reason string) (*tools.Proposal, error) {
	ref, ok, err := OwnerOfWorkload(ctx, c.Client, ch.Workload.Kind, ch.Workload.Namespace, ch.Workload.Name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s %s/%s is not owned by Argo CD or Flux: change it directly", ch.Workload.Kind, ch.Workload.Namespace, ch.Workload.Name)
	}
	ref = c.Resolver.Namespace(ref)
	src, err := c.Resolver.Source(ctx, ref)
	if err != nil {
		return nil, err
	}
	if fixedRevision(src.Revision) {
		return nil, fmt.Errorf("%s follows %s, a commit or tag, which a pull request cannot move: change the revision %s follows instead", ref, src.Revision, ref)
	}
	if ch.Kind == ChangeReplicas {
		if err := c.inBounds(ch.Replicas); err != nil {
			return nil, err
		}
	}
	remote, err := c.Remote(src.RepoURL)
	if err != nil {
		return nil, err
	}
	unlock := c.lock(src.RepoURL)
	root, head, base, err := remote.Repo.CheckoutBranch(ctx, src.Revision)
	if err != nil {
		unlock()
		return nil, err
	}
	edit, err := Plan(root, src, ch)
	unlock()
	if errors.Is(err, ErrAlreadyDesired) {
		return nil, fmt.Errorf("%w: %s has not synced it yet — look at its sync status rather than changing the repository", err, ref)
	}
	if err != nil {
		return nil, err
	}
	reason = c.redact(reason)
	a := prArgs{Owner: ref, Source: src, Change: ch, Base: base, BaseCommit: head, Diff: edit.Diff,
		Branch: branchName(ch, edit.Diff, c.now()), Title: title(ch), Reason: reason}
	raw, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	opens := "then opens a pull request from it into " + base
	switch {
	case remote.Forge != nil:
		opens = fmt.Sprintf("then opens a pull request %q from it into %s", a.Title, base)
	case remote.Compare != "":
		opens = "then leaves the pull request to you: " + compareLink(remote.Compare, base, a.Branch)
	}
	details := fmt.Sprintf("Managed by %s, so this is a change to its repository, not to the cluster.\n"+
		"Repository %s, branch %s (at %s), %s.\n"+
		"Approving pushes a new branch %s with one commit (never forced; %s is not touched), %s. "+
		"Nothing changes in the cluster until a person merges it and %s syncs; Watchkeeper follows the pull request and verifies the change once synced.\n"+
		"Edit: %s\n%s",
		ref, redactURL(src.RepoURL), base, short(head), describePath(src), a.Branch, base, opens, ref, edit.Where, edit.Diff)
	return &tools.Proposal{Tool: ToolName, Summary: "Pull request: " + summary, Details: details, Reason: reason,
		Risk: "as the change itself once merged; opening the pull request changes nothing", Args: raw}, nil
}

func describePath(src Source) string {
	if src.Path == "" || src.Path == "." {
		return "the repository's root"
	}
	return "path " + src.Path
}

// fixedRevision reports whether rev names a commit or a tag (v1.2.3)
// rather than a branch a pull request can move.
func fixedRevision(rev string) bool {
	return commitHash.MatchString(rev) || semverTag.MatchString(rev)
}

var semverTag = regexp.MustCompile(`^v?\d+\.\d+\.\d+`)

// branchName is watchkeeper/<change>-<workload>-<digest>: readable, and
// unique per edit and time, so a second proposal never meets the first
// one's branch.
func branchName(ch Change, diff string, now time.Time) string {
	sum := sha256.Sum256([]byte(diff + now.UTC().Format(time.RFC3339Nano)))
	word := map[string]string{ChangeImage: "rollback", ChangeReplicas: "scale", ChangeRestart: "restart"}[ch.Kind]
	name := strings.ToLower(ch.Workload.Name)
	return fmt.Sprintf("%s%s-%s-%s", BranchPrefix, word, name, hex.EncodeToString(sum[:4]))
}

func title(ch Change) string {
	w := ch.Workload.Namespace + "/" + ch.Workload.Name
	switch ch.Kind {
	case ChangeImage:
		return fmt.Sprintf("Roll back %s: %s to %s", w, ch.Container, ch.Image)
	case ChangeReplicas:
		return fmt.Sprintf("Scale %s to %d replicas", w, ch.Replicas)
	default:
		return fmt.Sprintf("Restart %s", w)
	}
}

func compareLink(tmpl, base, branch string) string {
	return strings.NewReplacer("{base}", base, "{branch}", branch).Replace(tmpl)
}

// Spec implements tools.Tool.
func (c *Changes) Spec() tools.Spec {
	return tools.Spec{Name: ToolName, Mutating: true,
		Description: "Propose a change to a workload that Argo CD or Flux owns as a pull request to the repository its owner follows: " +
			"a container's image (a rollback), the replica count, or a restart. Only proposes: approving pushes a branch and opens the pull request; " +
			"the cluster changes when a person merges it and the owner syncs. kube_rollout_undo, kube_scale and kube_rollout_restart propose this themselves for owned workloads.",
		Parameters: tools.Object(map[string]*tools.Schema{
			"namespace": tools.String("namespace"),
			"name":      tools.String("deployment or statefulset"),
			"kind":      tools.Enum("workload kind (default deployment)", "deployment", "statefulset"),
			"change":    tools.Enum("what to change", ChangeImage, ChangeReplicas, ChangeRestart),
			"container": tools.String("container whose image to set (change image)"),
			"image":     tools.String("the image to set, e.g. the previous revision's (change image)"),
			"replicas":  tools.Integer("replicas (change replicas)", 0, 1000),
			"reason":    tools.String("why, in a sentence, with the evidence (shown to the approver and in the pull request)"),
		}, "namespace", "name", "change", "reason")}
}

// Run implements tools.Tool: the pull request proposal for the change.
func (c *Changes) Run(ctx context.Context, raw json.RawMessage) (tools.Result, error) {
	var a struct {
		Namespace, Name, Kind, Change, Container, Image, Reason string
		Replicas                                                *int32
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return tools.Errorf("%v", err), nil
	}
	kind := "Deployment"
	if a.Kind == "statefulset" {
		kind = "StatefulSet"
	}
	ch := Change{Kind: a.Change, Workload: Workload{Kind: kind, Namespace: a.Namespace, Name: a.Name}}
	switch a.Change {
	case ChangeImage:
		if a.Image == "" {
			return tools.Errorf("image is required to change an image"), nil
		}
		spec, err := c.podSpec(ctx, ch.Workload)
		if err != nil {
			return tools.Errorf("%v", err), nil
		}
		for i, ct := range spec.Containers {
			if ct.Name == a.Container || (a.Container == "" && i == 0 && len(spec.Containers) == 1) {
				ch.Container, ch.From = ct.Name, ct.Image
			}
		}
		if ch.Container == "" {
			return tools.Errorf("%s %s/%s has no container %q; name one of its containers", kind, a.Namespace, a.Name, a.Container), nil
		}
		ch.Image = a.Image
	case ChangeReplicas:
		if a.Replicas == nil {
			return tools.Errorf("replicas is required to change the replica count"), nil
		}
		ch.Replicas = *a.Replicas
	case ChangeRestart:
		ch.At = c.worldNow().UTC()
	}
	p, err := c.Propose(ctx, ch, title(ch), a.Reason)
	if err != nil {
		return tools.Errorf("%v", err), nil
	}
	return tools.Result{Proposal: p}, nil
}

// Apply implements tools.Applier: the branch pushed and the pull request
// opened, exactly as approved — when the repository moved so that the
// edit would differ, nothing is pushed.
func (c *Changes) Apply(ctx context.Context, p tools.Proposal) (tools.Result, error) {
	var a prArgs
	if err := json.Unmarshal(p.Args, &a); err != nil {
		return tools.Result{}, fmt.Errorf("proposal arguments: %w", err)
	}
	remote, err := c.Remote(a.Source.RepoURL)
	if err != nil {
		return tools.Result{}, err
	}
	unlock := c.lock(a.Source.RepoURL)
	defer unlock()
	root, _, _, err := remote.Repo.CheckoutBranch(ctx, a.Base)
	if err != nil {
		return tools.Result{}, err
	}
	edit, err := Plan(root, a.Source, a.Change)
	if errors.Is(err, ErrAlreadyDesired) {
		return tools.Text(fmt.Sprintf("Nothing pushed: %s's repository already has this change on %s (someone made it meanwhile); %s will sync it.", a.Owner, a.Base, a.Owner)), nil
	}
	if err != nil {
		return tools.Result{}, fmt.Errorf("the change can no longer be made to %s as proposed: %w; nothing was pushed — ask for a fresh proposal", redactURL(a.Source.RepoURL), err)
	}
	if edit.Diff != a.Diff {
		return tools.Result{}, fmt.Errorf("the repository changed since this was proposed and the edit would differ from the one approved; nothing was pushed — ask for a fresh proposal")
	}
	approver := tools.Approver(ctx)
	a.Reason = c.redact(a.Reason)
	message := a.Title + "\n\n" + body(a, approver, "")
	commit, err := remote.Repo.PushPlanned(ctx, a.Base, a.BaseCommit, a.Branch, edit.Files, message)
	if err != nil {
		return tools.Result{}, err
	}
	pushed := fmt.Sprintf("Pushed branch %s (commit %s) to %s.", a.Branch, short(commit), redactURL(a.Source.RepoURL))
	if remote.Forge == nil {
		link := ""
		if remote.Compare != "" {
			link = " Open the pull request: " + compareLink(remote.Compare, a.Base, a.Branch)
		}
		return tools.Text(pushed + " No forge is configured for it, so the pull request is yours to open." + link), nil
	}
	opened, err := remote.Forge.Open(ctx, PullRequest{Repo: a.Source.RepoURL, Base: a.Base, Head: a.Branch, Title: a.Title, Body: body(a, approver, p.ID)})
	if err != nil {
		return tools.Result{}, fmt.Errorf("%s but the pull request could not be opened: %w; open it by hand from %s", pushed, err, a.Branch)
	}
	return tools.Text(fmt.Sprintf("%s Opened pull request #%d: %s — nothing changes in the cluster until it is merged and %s syncs; Watchkeeper follows it.",
		pushed, opened.Number, opened.URL, a.Owner)), nil
}

func body(a prArgs, approver, proposal string) string {
	var b strings.Builder
	if a.Reason != "" {
		b.WriteString("Why (in the words of whoever asked): " + a.Reason + "\n\n")
	}
	fmt.Fprintf(&b, "Proposed by Watchkeeper for %s, which owns %s %s/%s", a.Owner, a.Change.Workload.Kind, a.Change.Workload.Namespace, a.Change.Workload.Name)
	if approver != "" {
		fmt.Fprintf(&b, "; approved by %s", approver)
	}
	if proposal != "" {
		fmt.Fprintf(&b, " (proposal %s)", proposal)
	}
	b.WriteString(".\n")
	return b.String()
}

// VerifyAfter implements tools.Verifier: a pull request is looked at
// every PollInterval until it is merged or closed.
func (c *Changes) VerifyAfter(tools.Proposal) time.Duration {
	if c.PollInterval > 0 {
		return c.PollInterval
	}
	return time.Minute
}

// Verify implements tools.Verifier: the pull request's state; once merged,
// whether the owner synced it; once synced for Window, the change's check.
func (c *Changes) Verify(ctx context.Context, p tools.Proposal, applied time.Time) (tools.Verification, error) {
	var a prArgs
	if err := json.Unmarshal(p.Args, &a); err != nil {
		return tools.Verification{}, fmt.Errorf("proposal arguments: %w", err)
	}
	remote, err := c.Remote(a.Source.RepoURL)
	if err != nil {
		return tools.Verification{}, err
	}
	again := c.VerifyAfter(p)
	if remote.Forge == nil {
		return tools.Verification{Text: fmt.Sprintf("branch %s was pushed; with no forge configured, Watchkeeper does not follow its pull request", a.Branch)}, nil
	}
	follow := c.FollowFor
	if follow <= 0 {
		follow = 7 * 24 * time.Hour
	}
	// Looking can fail for a while (the forge's rate limit, a network
	// blip, the API server restarting): the next look is tried, within
	// the time a pull request is followed, rather than giving up on it.
	transient := func(what string, err error) (tools.Verification, error) {
		if !applied.IsZero() && c.worldNow().Sub(applied) > follow {
			return tools.Verification{}, fmt.Errorf("%s: %w; Watchkeeper stopped following pull request branch %s after %s", what, err, a.Branch, follow)
		}
		return tools.Verification{Text: fmt.Sprintf("%s failed (%v); trying again", what, err), Again: again}, nil
	}
	pr, st, err := remote.Forge.Find(ctx, a.Branch)
	if errors.Is(err, ErrPRNotFound) {
		return tools.Verification{Text: fmt.Sprintf("no pull request from branch %s was found: it was not opened, or was deleted; nothing changes until one is merged", a.Branch)}, nil
	}
	if err != nil {
		return transient("looking up the pull request from "+a.Branch, err)
	}
	switch st.State {
	case StateOpen:
		if !applied.IsZero() && c.worldNow().Sub(applied) > follow {
			return tools.Verification{Text: fmt.Sprintf("pull request #%d (%s) is still open after %s; Watchkeeper stopped following it", pr.Number, pr.URL, follow)}, nil
		}
		return tools.Verification{Text: fmt.Sprintf("pull request #%d (%s) is open; waiting for it to be merged", pr.Number, pr.URL), Again: again}, nil
	case StateClosed:
		return tools.Verification{Text: fmt.Sprintf("pull request #%d (%s) was closed without being merged: nothing changed in the repository or the cluster", pr.Number, pr.URL)}, nil
	}
	merged := st.MergedAt
	if merged.IsZero() {
		merged = c.first("merged:"+a.Branch, c.now)
	}
	synced, why, err := c.synced(ctx, a.Change)
	if err != nil {
		return transient("reading "+a.Change.Workload.Kind+" "+a.Change.Workload.Namespace+"/"+a.Change.Workload.Name, err)
	}
	if !synced {
		if c.now().Sub(merged) > c.syncTimeout() {
			c.forget(a.Branch)
			return tools.Verification{Text: fmt.Sprintf("pull request #%d was merged at %s, but %s has not applied it after %s (%s): look at its sync status",
				pr.Number, merged.UTC().Format("15:04 MST"), a.Owner, c.syncTimeout(), why)}, nil
		}
		return tools.Verification{Text: fmt.Sprintf("pull request #%d was merged; waiting for %s to sync it (%s)", pr.Number, a.Owner, why), Again: again}, nil
	}
	at := c.first("synced:"+a.Branch, c.worldNow)
	done := fmt.Sprintf("pull request #%d (%s) was merged (commit %s) and %s synced it", pr.Number, pr.URL, short(st.MergeCommit), a.Owner)
	if c.Check == nil {
		c.forget(a.Branch)
		return tools.Verification{Text: done}, nil
	}
	if wait := at.Add(c.Window).Sub(c.worldNow()); wait > 0 {
		return tools.Verification{Text: done + "; checking its effect once it has run for " + c.Window.String(), Again: max(wait, time.Second)}, nil
	}
	res, err := c.Check(ctx, a.Change.Workload, at)
	if err != nil {
		return transient("checking the synced change", err)
	}
	c.forget(a.Branch)
	// The way back is a revert of the pull request, not a direct change
	// the owner would undo.
	res.Rollback, res.Next = nil, nil
	res.Text = done + "; " + res.Text
	if res.Worse {
		res.Text += fmt.Sprintf(". To go back, revert pull request #%d (%s)", pr.Number, pr.URL)
	}
	return res, nil
}

// inBounds holds a replica change to the bounds a direct one has.
func (c *Changes) inBounds(n int32) error {
	lo, hi := c.MinReplicas, c.MaxReplicas
	if lo == 0 && hi == 0 {
		lo, hi = 1, 50
	}
	if n < lo || (hi > 0 && n > hi) {
		return fmt.Errorf("%d replicas is outside kubernetes.min_replicas..max_replicas (%d..%d)", n, lo, hi)
	}
	return nil
}

func (c *Changes) syncTimeout() time.Duration {
	if c.SyncTimeout > 0 {
		return c.SyncTimeout
	}
	return 10 * time.Minute
}

// synced reports whether the cluster runs what the change asked for —
// the spec, and for a template change a finished rollout — and if not,
// why. A replica count an HPA scales from is met by as many or more.
func (c *Changes) synced(ctx context.Context, ch Change) (bool, string, error) {
	w := ch.Workload
	var (
		spec     corev1.PodTemplateSpec
		replicas int32
		done     bool // the rollout of the current template is complete
	)
	switch w.Kind {
	case "StatefulSet":
		s, err := c.Client.AppsV1().StatefulSets(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return false, "", fmt.Errorf("read statefulset %s/%s: %w", w.Namespace, w.Name, err)
		}
		spec, replicas = s.Spec.Template, ptrOr(s.Spec.Replicas)
		st := s.Status
		done = st.ObservedGeneration >= s.Generation && st.UpdatedReplicas == replicas && st.ReadyReplicas == replicas &&
			(st.UpdateRevision == "" || st.CurrentRevision == st.UpdateRevision)
	default:
		d, err := c.Client.AppsV1().Deployments(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return false, "", fmt.Errorf("read deployment %s/%s: %w", w.Namespace, w.Name, err)
		}
		spec, replicas = d.Spec.Template, ptrOr(d.Spec.Replicas)
		st := d.Status
		// As kubectl rollout status: every replica updated and available,
		// no old one left.
		done = st.ObservedGeneration >= d.Generation && st.UpdatedReplicas == replicas && st.Replicas == replicas && st.AvailableReplicas == replicas
	}
	switch ch.Kind {
	case ChangeReplicas:
		if replicas == ch.Replicas {
			return true, "", nil
		}
		if replicas > ch.Replicas && c.autoscaled(ctx, w) {
			return true, "", nil
		}
		return false, fmt.Sprintf("it has %d replicas", replicas), nil
	case ChangeImage:
		for _, ct := range append(spec.Spec.InitContainers, spec.Spec.Containers...) {
			if ct.Name == ch.Container && ct.Image != ch.Image {
				return false, "it still runs " + ct.Image, nil
			}
		}
	case ChangeRestart:
		if spec.Annotations["kubectl.kubernetes.io/restartedAt"] != ch.At.UTC().Format(time.RFC3339) {
			return false, "the restart annotation is not on it yet", nil
		}
	}
	if !done {
		return false, "its rollout is not complete", nil
	}
	return true, "", nil
}

// autoscaled reports whether an HPA scales w: its replicas may then be
// more than the minimum a change set.
func (c *Changes) autoscaled(ctx context.Context, w Workload) bool {
	hpas, err := c.Client.AutoscalingV2().HorizontalPodAutoscalers(w.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return false
	}
	for _, h := range hpas.Items {
		if h.Spec.ScaleTargetRef.Kind == w.Kind && h.Spec.ScaleTargetRef.Name == w.Name {
			return true
		}
	}
	return false
}

func ptrOr(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// podSpec reads a workload's pod template.
func (c *Changes) podSpec(ctx context.Context, w Workload) (corev1.PodSpec, error) {
	switch w.Kind {
	case "StatefulSet":
		s, err := c.Client.AppsV1().StatefulSets(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return corev1.PodSpec{}, fmt.Errorf("read statefulset %s/%s: %w", w.Namespace, w.Name, err)
		}
		return s.Spec.Template.Spec, nil
	default:
		d, err := c.Client.AppsV1().Deployments(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return corev1.PodSpec{}, fmt.Errorf("read deployment %s/%s: %w", w.Namespace, w.Name, err)
		}
		return d.Spec.Template.Spec, nil
	}
}
