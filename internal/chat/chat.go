// Package chat is the terminal surface: an interactive session with line
// editing, progress lines while tools run, the answer, and approval of
// proposed changes at a y/N prompt; and a one-shot mode for scripts
// (watchkeeper chat --once). It renders the agent's event stream, like
// every other surface.
package chat

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/internal/approval"
	"github.com/watchkeeper/watchkeeper/internal/triage"
	"github.com/watchkeeper/watchkeeper/tools"
)

// Asker answers questions within a conversation.
type Asker interface {
	Ask(ctx context.Context, conversationID, input string, obs agent.Observer) (*agent.Result, error)
	// Remember adds a note to the conversation's memory (the outcome of
	// an approval), so follow-up questions know it.
	Remember(ctx context.Context, conversationID, note string) error
	Reset(ctx context.Context, conversationID string) error
}

// Approvals stores, decides and executes proposals.
type Approvals interface {
	Propose(ctx context.Context, conversationID string, p tools.Proposal) (tools.Proposal, error)
	Decide(ctx context.Context, id, actor string, approve bool) (approval.Proposal, error)
	Execute(ctx context.Context, id, actor string) (tools.Result, error)
	Get(ctx context.Context, id string) (approval.Proposal, error)
}

// Redactor hides secrets in text shown to the person.
type Redactor interface{ Redact(string) string }

// Config wires a Chat. Asker is nil when no model is configured: the chat
// then explains how to configure one and still runs tools directly.
type Config struct {
	Asker     Asker
	Tools     *tools.Registry
	Approvals Approvals
	Redactor  Redactor
	In        io.Reader
	Out, Err  io.Writer
	// Terminal enables line editing, the prompt and colour; set it when
	// stdin and stdout are a terminal.
	Terminal bool
	// HistoryFile keeps line-editing history across sessions.
	HistoryFile string
	// Interrupts delivers Ctrl-C while a question runs, to cancel it
	// without leaving the chat. May be nil.
	Interrupts <-chan os.Signal
	// User is recorded as the approver of proposals.
	User string
	// Banner is printed when an interactive session starts.
	Banner string
	// NoModelHelp says how to configure a model. With NoModel it is shown
	// once per session, after the first answer (questions are then
	// answered by the deterministic investigation that fits them).
	NoModelHelp string
	NoModel     bool
	// ConversationID resumes a conversation; a new one is made when empty.
	ConversationID string
	// Commands are extra /commands, by name without the slash.
	Commands map[string]Command
	// ChartDir is where charts drawn by tools are saved, since a terminal
	// cannot show them; empty means they are not saved.
	ChartDir string
	Logger   *slog.Logger
	// Invoker runs /run's tools as the agent runs its calls (schema,
	// scope, timeout, redaction, metrics); its zero value runs Tools with
	// the Redactor.
	Invoker tools.Invoker
	// Scope limits /run like a conversation's scope; nil limits nothing
	// (the terminal's user runs the bot).
	Scope tools.Policy
}

// Command is an extra /command. Run gets the text after the command name
// and returns what to print.
type Command struct {
	Help string
	Run  func(ctx context.Context, args string) (string, error)
}

// Chat is a terminal session. It is not safe for concurrent use.
type Chat struct {
	cfg  Config
	conv string
	r    *renderer
	in   lineReader
	// noticeMu guards writes of notices, which come from other goroutines.
	noticeMu sync.Mutex
	// modelNoted is set once the session has said how to add a model.
	modelNoted bool
}

func (c *Chat) setInput(r lineReader) {
	c.noticeMu.Lock()
	defer c.noticeMu.Unlock()
	c.in = r
}

// Notice prints a line that arrived from elsewhere (an alert), without
// breaking the line being typed. It is safe for concurrent use.
func (c *Chat) Notice(text string) {
	c.noticeMu.Lock()
	defer c.noticeMu.Unlock()
	if ed, ok := c.in.(*editor); ok {
		fmt.Fprintln(ed.rl.Stdout(), text)
		return
	}
	fmt.Fprintln(c.cfg.Err, text)
}

// New returns a chat.
func New(cfg Config) *Chat {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Tools == nil {
		cfg.Tools = &tools.Registry{}
	}
	if cfg.Redactor == nil {
		cfg.Redactor = identity{}
	}
	if cfg.Invoker.Tools == nil {
		cfg.Invoker.Tools = cfg.Tools
		cfg.Invoker.Redact = cfg.Redactor.Redact
	}
	if cfg.User == "" {
		cfg.User = "terminal"
	}
	conv := cfg.ConversationID
	if conv == "" {
		conv = newConversationID()
	}
	return &Chat{cfg: cfg, conv: conv, r: &renderer{out: cfg.Out, err: cfg.Err, color: cfg.Terminal}}
}

// ConversationID returns the current conversation.
func (c *Chat) ConversationID() string { return c.conv }

// ErrNoModel is returned by Once when a question needs a model and none is
// configured: it fitted none of the investigations run without one.
var ErrNoModel = errors.New("no language model is configured")

// ErrRunFailed is returned by Once when the agent ended without an answer.
var ErrRunFailed = errors.New("the question could not be answered")

// Once answers one input — a question or a /command — and returns. The
// answer goes to Out, progress and the accounting line to Err. Proposals
// are put to In at a y/N prompt; end of input means no.
func (c *Chat) Once(ctx context.Context, input string) error {
	c.setInput(newPlainReader(c.cfg.In, c.cfg.Err))
	defer c.in.Close()
	input = strings.TrimSpace(input)
	if strings.HasPrefix(input, "/") {
		_, err := c.command(ctx, input)
		return err
	}
	return c.ask(ctx, input)
}

// Loop runs an interactive session until /quit, end of input or ctx ends.
func (c *Chat) Loop(ctx context.Context) error {
	if c.cfg.Terminal {
		ed, err := newEditor(c.cfg)
		if err != nil {
			return err
		}
		c.setInput(ed)
	} else {
		c.setInput(newPlainReader(c.cfg.In, c.cfg.Err))
	}
	defer c.in.Close()
	if c.cfg.Banner != "" {
		fmt.Fprintln(c.cfg.Out, c.cfg.Banner)
	}
	for {
		if ctx.Err() != nil {
			return nil
		}
		line, err := c.in.Line("> ")
		switch {
		case errors.Is(err, errInterrupted):
			fmt.Fprintln(c.cfg.Err, "(type /quit or press Ctrl-D to leave)")
			continue
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return fmt.Errorf("read input: %w", err)
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "/") {
			quit, err := c.command(ctx, line)
			if err != nil {
				c.r.errorf("%v", err)
			}
			if quit {
				return nil
			}
			continue
		}
		if err := c.ask(ctx, line); err != nil && !errors.Is(err, ErrNoModel) && !errors.Is(err, ErrRunFailed) {
			c.r.errorf("%v", err)
		}
	}
}

// ask runs one question, renders it, and puts its proposals to the person.
func (c *Chat) ask(ctx context.Context, question string) error {
	if c.cfg.Asker == nil {
		fmt.Fprintln(c.cfg.Err, c.cfg.NoModelHelp)
		return ErrNoModel
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := c.cancelOnInterrupt(cancel)
	res, err := c.cfg.Asker.Ask(approval.WithRequester(runCtx, c.cfg.User), c.conv, question, c.r.observe)
	stop()
	if err != nil && errors.Is(err, context.Canceled) && ctx.Err() == nil {
		c.r.errorf("cancelled")
	}
	// A proposal made before a run failed is stored and pending all the
	// same; it is put to the person rather than left behind.
	if res != nil {
		c.saveAttachments(res.Attachments)
	}
	if res != nil && ctx.Err() == nil {
		for _, p := range res.Proposals {
			if err := c.approve(ctx, p); err != nil {
				c.r.errorf("%v", err)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRunFailed, err)
	}
	if res != nil && res.Outcome == triage.NotUnderstood {
		// Answered with what can be asked: a script gets a failure.
		fmt.Fprintln(c.cfg.Err, c.r.paint(dim, triage.NeedsModel))
		return ErrNoModel
	}
	if c.cfg.NoModel && !c.modelNoted && c.cfg.NoModelHelp != "" {
		c.modelNoted = true
		fmt.Fprintln(c.cfg.Err, c.r.paint(dim, c.cfg.NoModelHelp))
	}
	return nil
}

// cancelOnInterrupt cancels the running question on Ctrl-C. The returned
// function stops watching.
func (c *Chat) cancelOnInterrupt(cancel context.CancelFunc) func() {
	if c.cfg.Interrupts == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case <-c.cfg.Interrupts:
			cancel()
		case <-done:
		}
	}()
	return func() { close(done); <-finished }
}

// approve shows a proposal in full and asks for a decision. Anything but
// y or yes is a no.
func (c *Chat) approve(ctx context.Context, p tools.Proposal) error {
	c.r.proposal(p)
	answer, err := c.in.Line("Approve? [y/N] ")
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, errInterrupted) {
		return err
	}
	yes := strings.EqualFold(strings.TrimSpace(answer), "y") || strings.EqualFold(strings.TrimSpace(answer), "yes")
	if c.cfg.Approvals == nil {
		return errors.New("approvals are not available in this session")
	}
	if _, err := c.cfg.Approvals.Decide(ctx, p.ID, c.cfg.User, yes); err != nil {
		return err
	}
	if !yes {
		fmt.Fprintf(c.cfg.Out, "Rejected %s; nothing was changed.\n", p.ID)
		c.remember(ctx, fmt.Sprintf("[note] %s rejected proposal %s (%s); nothing was changed.", c.cfg.User, p.ID, p.Summary))
		return nil
	}
	res, err := c.cfg.Approvals.Execute(ctx, p.ID, c.cfg.User)
	if err != nil {
		c.remember(ctx, fmt.Sprintf("[note] %s approved proposal %s (%s) but it failed: %v", c.cfg.User, p.ID, p.Summary, err))
		return fmt.Errorf("the approved change failed: %w", err)
	}
	out := c.cfg.Redactor.Redact(res.Text)
	fmt.Fprintf(c.cfg.Out, "Applied %s: %s\n", p.ID, out)
	c.remember(ctx, fmt.Sprintf("[note] %s approved proposal %s (%s) and it was applied: %s", c.cfg.User, p.ID, p.Summary, shorten(out, 500)))
	return nil
}

// decideLater puts a stored, pending proposal to the person: one made
// outside a question (the way back after a check of an applied change).
func (c *Chat) decideLater(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("usage: /approve ID (the proposal's ID, e.g. prop_1a2b3c4d5e6f)")
	}
	if c.cfg.Approvals == nil {
		return errors.New("approvals are not available in this session")
	}
	p, err := c.cfg.Approvals.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("no proposal %s: %w", id, err)
	}
	if p.Status != approval.Pending {
		return fmt.Errorf("proposal %s is %s; only a pending proposal can be decided", id, p.Status)
	}
	tp := p.ToolProposal()
	return c.approve(ctx, tp)
}

func (c *Chat) remember(ctx context.Context, note string) {
	if c.cfg.Asker == nil {
		return
	}
	if err := c.cfg.Asker.Remember(ctx, c.conv, note); err != nil {
		c.cfg.Logger.Warn("could not record the approval in memory", "err", err)
	}
}

const helpText = `Commands:
  /tools                   list the tools, with their arguments
  /tools NAME              one tool's arguments: types, defaults, values, an example
  /run TOOL key=value …    run a tool yourself; quote a value with spaces ("…" or '…');
                           lists are comma-separated, a JSON value is accepted too
  /run TOOL TEXT           for a tool with one required argument, the rest of the line is it
  /run TOOL {JSON}         the arguments as one JSON object, as the model sends them
  /approve ID              decide a pending proposal made earlier (a way back after a check)
  /work [N]                the last answer's tool calls by number, as it cites them ([N]),
                           with what each returned; /work N shows call N in full
  /reset                   forget this conversation and start a new one
  /help                    this help
  /quit                    leave (also Ctrl-D)
Examples:
  /run prom_query count(up)
  /run prom_query sum(rate(http_requests_total[5m])) by (job)
  /run prom_query up time="10m ago"
  /run current_time resolve="2h ago,yesterday 23:00" timezone=Europe/Berlin
  /run current_time {"resolve": ["2h ago"]}
Tab completes commands, tool names and argument names. A tool that changes
something asks for approval first. Ctrl-C cancels a question that is running.
Anything that does not start with / is a question, e.g. "why is checkout slow since 14:00?".`

// command runs a /command and reports whether the session should end.
func (c *Chat) command(ctx context.Context, line string) (quit bool, err error) {
	name, rest, _ := strings.Cut(line, " ")
	switch name {
	case "/quit", "/exit", "/q":
		return true, nil
	case "/help", "/?":
		fmt.Fprintln(c.cfg.Out, helpText)
		names := make([]string, 0, len(c.cfg.Commands))
		for n := range c.cfg.Commands {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(c.cfg.Out, "  /%-23s %s\n", n, c.cfg.Commands[n].Help)
		}
	case "/reset":
		if c.cfg.Asker != nil {
			if err := c.cfg.Asker.Reset(ctx, c.conv); err != nil {
				return false, err
			}
		}
		c.conv = newConversationID()
		fmt.Fprintln(c.cfg.Out, "Started a new conversation.")
	case "/tools":
		return false, c.showTools(strings.TrimSpace(rest))
	case "/run":
		return false, c.runTool(ctx, strings.TrimSpace(rest))
	case "/approve":
		return false, c.decideLater(ctx, strings.TrimSpace(rest))
	case "/work":
		return false, c.r.work(strings.TrimSpace(rest))
	default:
		if cmd, ok := c.cfg.Commands[strings.TrimPrefix(name, "/")]; ok {
			out, err := cmd.Run(ctx, strings.TrimSpace(rest))
			if err != nil {
				return false, err
			}
			fmt.Fprintln(c.cfg.Out, out)
			return false, nil
		}
		return false, fmt.Errorf("unknown command %s; /help lists the commands", name)
	}
	return false, nil
}

// runTool runs a tool the person named, with the same checks the agent's
// calls get; a mutating tool's proposal goes through approval.
func (c *Chat) runTool(ctx context.Context, rest string) error {
	name, argText, _ := strings.Cut(rest, " ")
	if name == "" {
		return errors.New(runUsage)
	}
	spec, err := c.spec(name)
	if err != nil {
		return err
	}
	args, err := tools.ParseArgs(spec, argText)
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", name, err, exampleHint(spec))
	}
	inv := c.cfg.Invoker.Invoke(ctx, tools.Invocation{Tool: name, Args: args, Policy: c.cfg.Scope, Source: "terminal"})
	switch inv.Outcome {
	case tools.OutcomeOK:
	case tools.OutcomeError, tools.OutcomePanic:
		// The invoker's reasons name the tool ("tool prom_query failed:
		// …"); saying it twice only pushes the cause to the right.
		if strings.Contains(inv.Reason, name) {
			return errors.New(inv.Reason)
		}
		return fmt.Errorf("%s failed: %s", name, inv.Reason)
	case tools.OutcomeToolError:
		// No result: the schema refused the arguments before the tool
		// ran. Say everything that is wrong, with a call to copy.
		if inv.Result == nil {
			if err := argsProblem(spec, args); err != nil {
				return errors.New(c.cfg.Redactor.Redact(err.Error()))
			}
		}
		return fmt.Errorf("%s: %s", name, inv.Reason)
	default:
		return fmt.Errorf("%s: %s", name, inv.Reason)
	}
	res := *inv.Result
	if inv.Spec.Mutating {
		if c.cfg.Approvals == nil {
			return fmt.Errorf("%s changes systems but nothing here can approve it; nothing was done", name)
		}
		p := *res.Proposal
		// Proposed by the person who ran the tool, as the audit says.
		p, err := c.cfg.Approvals.Propose(approval.WithRequester(ctx, c.cfg.User), c.conv, p)
		if err != nil {
			return err
		}
		return c.approve(ctx, p)
	}
	// The people's rendering: no markers around data, units humanised.
	fmt.Fprintln(c.cfg.Out, c.cfg.Redactor.Redact(res.ForPeople()))
	c.saveAttachments(res.Attachments)
	return nil
}

// saveAttachments writes files tools produced (charts) to ChartDir and
// says where, on the error stream so that stdout stays the answer.
func (c *Chat) saveAttachments(atts []tools.Attachment) {
	if c.cfg.ChartDir == "" || len(atts) == 0 {
		return
	}
	if err := os.MkdirAll(c.cfg.ChartDir, 0o700); err != nil {
		c.r.errorf("cannot save charts: %v", err)
		return
	}
	stamp := time.Now().UTC().Format("20060102-150405")
	for i, a := range atts {
		name := fmt.Sprintf("%s-%d-%s", stamp, i+1, filepath.Base(a.Name))
		path := filepath.Join(c.cfg.ChartDir, name)
		if err := os.WriteFile(path, a.Data, 0o600); err != nil {
			c.r.errorf("cannot save chart: %v", err)
			continue
		}
		title := ""
		if a.Title != "" {
			title = " — " + shorten(c.cfg.Redactor.Redact(a.Title), 100)
		}
		fmt.Fprintf(c.cfg.Err, "Chart saved: %s%s\n", path, title)
	}
}

type identity struct{}

func (identity) Redact(s string) string { return s }

func newConversationID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "chat:" + hex.EncodeToString(b[:])
}

func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
