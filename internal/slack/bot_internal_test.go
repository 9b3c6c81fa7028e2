package slack

import "testing"

// ThreadOf reads back what ConversationID wrote, and nothing else.
func TestThreadOf(t *testing.T) {
	if ch, ts, ok := ThreadOf(ConversationID("C1", "1700000000.0001")); !ok || ch != "C1" || ts != "1700000000.0001" {
		t.Errorf("round trip: %q %q %v", ch, ts, ok)
	}
	for _, conv := range []string{"incident:inc_1", "chat:1", "slack:C1", "slack:C1:1:2", ""} {
		if _, _, ok := ThreadOf(conv); ok {
			t.Errorf("ThreadOf(%q) took it for a Slack thread", conv)
		}
	}
}
