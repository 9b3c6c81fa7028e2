package testserver

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// KubernetesVersion is the control plane `make deps` builds.
const KubernetesVersion = "v1.37.2"

// KubernetesBinDir is where `make deps` puts kube-apiserver,
// kube-controller-manager, kube-scheduler, etcd and kwok.
func KubernetesBinDir() string {
	if d := os.Getenv("WATCHKEEPER_K8S_BIN"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "watchkeeper", "k8s", KubernetesVersion)
}

// Kubernetes is a running control plane: etcd, kube-apiserver (token
// auth, RBAC), controller-manager, scheduler, and kwok acting as the
// kubelet of one fake node whose pods really go Running.
type Kubernetes struct {
	// Admin is a system:masters client configuration.
	Admin *rest.Config
	// Client is Admin's clientset.
	Client kubernetes.Interface
	// Node is the fake node's name.
	Node string
	// Kubeconfig is a kubeconfig file for the admin user, for processes.
	Kubeconfig string
	host       string
	dir        string
	// namespaces numbers the namespaces Namespace creates.
	namespaces atomic.Int64
}

// Token users the apiserver knows, besides admin: each is its own group
// too, so RBAC can bind to either.
var kubeUsers = []string{"viewer", "alice", "bob", "watchkeeper"}

// ContainerLogs are the lines kwok serves as one container's log in every
// pod of a namespace (CRI format is written for them).
type ContainerLogs struct {
	Namespace, Container string
	// Lines are log lines; each is stamped with Times[i] (or now).
	Lines []string
	Times []time.Time
}

// StartKubernetes starts a control plane on 127.0.0.1 for the test alone,
// stopped when it ends; logs are what kwok serves through pods/log. Tests
// that need no logs and can keep to namespaces of their own share one
// control plane per package instead: SharedKubernetes.
func StartKubernetes(t testing.TB, logs ...ContainerLogs) *Kubernetes {
	t.Helper()
	began := time.Now()
	k := startKubernetes(t, logs...)
	t.Logf("testserver: started a Kubernetes control plane in %s, for this test alone", time.Since(began).Round(time.Millisecond))
	return k
}

// startKubernetes starts a control plane whose processes t's cleanup
// stops: a test's, or a shared server's boot.
func startKubernetes(t tb, logs ...ContainerLogs) *Kubernetes {
	t.Helper()
	dir := KubernetesBinDir()
	bins := map[string]string{}
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
		bins[b] = need(t, b, filepath.Join(dir, b))
	}
	w := t.TempDir()
	// The service-account signing key.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	writePEM(t, filepath.Join(w, "sa.key"), "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))
	writePEM(t, filepath.Join(w, "sa.pub"), "PUBLIC KEY", pub)
	tokens := "admin-token,admin,admin,system:masters\n"
	for _, u := range kubeUsers {
		tokens += fmt.Sprintf("%s-token,%s,%s,%s\n", u, u, u, u)
	}
	if err := os.WriteFile(filepath.Join(w, "tokens.csv"), []byte(tokens), 0o600); err != nil {
		t.Fatal(err)
	}
	// Ports are chosen free but another process can take one before the
	// server binds it (packages test in parallel): retry on a clash.
	var api, kubeconfig string
	for attempt := 1; ; attempt++ {
		var ok bool
		api, kubeconfig, ok = startAPIServer(t, bins, w)
		if ok {
			break
		}
		if attempt == 3 {
			t.Fatal("kube-apiserver could not bind a port three times")
		}
	}
	start(t, bins["kube-controller-manager"], "--kubeconfig="+kubeconfig, "--authentication-kubeconfig="+kubeconfig,
		"--authorization-kubeconfig="+kubeconfig, "--bind-address=127.0.0.1", "--secure-port=0",
		"--service-account-private-key-file="+filepath.Join(w, "sa.key"), "--leader-elect=false",
		"--controllers=*,-serviceaccount-token")
	start(t, bins["kube-scheduler"], "--kubeconfig="+kubeconfig, "--authentication-kubeconfig="+kubeconfig,
		"--authorization-kubeconfig="+kubeconfig, "--bind-address=127.0.0.1", "--secure-port=0", "--leader-elect=false")
	certs := generateTLS(t, w)
	stages := filepath.Join(w, "kwok-stages.yaml")
	if err := os.WriteFile(stages, []byte(kwokStages), 0o600); err != nil {
		t.Fatal(err)
	}
	kwokArgs := []string{"--kubeconfig=" + kubeconfig, "--config=" + stages}
	if len(logs) > 0 {
		kwokArgs = append(kwokArgs, "--config="+writeClusterLogs(t, w, logs))
	}
	// kwok serves the node's kubelet API; retry if its port was taken.
	for attempt := 1; ; attempt++ {
		kubelet := freeAddr(t)
		kh, kp, _ := net.SplitHostPort(kubelet)
		kwok := start(t, bins["kwok"], append(kwokArgs, "--manage-all-nodes=false",
			"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake", "--cidr=10.0.0.1/24", "--node-ip="+kh,
			"--node-port="+kp, "--server-address="+kubelet, "--tls-cert-file="+certs.certFile, "--tls-private-key-file="+certs.keyFile)...)
		time.Sleep(300 * time.Millisecond)
		if !kwok.exited() {
			break
		}
		if attempt == 3 || !strings.Contains(kwok.logs.String(), "address already in use") {
			t.Fatalf("kwok stopped:\n%s", tail(kwok.logs.String(), 4000))
		}
	}

	admin := &rest.Config{Host: "https://" + api, BearerToken: "admin-token", TLSClientConfig: rest.TLSClientConfig{Insecure: true},
		QPS: 100, Burst: 200}
	cs, err := kubernetes.NewForConfig(admin)
	if err != nil {
		t.Fatal(err)
	}
	k := &Kubernetes{Admin: admin, Client: cs, Node: "kwok-node-0", Kubeconfig: kubeconfig, host: api, dir: w}
	ctx := context.Background()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: k.Node,
		Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
		Labels:      map[string]string{"kubernetes.io/hostname": k.Node, "kubernetes.io/os": "linux", "type": "kwok"}},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("110")},
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("110")}}}
	if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The default namespace's service account must exist before pods.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := cs.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return k
}

// startAPIServer starts etcd and kube-apiserver on fresh ports and waits
// until the API server is ready; false when a port was taken meanwhile.
func startAPIServer(t tb, bins map[string]string, w string) (api, kubeconfig string, ok bool) {
	t.Helper()
	etcdClient, etcdPeer := freeAddr(t), freeAddr(t)
	api = freeAddr(t)
	_, apiPort, _ := net.SplitHostPort(api)
	kubeconfig = filepath.Join(w, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "https://%s", insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: admin-token}}]
contexts: [{name: local, context: {cluster: local, user: admin}}]
current-context: local
`, api)), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(w, "etcd-"+apiPort)
	etcd := start(t, bins["etcd"], "--data-dir", data, "--listen-client-urls", "http://"+etcdClient,
		"--advertise-client-urls", "http://"+etcdClient, "--listen-peer-urls", "http://"+etcdPeer,
		"--initial-advertise-peer-urls", "http://"+etcdPeer, "--initial-cluster", "default=http://"+etcdPeer,
		"--initial-cluster-state", "new", "--log-level", "error")
	apiserver := start(t, bins["kube-apiserver"], "--etcd-servers=http://"+etcdClient, "--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1", "--secure-port="+apiPort, "--cert-dir="+filepath.Join(w, "certs"),
		"--service-account-issuer=https://kubernetes.default.svc", "--service-account-key-file="+filepath.Join(w, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(w, "sa.key"), "--token-auth-file="+filepath.Join(w, "tokens.csv"),
		"--authorization-mode=RBAC", "--service-cluster-ip-range=10.0.0.0/24", "--endpoint-reconciler-type=none",
		"--disable-admission-plugins=ServiceAccount")
	insecure := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	readyz, _ := http.NewRequest(http.MethodGet, "https://"+api+"/readyz", nil)
	readyz.Header.Set("Authorization", "Bearer admin-token")
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := insecure.Do(readyz)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return api, kubeconfig, true
			}
		}
		clash := strings.Contains(apiserver.logs.String(), "address already in use") || etcd.exited()
		if apiserver.exited() || clash {
			if clash {
				apiserver.stop()
				etcd.stop()
				return "", "", false
			}
			t.Fatalf("kube-apiserver stopped:\n%s", tail(apiserver.logs.String(), 4000))
		}
		if time.Now().After(deadline) {
			t.Fatalf("kube-apiserver did not become ready:\n%s", tail(apiserver.logs.String(), 4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// writeClusterLogs writes the log files and kwok's ClusterLogs for them.
func writeClusterLogs(t tb, dir string, logs []ContainerLogs) string {
	t.Helper()
	var cfg strings.Builder
	for i, l := range logs {
		var b strings.Builder
		for j, line := range l.Lines {
			at := time.Now().UTC()
			if j < len(l.Times) {
				at = l.Times[j].UTC()
			}
			// CRI log format: time, stream, tag (F: full line), text.
			fmt.Fprintf(&b, "%s stdout F %s\n", at.Format(time.RFC3339Nano), line)
		}
		file := filepath.Join(dir, fmt.Sprintf("logs-%d.log", i))
		if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&cfg, `---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: logs-%d
spec:
  selector:
    matchNamespaces: [%s]
  logs:
  - containers: [%s]
    logsFile: %s
    follow: false
`, i, l.Namespace, l.Container, file)
	}
	path := filepath.Join(dir, "kwok-logs.yaml")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Namespace creates a namespace for the test alone, named prefix-N (N
// counts the namespaces made on this control plane, so names never repeat,
// not even under -count), and deletes it when the test ends. Tests sharing
// a control plane keep their objects apart this way.
func (k *Kubernetes) Namespace(t testing.TB, prefix string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", prefix, k.namespaces.Add(1))
	if _, err := k.Client.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	// Deleted in the background: the namespace controller and kwok remove
	// its pods while the next tests run.
	t.Cleanup(func() { _ = k.Client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	return name
}

// As returns a client configuration for one of the token users (viewer,
// alice, bob, watchkeeper).
func (k *Kubernetes) As(user string) *rest.Config {
	c := rest.CopyConfig(k.Admin)
	c.BearerToken = user + "-token"
	return c
}

func writePEM(t tb, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// kwokStages move fake nodes to Ready and pods through Pending to
// Running quickly (kwok's stage configuration).
//
//go:embed kwok-stages.yaml
var kwokStages string
