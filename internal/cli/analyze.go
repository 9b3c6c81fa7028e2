package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"

	"github.com/spf13/cobra"

	"github.com/watchkeeper/watchkeeper/tools/logs"
)

// analyzeCmd groups the offline analysis commands. Their output contracts
// are fixed (benchmark scorers parse them): results on stdout only, logs
// on stderr, exit 0 on success.
func analyzeCmd(stdio IO) *cobra.Command {
	cmd := &cobra.Command{Use: "analyze", Short: "Offline analysis of files: log templates (and later anomalies and root causes)"}
	cmd.AddCommand(analyzeLogsCmd(stdio))
	return cmd
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
		Long: `Mines the templates of a log file. --format is the Loghub log_format notation: <Field>
names a field, <Content> is the message to mine, and the text between fields is a
regular-expression fragment in which spaces match \s+. A line that does not match the
format is mined whole. --mask regular expressions (repeatable) mark known variables.

  watchkeeper analyze logs --input HDFS_2k.log --format '<Date> <Time> <Pid> <Level> <Component>: <Content>'
  kubectl logs deploy/checkout | watchkeeper analyze logs --input - --format '<Content>'`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if input == "" {
				return usageError{errors.New("--input FILE is required (- reads standard input)")}
			}
			if format == "" {
				return usageError{errors.New(`--format is required, e.g. '<Date> <Time> <Level> <Component>: <Content>' (or '<Content>' for whole lines)`)}
			}
			f, err := logs.ParseFormat(format)
			if err != nil {
				return usageError{err}
			}
			var cfg logs.MinerConfig
			for _, m := range masks {
				re, err := regexp.Compile(m)
				if err != nil {
					return usageError{fmt.Errorf("--mask %q: %w", m, err)}
				}
				cfg.Masks = append(cfg.Masks, re)
			}
			var r io.Reader = stdio.In
			if input != "-" {
				file, err := os.Open(input)
				if err != nil {
					return usageError{fmt.Errorf("--input: %w", err)}
				}
				defer file.Close()
				r = file
			}
			res, err := logs.ParseLines(r, f, logs.NewMiner(cfg))
			if err != nil {
				return err
			}
			w := bufio.NewWriterSize(stdio.Out, 1<<16)
			if err := res.WriteCSV(w); err != nil {
				return fmt.Errorf("write CSV: %w", err)
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&input, "input", "", "log file, or - for standard input")
	cmd.Flags().StringVar(&format, "format", "", "Loghub log format of each line")
	cmd.Flags().StringArrayVar(&masks, "mask", nil, "regular expression whose matches are variables (repeatable)")
	return cmd
}
