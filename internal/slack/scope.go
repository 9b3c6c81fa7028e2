package slack

import (
	"regexp"
	"sort"
	"strings"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/internal/config"
)

// scopes maps channels to what they may look at.
type scopes struct {
	byChannel map[string]agent.Scope
	def       agent.Scope
}

func toScope(s config.SlackScope) agent.Scope {
	nilIfEmpty := func(v []string) []string {
		if len(v) == 0 {
			return nil
		}
		return v
	}
	return agent.Scope{Tools: nilIfEmpty(s.Tools), Namespaces: nilIfEmpty(s.Namespaces), Clusters: nilIfEmpty(s.Clusters)}
}

func newScopes(cfg config.Slack) scopes {
	s := scopes{byChannel: map[string]agent.Scope{}, def: toScope(cfg.Default)}
	for _, ch := range cfg.Channels {
		s.byChannel[ch.ID] = toScope(ch.SlackScope)
	}
	return s
}

// ChannelScopes returns the scope of each channel by the configuration
// (slack.channels, slack.default), for work the bot does outside a
// conversation in that channel: the incident playbook of an incident
// routed there runs within the channel's scope like a question asked in it.
func ChannelScopes(cfg config.Slack) func(channel string) agent.Scope {
	return newScopes(cfg).of
}

// of returns a channel's scope.
func (s scopes) of(channel string) agent.Scope {
	if sc, ok := s.byChannel[channel]; ok {
		return sc
	}
	return s.def
}

// AlertChannel returns the channel of the first route whose matchers all
// match labels. A matcher value starting with "~" is an anchored regular
// expression; others match exactly.
func AlertChannel(routes []config.AlertRoute, labels map[string]string) (string, bool) {
	for _, r := range routes {
		if matches(r.Match, labels) {
			return r.Channel, true
		}
	}
	return "", false
}

func matches(match, labels map[string]string) bool {
	keys := make([]string, 0, len(match))
	for k := range match {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		want, got := match[k], labels[k]
		if re, ok := strings.CutPrefix(want, "~"); ok {
			m, err := regexp.MatchString("^(?:"+re+")$", got)
			if err != nil || !m {
				return false
			}
			continue
		}
		if got != want {
			return false
		}
	}
	return true
}
