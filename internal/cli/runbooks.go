package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"sort"

	"github.com/spf13/cobra"

	"github.com/watchkeeper/watchkeeper/runbooks"
	"github.com/watchkeeper/watchkeeper/tools/runbook"
)

func runbooksCmd(g *globals, stdio IO) *cobra.Command {
	cmd := &cobra.Command{Use: "runbooks", Short: "Work with the runbooks (Markdown with front matter)"}
	var (
		dir   string
		rules []string
	)
	lint := &cobra.Command{
		Use:   "lint",
		Short: "Check front matter, links between runbooks, and alerts without a runbook",
		Long: `Checks every runbook: front matter with a title, links to other runbooks that exist, and — given
Prometheus rule files — that every alert has a runbook. Exits 1 when something is wrong.

  watchkeeper runbooks lint --dir ./runbooks --rules /etc/prometheus/rules/*.yml`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if dir == "" {
				l, err := g.load(stdio)
				if err != nil {
					return err
				}
				dir = l.Runbooks.Dir
			}
			var fsys fs.FS = runbooks.Examples
			where := "the shipped examples"
			if dir != "" {
				if _, err := os.Stat(dir); err != nil {
					return usageError{fmt.Errorf("runbooks directory: %w", err)}
				}
				fsys, where = os.DirFS(dir), dir
			}
			books, err := runbook.Load(fsys)
			if err != nil {
				return err
			}
			alerts, err := alertNames(rules)
			if err != nil {
				return err
			}
			problems := runbook.Lint(books, alerts)
			for _, p := range problems {
				fmt.Fprintln(stdio.Out, p)
			}
			if len(problems) > 0 {
				return fmt.Errorf("%d problems in %d runbooks (%s)", len(problems), len(books), where)
			}
			fmt.Fprintf(stdio.Out, "%d runbooks in %s: no problems", len(books), where)
			if len(alerts) > 0 {
				fmt.Fprintf(stdio.Out, "; all %d alerts have a runbook", len(alerts))
			}
			fmt.Fprintln(stdio.Out)
			return nil
		},
	}
	lint.Flags().StringVar(&dir, "dir", "", "runbooks directory (default: runbooks.dir, else the shipped examples)")
	lint.Flags().StringSliceVar(&rules, "rules", nil, "Prometheus rule files whose alerts need a runbook")
	cmd.AddCommand(lint)
	return cmd
}

var alertRE = regexp.MustCompile(`(?m)^\s*-?\s*alert:\s*["']?([A-Za-z_:][A-Za-z0-9_:]*)`)

// alertNames reads the alert names of Prometheus rule files.
func alertNames(files []string) ([]string, error) {
	seen := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, usageError{fmt.Errorf("rule file: %w", err)}
		}
		for _, m := range alertRE.FindAllStringSubmatch(string(b), -1) {
			seen[m[1]] = true
		}
	}
	if len(files) > 0 && len(seen) == 0 {
		return nil, usageError{errors.New("the rule files define no alerts")}
	}
	out := make([]string, 0, len(seen))
	for a := range seen {
		out = append(out, a)
	}
	sort.Strings(out)
	return out, nil
}
