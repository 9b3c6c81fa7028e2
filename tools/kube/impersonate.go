package kube

import (
	"fmt"
	"sync"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Impersonating returns an ActionConfig.Impersonate that acts as the
// Kubernetes user mapped to each approver (a Slack user ID, or the
// terminal's user), with groups added to every request. The base config's
// identity needs the impersonate verb on exactly those users and groups
// (resourceNames: deploy/kubernetes/rbac-actions.yaml's
// watchkeeper-impersonate, or the chart's rbac.impersonate), never on
// everyone.
func Impersonating(base *rest.Config, users map[string]string, groups []string) func(string) (kubernetes.Interface, error) {
	var mu sync.Mutex
	clients := map[string]kubernetes.Interface{}
	return func(approver string) (kubernetes.Interface, error) {
		name, ok := users[approver]
		if !ok || name == "" {
			return nil, fmt.Errorf("no Kubernetes user is configured for them (kubernetes.impersonate.users), so nothing was done")
		}
		mu.Lock()
		defer mu.Unlock()
		if c, ok := clients[name]; ok {
			return c, nil
		}
		rc := rest.CopyConfig(base)
		rc.Impersonate = rest.ImpersonationConfig{UserName: name, Groups: groups}
		c, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return nil, err
		}
		clients[name] = c
		return c, nil
	}
}
