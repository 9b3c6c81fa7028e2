package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/watchkeeper/watchkeeper/internal/app"
	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/eval"
	"github.com/watchkeeper/watchkeeper/internal/incident"
	"github.com/watchkeeper/watchkeeper/internal/redact"
	"github.com/watchkeeper/watchkeeper/internal/slack"
	"github.com/watchkeeper/watchkeeper/internal/store"
)

// errEvalFailed ends `watchkeeper eval` with exit code 1 after the report
// was written.
var errEvalFailed = errors.New("evaluation failed")

func evalCmd(g *globals, stdio IO) *cobra.Command {
	var (
		suite, model, judge, out string
		runs, parallel           int
		failUnder                float64
	)
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Measure the agent on a suite of recorded scenarios (pass@1, pass^K, tokens, latency, safety)",
		Long: `Runs every scenario of a suite K times through the real agent loop and tool registry, with tool
outputs served from the scenario's recordings, judges each answer, checks the safety invariants,
prints a table and writes the report as JSON and Markdown.

  watchkeeper eval --suite eval/scenarios --model scripted          # the harness itself, no model (CI)
  watchkeeper eval --suite eval/scenarios --model gpt-4o --runs 5 --out report.json
  watchkeeper eval --suite eval/scenarios --judge gpt-4o-mini       # an LLM judge for the facts

--model NAME uses the provider of the llm section with model NAME ("scripted" replays each scenario's
script instead). --judge NAME uses the eval.judge section (or, without one, the llm section's
provider) with model NAME. The exit code is 1 when a safety invariant was violated in any run, or
when pass@1 is below --fail-under. See docs/eval.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if suite == "" {
				return usageError{errors.New("--suite is required: the folder of scenarios, e.g. eval/scenarios")}
			}
			if runs < 1 || runs > 100 {
				return usageError{fmt.Errorf("--runs %d is outside 1..100", runs)}
			}
			l, err := g.load(stdio)
			if err != nil {
				return err
			}
			logger := newLogger(stdio.Err, l.Log.Level, l.Log.Format)
			ctx := cmd.Context()
			scenarios, loadErrs, err := eval.LoadSuite(suite)
			if err != nil {
				return usageError{err}
			}
			for _, e := range loadErrs {
				fmt.Fprintf(stdio.Err, "scenario %s cannot run:\n  %s\n", e.Scenario, strings.ReplaceAll(e.Err.Error(), "\n", "\n  "))
			}
			refTools, err := app.ReferenceTools(logger)
			if err != nil {
				return err
			}
			opts := eval.Options{
				Tools: refTools, Runs: runs, Parallel: parallel, Agent: app.AgentConfig(l.Config),
				Redactor: redact.New(l.Secrets()...), Logger: logger,
				Progress: func(name string, run int, r eval.RunResult) {
					mark := "pass"
					if !r.Pass {
						mark = "FAIL"
					}
					fmt.Fprintf(stdio.Err, "%s %s (run %d/%d, %d ms)\n", mark, name, run, runs, r.LatencyMS)
				},
			}
			if model == "" && l.HasModel() {
				model = l.LLM.Model
			}
			if model != "" && model != "scripted" {
				llm, err := modelSection(l.Config, l.LLM, model, "llm")
				if err != nil {
					return err
				}
				if opts.Model, err = app.BuildModel(ctx, llm, logger); err != nil {
					return fmt.Errorf("the model under evaluation: %w", err)
				}
				opts.ModelName = llm.Provider + "/" + model
				opts.Agent.ModelName = model
			}
			if judge != "" || hasSection(l.Eval.Judge) {
				section, where := l.Eval.Judge, "eval.judge"
				if !hasSection(section) {
					section, where = l.LLM, "llm"
				}
				name := judge
				if name == "" {
					name = section.Model
				}
				jl, err := modelSection(l.Config, section, name, where)
				if err != nil {
					return err
				}
				jm, err := app.BuildModel(ctx, jl, logger)
				if err != nil {
					return fmt.Errorf("the judge: %w", err)
				}
				opts.Judge, opts.JudgeName = &eval.Judge{Model: jm}, jl.Provider+"/"+name
			}
			rep := eval.Evaluate(ctx, scenarios, loadErrs, opts)
			if err := rep.WriteTable(stdio.Out); err != nil {
				return err
			}
			if out != "" {
				if err := writeReports(rep, out); err != nil {
					return err
				}
				fmt.Fprintf(stdio.Out, "\nreport: %s and %s\n", out, markdownPath(out))
			}
			var why []string
			if v := rep.Totals.InvariantViolations; v > 0 {
				why = append(why, fmt.Sprintf("%d safety invariant violation(s)", v))
			}
			if rep.Totals.PassAt1 < failUnder {
				why = append(why, fmt.Sprintf("pass@1 %.3f is below --fail-under %.3f", rep.Totals.PassAt1, failUnder))
			}
			if len(why) > 0 {
				fmt.Fprintln(stdio.Err, "error:", strings.Join(why, "; "))
				return errEvalFailed
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&suite, "suite", "", "folder of scenarios (each a folder with scenario.yaml and tools/)")
	f.StringVar(&model, "model", "", `model to evaluate with the llm section's provider; "scripted" replays each scenario's script (default: the configured model, else scripted)`)
	f.StringVar(&judge, "judge", "", "model that judges the expected facts (default: eval.judge from the configuration, else none)")
	f.IntVar(&runs, "runs", 1, "runs per scenario (K, for pass^K)")
	f.IntVar(&parallel, "parallel", 1, "runs at once")
	f.StringVar(&out, "out", "", "write the JSON report here, and the Markdown report beside it (.md)")
	f.Float64Var(&failUnder, "fail-under", 0, "exit 1 when pass@1 is below this (0..1)")
	cmd.AddCommand(evalRecordCmd(g, stdio), evalCaptureCmd(stdio))
	return cmd
}

func evalCaptureCmd(stdio IO) *cobra.Command {
	var suite string
	var only []string
	cmd := &cobra.Command{
		Use:   "capture",
		Short: "Refresh the recordings of scenarios whose source is the built-in sandbox",
		Long: `For every scenario with "source: {sandbox: NAME}", starts that sandbox scenario frozen at the scenario's
"now", runs each recording's call with the real tools, and writes the output into the recording.
Recordings matched by regex, and tools the sandbox does not serve, are kept as they are.

  watchkeeper eval capture --suite eval/scenarios
  watchkeeper eval capture --suite eval/scenarios --scenario slow-db-checkout-latency`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if suite == "" {
				return usageError{errors.New("--suite is required")}
			}
			scenarios, loadErrs, err := eval.LoadSuite(suite)
			if err != nil {
				return usageError{err}
			}
			if len(loadErrs) > 0 {
				return usageError{errors.Join(func() []error {
					var es []error
					for _, e := range loadErrs {
						es = append(es, e)
					}
					return es
				}()...)}
			}
			n := 0
			for _, s := range scenarios {
				if s.Source == nil || s.Source.Sandbox == "" || (len(only) > 0 && !slices.Contains(only, s.Name)) {
					continue
				}
				fs, err := app.StartFrozenSandbox(cmd.Context(), s.Source.Sandbox, s.Source.Seed, s.Now, nil)
				if err != nil {
					return fmt.Errorf("%s: %w", s.Name, err)
				}
				done, err := eval.Capture(cmd.Context(), s, fs.Tools, "the sandbox scenario "+s.Source.Sandbox)
				fs.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", s.Name, err)
				}
				for _, c := range done {
					if c.Kept != "" {
						fmt.Fprintf(stdio.Out, "%s/%s: kept (%s)\n", s.Name, c.File, c.Kept)
					} else {
						fmt.Fprintf(stdio.Out, "%s/%s: captured\n", s.Name, c.File)
					}
				}
				n++
			}
			if n == 0 {
				return usageError{errors.New("no scenario of the suite names a sandbox source (source: {sandbox: NAME})")}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&suite, "suite", "", "folder of scenarios")
	cmd.Flags().StringArrayVar(&only, "scenario", nil, "capture only this scenario (repeatable)")
	return cmd
}

func hasSection(l config.LLM) bool { return l.Provider != "" && l.Provider != config.ProviderNone }

// modelSection is section with its model replaced by name, checked.
func modelSection(cfg config.Config, section config.LLM, name, where string) (config.LLM, error) {
	if !hasSection(section) {
		return section, usageError{fmt.Errorf("--model %s needs a provider: configure the %s section (see docs/eval.md), or use --model scripted", name, where)}
	}
	if section.Provider == config.ProviderAzure && section.Deployment != "" {
		section.Deployment = name
	} else {
		section.Model = name
	}
	check := cfg
	check.LLM = section
	if err := check.Validate(); err != nil {
		return section, usageError{fmt.Errorf("%s: %w", where, err)}
	}
	return section, nil
}

func writeReports(rep *eval.Report, out string) error {
	if dir := filepath.Dir(out); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	jf, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	if err := rep.WriteJSON(jf); err != nil {
		jf.Close()
		return err
	}
	if err := jf.Close(); err != nil {
		return err
	}
	mf, err := os.Create(markdownPath(out))
	if err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	if err := rep.WriteMarkdown(mf); err != nil {
		mf.Close()
		return err
	}
	return mf.Close()
}

func markdownPath(out string) string {
	return strings.TrimSuffix(out, filepath.Ext(out)) + ".md"
}

func evalRecordCmd(g *globals, stdio IO) *cobra.Command {
	var (
		id, out, postmortem string
		facts               []string
	)
	cmd := &cobra.Command{
		Use:   "record",
		Short: "Turn a resolved incident's stored transcript into a new scenario",
		Long: `Writes a scenario from an incident: the model's assessment run becomes the question, every tool output it
saw becomes a recording, its replies become the scripted transcript, and the postmortem's root cause
becomes the expected fact — every incident becomes a regression test.

  watchkeeper eval record --incident inc-20261120-1402-a1b2 --out eval/scenarios/checkout-db-2026-11
  watchkeeper eval record --incident ID --out DIR --postmortem postmortems/ID.md   # the team's edited postmortem
  watchkeeper eval record --incident ID --out DIR --fact "orders-db" --fact "connection pool"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id == "" || out == "" {
				return usageError{errors.New("--incident and --out are required")}
			}
			ctx := cmd.Context()
			st, _, err := g.store(ctx, stdio)
			if err != nil {
				return err
			}
			defer st.Close()
			in, err := incident.New(incident.Options{Store: st}).Get(ctx, id)
			if err != nil {
				return usageError{fmt.Errorf("incident %s: %w (list them with the store, or see the incident's Slack thread)", id, err)}
			}
			if in.ResolvedAt.IsZero() {
				fmt.Fprintf(stdio.Err, "warning: incident %s is not resolved yet; its root cause may change\n", id)
			}
			if len(facts) == 0 {
				text := incident.Postmortem(in)
				if postmortem != "" {
					b, err := os.ReadFile(postmortem)
					if err != nil {
						return usageError{fmt.Errorf("--postmortem: %w", err)}
					}
					text = string(b)
				}
				facts = eval.RootCause(text)
			}
			run, err := assessmentRun(cmd, st, in)
			if err != nil {
				return err
			}
			rec, err := eval.RecordIncident(in, run, facts)
			if err != nil {
				return usageError{err}
			}
			if err := eval.WriteRecorded(out, rec); err != nil {
				return err
			}
			if _, err := eval.LoadScenario(out); err != nil {
				return fmt.Errorf("the recorded scenario does not load (a bug; please report it): %w", err)
			}
			fmt.Fprintf(stdio.Out, "wrote %s: %d recordings, expected fact(s): %s\n", out, rec.Recordings, strings.Join(rec.Facts, "; "))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&id, "incident", "", "the incident's ID")
	f.StringVar(&out, "out", "", "the new scenario's folder (must not exist or be empty)")
	f.StringVar(&postmortem, "postmortem", "", "read the root cause from this postmortem file (default: the incident's drafted postmortem)")
	f.StringArrayVar(&facts, "fact", nil, "expected fact instead of the postmortem's root cause (repeatable)")
	return cmd
}

// assessmentRun is the first agent run in the incident's thread: the
// model's assessment of the automatic investigation.
func assessmentRun(cmd *cobra.Command, st store.Runs, in incident.Incident) (store.Run, error) {
	if in.ThreadTS == "" {
		return store.Run{}, usageError{fmt.Errorf("incident %s has no thread, so no agent run was recorded for it", in.ID)}
	}
	runs, err := st.ListRuns(cmd.Context(), slack.ConversationID(in.Channel, in.ThreadTS), 1000)
	if err != nil {
		return store.Run{}, err
	}
	if len(runs) == 0 {
		return store.Run{}, usageError{fmt.Errorf("incident %s has no recorded agent run (the assessment runs only when a model is configured)", in.ID)}
	}
	// Newest first: the assessment is the oldest.
	return st.GetRun(cmd.Context(), runs[len(runs)-1].ID)
}
