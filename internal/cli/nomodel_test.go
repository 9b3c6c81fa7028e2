package cli_test

import (
	"strings"
	"testing"
)

// In the sandbox's bad-deploy world, with no model configured, "why is
// checkout failing?" is answered by the investigation that fits it: the
// deploy, its error rate and the new log template, and the rollback
// offered as a proposal; --once exits 0 (issue 18). A question that fits
// no investigation exits 2 with what can be asked.
func TestChatOnceWithoutAModel(t *testing.T) {
	home := isolate(t)
	r := run(t, home, "", nil, "chat", "--sandbox", "bad-deploy", "--once", "why is checkout failing?")
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", r.code, r.out, r.err)
	}
	for _, want := range []string{"checkout:1.5.0", "errors checkout", "NEW", "Roll back deployment shop/checkout",
		"Proposed change prop_"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.out)
		}
	}
	for _, want := range []string{"→ rca_rank", "Approve? [y/N]", "Answered without a language model", "no model (deterministic investigation)"} {
		if !strings.Contains(r.err, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.err)
		}
	}
	// Standard input was empty: the rollback was not approved.
	if !strings.Contains(r.out, "Rejected prop_") {
		t.Errorf("the proposal was not declined without input:\n%s", r.out)
	}

	r = run(t, home, "", nil, "chat", "--sandbox", "healthy", "--once", "what time is it in Tokyo?")
	if r.code != 2 || !strings.Contains(r.out, "I could not tell what to look at") {
		t.Errorf("an unroutable question: exit %d\n%s\n%s", r.code, r.out, r.err)
	}
}
