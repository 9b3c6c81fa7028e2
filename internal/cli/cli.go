// Package cli is Watchkeeper's command line: serve, chat, demo, sandbox,
// analyze, config, audit, runbooks, eval, redact and version. It parses
// flags, loads the configuration, builds a logger and hands over to
// internal/app; exit codes are below.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/watchkeeper/watchkeeper/internal/app"
	"github.com/watchkeeper/watchkeeper/internal/chat"
	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/triage"
	"github.com/watchkeeper/watchkeeper/internal/version"
)

// Exit codes.
const (
	ExitOK = 0
	// ExitFailure: the command ran and failed (a question could not be
	// answered, the server stopped with an error).
	ExitFailure = 1
	// ExitUsage: bad flags or configuration; nothing ran.
	ExitUsage = 2
)

// IO is the process's standard streams and environment.
type IO struct {
	In      io.Reader
	Out     io.Writer
	Err     io.Writer
	Environ []string
}

// usageError marks errors that should exit with ExitUsage.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// globals are the persistent flags.
type globals struct {
	configPath string
	logLevel   string
	logFormat  string
}

// Run executes the command line args and returns the exit code. ctx ends on
// SIGTERM; SIGINT is handled per command (it cancels a question in an
// interactive chat instead of ending it).
func Run(ctx context.Context, args []string, stdio IO) int {
	root := newRoot(stdio)
	root.SetArgs(args)
	root.SetIn(stdio.In)
	root.SetOut(stdio.Out)
	root.SetErr(stdio.Err)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ue usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintln(stdio.Err, "error:", err)
		return ExitUsage
	case errors.Is(err, chat.ErrNoModel):
		return ExitUsage // the help was printed
	case errors.Is(err, errEvalFailed), errors.Is(err, errGameDayFailed):
		return ExitFailure // the reason was printed
	case errors.Is(err, chat.ErrRunFailed):
		return ExitFailure // the renderer printed why
	case strings.HasPrefix(err.Error(), "unknown command"), strings.HasPrefix(err.Error(), "unknown flag"),
		strings.Contains(err.Error(), "flag needs an argument"), strings.Contains(err.Error(), "accepts"):
		fmt.Fprintln(stdio.Err, "error:", err)
		fmt.Fprintln(stdio.Err, "Run 'watchkeeper --help' for usage.")
		return ExitUsage
	}
	fmt.Fprintln(stdio.Err, "error:", err)
	return ExitFailure
}

func newRoot(stdio IO) *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "watchkeeper",
		Short: "An on-call teammate that investigates with real tools and asks before it changes anything",
		Long: `Watchkeeper answers questions about production systems by querying them, and proposes
changes that a person must approve.

Quick start: 'watchkeeper chat' opens the terminal chat; 'watchkeeper serve' runs the server.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.Version(),
	}
	root.SetVersionTemplate(version.String() + "\n")
	root.PersistentFlags().StringVarP(&g.configPath, "config", "c", "", "configuration file (default: $WATCHKEEPER_CONFIG, ./watchkeeper.yaml, ~/.config/watchkeeper/config.yaml, /etc/watchkeeper/config.yaml)")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "", "override log.level (debug, info, warn, error)")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "", "override log.format (json, text)")
	root.AddCommand(serveCmd(g, stdio), chatCmd(g, stdio), demoCmd(g, stdio), sandboxCmd(g, stdio), analyzeCmd(stdio), configCmd(g, stdio), auditCmd(g, stdio), incidentCmd(g, stdio), gamedayCmd(g, stdio), mcpCmd(g, stdio), runbooksCmd(g, stdio), evalCmd(g, stdio), redactCmd(g, stdio), versionCmd(stdio))
	rejectUnknownSubcommands(root)
	return root
}

// rejectUnknownSubcommands makes every command that only groups others
// (sandbox, analyze, config…) refuse an argument that names none of
// them. Cobra checks this for the root alone: `watchkeeper sandbox frob`
// would print the help and exit 0, as if it had worked.
func rejectUnknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		rejectUnknownSubcommands(sub)
	}
	if !c.HasParent() || !c.HasSubCommands() {
		return
	}
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2 // cobra's default, which it sets for the root only
	}
	if c.Runnable() {
		// A group that also runs (eval): when it refuses the arguments,
		// the first was most likely a misspelt subcommand.
		if orig := c.Args; orig != nil {
			c.Args = func(cmd *cobra.Command, args []string) error {
				err := orig(cmd, args)
				if err != nil && len(args) > 0 {
					return unknownSubcommand(cmd, args[0])
				}
				return err
			}
		}
		return
	}
	c.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		return unknownSubcommand(cmd, args[0])
	}
	// Without arguments a group prints its help, as before; cobra checks
	// Args only for commands that run.
	c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
}

// unknownSubcommand is the usage error for `PARENT NAME` when PARENT has no
// subcommand NAME, with the near names when there are some.
func unknownSubcommand(parent *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q for %q", name, parent.CommandPath())
	if s := parent.SuggestionsFor(name); len(s) > 0 {
		for i := range s {
			s[i] = strconv.Quote(s[i])
		}
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	var names []string
	for _, c := range parent.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	msg += fmt.Sprintf("\n%s has: %s. Run '%s --help' for what each does.", parent.CommandPath(), strings.Join(names, ", "), parent.CommandPath())
	return usageError{errors.New(msg)}
}

// load reads and validates the configuration, applying flag overrides.
func (g *globals) load(stdio IO) (config.Loaded, error) {
	l, err := config.Load(g.configPath, stdio.Environ)
	if err != nil {
		return l, usageError{fmt.Errorf("configuration:\n  %s", strings.ReplaceAll(err.Error(), "\n", "\n  "))}
	}
	if g.logLevel != "" {
		l.Log.Level = g.logLevel
	}
	if g.logFormat != "" {
		l.Log.Format = g.logFormat
	}
	if err := l.Validate(); err != nil {
		return l, usageError{err}
	}
	return l, nil
}

func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func serveCmd(g *globals, stdio IO) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run Watchkeeper as a service: Slack, the Alertmanager webhook, approvals and metrics",
		Long: `Runs Watchkeeper until stopped (SIGTERM or Ctrl-C), on server.listen (default 127.0.0.1:8080):

  - Slack, when a bot token is set: answers mentions, direct messages and /watchkeeper, and
    puts proposed changes to approvers with buttons (socket mode, or HTTP mode at /slack/*).
  - The Alertmanager webhook at /webhooks/alertmanager (incidents.webhook): each alert group
    opens an incident, investigated at once and posted to the channel slack.alerts routes it to.
  - Approved changes are applied and checked again a few minutes after; proposals expire.
  - /metrics, /healthz and /readyz for Prometheus and Kubernetes probes.

'watchkeeper config check' shows what is enabled; docs/deploy.md covers running it in a cluster.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := g.load(stdio)
			if err != nil {
				return err
			}
			logger := newLogger(stdio.Err, l.Log.Level, l.Log.Format)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			a, err := app.New(ctx, l.Config, app.Options{Logger: logger})
			if err != nil {
				return err
			}
			defer a.Close()
			return a.Serve(ctx)
		},
	}
}

func chatCmd(g *globals, stdio IO) *cobra.Command {
	var (
		once  bool
		conv  string
		world string
	)
	cmd := &cobra.Command{
		Use:   "chat [question]",
		Short: "Chat with Watchkeeper in the terminal",
		Long: `Opens an interactive chat. With --once, answers one question and exits: the question is
the arguments, or standard input when there are none. The answer is printed on standard
output; progress and the cost line on standard error.

  watchkeeper chat
  watchkeeper chat --once "why is checkout slow since 14:00?"
  echo "what time is it in Tokyo?" | watchkeeper chat --once
  watchkeeper chat --sandbox bad-deploy --once "why is checkout failing?"

Without a language model, questions are answered by the investigation that fits them
(docs/answers-without-a-model.md). --sandbox starts a sandbox world in-process (a scenario
name from "watchkeeper sandbox list") and points every tool at it, as the demo does.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && !once {
				return usageError{errors.New("a question on the command line needs --once; without it, chat is interactive")}
			}
			l, err := g.load(stdio)
			if err != nil {
				return err
			}
			// Chat logs to stderr as text, quietly unless asked: the
			// terminal is for the conversation.
			level := "warn"
			if g.logLevel != "" {
				level = g.logLevel
			}
			logger := newLogger(stdio.Err, level, "text")
			ctx := cmd.Context()
			a, closeApp, err := newAppOn(ctx, l, world, logger)
			if err != nil {
				return err
			}
			defer closeApp()
			cfg := chatConfig(a, l, stdio, logger)
			cfg.ConversationID = conv
			if once {
				ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
				defer stop()
				question := strings.Join(args, " ")
				if question == "" {
					b, err := io.ReadAll(io.LimitReader(stdio.In, 1<<20))
					if err != nil {
						return fmt.Errorf("read the question from standard input: %w", err)
					}
					question = strings.TrimSpace(string(b))
					cfg.In = strings.NewReader("") // input is used up: proposals are not approved
				}
				if question == "" {
					return usageError{errors.New("no question: give it as arguments or on standard input")}
				}
				return chat.New(cfg).Once(ctx, question)
			}
			ctx, stop := interactive(ctx, &cfg, stdio)
			defer stop()
			if cfg.Terminal {
				cfg.Banner = banner(a, l)
			}
			return chat.New(cfg).Loop(ctx)
		},
	}
	cmd.Flags().BoolVar(&once, "once", false, "answer one question (from the arguments or standard input) and exit")
	cmd.Flags().StringVar(&conv, "conversation", "", "continue a stored conversation by ID")
	cmd.Flags().StringVar(&world, "sandbox", "", "chat about a sandbox world started in-process: a scenario name (watchkeeper sandbox list)")
	return cmd
}

// newAppOn builds the app on the configuration, or, with world (a
// scenario name), on a sandbox world started in-process beside any running
// demo. close releases both.
func newAppOn(ctx context.Context, l config.Loaded, world string, logger *slog.Logger) (*app.App, func(), error) {
	cfg, opts := l.Config, app.Options{Logger: logger}
	var sb *app.SandboxServer
	if world != "" {
		sbc := l.Sandbox
		sbc.Listen = "127.0.0.1:0"
		var err error
		if sb, err = app.StartSandbox(ctx, sbc, app.SandboxOptions{Scenario: world}, logger); err != nil {
			return nil, nil, err
		}
		cfg = app.DemoConfig(l.Config, sb)
		opts.Clock, opts.Kubernetes, opts.Dynamic = sb.Sandbox.Now, sb.Sandbox.Kubernetes(), sb.Sandbox.Dynamic()
	}
	a, err := app.New(ctx, cfg, opts)
	if err != nil {
		if sb != nil {
			sb.Close()
		}
		return nil, nil, err
	}
	return a, func() {
		a.Close()
		if sb != nil {
			sb.Close()
		}
	}, nil
}

// chatConfig wires a terminal chat to the app.
func chatConfig(a *app.App, l config.Loaded, stdio IO, logger *slog.Logger) chat.Config {
	cfg := chat.Config{
		Tools:       a.Tools(),
		Invoker:     a.Invoker(),
		Approvals:   a.Approvals(),
		Redactor:    a.Redactor(),
		In:          stdio.In,
		Out:         stdio.Out,
		Err:         stdio.Err,
		User:        "terminal:" + userName(stdio.Environ, user.Current, os.Getuid),
		NoModelHelp: triage.Note,
		NoModel:     !a.HasModel(),
		Asker:       a.Surface("terminal chat"),
		Logger:      logger,
		HistoryFile: filepath.Join(filepath.Dir(l.Store.Path), "chat_history"),
		ChartDir:    filepath.Join(filepath.Dir(l.Store.Path), "charts"),
	}
	return cfg
}

// interactive prepares an interactive session: on a terminal, Ctrl-C
// cancels the running question (the chat handles it); otherwise it ends
// the session.
func interactive(ctx context.Context, cfg *chat.Config, stdio IO) (context.Context, func()) {
	cfg.Terminal = isTerminal(stdio.In) && isTerminal(stdio.Out)
	if cfg.Terminal {
		interrupts := make(chan os.Signal, 1)
		signal.Notify(interrupts, os.Interrupt)
		cfg.Interrupts = interrupts
		return ctx, func() { signal.Stop(interrupts) }
	}
	return signal.NotifyContext(ctx, os.Interrupt)
}

func banner(a *app.App, l config.Loaded) string {
	model := "none"
	if a.HasModel() {
		model = l.LLM.Provider + "/" + l.LLM.Model
	}
	return fmt.Sprintf("Watchkeeper %s · model: %s · tools: %s · /help for commands",
		version.Version(), model, strings.Join(a.Tools().Names(), ", "))
}

func configCmd(g *globals, stdio IO) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Inspect the configuration"}
	var full, summary bool
	check := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and say what is enabled and where (--full: all of it, secrets hidden)",
		Long: `Validates the configuration (the file, then WATCHKEEPER_* variables) and prints a summary:
the model, the store, the backends, Slack, the Alertmanager webhook, approvals and leader
election, one line each, named as in 'watchkeeper config reference'. Problems that stop
serve are listed first. --full prints the whole configuration as YAML instead, with
secrets shown as <secret>. Exits 2 when the configuration is invalid.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if full && summary {
				return usageError{errors.New("--full and --summary are two views of the same check; give one")}
			}
			l, err := g.load(stdio)
			if err != nil {
				return err
			}
			src := "built-in defaults (no file found)"
			if l.Path != "" {
				src = l.Path
			}
			fmt.Fprintf(stdio.Out, "# configuration is valid\n# file: %s\n", src)
			if len(l.EnvKeys) > 0 {
				fmt.Fprintf(stdio.Out, "# environment: %s\n", strings.Join(l.EnvKeys, ", "))
			}
			switch warn, err := l.CheckWebhookExposure(); {
			case err != nil:
				fmt.Fprintf(stdio.Out, "# error: serve will refuse to start: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
			case warn:
				fmt.Fprintln(stdio.Out, "# warning: the Alertmanager webhook accepts notifications from anyone who can reach it; set incidents.bearer_token (or incidents.webhook: false)")
			}
			if !full {
				lines := l.Summary()
				width := 0
				for _, sl := range lines {
					width = max(width, len(sl.Section))
				}
				for _, sl := range lines {
					fmt.Fprintf(stdio.Out, "%-*s  %s\n", width, sl.Section, sl.Value)
				}
				// MCP servers are checked live, as the agent would meet
				// them: one that cannot start is reported here.
				if n := len(l.MCP.Servers); n > 0 {
					if failed := probeMCP(cmd.Context(), l.MCP.Servers, stdio); failed > 0 {
						fmt.Fprintf(stdio.Out, "# warning: %d of %d MCP servers cannot be used; the agent runs without their tools\n", failed, n)
					}
				}
				fmt.Fprintln(stdio.Out, "# all settings: watchkeeper config check --full; what each means: watchkeeper config reference")
				return nil
			}
			out, err := l.YAML()
			if err != nil {
				return err
			}
			if !l.HasModel() {
				fmt.Fprintln(stdio.Out, "# note: no language model configured (llm.provider: none); chat runs tools only")
			}
			fmt.Fprint(stdio.Out, out)
			return nil
		},
	}
	check.Flags().BoolVar(&full, "full", false, "print the whole configuration as YAML (secrets hidden) instead of the summary")
	check.Flags().BoolVar(&summary, "summary", false, "print the summary (the default)")
	cmd.AddCommand(check)
	var update string
	ref := &cobra.Command{
		Use:   "reference",
		Short: "Print the configuration reference (Markdown), generated from the configuration's types",
		Long: `Prints every setting with its type, default, environment variable and description.
--update FILE replaces the text between <!-- config-reference:begin --> and
<!-- config-reference:end --> in FILE (docs/deploy.md).`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			md, err := config.ReferenceMarkdown()
			if err != nil {
				return err
			}
			if update == "" {
				fmt.Fprint(stdio.Out, md)
				return nil
			}
			b, err := os.ReadFile(update)
			if err != nil {
				return usageError{err}
			}
			const begin, end = "<!-- config-reference:begin -->\n", "<!-- config-reference:end -->"
			s := string(b)
			i, j := strings.Index(s, begin), strings.Index(s, end)
			if i < 0 || j < i {
				return usageError{fmt.Errorf("%s has no %q … %q markers", update, strings.TrimSpace(begin), end)}
			}
			return os.WriteFile(update, []byte(s[:i+len(begin)]+md+s[j:]), 0o644)
		},
	}
	ref.Flags().StringVar(&update, "update", "", "rewrite the reference inside this Markdown file")
	cmd.AddCommand(ref)
	return cmd
}

func versionCmd(stdio IO) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(*cobra.Command, []string) {
			fmt.Fprintln(stdio.Out, version.String())
		},
	}
}

func isTerminal(v any) bool {
	f, ok := v.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// userName names the person at the terminal for the audit log: $USER,
// else the account the process runs as (containers and cron often leave
// $USER unset), else its uid ("uid1000"): an entry always says who, never
// "unknown".
func userName(environ []string, current func() (*user.User, error), uid func() int) string {
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "USER="); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
	}
	if u, err := current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "uid" + strconv.Itoa(uid())
}
