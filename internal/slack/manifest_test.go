package slack_test

import (
	"os"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The shipped app manifests grant what the code calls and subscribe to
// what it handles — no more.
func TestManifests(t *testing.T) {
	wantScopes := []string{"app_mentions:read", "assistant:write", "channels:history", "chat:write", "commands",
		"files:write", "groups:history", "im:history", "mpim:history", "reactions:write", "usergroups:read"}
	wantEvents := []string{"app_mention", "assistant_thread_started", "message.channels", "message.groups", "message.im", "message.mpim"}
	for _, tt := range []struct {
		file   string
		socket bool
	}{{"manifest.yaml", true}, {"manifest-http.yaml", false}} {
		raw, err := os.ReadFile("../../deploy/slack/" + tt.file)
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			Features struct {
				SlashCommands []struct {
					Command string `yaml:"command"`
					URL     string `yaml:"url"`
				} `yaml:"slash_commands"`
			} `yaml:"features"`
			OAuth struct {
				Scopes struct {
					Bot []string `yaml:"bot"`
				} `yaml:"scopes"`
			} `yaml:"oauth_config"`
			Settings struct {
				Events struct {
					RequestURL string   `yaml:"request_url"`
					BotEvents  []string `yaml:"bot_events"`
				} `yaml:"event_subscriptions"`
				Interactivity struct {
					Enabled    bool   `yaml:"is_enabled"`
					RequestURL string `yaml:"request_url"`
				} `yaml:"interactivity"`
				SocketMode bool `yaml:"socket_mode_enabled"`
			} `yaml:"settings"`
		}
		if err := yaml.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		scopes, events := slices.Sorted(slices.Values(m.OAuth.Scopes.Bot)), slices.Sorted(slices.Values(m.Settings.Events.BotEvents))
		if !slices.Equal(scopes, wantScopes) {
			t.Errorf("%s scopes = %v, want %v", tt.file, scopes, wantScopes)
		}
		if !slices.Equal(events, wantEvents) {
			t.Errorf("%s events = %v, want %v", tt.file, events, wantEvents)
		}
		if len(m.Features.SlashCommands) != 1 || m.Features.SlashCommands[0].Command != "/watchkeeper" {
			t.Errorf("%s slash commands = %+v", tt.file, m.Features.SlashCommands)
		}
		if !m.Settings.Interactivity.Enabled || m.Settings.SocketMode != tt.socket {
			t.Errorf("%s: interactivity %v, socket mode %v", tt.file, m.Settings.Interactivity.Enabled, m.Settings.SocketMode)
		}
		if !tt.socket {
			for path, u := range map[string]string{"/slack/events": m.Settings.Events.RequestURL,
				"/slack/interactions": m.Settings.Interactivity.RequestURL, "/slack/commands": m.Features.SlashCommands[0].URL} {
				if len(u) < len(path) || u[len(u)-len(path):] != path {
					t.Errorf("%s: %q should end in %s", tt.file, u, path)
				}
			}
		}
	}
}
