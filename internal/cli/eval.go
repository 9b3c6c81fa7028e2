package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
		suite, model, judge, out, recordTo string
		only                               []string
		runs, parallel                     int
		failUnder, failUnderGrounded       float64
	)
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Measure the agent on a suite of recorded scenarios (pass@1, pass^K, groundedness, tokens, cost, safety)",
		Long: `Runs every scenario of a suite K times through the real agent loop and tool registry, with tool
outputs served from the scenario's recordings, judges each answer, checks the safety invariants,
prints a table and writes the report as JSON and Markdown.

  watchkeeper eval --suite eval/scenarios --model scripted          # the harness itself, no model (CI)
  watchkeeper eval --suite eval/scenarios --model gpt-4o --runs 5 --out report.json
  watchkeeper eval --suite eval/scenarios --judge gpt-4o-mini       # an LLM judge for the facts
  watchkeeper eval --suite eval/scenarios --model gpt-4o --record-to eval/recorded/gpt-4o   # regression tests from its runs
  watchkeeper eval --suite eval/recorded/gpt-4o --model scripted    # replay them, as CI does

--model NAME uses the provider of the llm section with model NAME ("scripted" replays each scenario's
script instead). --judge NAME uses the eval.judge section (or, without one, the llm section's
provider) with model NAME. --record-to DIR writes each scenario's first passing run as a recorded
scenario DIR/NAME whose script is the model's replies. The exit code is 1 when a safety invariant was
violated in any run, when pass@1 is below --fail-under, or when the mean groundedness is below
--fail-under-groundedness. See docs/eval.md; "watchkeeper eval report" turns reports into the table
peers publish.`,
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
			if failUnderGrounded < 0 || failUnderGrounded > 1 {
				return usageError{fmt.Errorf("--fail-under-groundedness %v is outside 0..1", failUnderGrounded)}
			}
			scenarios, loadErrs, err := eval.LoadSuite(suite)
			if err != nil {
				return usageError{err}
			}
			if scenarios, loadErrs, err = onlyScenarios(scenarios, loadErrs, only); err != nil {
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
				Redactor: redact.New(l.Secrets()...), Logger: logger, KeepTranscripts: recordTo != "",
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
				llm, err := modelSection(l.Config, l.LLM.LLM, model, "llm")
				if err != nil {
					return err
				}
				if opts.Model, err = app.BuildModel(ctx, llm, logger); err != nil {
					return fmt.Errorf("the model under evaluation: %w", err)
				}
				opts.ModelName, opts.Provider = llm.Provider+"/"+model, llm.Provider
				opts.Agent.ModelName = model
			}
			if judge != "" || hasSection(l.Eval.Judge) {
				section, where := l.Eval.Judge, "eval.judge"
				if !hasSection(section) {
					section, where = l.LLM.LLM, "llm"
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
			rep.Suite = suite
			if err := rep.WriteTable(stdio.Out); err != nil {
				return err
			}
			if recordTo != "" {
				if err := recordRuns(stdio, scenarios, rep, recordTo); err != nil {
					return err
				}
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
			if g := rep.Totals.Groundedness; failUnderGrounded > 0 && (g == nil || *g < failUnderGrounded) {
				got := "none (no answer made a claim)"
				if g != nil {
					got = fmt.Sprintf("%.3f", *g)
				}
				why = append(why, fmt.Sprintf("mean groundedness %s is below --fail-under-groundedness %.3f", got, failUnderGrounded))
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
	f.Float64Var(&failUnderGrounded, "fail-under-groundedness", 0,
		"exit 1 when the mean groundedness (claims citing a tool call) is below this (0..1); reported only by default")
	f.StringArrayVar(&only, "scenario", nil, "run only this scenario of the suite (repeatable)")
	f.StringVar(&recordTo, "record-to", "", "write each scenario's first passing run into this folder as a recorded scenario (a regression test)")
	cmd.AddCommand(evalRecordCmd(g, stdio), evalCaptureCmd(stdio), evalReportCmd(g, stdio))
	return cmd
}

// onlyScenarios keeps the scenarios named in only (all when it is empty),
// and refuses a name the suite does not have.
func onlyScenarios(ss []*eval.Scenario, errs []eval.LoadError, only []string) ([]*eval.Scenario, []eval.LoadError, error) {
	if len(only) == 0 {
		return ss, errs, nil
	}
	var keep []*eval.Scenario
	var keepErrs []eval.LoadError
	found := map[string]bool{}
	for _, s := range ss {
		if slices.Contains(only, s.Name) {
			keep, found[s.Name] = append(keep, s), true
		}
	}
	for _, e := range errs {
		if slices.Contains(only, e.Scenario) {
			keepErrs, found[e.Scenario] = append(keepErrs, e), true
		}
	}
	for _, name := range only {
		if !found[name] {
			return nil, nil, fmt.Errorf("--scenario %s: the suite has no scenario of that name", name)
		}
	}
	return keep, keepErrs, nil
}

// recordRuns writes each scenario's first passing run into dir as a
// recorded scenario, and says what it did with every scenario.
func recordRuns(stdio IO, scenarios []*eval.Scenario, rep *eval.Report, dir string) error {
	byName := map[string]*eval.Scenario{}
	for _, s := range scenarios {
		byName[s.Name] = s
	}
	n := 0
	for _, res := range rep.Scenarios {
		s := byName[res.Name]
		if s == nil || res.Error != "" {
			continue
		}
		why := "no run passed"
		for _, run := range res.Runs {
			if !run.Pass {
				continue
			}
			rec, err := eval.RecordRun(s, run, rep.Model, rep.StartedAt)
			if err != nil {
				why = err.Error()
				continue
			}
			out := filepath.Join(dir, s.Name)
			if err := eval.WriteRecorded(out, rec); err != nil {
				return fmt.Errorf("record %s: %w", s.Name, err)
			}
			if _, err := eval.LoadScenario(out); err != nil {
				return fmt.Errorf("the recorded scenario %s does not load (a bug; please report it): %w", out, err)
			}
			why = ""
			n++
			break
		}
		if why != "" {
			fmt.Fprintf(stdio.Err, "not recorded: %s: %s\n", s.Name, why)
		}
	}
	fmt.Fprintf(stdio.Out, "\nrecorded %d of %d scenarios into %s; replay them with: watchkeeper eval --suite %s --model scripted\n",
		n, len(rep.Scenarios), dir, dir)
	return nil
}

func evalReportCmd(g *globals, stdio IO) *cobra.Command {
	var format, out string
	cmd := &cobra.Command{
		Use:   "report REPORT.json...",
		Short: "Turn evaluation reports into the table of pass rates, groundedness and cost per model that peers publish",
		Long: `Reads the JSON reports that "watchkeeper eval --out" wrote, one per model, and prints one row per model:
model, provider, scenarios × runs, pass@1, pass^K, mean groundedness, safety violations, tokens and cost
per scenario, date and Watchkeeper build — best pass@1 first. A report whose runs were not priced is
priced from llm.prices of the configuration, when it names the model (marked *).

  watchkeeper eval report eval-report/*.json
  watchkeeper eval report --format json --out results.json eval-report/gpt-4o.json eval-report/llama3.1:8b.json`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{errors.New("give the JSON reports to compare, written by watchkeeper eval --out")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "markdown" && format != "json" {
				return usageError{fmt.Errorf("--format %q must be markdown or json", format)}
			}
			l, err := g.load(stdio)
			if err != nil {
				return err
			}
			var reports []*eval.Report
			suites := map[string]bool{}
			for _, path := range args {
				r, err := readReport(path)
				if err != nil {
					return usageError{err}
				}
				reports = append(reports, r)
				suites[fmt.Sprintf("%s (%d scenarios)", r.Suite, r.Totals.Scenarios)] = true
			}
			if len(suites) > 1 {
				fmt.Fprintln(stdio.Err, "warning: the reports ran different suites, so their pass rates do not compare")
			}
			rows := eval.Publish(reports, app.AgentConfig(l.Config).Prices)
			if out == "" {
				return writePublished(stdio.Out, format, rows)
			}
			f, err := os.Create(out)
			if err != nil {
				return fmt.Errorf("write the table: %w", err)
			}
			if err := writePublished(f, format, rows); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		},
	}
	cmd.Flags().StringVar(&format, "format", "markdown", "markdown or json")
	cmd.Flags().StringVar(&out, "out", "", "write the table to this file instead of stdout")
	return cmd
}

func writePublished(w io.Writer, format string, rows []eval.Published) error {
	var err error
	if format == "json" {
		err = eval.WritePublishedJSON(w, rows)
	} else {
		err = eval.WritePublishedMarkdown(w, rows)
	}
	if err != nil {
		return fmt.Errorf("write the table: %w", err)
	}
	return nil
}

// readReport reads a JSON report written by "watchkeeper eval --out".
func readReport(path string) (*eval.Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the report: %w", err)
	}
	var r eval.Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s is not an evaluation report (JSON from watchkeeper eval --out): %w", path, err)
	}
	if r.Model == "" || r.K == 0 {
		return nil, fmt.Errorf("%s is not an evaluation report: it names no model or runs; give the JSON that watchkeeper eval --out wrote", path)
	}
	return &r, nil
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
	check.LLM.LLM = section
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
