package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/watchkeeper/watchkeeper/internal/app"
	"github.com/watchkeeper/watchkeeper/internal/chat"
	"github.com/watchkeeper/watchkeeper/internal/sandbox"
)

// sandboxFlags are the flags shared by demo and sandbox serve.
type sandboxFlags struct {
	scenario string
	seed     uint64
	speed    float64
	listen   string
}

func (f *sandboxFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.scenario, "scenario", "", "scenario: a built-in name (watchkeeper sandbox list) or a .yaml file (default: sandbox.scenario)")
	cmd.Flags().Uint64Var(&f.seed, "seed", 0, "seed; the same seed gives the same world (default: the scenario's)")
	cmd.Flags().Float64Var(&f.speed, "speed", 0, "simulated seconds per real second (default: sandbox.speed)")
	cmd.Flags().StringVar(&f.listen, "listen", "", "address for the Prometheus, Loki and admin APIs (default: sandbox.listen)")
}

func (f *sandboxFlags) options() app.SandboxOptions {
	return app.SandboxOptions{Scenario: f.scenario, Seed: f.seed, Speed: f.speed, Listen: f.listen}
}

func demoCmd(g *globals, stdio IO) *cobra.Command {
	var f sandboxFlags
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the sandbox shop with an incident and chat about it (what `make run` starts)",
		Long: `Starts the embedded sandbox — a simulated online shop with metrics, logs, Kubernetes
objects and alerts — and opens the terminal chat beside it. In the default scenario a bad
checkout deploy lands about three minutes in and its alert fires two minutes later.

The sandbox's APIs are served while the demo runs, so other tools can look too:
  curl 'http://127.0.0.1:9095/api/v1/query?query=up'
  watchkeeper sandbox inject memory_leak cart`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := g.load(stdio)
			if err != nil {
				return err
			}
			level := "warn"
			if g.logLevel != "" {
				level = g.logLevel
			}
			logger := newLogger(stdio.Err, level, "text")
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			// Ctrl-C while the history is generated, and a closed terminal
			// at any time, stop the demo through its deferred Closes, which
			// remove the sandbox's TSDB folder; the default action of the
			// signal would leave it behind. Once the chat runs, Ctrl-C is
			// the chat's (interactive below).
			stopInt := cancelOnSignal(cancel, os.Interrupt)
			defer stopInt()
			if !signal.Ignored(syscall.SIGHUP) { // under nohup it stays ignored
				stopHup := cancelOnSignal(cancel, syscall.SIGHUP)
				defer stopHup()
			}
			alerts := make(chan string, 64)
			slackAlerts := make(chan sandbox.WebhookMessage, 64)
			// The terminal follows incidents: an alert opens one, its
			// investigation prints here, and so do the checks of changes
			// approved here (chat.Follower, built before the app).
			incidents := make(chan sandbox.WebhookMessage, 64)
			follower := chat.NewFollower(alerts, nil)
			o := f.options()
			o.OnAlert = func(m sandbox.WebhookMessage) {
				select {
				case alerts <- sandbox.AlertLine(m):
				default:
				}
				select {
				case slackAlerts <- m:
				default:
				}
				select {
				case incidents <- m:
				default:
				}
			}
			fmt.Fprintln(stdio.Err, "Generating the sandbox's history…")
			sb, err := app.StartSandbox(ctx, l.Sandbox, o, logger)
			if err != nil {
				if ctx.Err() != nil {
					return nil // interrupted while starting; nothing is left behind
				}
				return err
			}
			defer sb.Close()
			a, err := app.New(ctx, app.DemoConfig(l.Config, sb), app.Options{Logger: logger,
				Clock: sb.Sandbox.Now, Kubernetes: sb.Sandbox.Kubernetes(), Dynamic: sb.Sandbox.Dynamic(), Reporter: follower, Notifier: follower})
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			defer a.Close()
			slackNote := ""
			if !l.Config.SlackEnabled() {
				// Without Slack the terminal is the surface: incidents are
				// opened here, and the approval and incident loops run
				// beside the chat (Serve runs them with Slack). Both stop
				// before the app closes.
				bctx, stopBackground := context.WithCancel(ctx)
				var wg sync.WaitGroup
				defer func() { stopBackground(); wg.Wait() }()
				wg.Go(func() { a.Background(bctx) })
				wg.Go(func() {
					for {
						select {
						case <-bctx.Done():
							return
						case m := <-incidents:
							if _, err := a.Incidents().HandleFrom(bctx, "sandbox", m); err != nil {
								logger.Warn("open an incident for the sandbox's alert", "err", err)
							}
						}
					}
				})
			}
			if l.Config.SlackEnabled() {
				// The same demo in Slack: the bot answers there with the
				// sandbox's tools, and alerts go to their routed channel.
				if _, err := a.Slack(); err != nil {
					return err
				}
				sctx := ctx // ctx is re-bound below for the chat
				go func() {
					if err := a.Serve(sctx); err != nil {
						fmt.Fprintln(stdio.Err, "slack:", err)
					}
				}()
				go func() {
					for {
						select {
						case <-sctx.Done():
							return
						case m := <-slackAlerts:
							labels := map[string]string{}
							for k, v := range m.CommonLabels {
								labels[k] = v
							}
							for k, v := range m.GroupLabels {
								labels[k] = v
							}
							if _, err := a.NotifyAlert(sctx, labels, sandbox.AlertLine(m)); err != nil {
								logger.Warn("post an alert to Slack", "err", err)
							}
						}
					}
				}()
				slackNote = "\n  Slack: connected (" + l.Slack.Mode + " mode) — mention @watchkeeper or use /watchkeeper there too."
				if len(l.Slack.Alerts) == 0 {
					slackNote += " Alerts stay here until slack.alerts routes them to a channel."
				}
			}
			cfg := chatConfig(a, l, stdio, logger)
			ctx, stop := interactive(ctx, &cfg, stdio)
			defer stop()
			stopInt()
			restore := func() {}
			if cfg.Terminal {
				restore = saveTerminal(stdio.In)
			}

			var ch *chat.Chat
			cfg.Commands = map[string]chat.Command{"sandbox": sandboxChatCommand(sb.Sandbox)}
			cfg.Banner = demoBanner(a, l.LLM.Provider+"/"+l.LLM.Model, sb) + slackNote
			ch = chat.New(cfg)
			go func() {
				for {
					select {
					case <-ctx.Done():
						return
					case line := <-alerts:
						ch.Notice(line)
					}
				}
			}()
			return runChat(ctx, ch.Loop, restore)
		},
	}
	f.add(cmd)
	return cmd
}

// chatGrace is how long a demo whose context ended waits for its chat to
// notice before it stops without it.
const chatGrace = 2 * time.Second

// runChat runs loop until it returns or, once ctx has ended (SIGTERM, or
// SIGINT without a terminal), for chatGrace more: a chat blocked reading
// its input is not woken by a signal, and waiting for it would keep the
// demo — and its TSDB folder — alive until someone pressed Enter. restore
// puts the terminal back if the chat is left in the middle of a line.
func runChat(ctx context.Context, loop func(context.Context) error, restore func()) error {
	done := make(chan error, 1)
	go func() { done <- loop(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	select {
	case err := <-done:
		return err
	case <-time.After(chatGrace):
		restore()
		return nil
	}
}

// cancelOnSignal calls cancel when one of sigs arrives, until the returned
// stop is called (stop may be called more than once).
func cancelOnSignal(cancel context.CancelFunc, sigs ...os.Signal) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	done := make(chan struct{})
	go func() {
		select {
		case <-ch:
			cancel()
		case <-done:
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
		})
	}
}

// saveTerminal records the state of the terminal in (a line editor puts
// it in raw mode while it reads) and returns what puts it back.
func saveTerminal(in io.Reader) (restore func()) {
	f, ok := in.(interface{ Fd() uintptr })
	if !ok {
		return func() {}
	}
	fd := int(f.Fd())
	st, err := term.GetState(fd)
	if err != nil {
		return func() {}
	}
	return func() { _ = term.Restore(fd, st) }
}

func demoBanner(a *app.App, model string, sb *app.SandboxServer) string {
	sc := sb.Sandbox.Scenario()
	if !a.HasModel() {
		model = "none (see /help and `watchkeeper config check` to add one)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Watchkeeper demo — sandbox scenario %q, seed %d, now %s\n", sc.Name, sb.Sandbox.World().Seed(), sb.Sandbox.Now().UTC().Format("15:04:05 UTC"))
	fmt.Fprintf(&b, "  %s\n", sc.Description)
	fmt.Fprintf(&b, "  Sandbox: %s/ lists what it serves · Prometheus API: %s/api/v1/query · Loki API: %s/loki/api/v1/query_range\n", sb.URL, sb.URL, sb.URL)
	fmt.Fprintf(&b, "  Alerts appear here as they fire. /sandbox status shows the shop; /sandbox inject FAULT SERVICE adds trouble.\n")
	if g := sb.Sandbox.GitOps(); g != nil {
		fmt.Fprintf(&b, "  GitOps: Argo CD Application %s/%s syncs %s (path %s) every %s; changes to the shop are pull requests there. /sandbox prs lists them, /sandbox merge N merges one.\n",
			g.AppNamespace, g.AppName, g.RepoURL, g.Path, g.SyncInterval)
	}
	fmt.Fprintf(&b, "  Model: %s · tools: %s · /help for commands", model, strings.Join(a.Tools().Names(), ", "))
	return b.String()
}

// sandboxChatCommand is /sandbox in the demo chat.
func sandboxChatCommand(sb *sandbox.Sandbox) chat.Command {
	return chat.Command{
		Help: "status | faults | inject FAULT SERVICE [TARGET] | prs | merge N | close N — look at or break the sandbox shop; in the gitops world, review its pull requests",
		Run: func(_ context.Context, args string) (string, error) {
			fields := strings.Fields(args)
			if len(fields) == 0 {
				fields = []string{"status"}
			}
			switch fields[0] {
			case "status":
				return sandboxStatus(sb), nil
			case "faults":
				return faultCatalogue(), nil
			case "inject":
				if len(fields) < 3 {
					return "", errors.New("usage: /sandbox inject FAULT SERVICE [TARGET]; /sandbox faults lists the faults")
				}
				spec := sandbox.FaultSpec{Kind: sandbox.FaultKind(fields[1]), Service: fields[2]}
				if len(fields) > 3 {
					spec.Target = fields[3]
				}
				f, err := sb.Inject(spec)
				if err != nil {
					return "", err
				}
				return fmt.Sprintf("Injected %s at %s.", f.String(), f.Start.UTC().Format("15:04:05")), nil
			case "prs", "merge", "close":
				return sandboxPullRequests(sb, fields)
			}
			return "", fmt.Errorf("unknown /sandbox command %q; use status, faults, inject, prs, merge or close", fields[0])
		},
	}
}

// sandboxPullRequests is /sandbox prs, merge N and close N: the reviewer's
// side of the gitops world's forge.
func sandboxPullRequests(sb *sandbox.Sandbox, fields []string) (string, error) {
	g := sb.GitOps()
	if g == nil {
		return "", errors.New("this sandbox world has no GitOps: start the demo with --scenario gitops")
	}
	if fields[0] == "prs" {
		prs := g.PullRequests()
		if len(prs) == 0 {
			return "No pull requests yet. Ask Watchkeeper to roll back checkout and approve its proposal.", nil
		}
		var b strings.Builder
		for _, p := range prs {
			fmt.Fprintf(&b, "#%d %s (%s) %s → %s: %s\n", p.Number, p.State, p.URL, p.Head, p.Base, p.Title)
		}
		return strings.TrimRight(b.String(), "\n"), nil
	}
	if len(fields) != 2 {
		return "", fmt.Errorf("usage: /sandbox %s N (the pull request's number; /sandbox prs lists them)", fields[0])
	}
	n, err := strconv.Atoi(strings.TrimPrefix(fields[1], "#"))
	if err != nil {
		return "", fmt.Errorf("%q is not a pull request number; /sandbox prs lists them", fields[1])
	}
	if fields[0] == "close" {
		if err := g.Close(n); err != nil {
			return "", err
		}
		return fmt.Sprintf("Closed pull request #%d without merging.", n), nil
	}
	commit, err := g.Merge(n)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Merged pull request #%d (commit %.8s); Argo CD Application %s/%s syncs it within %s, and Watchkeeper checks it then.",
		n, commit, g.AppNamespace, g.AppName, g.SyncInterval), nil
}

func sandboxStatus(sb *sandbox.Sandbox) string {
	var b strings.Builder
	// One reading of the clock for the heading and every fault's state,
	// so that they agree.
	now := sb.Now()
	fmt.Fprintf(&b, "Sandbox at %s (scenario %s):\n", now.UTC().Format("15:04:05 UTC"), sb.Scenario().Name)
	for _, f := range sb.Faults() {
		fmt.Fprintf(&b, "  fault %s: %s\n", f.String(), f.State(now))
	}
	if len(sb.Faults()) == 0 {
		b.WriteString("  no faults\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

func faultCatalogue() string {
	var b strings.Builder
	for _, f := range sandbox.Catalogue() {
		var params []string
		for k, v := range f.Params {
			params = append(params, k+"="+strconv.FormatFloat(v, 'g', -1, 64))
		}
		sort.Strings(params)
		target := ""
		if f.NeedsTarget {
			target = " TARGET"
		}
		fmt.Fprintf(&b, "  %-16s SERVICE%s  %s; fix: %s", f.Kind, target, f.Description, f.Fix)
		if len(params) > 0 {
			fmt.Fprintf(&b, " [%s]", strings.Join(params, " "))
		}
		b.WriteString("\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

func sandboxCmd(g *globals, stdio IO) *cobra.Command {
	cmd := &cobra.Command{Use: "sandbox", Short: "Run, inspect and export the simulated shop"}
	cmd.AddCommand(sandboxServeCmd(g, stdio), sandboxInjectCmd(g, stdio), sandboxExportCmd(stdio), sandboxListCmd(stdio))
	return cmd
}

func sandboxServeCmd(g *globals, stdio IO) *cobra.Command {
	var f sandboxFlags
	var webhooks []string
	var otlpEndpoint string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the sandbox's Prometheus, Loki, Jaeger and admin APIs until stopped",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := g.load(stdio)
			if err != nil {
				return err
			}
			logger := newLogger(stdio.Err, l.Log.Level, l.Log.Format)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			o := f.options()
			o.Webhooks = webhooks
			o.OTLPEndpoint = otlpEndpoint
			if err := (sandbox.NotifyConfig{URLs: webhooks}).Validate(); err != nil {
				return usageError{fmt.Errorf("--webhook: %w", err)}
			}
			sb, err := app.StartSandbox(ctx, l.Sandbox, o, logger)
			if err != nil {
				return err
			}
			defer sb.Close()
			sc := sb.Sandbox.Scenario()
			fmt.Fprintf(stdio.Out, "sandbox scenario %q (seed %d) serving at %s (open it for what it serves, its services and faults)\n  Prometheus: %s/api/v1/  Loki: %s/loki/api/v1/  Jaeger: %s/api/traces  admin: %s/sandbox/v1/status\n",
				sc.Name, sb.Sandbox.World().Seed(), sb.URL, sb.URL, sb.URL, sb.URL, sb.URL)
			logger.Info("sandbox serving", "scenario", sc.Name, "url", sb.URL)
			<-ctx.Done()
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringSliceVar(&webhooks, "webhook", nil, "send alerts as Alertmanager webhooks to this URL (repeatable; default: sandbox.webhook_urls)")
	cmd.Flags().StringVar(&otlpEndpoint, "otlp-endpoint", "", "also send every generated trace to this OpenTelemetry collector or Jaeger over OTLP/HTTP (base URL, e.g. http://localhost:4318)")
	return cmd
}

func sandboxInjectCmd(g *globals, stdio IO) *cobra.Command {
	var (
		addr     string
		params   []string
		duration time.Duration
	)
	cmd := &cobra.Command{
		Use:   "inject FAULT SERVICE [TARGET]",
		Short: "Inject a fault into a running sandbox (demo or sandbox serve)",
		Long:  "Faults:\n" + faultCatalogue(),
		Args:  cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec := sandbox.FaultSpec{Kind: sandbox.FaultKind(args[0]), Service: args[1], Duration: duration}
			if len(args) == 3 {
				spec.Target = args[2]
			}
			var err error
			if spec.Params, err = parseParams(params); err != nil {
				return err
			}
			var base string
			if addr == "" {
				l, err := g.load(stdio)
				if err != nil {
					return err
				}
				if base, err = sandboxURL(l.Sandbox.Listen); err != nil {
					return usageError{fmt.Errorf("sandbox.listen: %w", err)}
				}
			} else if base, err = sandboxURL(addr); err != nil {
				return usageError{fmt.Errorf("--addr: %w", err)}
			}
			f, err := injectFault(cmd.Context(), base, spec)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdio.Out, "injected %s at %s\n", f.String(), f.Start.UTC().Format(time.RFC3339))
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "", "the sandbox: host:port as given to --listen (127.0.0.1:9095) or a URL (http://127.0.0.1:9095) (default: sandbox.listen)")
	cmd.Flags().StringArrayVar(&params, "param", nil, "fault parameter NAME=NUMBER (repeatable)")
	cmd.Flags().DurationVar(&duration, "duration", 0, "how long the fault lasts (default: until fixed)")
	return cmd
}

// sandboxURL turns what people write for a sandbox's address into its base
// URL: host:port, as serve and demo take with --listen, or an http(s)
// URL. Anything else is an error that says which forms work. A host left
// out, or one that means every interface (:9095, 0.0.0.0:9095), is
// reached on 127.0.0.1.
func sandboxURL(addr string) (string, error) {
	addr = strings.TrimSpace(addr)
	const forms = "give host:port (127.0.0.1:9095, as for --listen) or a URL (http://127.0.0.1:9095)"
	if addr == "" {
		return "", errors.New("empty address; " + forms)
	}
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil {
			return "", fmt.Errorf("%q is not a URL (%v); %s", addr, err, forms)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return "", fmt.Errorf("%q: the sandbox speaks http or https, not %s; %s", addr, u.Scheme, forms)
		}
		if u.Hostname() == "" {
			return "", fmt.Errorf("%q has no host; %s", addr, forms)
		}
		if p := u.Port(); p != "" {
			if err := checkPort(p); err != nil {
				return "", fmt.Errorf("%q: %w; %s", addr, err, forms)
			}
		}
		if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return "", fmt.Errorf("%q: leave out credentials, query and fragment; %s", addr, forms)
		}
		return strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%q is neither host:port nor a URL; %s", addr, forms)
	}
	if err := checkPort(port); err != nil {
		return "", fmt.Errorf("%q: %w; %s", addr, err, forms)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	if strings.ContainsAny(host, "/?#@ ") {
		return "", fmt.Errorf("%q: %q is not a host name; %s", addr, host, forms)
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

func checkPort(port string) error {
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	return nil
}

// injectFault posts spec to the sandbox at base and returns the fault it
// made. Every failure is an error that says what to do: an address where
// nothing answers, something that is not a sandbox, a fault the sandbox
// refuses (a usage error).
func injectFault(ctx context.Context, base string, spec sandbox.FaultSpec) (sandbox.Fault, error) {
	body, err := json.Marshal(spec)
	if err != nil {
		return sandbox.Fault{}, fmt.Errorf("encode the fault: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/sandbox/v1/faults", bytes.NewReader(body))
	if err != nil {
		return sandbox.Fault{}, usageError{fmt.Errorf("sandbox address %s: %w", base, err)}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return sandbox.Fault{}, fmt.Errorf("no sandbox answers at %s (%v); start one with `watchkeeper demo` or `watchkeeper sandbox serve`, or pass --addr", base, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return sandbox.Fault{}, fmt.Errorf("read the sandbox's answer from %s: %w", base, err)
	}
	if resp.StatusCode != http.StatusCreated {
		var e struct{ Error string }
		if json.Unmarshal(out, &e) == nil && e.Error != "" {
			return sandbox.Fault{}, usageError{errors.New(e.Error)}
		}
		return sandbox.Fault{}, fmt.Errorf("%s answered %s, not as a sandbox does; is --addr the address `watchkeeper demo` or `sandbox serve` printed? %s",
			base, resp.Status, firstLine(string(out)))
	}
	var f sandbox.Fault
	if err := json.Unmarshal(out, &f); err != nil {
		return sandbox.Fault{}, fmt.Errorf("%s accepted the fault but its answer is not one (%v): %s", base, err, firstLine(string(out)))
	}
	return f, nil
}

// firstLine is s's first line, cut to 200 bytes, for quoting an answer.
func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func sandboxExportCmd(stdio IO) *cobra.Command {
	var (
		o       sandbox.ExportOptions
		fault   string
		service string
		target  string
		params  []string
		gen     bool
		noSpans bool
	)
	cmd := &cobra.Command{
		Use:   "export --scenario NAME --seed N --out DIR",
		Short: "Write one RCA case (case.json, metrics.csv, topology.csv, spans.jsonl) from a scenario",
		Long: `Runs the sandbox world for one root-cause case in the common RCA case format:
30 minutes before the fault to 15 after, one sample a minute. --fault and --service
replace the scenario's own fault, so seeds × faults make a synthetic benchmark:

  for s in 1 2 3; do watchkeeper sandbox export --scenario healthy --fault slow_db --service postgres --seed $s --out cases/slow-db-$s; done

--generate writes a case of the generalisation suite instead (docs/benchmarks.md): a
random system of 5–60 services, the fault on a service it applies to, and a random
shape — sampling every 15 s, 1 min or 5 min, 2–120 samples before the fault, Prometheus,
OpenTelemetry or CloudWatch metric names, gaps, missing and zero series, with or
without baseline.csv, events.csv and topology.csv:

  watchkeeper sandbox export --generate --fault memory_leak --seed 7 --out cases/leak-7

spans.jsonl holds the traces of the case window: a tenth of the requests, as the
simulated services' SDKs sample them, fewer when that would pass 50,000 spans.
--no-spans leaves it out.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if o.Out == "" {
				return usageError{errors.New("--out DIR is required")}
			}
			o.Shape.NoSpans = noSpans
			if gen {
				if fault == "" || service != "" || target != "" || len(params) > 0 {
					return usageError{errors.New("--generate takes --fault KIND and --seed N; it picks the service, the system and the shape itself")}
				}
				g, err := sandbox.GenerateCase(sandbox.FaultKind(fault), o.Seed, o.Out)
				if err != nil {
					return usageError{err}
				}
				g.Options.Shape.NoSpans = noSpans
				c, err := sandbox.ExportCase(g.Options)
				if err != nil {
					return usageError{err}
				}
				sh := g.Options.Shape
				fmt.Fprintf(stdio.Out, "%s: root cause %s (%s) at %s, %d services, %s names, a sample every %v, %d before the fault → %s\n",
					c.ID, c.RootCause.Service, c.RootCause.FaultDetail, time.Unix(c.FaultTime, 0).UTC().Format(time.RFC3339),
					g.Services, cmp.Or(sh.Vocabulary, "common"), sh.Interval, sh.Lead, o.Out)
				return nil
			}
			if fault != "" || service != "" {
				if fault == "" || service == "" {
					return usageError{errors.New("--fault and --service go together")}
				}
				spec := sandbox.FaultSpec{Kind: sandbox.FaultKind(fault), Service: service, Target: target}
				var err error
				if spec.Params, err = parseParams(params); err != nil {
					return err
				}
				o.Fault = &spec
			}
			c, err := sandbox.ExportCase(o)
			if err != nil {
				return usageError{err}
			}
			fmt.Fprintf(stdio.Out, "%s: root cause %s (%s) at %s → %s\n", c.ID, c.RootCause.Service, c.RootCause.FaultDetail,
				time.Unix(c.FaultTime, 0).UTC().Format(time.RFC3339), o.Out)
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Scenario, "scenario", "default", "scenario whose fault (and earlier faults) make the case")
	cmd.Flags().Uint64Var(&o.Seed, "seed", 0, "seed (default: the scenario's)")
	cmd.Flags().StringVar(&o.Out, "out", "", "directory to write the case into")
	cmd.Flags().StringVar(&fault, "fault", "", "use this fault instead of the scenario's")
	cmd.Flags().StringVar(&service, "service", "", "the service --fault is injected into")
	cmd.Flags().StringVar(&target, "target", "", "the callee, for network_latency")
	cmd.Flags().StringArrayVar(&params, "param", nil, "fault parameter NAME=NUMBER (repeatable)")
	cmd.Flags().BoolVar(&gen, "generate", false, "write a generated case: a random system and shape with --fault on a service it picks")
	cmd.Flags().BoolVar(&noSpans, "no-spans", false, "leave out spans.jsonl (the traces of the case window)")
	return cmd
}

// parseParams reads repeated --param NAME=NUMBER flags.
func parseParams(params []string) (map[string]float64, error) {
	if len(params) == 0 {
		return nil, nil
	}
	out := map[string]float64{}
	for _, p := range params {
		k, v, ok := strings.Cut(p, "=")
		f, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil || k == "" {
			return nil, usageError{fmt.Errorf("--param %q must be NAME=NUMBER", p)}
		}
		out[k] = f
	}
	return out, nil
}

func sandboxListCmd(stdio IO) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the built-in scenarios and the fault catalogue",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintln(stdio.Out, "Scenarios:")
			for _, name := range sandbox.Scenarios() {
				sc, err := sandbox.LoadScenario(name, sandbox.DefaultTopology())
				if err != nil {
					return err
				}
				fmt.Fprintf(stdio.Out, "  %-16s %s\n", name, sc.Description)
			}
			fmt.Fprintln(stdio.Out, "Faults (watchkeeper sandbox inject FAULT SERVICE [TARGET]):")
			fmt.Fprintln(stdio.Out, faultCatalogue())
			return nil
		},
	}
}
