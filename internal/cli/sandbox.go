package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

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
			alerts := make(chan string, 64)
			slackAlerts := make(chan sandbox.WebhookMessage, 64)
			o := f.options()
			o.OnAlert = func(m sandbox.WebhookMessage) {
				select {
				case alerts <- app.AlertLine(m):
				default:
				}
				select {
				case slackAlerts <- m:
				default:
				}
			}
			fmt.Fprintln(stdio.Err, "Generating the sandbox's history…")
			sb, err := app.StartSandbox(ctx, l.Sandbox, o, logger)
			if err != nil {
				return err
			}
			defer sb.Close()
			a, err := app.New(ctx, app.DemoConfig(l.Config, sb), app.Options{Logger: logger,
				Clock: sb.Sandbox.Now, Kubernetes: sb.Sandbox.Kubernetes()})
			if err != nil {
				return err
			}
			defer a.Close()
			slackNote := ""
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
							if _, err := a.NotifyAlert(sctx, labels, app.AlertLine(m)); err != nil {
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
			return ch.Loop(ctx)
		},
	}
	f.add(cmd)
	return cmd
}

func demoBanner(a *app.App, model string, sb *app.SandboxServer) string {
	sc := sb.Sandbox.Scenario()
	if !a.HasModel() {
		model = "none (see /help and `watchkeeper config check` to add one)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Watchkeeper demo — sandbox scenario %q, seed %d, now %s\n", sc.Name, sb.Sandbox.World().Seed(), sb.Sandbox.Now().UTC().Format("15:04:05 UTC"))
	fmt.Fprintf(&b, "  %s\n", sc.Description)
	fmt.Fprintf(&b, "  Prometheus API: %s/api/v1/query   Loki API: %s/loki/api/v1/query_range\n", sb.URL, sb.URL)
	fmt.Fprintf(&b, "  Alerts appear here as they fire. /sandbox status shows the shop; /sandbox inject FAULT SERVICE adds trouble.\n")
	fmt.Fprintf(&b, "  Model: %s · tools: %s · /help for commands", model, strings.Join(a.Tools().Names(), ", "))
	return b.String()
}

// sandboxChatCommand is /sandbox in the demo chat.
func sandboxChatCommand(sb *sandbox.Sandbox) chat.Command {
	return chat.Command{
		Help: "status | faults | inject FAULT SERVICE [TARGET] — look at or break the sandbox shop",
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
			}
			return "", fmt.Errorf("unknown /sandbox command %q; use status, faults or inject", fields[0])
		},
	}
}

func sandboxStatus(sb *sandbox.Sandbox) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Sandbox at %s (scenario %s):\n", sb.Now().UTC().Format("15:04:05 UTC"), sb.Scenario().Name)
	for _, f := range sb.Faults() {
		state := "active"
		switch {
		case !f.FixedAt.IsZero():
			state = "fixed at " + f.FixedAt.UTC().Format("15:04:05") + " by " + f.FixedBy
		case f.Start.After(sb.Now()):
			state = "scheduled for " + f.Start.UTC().Format("15:04:05")
		case !f.End.IsZero() && !sb.Now().Before(f.End):
			state = "ended at " + f.End.UTC().Format("15:04:05")
		}
		fmt.Fprintf(&b, "  fault %s: %s\n", f.String(), state)
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
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the sandbox's Prometheus, Loki and admin APIs until stopped",
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
			sb, err := app.StartSandbox(ctx, l.Sandbox, o, logger)
			if err != nil {
				return err
			}
			defer sb.Close()
			sc := sb.Sandbox.Scenario()
			fmt.Fprintf(stdio.Out, "sandbox scenario %q (seed %d) serving at %s\n  Prometheus: %s/api/v1/  Loki: %s/loki/api/v1/  admin: %s/sandbox/v1/status\n",
				sc.Name, sb.Sandbox.World().Seed(), sb.URL, sb.URL, sb.URL, sb.URL)
			logger.Info("sandbox serving", "scenario", sc.Name, "url", sb.URL)
			<-ctx.Done()
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringSliceVar(&webhooks, "webhook", nil, "send alerts as Alertmanager webhooks to this URL (repeatable; default: sandbox.webhook_urls)")
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
			if addr == "" {
				l, err := g.load(stdio)
				if err != nil {
					return err
				}
				addr = "http://" + l.Sandbox.Listen
			}
			body, _ := json.Marshal(spec)
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(addr, "/")+"/sandbox/v1/faults", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("no sandbox answers at %s (%v); start one with `watchkeeper demo` or `watchkeeper sandbox serve`, or pass --addr", addr, err)
			}
			defer resp.Body.Close()
			out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
			if resp.StatusCode != http.StatusCreated {
				var e struct{ Error string }
				if json.Unmarshal(out, &e) == nil && e.Error != "" {
					return usageError{errors.New(e.Error)}
				}
				return fmt.Errorf("sandbox answered %s: %s", resp.Status, out)
			}
			var f sandbox.Fault
			_ = json.Unmarshal(out, &f)
			fmt.Fprintf(stdio.Out, "injected %s at %s\n", f.String(), f.Start.UTC().Format(time.RFC3339))
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "", "sandbox URL (default: http:// + sandbox.listen)")
	cmd.Flags().StringArrayVar(&params, "param", nil, "fault parameter NAME=NUMBER (repeatable)")
	cmd.Flags().DurationVar(&duration, "duration", 0, "how long the fault lasts (default: until fixed)")
	return cmd
}

func sandboxExportCmd(stdio IO) *cobra.Command {
	var (
		o       sandbox.ExportOptions
		fault   string
		service string
		target  string
		params  []string
		gen     bool
	)
	cmd := &cobra.Command{
		Use:   "export --scenario NAME --seed N --out DIR",
		Short: "Write one RCA case (case.json, metrics.csv, topology.csv) from a scenario",
		Long: `Runs the sandbox world for one root-cause case in the common RCA case format:
30 minutes before the fault to 15 after, one sample a minute. --fault and --service
replace the scenario's own fault, so seeds × faults make a synthetic benchmark:

  for s in 1 2 3; do watchkeeper sandbox export --scenario healthy --fault slow_db --service postgres --seed $s --out cases/slow-db-$s; done

--generate writes a case of the generalisation suite instead (docs/benchmarks.md): a
random system of 5–60 services, the fault on a service it applies to, and a random
shape — sampling every 15 s, 1 min or 5 min, 2–120 samples before the fault, Prometheus,
OpenTelemetry or CloudWatch metric names, gaps, missing and zero series, with or
without baseline.csv, events.csv and topology.csv:

  watchkeeper sandbox export --generate --fault memory_leak --seed 7 --out cases/leak-7`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if o.Out == "" {
				return usageError{errors.New("--out DIR is required")}
			}
			if gen {
				if fault == "" || service != "" || target != "" || len(params) > 0 {
					return usageError{errors.New("--generate takes --fault KIND and --seed N; it picks the service, the system and the shape itself")}
				}
				g, err := sandbox.GenerateCase(sandbox.FaultKind(fault), o.Seed, o.Out)
				if err != nil {
					return usageError{err}
				}
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
