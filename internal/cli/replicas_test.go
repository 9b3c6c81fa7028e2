package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/watchkeeper/watchkeeper/internal/slack/slackfake"
	"github.com/watchkeeper/watchkeeper/internal/store"
	"github.com/watchkeeper/watchkeeper/internal/testserver"
	kubetools "github.com/watchkeeper/watchkeeper/tools/kube"
)

const (
	replicaSecret = "replica-signing-secret"
	leaseDuration = 4 * time.Second
	chIncidents   = "C0INCIDENTS"
	admin         = "U0ADMIN"
)

// replica is one `watchkeeper serve` process.
type replica struct {
	name string
	url  string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
}

// TestTwoReplicas runs two bot processes on one PostgreSQL store and one
// Lease in a real API server, behind a fake Slack in HTTP mode: the same
// alert delivered to both opens one incident thread; the same approval
// clicked on both executes once; killing the leader hands its duties to
// the other within the lease duration, and a message accepted before the
// kill is still delivered.
func TestTwoReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL, a control plane and two processes")
	}
	// The package's PostgreSQL and control plane (main_test.go), shared
	// with the storm test: a database of its own, and a namespace of its
	// own for the deployment and the Lease.
	dsn := testserver.SharedPostgres(t).NewDatabase(t)
	k := testserver.SharedKubernetes(t)
	ns := k.Namespace(t, "shop")
	ctx := context.Background()
	two := int32(2)
	labels := map[string]string{"app": "checkout"}
	if _, err := k.Client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "checkout", Namespace: ns},
		Spec: appsv1.DeploymentSpec{Replicas: &two, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "checkout", Image: "registry.example.com/shop/checkout:1.4.2"}}}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	fake := slackfake.New(slackfake.Options{PostBurst: 20})
	defer fake.Close()
	fake.AddChannel(chIncidents, "incidents", true, admin)

	bin := buildBot(t)
	start := func(name string) *replica {
		listen := testserver.FreeAddr(t)
		cfg := fmt.Sprintf(`log: {level: debug, format: text}
server: {listen: %q}
store: {driver: postgres}
kubernetes: {kubeconfig: %q, namespace: %s, actions: true}
slack:
  mode: http
  api_url: %q
  alerts: [{channel: %s, match: {}}]
approval: {approvers: [%s]}
incidents: {investigate: false}
leader_election: {enabled: true, namespace: %s, identity: %s, lease_duration: %s, renew_deadline: 3s, retry_period: 500ms}
`, listen, k.Kubeconfig, ns, fake.URL+"/", chIncidents, admin, ns, name, leaseDuration)
		return startReplica(t, bin, name, listen, cfg, dsn)
	}
	a, b := start("replica-a"), start("replica-b")
	replicas := map[string]*replica{a.name: a, b.name: b}
	holder := func() string {
		l, err := k.Client.CoordinationV1().Leases(ns).Get(ctx, "watchkeeper", metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}
	waitUntil(t, 15*time.Second, "a leader is elected", func() bool { return replicas[holder()] != nil })

	st, err := store.OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	// 1. The same alert delivered to both: one incident, one thread.
	alert := alertBody("g-checkout", "HighErrorRate", time.Now().Add(-2*time.Minute))
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i, r := range []*replica{a, b} {
		wg.Go(func() { codes[i] = post(t, r.url+"/webhooks/alertmanager", "application/json", alert, nil) })
	}
	wg.Wait()
	if codes[0] != 200 || codes[1] != 200 {
		t.Fatalf("webhook answers %v", codes)
	}
	waitUntil(t, 10*time.Second, "the incident's parent message", func() bool { return len(fake.BotMessages(chIncidents, "")) >= 1 })
	time.Sleep(time.Second) // a second message would have arrived by now
	if msgs := fake.BotMessages(chIncidents, ""); len(msgs) != 1 || !strings.Contains(msgs[0].Text, "HighErrorRate") {
		t.Fatalf("parent messages: %+v", msgs)
	}
	if incs, _ := st.ListIncidents(ctx, "", 10); len(incs) != 1 {
		t.Fatalf("%d incidents, want 1", len(incs))
	}

	// 2. The same approval clicked on both: one execution.
	scale := kubetools.ActionTools(kubetools.ActionConfig{Config: kubetools.Config{Client: k.Client, Namespace: ns}})
	for _, tl := range scale {
		if tl.Spec().Name == "kube_scale" {
			r, err := tl.Run(ctx, json.RawMessage(`{"name":"checkout","namespace":"`+ns+`","replicas":3,"reason":"CPU saturated"}`))
			if err != nil || r.Proposal == nil {
				t.Fatalf("kube_scale: %v %+v", err, r)
			}
			msgTS := fake.UserMessage(chIncidents, "U0BOT", "Proposed: scale checkout to 3", "")
			if err := st.CreateProposal(ctx, store.Proposal{ID: "prop_replicas", ConversationID: "slack:" + chIncidents + ":" + msgTS,
				Tool: "kube_scale", Summary: r.Proposal.Summary, Details: r.Proposal.Details, Args: r.Proposal.Args, RequestedBy: "U0REQUESTER",
				Location: chIncidents + ":" + msgTS}); err != nil {
				t.Fatal(err)
			}
			click, _ := json.Marshal(fake.Click(chIncidents, admin, msgTS, "approve", "prop_replicas"))
			body := []byte(url.Values{"payload": {string(click)}}.Encode())
			// Two deliveries of the click (a double click, or Slack's
			// retry), each signed on its own — the very same signature
			// twice is a replay, refused by either replica.
			for i, r := range []*replica{a, b} {
				wg.Go(func() {
					codes[i] = post(t, r.url+"/slack/interactions", "application/x-www-form-urlencoded", body, signedAt(body, time.Now().Add(-time.Duration(i)*time.Second)))
				})
			}
			wg.Wait()
			if codes[0] != 200 || codes[1] != 200 {
				t.Fatalf("interaction answers %v", codes)
			}
		}
	}
	waitUntil(t, 15*time.Second, "the approved change executes", func() bool {
		p, err := st.GetProposal(ctx, "prop_replicas")
		return err == nil && p.Status == store.ProposalExecuted
	})
	time.Sleep(time.Second)
	audit, _ := st.ListAudit(ctx, 100)
	executes := 0
	for _, e := range audit {
		if e.Action == "execute" && e.Target == "prop_replicas" && e.Outcome == store.ProposalExecuted {
			executes++
		}
	}
	if executes != 1 {
		t.Errorf("%d executions recorded, want 1: %+v", executes, audit)
	}
	d, err := k.Client.AppsV1().Deployments(ns).Get(ctx, "checkout", metav1.GetOptions{})
	if err != nil || *d.Spec.Replicas != 3 {
		t.Errorf("checkout replicas after one approved scale: %v %v", err, d.Spec.Replicas)
	}

	// 3. Kill the leader while a message it accepted waits for a retry:
	// the other replica takes over within the lease duration and
	// delivers it.
	lead := replicas[holder()]
	survivor := a
	if lead == a {
		survivor = b
	}
	// Everything queued so far is delivered first, so that the failure
	// below meets the new incident's message.
	waitUntil(t, 10*time.Second, "the outbox drains", func() bool {
		pending, err := st.PendingOutbox(ctx, 10)
		return err == nil && len(pending) == 0
	})
	time.Sleep(500 * time.Millisecond)
	before := fake.Calls("chat.postMessage")
	fake.FailNext("chat.postMessage", "service_unavailable")
	second := alertBody("g-cart", "PodRestarting", time.Now().Add(-time.Minute))
	// The leader stores the incident and queues its message, then waits for
	// the delivery, which fails once; it is killed while it waits, so its
	// answer never comes (Alertmanager would retry; the store would
	// recognise the retry).
	go func() {
		req, _ := http.NewRequest(http.MethodPost, lead.url+"/webhooks/alertmanager", bytes.NewReader(second))
		req.Header.Set("Content-Type", "application/json")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	waitUntil(t, 5*time.Second, "the leader's first attempt fails", func() bool { return fake.Calls("chat.postMessage") > before })
	if msgs := fake.BotMessages(chIncidents, ""); strings.Contains(msgs[len(msgs)-1].Text, "PodRestarting") {
		t.Fatal("the message was delivered before the kill; the test did not exercise the takeover")
	}
	if err := lead.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-lead.done
	killed := time.Now()
	// The Lease expires lease_duration after the survivor last saw it
	// renewed; it notices at its next try (retry_period 500ms). On a
	// loaded machine (the race detector, tests in parallel) its tries run
	// late, so the deadline is generous; the time taken is logged.
	waitUntil(t, 2*leaseDuration+5*time.Second, survivor.name+" takes the Lease", func() bool { return holder() == survivor.name })
	t.Logf("takeover %s after the leader was killed (lease duration %s)", time.Since(killed).Round(time.Millisecond), leaseDuration)
	var delivered string
	waitUntil(t, 10*time.Second, "the message accepted before the kill is delivered", func() bool {
		for _, m := range fake.BotMessages(chIncidents, "") {
			if strings.Contains(m.Text, "PodRestarting") {
				delivered = m.TS
				return true
			}
		}
		return false
	})
	// The replica that accepted the alert died waiting for the message; the
	// one that delivered it linked the incident to its thread.
	waitUntil(t, 5*time.Second, "the incident is linked to the delivered message", func() bool {
		in, err := st.OpenIncidentByGroup(ctx, "g-cart")
		return err == nil && in.ThreadTS == delivered
	})
	// The survivor keeps serving: a new alert is posted too.
	third := alertBody("g-payments", "TargetDown", time.Now())
	if code := post(t, survivor.url+"/webhooks/alertmanager", "application/json", third, nil); code != 200 {
		t.Fatalf("webhook to the survivor: %d", code)
	}
	waitUntil(t, 10*time.Second, "the survivor delivers its own message", func() bool {
		for _, m := range fake.BotMessages(chIncidents, "") {
			if strings.Contains(m.Text, "TargetDown") {
				return true
			}
		}
		return false
	})
}

// buildBot builds the watchkeeper binary once per test, as the Dockerfile
// builds it (static), which also lets the deploy package's test reuse the
// compiled packages.
func buildBot(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "watchkeeper")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./cmd/bot")
	build.Dir = "../.."
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// startReplica runs `watchkeeper serve` with cfg on the PostgreSQL
// database dsn and waits until it is ready; it is killed at the end of
// the test, its output logged if the test failed.
func startReplica(t *testing.T, bin, name, listen, cfg, dsn string) *replica {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &replica{name: name, url: "http://" + listen, logs: &syncBuffer{}, done: make(chan struct{})}
	r.cmd = exec.Command(bin, "serve", "--config", path)
	r.cmd.Env = append(os.Environ(), "WATCHKEEPER_STORE_DSN="+dsn, "SLACK_BOT_TOKEN="+slackfake.BotToken,
		"SLACK_SIGNING_SECRET="+replicaSecret, "HOME="+dir)
	r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = r.cmd.Wait(); close(r.done) }()
	t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		<-r.done
		if t.Failed() {
			t.Logf("--- %s output:\n%s", r.name, tail(r.logs.String(), 6000))
		}
	})
	waitUntil(t, 30*time.Second, name+" ready", func() bool {
		resp, err := http.Get(r.url + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	return r
}

func alertBody(group, name string, startsAt time.Time) []byte {
	labels := map[string]string{"alertname": name, "namespace": "shop", "severity": "critical"}
	b, _ := json.Marshal(map[string]any{"version": "4", "groupKey": group, "status": "firing", "receiver": "watchkeeper",
		"groupLabels": map[string]string{"alertname": name}, "commonLabels": labels, "commonAnnotations": map[string]string{},
		"externalURL": "http://alertmanager", "alerts": []map[string]any{{"status": "firing", "labels": labels,
			"annotations": map[string]string{"summary": name + " fires"}, "startsAt": startsAt.UTC().Format(time.RFC3339),
			"endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus/graph", "fingerprint": "fp-" + group}}})
	return b
}

// signedAt signs a Slack request body as sent at t.
func signedAt(body []byte, t time.Time) http.Header {
	ts := t.Unix()
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts, 10))
	h.Set("X-Slack-Signature", slackfake.Sign(replicaSecret, ts, body))
	return h
}

func post(t *testing.T, u, contentType string, body []byte, h http.Header) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	testserver.Eventually(t, within, what, cond)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
