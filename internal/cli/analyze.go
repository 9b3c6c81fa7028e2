package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/watchkeeper/watchkeeper/tools/anomaly"
	"github.com/watchkeeper/watchkeeper/tools/logs"
	"github.com/watchkeeper/watchkeeper/tools/rca"
)

// analyzeCmd groups the offline analysis commands. Their output contracts
// are fixed (benchmark scorers parse them): results on stdout only, logs
// on stderr, exit 0 on success.
func analyzeCmd(stdio IO) *cobra.Command {
	cmd := &cobra.Command{Use: "analyze", Short: "Offline analysis of files: anomalies, log templates, root causes, trace sampling"}
	cmd.AddCommand(analyzeDetectCmd(stdio), analyzeLogsCmd(stdio), analyzeRCACmd(stdio), analyzeSampleCmd(stdio))
	return cmd
}

// openInput opens FILE, or standard input for "-".
func openInput(stdio IO, input string) (io.Reader, func(), error) {
	if input == "" {
		return nil, nil, usageError{errors.New("--input FILE is required (- reads standard input)")}
	}
	if input == "-" {
		return stdio.In, func() {}, nil
	}
	f, err := os.Open(input)
	if err != nil {
		return nil, nil, usageError{fmt.Errorf("--input: %w", err)}
	}
	return f, func() { f.Close() }, nil
}

func analyzeDetectCmd(stdio IO) *cobra.Command {
	var input, detector string
	cmd := &cobra.Command{
		Use:   "detect --input FILE.csv [--detector NAME]",
		Short: "Score every point of a series for anomalies; CSV timestamp,value,anomaly_score on stdout",
		Long: `Reads a CSV with the header timestamp,value (timestamps YYYY-MM-DD HH:MM:SS or Unix seconds)
and writes timestamp,value,anomaly_score: one row per input row, in order, the score in [0, 1].
Scores are causal: a row's score uses only that row and the rows before it. A value that is
not a finite number scores 0, and repeated or backward timestamps are scored in input order,
each with a warning on stderr; a malformed line stops the run with its line number (exit 2).

Detectors: ` + strings.Join(anomaly.Kinds, ", ") + ` (default ensemble, the best: how far the
value, its recent mean and its local spread go beyond everything seen before, and the residual
from the daily rhythm when the series has one, plus calibrated local deviations).

  watchkeeper analyze detect --input cpu.csv > scored.csv`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			d, err := anomaly.NewDetector(detector, anomaly.Options{})
			if err != nil {
				return usageError{err}
			}
			r, done, err := openInput(stdio, input)
			if err != nil {
				return err
			}
			defer done()
			// Scored as it is read, so memory stays flat however long the
			// series; a bad line stops the run with its number.
			w := bufio.NewWriterSize(stdio.Out, 1<<16)
			warnings, err := anomaly.ScoreCSV(r, w, d)
			for _, x := range warnings {
				fmt.Fprintf(stdio.Err, "warning: %s: %s\n", inputName(input), x)
			}
			if bad := (*anomaly.InputError)(nil); errors.As(err, &bad) {
				return usageError{fmt.Errorf("%s: %w", inputName(input), err)}
			}
			if err != nil {
				return fmt.Errorf("write CSV: %w", err)
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&input, "input", "", "CSV file, or - for standard input")
	cmd.Flags().StringVar(&detector, "detector", "ensemble", "detector: "+strings.Join(anomaly.Kinds, ", "))
	return cmd
}

func analyzeRCACmd(stdio IO) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "rca --case DIR",
		Short: "Rank the likely root-cause services of a case; JSON on stdout",
		Long: `Reads a case folder in the common RCA format — case.json (fault_time is used as the onset
when present), metrics.csv (timestamp,service,metric,value), and optionally topology.csv
(caller,callee), baseline.csv (normal data of another period, metrics.csv's columns),
events.csv (timestamp,service,kind[,detail]) and spans.jsonl (traces, docs/traces.md: self
time, network time per call edge and errors by origin join the metrics) — and prints
{"ranking": [{"service": …, "score": …, "evidence": […]}, …], "confidence": …, "signature": …},
most likely first.

  watchkeeper sandbox export --scenario bad-deploy --out /tmp/case && watchkeeper analyze rca --case /tmp/case`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if dir == "" {
				return usageError{errors.New("--case DIR is required")}
			}
			c, err := rca.LoadCase(dir)
			if err != nil {
				return usageError{fmt.Errorf("case %s: %w", dir, err)}
			}
			for _, w := range c.Warnings {
				fmt.Fprintf(stdio.Err, "warning: %s\n", w)
			}
			res := rca.Analyze(c, rca.Options{})
			for i := range res.Ranking {
				ev := res.Ranking[i].Evidence
				res.Ranking[i].Evidence = ev[:min(3, len(ev))]
			}
			enc := json.NewEncoder(stdio.Out)
			enc.SetIndent("", " ")
			return enc.Encode(res)
		},
	}
	cmd.Flags().StringVar(&dir, "case", "", "case folder")
	return cmd
}

func inputName(input string) string {
	if input == "-" {
		return "standard input"
	}
	return input
}

func analyzeLogsCmd(stdio IO) *cobra.Command {
	var (
		input  string
		format string
		masks  []string
	)
	cmd := &cobra.Command{
		Use:   "logs --input FILE --format FORMAT [--mask REGEX]...",
		Short: "Group log lines into templates; CSV LineId,EventId,EventTemplate on stdout",
		Long: `Mines the templates of a log file. --format is a logparser (Loghub) log_format: a
regular expression in which <Field> names a field and <Content> is the message to mine;
the text between fields is regular expression (\[ for a bracket, (…)? for an optional
part, a|b for either) in which spaces match \s+. A line that does not match the format is
mined whole. JSON and logfmt lines are mined by their message field. --mask regular
expressions (repeatable) mark known variables.

  watchkeeper analyze logs --input HDFS_2k.log --format '<Date> <Time> <Pid> <Level> <Component>: <Content>'
  watchkeeper analyze logs --input syslog --format '<Month> <Day> <Time> <Host> <Service>(\[<Pid>\])?: <Content>'
  kubectl logs deploy/checkout | watchkeeper analyze logs --input - --format '<Content>'`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if format == "" {
				return usageError{errors.New(`--format is required, e.g. '<Date> <Time> <Level> <Component>: <Content>' (or '<Content>' for whole lines)`)}
			}
			f, err := logs.ParseFormat(format)
			if err != nil {
				return usageError{fmt.Errorf("--format: %w", err)}
			}
			var cfg logs.MinerConfig
			for _, m := range masks {
				re, err := logs.CompileMask(m)
				if errors.Is(err, logs.ErrUnsupportedMask) {
					// Valid Python that RE2 lacks: masks are hints, so the
					// file is mined without this one rather than not at all.
					fmt.Fprintf(stdio.Err, "warning: --%v; it is ignored\n", err)
					continue
				}
				if err != nil {
					return usageError{fmt.Errorf("--%w", err)}
				}
				cfg.Masks = append(cfg.Masks, re)
			}
			r, done, err := openInput(stdio, input)
			if err != nil {
				return err
			}
			defer done()
			res, err := logs.ParseLines(r, f, cfg)
			if err != nil {
				return fmt.Errorf("%s: %w", inputName(input), err)
			}
			w := bufio.NewWriterSize(stdio.Out, 1<<16)
			if err := res.WriteCSV(w); err != nil {
				return fmt.Errorf("write CSV: %w", err)
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&input, "input", "", "log file, or - for standard input")
	cmd.Flags().StringVar(&format, "format", "", "logparser log format of each line (a regular expression with <Field>s)")
	cmd.Flags().StringArrayVar(&masks, "mask", nil, "regular expression whose matches are variables (repeatable)")
	return cmd
}
