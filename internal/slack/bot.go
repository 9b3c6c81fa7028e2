// Package slack is Watchkeeper's Slack surface: Socket Mode and the HTTP
// Events API, mentions, direct messages and thread replies answered by the
// agent with live progress, slash commands that work without a model,
// approval buttons checked against the policy, and an outbox that keeps
// every accepted message until Slack has it.
//
// Every transport acknowledges at once (Slack allows three seconds) and
// hands the work to a bounded pool; nothing slow runs before the ack.
package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/internal/approval"
	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/incident"
	"github.com/watchkeeper/watchkeeper/internal/store"
	"github.com/watchkeeper/watchkeeper/tools"
)

// Asker answers questions with the agent and remembers conversations.
type Asker interface {
	AskScoped(ctx context.Context, conv, input string, scope agent.Scope, obs agent.Observer) (*agent.Result, error)
	Remember(ctx context.Context, conv, note string) error
}

// Tools runs tools directly (slash commands).
type Tools interface {
	Get(name string) (tools.Tool, bool)
}

// Approvals decides and executes proposals.
type Approvals interface {
	Get(ctx context.Context, id string) (approval.Proposal, error)
	Check(ctx context.Context, policy approval.Policy, r approval.Request) error
	Decide(ctx context.Context, id, actor string, approve bool) (approval.Proposal, error)
	Approve(ctx context.Context, policy approval.Policy, r approval.Request) (approval.Proposal, bool, error)
	ExecuteChecked(ctx context.Context, policy approval.Policy, id, actor string) (tools.Result, error)
	Location(ctx context.Context, id, location string) error
	Propose(ctx context.Context, conversationID string, p tools.Proposal) (tools.Proposal, error)
	List(ctx context.Context, st approval.Status, limit int) ([]approval.Proposal, error)
}

// Store is the persistence the surface needs.
type Store interface {
	OutboxStore
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
	LoadConversation(ctx context.Context, id string) ([]byte, error)
	GetRun(ctx context.Context, id string) (store.Run, error)
}

// Redactor hides secrets.
type Redactor interface{ Redact(string) string }

// Metrics counts what the surface does; nil counts nothing.
type Metrics interface {
	SlackEvent(kind, outcome string)
	SlackDeliveryFailed(kind, reason string)
}

// Options wire a Bot.
type Options struct {
	Config config.Slack
	// Asker is nil when no model is configured; questions then get an
	// explanation and slash commands still work.
	Asker     Asker
	Tools     Tools
	Approvals Approvals
	Policy    approval.Policy
	// Expiry is shown on proposals.
	Expiry   time.Duration
	Store    Store
	Redactor Redactor
	// TrustedLinks reports whether a URL from a notification (an alert's
	// generatorURL) points at one of our own systems and may be shown as
	// a link; nil: none is.
	TrustedLinks func(url string) bool
	Metrics      Metrics
	Logger       *slog.Logger
	// HTTPClient is used for Slack's API and response URLs.
	HTTPClient *http.Client
	// Leadership, with several replicas, runs the outbox delivery on the
	// leader only; nil means this is the only replica.
	Leadership Leadership
	// PostInterval is the per-channel posting interval (default 1s).
	PostInterval time.Duration
	// IncidentPostWait bounds how long an Alertmanager notification waits
	// for its incident's parent message to reach Slack (default 2s); past
	// it the message stays queued and is linked to the incident on
	// delivery, so Alertmanager gets its answer in time.
	IncidentPostWait time.Duration
	// ProgressEvery throttles progress updates (default 1s).
	ProgressEvery time.Duration
	// StreamEvery is the least time between two calls that show an
	// answer's text as it is written, per answer (default 1s); text that
	// arrives meanwhile goes in the next call (Config.Stream).
	StreamEvery time.Duration
	// Invoker runs the tools commands and buttons call, as the agent runs
	// its calls (schema, the channel's scope, timeout, redaction, metrics);
	// without one, Tools with the Redactor and no metrics.
	Invoker tools.Invoker
	// NoModel says the Asker answers without a language model (by the
	// investigation that fits a question): the incident assessment, which
	// only a model can write, is skipped, and postmortems are drafted
	// from the recorded facts.
	NoModel bool
	// Incidents and Investigator back the incident buttons (optional).
	Incidents    Incidents
	Investigator incident.Investigator
}

// Bot is the Slack surface. Create it with New, then Run (Socket Mode) or
// mount Handler (HTTP) and Run with socket disabled.
type Bot struct {
	opts   Options
	api    *slackapi.Client
	out    *Outbox
	logger *slog.Logger
	jobs   chan job
	botID  string // the bot's user ID, learned from auth.test
	teamID string // the workspace's ID, learned from auth.test
	scopes scopes
	stream *streamGate
	// started is closed when Start has learned botID: HTTP requests that
	// arrive before wait for it (they are served beside /healthz as soon
	// as the server listens).
	started chan struct{}

	mu         sync.Mutex
	assistants map[string]bool // assistant threads: channel:thread_ts
	// proposalLocks serialise updates of one proposal's message.
	proposalLocks sync.Map
	replays       replayCache
	wg            sync.WaitGroup
}

type job struct {
	name string
	run  func(ctx context.Context)
}

// New builds the surface. It does not contact Slack until Run.
func New(opts Options) (*Bot, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Store == nil || opts.Tools == nil {
		return nil, errors.New("slack: a store and tools are required")
	}
	if opts.Redactor == nil {
		opts.Redactor = identity{}
	}
	if opts.Policy == nil {
		opts.Policy = approval.DefaultPolicy{}
	}
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = time.Second
	}
	if opts.StreamEvery <= 0 {
		opts.StreamEvery = time.Second
	}
	cfg := opts.Config
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	opts.Config = cfg
	api := slackClient(cfg, opts.HTTPClient)
	if opts.Invoker.Tools == nil {
		opts.Invoker.Tools = opts.Tools
		if opts.Redactor != nil {
			opts.Invoker.Redact = opts.Redactor.Redact
		}
	}
	b := &Bot{opts: opts, api: api, logger: opts.Logger, jobs: make(chan job, max(cfg.Queue, 0)),
		scopes: newScopes(cfg), assistants: map[string]bool{}, started: make(chan struct{}),
		stream: newStreamGate(cfg.Stream, opts.Logger)}
	b.out = NewOutbox(opts.Store, api, opts.HTTPClient, opts.Redactor, opts.PostInterval, opts.Logger.With("component", "slack-outbox"))
	b.out.onPosted = func(ctx context.Context, key, ts string, queued time.Time) {
		if rest, ok := strings.CutPrefix(key, proposalKey); ok {
			b.shown(ctx, rest, ts)
			return
		}
		id, ok := strings.CutPrefix(key, incidentKey)
		if !ok || b.opts.Incidents == nil {
			return
		}
		linked, err := b.opts.Incidents.LinkThread(ctx, id, ts)
		if err != nil {
			b.logger.Error("link an incident to its thread", "incident", id, "err", err)
			return
		}
		// Nobody had linked it: the incident may have changed while its
		// message waited, and those updates had no message to update.
		if in, err := b.opts.Incidents.Get(ctx, id); err == nil && linked && in.UpdatedAt.After(queued) {
			if err := b.UpdateIncident(ctx, in); err != nil {
				b.logger.Error("update a late incident message", "incident", id, "err", err)
			}
		}
	}
	b.out.onFailure = func(kind, reason string) {
		if opts.Metrics != nil {
			opts.Metrics.SlackDeliveryFailed(kind, reason)
		}
	}
	return b, nil
}

type identity struct{}

func (identity) Redact(s string) string { return s }

// Start checks the token, then starts the outbox and the workers. It
// returns when they are running; they stop when ctx ends.
func (b *Bot) Start(ctx context.Context) error {
	auth, err := b.api.AuthTestContext(ctx)
	if err != nil {
		return fmt.Errorf("slack: the bot token was refused (%w); check slack.bot_token and that the app is installed in the workspace", err)
	}
	b.botID, b.teamID = auth.UserID, auth.TeamID
	close(b.started)
	b.wg.Add(1)
	if l := b.opts.Leadership; l != nil {
		// Several replicas: the leader delivers; each watches for the
		// outcome of what it queued.
		b.out.shared = true
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.out.watch(ctx)
		}()
		go func() {
			defer b.wg.Done()
			l.While(ctx, b.out.Run)
		}()
	} else {
		go func() {
			defer b.wg.Done()
			b.out.Run(ctx)
		}()
	}
	for range b.opts.Config.Workers {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-b.jobs:
					b.runJob(ctx, j)
				}
			}
		}()
	}
	return nil
}

// Wait waits for the workers and the outbox to stop after ctx ended.
func (b *Bot) Wait() { b.wg.Wait() }

func (b *Bot) runJob(ctx context.Context, j job) {
	defer func() {
		if r := recover(); r != nil {
			b.logger.Error("slack job panicked", "job", j.name, "panic", fmt.Sprint(r))
		}
	}()
	j.run(ctx)
}

// submit hands work to the pool without blocking; false when it is full.
func (b *Bot) submit(name string, run func(ctx context.Context)) bool {
	select {
	case b.jobs <- job{name: name, run: run}:
		return true
	default:
		b.logger.Warn("slack work queue full; refusing", "job", name, "queue", cap(b.jobs))
		return false
	}
}

func (b *Bot) count(kind, outcome string) {
	if b.opts.Metrics != nil {
		b.opts.Metrics.SlackEvent(kind, outcome)
	}
}

// busyText tells a person the bot is saturated.
const busyText = "Watchkeeper is busy with other requests right now and could not take this one. Please try again in a minute."

// stripMention removes the bot's mention from a message.
func (b *Bot) stripMention(text string) string {
	text = strings.ReplaceAll(text, "<@"+b.botID+">", "")
	return strings.TrimSpace(text)
}

// ConversationID is the memory key of a Slack thread (runs are stored
// under it).
func ConversationID(channel, threadTS string) string {
	return "slack:" + channel + ":" + threadTS
}

// ThreadOf is ConversationID's inverse: the channel and thread of a Slack
// conversation, false for any other conversation.
func ThreadOf(conv string) (channel, threadTS string, ok bool) {
	parts := strings.Split(conv, ":")
	if len(parts) != 3 || parts[0] != "slack" {
		return "", "", false
	}
	return parts[1], parts[2], true
}

// GroupMembers lists a Slack user group's members (usergroups.users.list),
// for approval rules that name groups.
func (b *Bot) GroupMembers(ctx context.Context, group string) ([]string, error) {
	return b.api.GetUserGroupMembersContext(ctx, group)
}

// UserGroups resolves Slack user groups for approval rules
// (approval.GroupResolver). It is separate from the Bot so that the
// approval policy can be built before the surface that enforces it.
type UserGroups struct{ api *slackapi.Client }

// NewUserGroups returns the user groups of cfg's workspace; client is the
// HTTP client (nil: the default).
func NewUserGroups(cfg config.Slack, client *http.Client) UserGroups {
	return UserGroups{api: slackClient(cfg, client)}
}

// GroupMembers implements approval.GroupResolver.
func (u UserGroups) GroupMembers(ctx context.Context, group string) ([]string, error) {
	return u.api.GetUserGroupMembersContext(ctx, group)
}

func slackClient(cfg config.Slack, client *http.Client) *slackapi.Client {
	var opts []slackapi.Option
	if cfg.APIURL != "" {
		opts = append(opts, slackapi.OptionAPIURL(cfg.APIURL))
	}
	if cfg.AppToken != "" {
		opts = append(opts, slackapi.OptionAppLevelToken(cfg.AppToken.Reveal()))
	}
	if client != nil {
		opts = append(opts, slackapi.OptionHTTPClient(client))
	}
	return slackapi.New(cfg.BotToken.Reveal(), opts...)
}
