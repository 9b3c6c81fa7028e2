// Package cli is Watchkeeper's command line: serve, chat, config check and
// version. It parses flags, loads the configuration, builds a logger and
// hands over to internal/app. Commands for later features (analyze,
// sandbox, eval, runbooks) are added to the same root.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/watchkeeper/watchkeeper/internal/app"
	"github.com/watchkeeper/watchkeeper/internal/chat"
	"github.com/watchkeeper/watchkeeper/internal/config"
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
	case errors.Is(err, errEvalFailed):
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
	root.AddCommand(serveCmd(g, stdio), chatCmd(g, stdio), demoCmd(g, stdio), sandboxCmd(g, stdio), analyzeCmd(stdio), configCmd(g, stdio), auditCmd(g, stdio), runbooksCmd(g, stdio), evalCmd(g, stdio), redactCmd(g, stdio), versionCmd(stdio))
	return root
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
		Short: "Run the server (/metrics, /healthz, /readyz; later Slack and Alertmanager)",
		Args:  cobra.NoArgs,
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
		once bool
		conv string
	)
	cmd := &cobra.Command{
		Use:   "chat [question]",
		Short: "Chat with Watchkeeper in the terminal",
		Long: `Opens an interactive chat. With --once, answers one question and exits: the question is
the arguments, or standard input when there are none. The answer is printed on standard
output; progress and the cost line on standard error.

  watchkeeper chat
  watchkeeper chat --once "why is checkout slow since 14:00?"
  echo "what time is it in Tokyo?" | watchkeeper chat --once`,
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
			a, err := app.New(ctx, l.Config, app.Options{Logger: logger})
			if err != nil {
				return err
			}
			defer a.Close()
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
	return cmd
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
		User:        "terminal:" + userName(stdio.Environ),
		NoModelHelp: app.NoModelHelp,
		Logger:      logger,
		HistoryFile: filepath.Join(filepath.Dir(l.Store.Path), "chat_history"),
		ChartDir:    filepath.Join(filepath.Dir(l.Store.Path), "charts"),
	}
	if a.HasModel() {
		cfg.Asker = a.Surface("terminal chat")
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
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and print it, secrets hidden",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			l, err := g.load(stdio)
			if err != nil {
				return err
			}
			out, err := l.YAML()
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
			if !l.HasModel() {
				fmt.Fprintln(stdio.Out, "# note: no language model configured (llm.provider: none); chat runs tools only")
			}
			switch warn, err := l.CheckWebhookExposure(); {
			case err != nil:
				fmt.Fprintf(stdio.Out, "# error: serve will refuse to start: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
			case warn:
				fmt.Fprintln(stdio.Out, "# warning: the Alertmanager webhook accepts notifications from anyone who can reach it; set incidents.bearer_token (or incidents.webhook: false)")
			}
			fmt.Fprint(stdio.Out, out)
			return nil
		},
	})
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

func userName(environ []string) string {
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "USER="); ok && v != "" {
			return v
		}
	}
	return "unknown"
}
