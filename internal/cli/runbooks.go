package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/watchkeeper/watchkeeper/internal/sandbox"
	"github.com/watchkeeper/watchkeeper/runbooks"
	"github.com/watchkeeper/watchkeeper/tools/runbook"
)

func runbooksCmd(g *globals, stdio IO) *cobra.Command {
	cmd := &cobra.Command{Use: "runbooks", Short: "List, read and check the runbooks (Markdown with front matter)"}
	var dir string
	// load reads the runbooks of --dir, else runbooks.dir, else the
	// shipped examples; shipped reports which.
	load := func() (books []runbook.Runbook, where string, shipped bool, err error) {
		if dir == "" {
			l, err := g.load(stdio)
			if err != nil {
				return nil, "", false, err
			}
			dir = l.Runbooks.Dir
		}
		var fsys fs.FS = runbooks.Examples
		where, shipped = "the shipped examples", true
		if dir != "" {
			if _, err := os.Stat(dir); err != nil {
				return nil, "", false, usageError{fmt.Errorf("runbooks directory: %w", err)}
			}
			fsys, where, shipped = os.DirFS(dir), dir, false
		}
		books, err = runbook.Load(fsys)
		if err != nil {
			return nil, "", false, fmt.Errorf("read the runbooks in %s: %w", where, err)
		}
		return books, where, shipped, nil
	}
	cmd.PersistentFlags().StringVar(&dir, "dir", "", "runbooks directory (default: runbooks.dir, else the shipped examples)")
	cmd.AddCommand(runbooksListCmd(stdio, load), runbooksShowCmd(stdio, load), runbooksLintCmd(stdio, load))
	return cmd
}

// runbookLoader reads the runbooks a runbooks subcommand works on.
type runbookLoader func() (books []runbook.Runbook, where string, shipped bool, err error)

func runbooksListCmd(stdio IO, load runbookLoader) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the runbooks: file, title and the alerts each covers",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			books, where, _, err := load()
			if err != nil {
				return err
			}
			if len(books) == 0 {
				fmt.Fprintf(stdio.Out, "No runbooks in %s.\n", where)
				return nil
			}
			w := tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "FILE\tTITLE\tALERTS")
			for _, rb := range books {
				title := rb.Title
				if rb.Problem != "" {
					title = "(" + rb.Problem + ")"
				}
				alerts := strings.Join(rb.Alerts, ", ")
				if alerts == "" {
					alerts = "-"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\n", rb.Path, title, alerts)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(stdio.Out, "%d runbooks in %s; read one with: watchkeeper runbooks show FILE|TITLE|ALERT\n", len(books), where)
			return nil
		},
	}
}

func runbooksShowCmd(stdio IO, load runbookLoader) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Print a runbook's Markdown, found by file name, title or an alert it covers",
		Long: `Prints the runbook NAME names: its file name (with or without .md), its title, or an alert
it covers (the first runbook that covers it, by file name). Exits 2 with the list of runbooks
when none matches.

  watchkeeper runbooks show high-error-rate
  watchkeeper runbooks show HighErrorRate`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			books, where, _, err := load()
			if err != nil {
				return err
			}
			rb, others, ok := findRunbook(books, args[0])
			if !ok {
				width := 0
				for _, b := range books {
					width = max(width, len(b.Path))
				}
				var names []string
				for _, b := range books {
					names = append(names, fmt.Sprintf("  %-*s  %s", width, b.Path, b.Title))
				}
				return usageError{fmt.Errorf("no runbook in %s is named %q or covers an alert of that name; the runbooks are:\n%s",
					where, args[0], strings.Join(names, "\n"))}
			}
			fmt.Fprint(stdio.Out, rb.Body)
			if !strings.HasSuffix(rb.Body, "\n") {
				fmt.Fprintln(stdio.Out)
			}
			if len(others) > 0 {
				fmt.Fprintf(stdio.Err, "(%s covers %s too)\n", strings.Join(others, ", "), args[0])
			}
			return nil
		},
	}
}

// findRunbook finds name among books: a file name (with or without .md,
// or its base name), else a title, else a covered alert. For an alert,
// others are the further runbooks that cover it. Names compare without
// case.
func findRunbook(books []runbook.Runbook, name string) (found runbook.Runbook, others []string, ok bool) {
	want := strings.ToLower(strings.TrimSpace(name))
	for _, rb := range books {
		p := strings.ToLower(rb.Path)
		if want == p || want+".md" == p || want == path.Base(p) || want+".md" == path.Base(p) {
			return rb, nil, true
		}
	}
	for _, rb := range books {
		if rb.Title != "" && strings.EqualFold(rb.Title, want) {
			return rb, nil, true
		}
	}
	for _, rb := range books {
		for _, a := range rb.Alerts {
			if strings.EqualFold(a, want) {
				if ok {
					others = append(others, rb.Path)
				} else {
					found, ok = rb, true
				}
				break
			}
		}
	}
	return found, others, ok
}

func runbooksLintCmd(stdio IO, load runbookLoader) *cobra.Command {
	var rules []string
	lint := &cobra.Command{
		Use:   "lint",
		Short: "Check front matter, links between runbooks, and alerts without a runbook",
		Long: `Checks every runbook: front matter with a title, links to other runbooks that exist, and — given
Prometheus rule files — that every alert has a runbook. Without --rules, the shipped examples are
checked against the sandbox's own alerting rules. Exits 1 when something is wrong.

  watchkeeper runbooks lint --dir ./runbooks --rules /etc/prometheus/rules/*.yml`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			books, where, shipped, err := load()
			if err != nil {
				return err
			}
			alerts, err := alertNames(rules)
			if err != nil {
				return err
			}
			against := fmt.Sprintf("all %d alerts have a runbook", len(alerts))
			if len(rules) == 0 && shipped {
				// The examples serve the demo: every alert the sandbox can
				// fire should find one.
				alerts = alertNamesIn(sandbox.AlertRulesFile())
				against = fmt.Sprintf("all %d alerts of the sandbox have a runbook", len(alerts))
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
				fmt.Fprintf(stdio.Out, "; %s", against)
			}
			fmt.Fprintln(stdio.Out)
			return nil
		},
	}
	lint.Flags().StringSliceVar(&rules, "rules", nil, "Prometheus rule files whose alerts need a runbook")
	return lint
}

var alertRE = regexp.MustCompile(`(?m)^\s*-?\s*alert:\s*["']?([A-Za-z_:][A-Za-z0-9_:]*)`)

// alertNames reads the alert names of Prometheus rule files.
func alertNames(files []string) ([]string, error) {
	var all []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, usageError{fmt.Errorf("rule file: %w", err)}
		}
		all = append(all, alertNamesIn(b)...)
	}
	if len(files) > 0 && len(all) == 0 {
		return nil, usageError{errors.New("the rule files define no alerts")}
	}
	return uniqueSorted(all), nil
}

// alertNamesIn returns the alert names of one rule file, sorted.
func alertNamesIn(b []byte) []string {
	var out []string
	for _, m := range alertRE.FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	return uniqueSorted(out)
}

func uniqueSorted(s []string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}
