package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/watchkeeper/watchkeeper/internal/gameday"
)

// errGameDayFailed ends `watchkeeper gameday` with exit code 1 after the
// report says which runs failed.
var errGameDayFailed = errors.New("game day: not every run passed")

func gamedayCmd(g *globals, stdio IO) *cobra.Command {
	var (
		faults, out, thresholds, model, scenario string
		seeds                                    int
		speed                                    float64
	)
	cmd := &cobra.Command{
		Use:   "gameday [--faults all|LIST | --scenario FILE] [--seeds N] [--speed X] [--model NAME|none] [--out DIR] [--thresholds FILE]",
		Short: "Inject each fault into a fresh sandbox world and measure how Watchkeeper finds and fixes it",
		Long: `For each fault of the sandbox's catalogue and each seed, starts a fresh sandbox world, injects
the fault where the seed puts it, and lets the production pipeline handle it: the sandbox's
alerting rules, an Alertmanager webhook over HTTP, the incident, the automatic investigation
and its root-cause ranking, the remediation plan's proposal, an approver who approves only
what the plan proposes (under the real approval policy), the change through the Kubernetes
API and its check. Each run lasts 30 minutes of simulated time after the fault.

It writes report.json (one record per run), report.md (a table per fault with medians
over the seeds and every failure) and report.html (the same with a chart per run: the
shop's success ratio with the fault shaded, and when it was detected, diagnosed, approved
and recovered) to --out, and exits 1 unless every run passes the
thresholds (detect ≤ 5m, diagnose ≤ 10m, recover ≤ 15m, availability ≥ 0.99 where a fix
exists; --thresholds FILE overrides them in YAML). --scenario FILE plays a team's own game
day written in YAML (its runs, seeds, limit and thresholds). --model NAME has the agent
assess each incident too, through the configuration's llm provider. See docs/gameday.md.

  watchkeeper gameday --seeds 1 --out /tmp/gameday
  watchkeeper gameday --faults bad_deploy,slow_db --seeds 5 --speed 100 --out /tmp/gameday
  watchkeeper gameday --scenario checkout-gameday.yaml --out /tmp/gameday
  watchkeeper gameday --faults bad_deploy --model gpt-4o-mini --config watchkeeper.yaml --out /tmp/gameday`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o := gameday.Options{Seeds: seeds, Speed: speed}
			if faults != "" && faults != "all" {
				for _, f := range strings.Split(faults, ",") {
					o.Faults = append(o.Faults, strings.TrimSpace(f))
				}
			}
			if scenario != "" {
				if cmd.Flags().Changed("faults") {
					return usageError{errors.New("--faults and --scenario: choose one (the scenario file lists its runs)")}
				}
				file, err := gameday.LoadFile(scenario)
				if err != nil {
					return usageError{err}
				}
				o.Runs, o.Limit = file.Runs, file.Limit.D()
				if file.Seeds > 0 && !cmd.Flags().Changed("seeds") {
					o.Seeds = file.Seeds
				}
				if file.Thresholds != nil {
					o.Thresholds = *file.Thresholds
				}
			}
			if model != "" && model != "none" {
				l, err := g.load(stdio)
				if err != nil {
					return err
				}
				o.Model, o.LLM = model, l.LLM.LLM
			}
			if thresholds != "" {
				t, err := gameday.LoadThresholds(thresholds)
				if err != nil {
					return usageError{err}
				}
				o.Thresholds = t
			}
			if err := o.Validate(); err != nil {
				return usageError{err}
			}
			if out == "" {
				return usageError{errors.New("--out DIR is required: the report is written there")}
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return usageError{fmt.Errorf("--out: %w", err)}
			}
			probe := filepath.Join(out, ".write-test")
			if err := os.WriteFile(probe, nil, 0o644); err != nil {
				return usageError{fmt.Errorf("--out %s cannot be written: %w", out, err)}
			}
			os.Remove(probe)
			runs, err := os.MkdirTemp("", "watchkeeper-gameday-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(runs)
			o.Dir = runs
			o.Logger = slog.New(slog.NewTextHandler(stdio.Err, &slog.HandlerOptions{Level: slog.LevelWarn}))
			rep, err := gameday.Play(cmd.Context(), o)
			if err != nil {
				return err
			}
			for name, write := range map[string]func(*os.File) error{
				"report.json": func(f *os.File) error { return rep.WriteJSON(f) },
				"report.md":   func(f *os.File) error { return rep.WriteMarkdown(f) },
				"report.html": func(f *os.File) error { return rep.WriteHTML(f) },
			} {
				f, err := os.Create(filepath.Join(out, name))
				if err != nil {
					return err
				}
				werr := write(f)
				if cerr := f.Close(); werr == nil {
					werr = cerr
				}
				if werr != nil {
					return fmt.Errorf("write %s: %w", name, werr)
				}
			}
			if err := rep.WriteMarkdown(stdio.Out); err != nil {
				return err
			}
			fmt.Fprintf(stdio.Out, "\nWrote report.json, report.md and report.html to %s.\n", out)
			if !rep.Pass() {
				return errGameDayFailed
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&faults, "faults", "all", "faults to play, comma-separated, or all (the sandbox's catalogue: watchkeeper sandbox list)")
	f.IntVar(&seeds, "seeds", 1, "seeds per fault (each puts the fault elsewhere, at another severity)")
	f.Float64Var(&speed, "speed", 100, "simulated seconds per real second (1..1000)")
	f.StringVar(&out, "out", "", "directory for report.json, report.md and report.html")
	f.StringVar(&thresholds, "thresholds", "", "YAML file with detect, diagnose, recover (durations) and availability (0..1)")
	f.StringVar(&model, "model", "none", "the model the agent assesses each incident with, through the configuration's llm provider; none: the playbook alone")
	f.StringVar(&scenario, "scenario", "", "a game day written in YAML: its runs (fault, service, target, params), seeds, limit and thresholds (docs/gameday.md)")
	return cmd
}
