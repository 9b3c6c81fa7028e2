package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/sandbox"
	"github.com/watchkeeper/watchkeeper/internal/testserver"
)

// /sandbox prs, merge and close: the reviewer's side of the gitops world,
// and clear words anywhere they cannot work.
func TestSandboxPullRequestCommands(t *testing.T) {
	testserver.Need(t, "git", "/usr/bin/git")
	ctx := context.Background()
	plain, err := sandbox.New(ctx, sandbox.Options{Scenario: "healthy", History: 20 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { plain.Close() })
	if _, err := sandboxChatCommand(plain).Run(ctx, "prs"); err == nil || !strings.Contains(err.Error(), "--scenario gitops") {
		t.Errorf("/sandbox prs without GitOps: %v", err)
	}
	sb, err := sandbox.New(ctx, sandbox.Options{Scenario: "gitops", History: 20 * time.Minute, ExternalURL: "http://127.0.0.1:9"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	cmd := sandboxChatCommand(sb)
	for _, tc := range []struct{ args, want string }{
		{"prs", "No pull requests yet"},
		{"merge", "usage: /sandbox merge N"},
		{"merge x", `"x" is not a pull request number`},
		{"merge 7", "7"},
		{"close #7", "7"},
	} {
		out, err := cmd.Run(ctx, tc.args)
		got := out
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("/sandbox %s = %q, want %q", tc.args, got, tc.want)
		}
		if strings.HasPrefix(tc.args, "merge 7") && err == nil {
			t.Errorf("merging a pull request that does not exist: %q", out)
		}
	}
}
