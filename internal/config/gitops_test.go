package config

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestGitOpsSettings(t *testing.T) {
	isolate(t)
	d, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.GitOps.ArgoCDNamespace != "argocd" || len(d.GitOps.AcceptDrift) != 0 || d.GitOps.SyncTimeout.D().Minutes() != 10 {
		t.Errorf("defaults: %+v", d.GitOps)
	}
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("ghp_gitops_secret_1357\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte(`gitops:
  accept_drift: [restart]
  repositories:
    - url: https://github.com/acme/
      token_file: `+token+`
    - url: git@gitlab.example.com:platform/deploy.git
      ssh_key_file: /keys/id
      forge: none
`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(good, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.GitOps.Repositories[0].Token.Reveal(); got != "ghp_gitops_secret_1357" {
		t.Errorf("token from token_file = %q", got)
	}
	if !slices.Contains(c.Secrets(), "ghp_gitops_secret_1357") {
		t.Error("the repository token is not among the secrets to redact")
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(`gitops:
  accept_drift: [delete]
  poll_interval: 10ms
  repositories:
    - url: github.com/acme
    - url: https://gitlab.com/acme/deploy.git
      forge: bitbucket
      api_url: gitlab.com
`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(bad, nil)
	wantErrs(t, err,
		`gitops.accept_drift[0]: "delete" is not one of restart, scale, rollback`,
		`gitops.poll_interval: must be at least 1s`,
		`gitops.repositories[0].url: "github.com/acme" is not a git URL`,
		`gitops.repositories[0].token_file: is required to open pull requests`,
		`gitops.repositories[1].forge: "bitbucket" is not one of github, gitlab, none`,
		`gitops.repositories[1].api_url: "gitlab.com" is not an http(s) URL`,
	)
}
