package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/watchkeeper/watchkeeper/internal/config"
	"github.com/watchkeeper/watchkeeper/internal/store"
)

func auditCmd(g *globals, stdio IO) *cobra.Command {
	var (
		limit  int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Print the audit log: proposals, decisions, executions (newest first, or JSON lines to export)",
		Long: `Prints who proposed, approved, rejected and executed what, and the outcome, from the store:
one line per entry with the proposal, its tool and summary, cut to the terminal's width.

  watchkeeper audit                     # the newest 50 entries as a table
  watchkeeper audit --json --limit 0    # everything, oldest first, one JSON object per line`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, _, err := g.store(cmd.Context(), stdio)
			if err != nil {
				return err
			}
			defer s.Close()
			n := limit
			if n <= 0 {
				n = 1 << 30
			}
			entries, err := s.ListAudit(cmd.Context(), n)
			if err != nil {
				return err
			}
			if asJSON {
				// Oldest first: an export reads like a log.
				slices.Reverse(entries)
				enc := json.NewEncoder(stdio.Out)
				for _, e := range entries {
					rec := map[string]any{"id": e.ID, "time": e.Time.UTC().Format(time.RFC3339Nano), "actor": e.Actor,
						"action": e.Action, "target": e.Target, "outcome": e.Outcome}
					if e.Details != "" {
						rec["details"] = json.RawMessage(e.Details)
					}
					if err := enc.Encode(rec); err != nil {
						return err
					}
				}
				return nil
			}
			if len(entries) == 0 {
				fmt.Fprintln(stdio.Out, "The audit log is empty.")
				return nil
			}
			about := auditSubjects(cmd.Context(), s, entries)
			return printAudit(stdio.Out, entries, about, outputWidth(stdio))
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 50, "entries to print; 0 for all (at most the newest 10,000)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "JSON lines, oldest first (for export)")
	return cmd
}

// openStore opens the configured store for a command that reads it.
// store loads the configuration and opens the store it names; the caller
// closes it.
func (g *globals) store(ctx context.Context, stdio IO) (store.Backend, config.Config, error) {
	l, err := g.load(stdio)
	if err != nil {
		return nil, config.Config{}, err
	}
	s, err := openStore(ctx, l.Config)
	if err != nil {
		return nil, config.Config{}, err
	}
	return s, l.Config, nil
}

func openStore(ctx context.Context, cfg config.Config) (store.Backend, error) {
	s, err := store.Open(ctx, cfg.Store.Driver, cfg.Store.Path, cfg.Store.DSN.Reveal())
	if err != nil {
		where := cfg.Store.Path
		if cfg.Store.Driver == "postgres" {
			where = "in PostgreSQL"
		}
		return nil, fmt.Errorf("open the store %s: %w", where, err)
	}
	return s, nil
}

// auditSubjects says what each proposal in entries is about, "TOOL:
// SUMMARY", from the entries' own details (propose and execute record the
// tool) or, for a proposal whose proposing entry is older than the page,
// from the store. Approvals, rejections and verifications record only
// the proposal's ID, which alone tells a reader nothing.
func auditSubjects(ctx context.Context, s store.Proposals, entries []store.AuditEntry) map[string]string {
	tools, summaries := map[string]string{}, map[string]string{}
	for _, e := range entries {
		var d struct{ Tool, Summary string }
		if e.Details == "" || json.Unmarshal([]byte(e.Details), &d) != nil {
			continue
		}
		if d.Tool != "" {
			tools[e.Target] = d.Tool
		}
		if d.Summary != "" {
			summaries[e.Target] = d.Summary
		}
	}
	about := map[string]string{}
	for _, e := range entries {
		t := e.Target
		if _, done := about[t]; done || t == "" {
			continue
		}
		if summaries[t] == "" && strings.HasPrefix(t, "prop_") {
			if p, err := s.GetProposal(ctx, t); err == nil {
				tools[t], summaries[t] = p.Tool, p.Summary
			}
		}
		switch {
		case tools[t] != "" && summaries[t] != "":
			about[t] = tools[t] + ": " + summaries[t]
		default:
			about[t] = tools[t] + summaries[t]
		}
	}
	return about
}

// Audit table columns are cut to these widths (runes) at most, and to the
// minimums when the line is narrow; what the entry is about takes the
// rest of the line.
const (
	auditActorWidth   = 20
	auditOutcomeWidth = 28
	auditMinActor     = 12
	auditMinOutcome   = 12
	auditMinAbout     = 20
	auditLeastAbout   = 10
)

// printAudit writes entries as a table fitted to width: TIME, ACTOR,
// ACTION, PROPOSAL, OUTCOME, then what the proposal is about. On a narrow
// terminal the outcome and the actor are cut first, then the time loses
// its year and seconds, and what is left goes to ABOUT.
func printAudit(w io.Writer, entries []store.AuditEntry, about map[string]string, width int) error {
	const (
		colTime = iota
		colActor
		colAction
		colTarget
		colOutcome
		colAbout
	)
	header := []string{"TIME", "ACTOR", "ACTION", "PROPOSAL", "OUTCOME", "ABOUT"}
	natural := make([]int, len(header))
	for i, h := range header {
		natural[i] = utf8.RuneCountInString(h)
	}
	for _, e := range entries {
		for i, c := range []string{e.Actor, e.Action, e.Target, oneLine(e.Outcome)} {
			natural[i+1] = max(natural[i+1], utf8.RuneCountInString(c))
		}
	}
	natural[colTime] = len("2006-01-02 15:04:05")
	natural[colActor] = min(natural[colActor], auditActorWidth)
	natural[colOutcome] = min(natural[colOutcome], auditOutcomeWidth)
	fixed := func() int {
		n := 0
		for _, c := range natural[:colAbout] {
			n += c + 2
		}
		return n
	}
	shrink := func(col, least int) {
		if over := fixed() + auditMinAbout - width; over > 0 {
			natural[col] = max(natural[col]-over, min(least, natural[col]))
		}
	}
	shrink(colOutcome, auditMinOutcome)
	shrink(colActor, auditMinActor)
	timeLayout := "2006-01-02 15:04:05"
	if fixed()+auditMinAbout > width {
		timeLayout = "01-02 15:04"
		natural[colTime] = len(timeLayout)
	}
	aboutWidth := max(width-fixed(), auditLeastAbout)

	var b strings.Builder
	row := func(cells ...string) error {
		b.Reset()
		for i, c := range cells[:colAbout] {
			fmt.Fprintf(&b, "%-*s  ", natural[i], cut(c, natural[i]))
		}
		b.WriteString(cut(cells[colAbout], aboutWidth))
		_, err := fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
		return err
	}
	if err := row(header...); err != nil {
		return err
	}
	for _, e := range entries {
		if err := row(e.Time.UTC().Format(timeLayout), e.Actor, e.Action, e.Target, oneLine(e.Outcome), oneLine(about[e.Target])); err != nil {
			return err
		}
	}
	return nil
}

// outputWidth is the width to fit tables to: $COLUMNS, else the
// terminal's, else 120 (a file or a pipe; --json is the export).
func outputWidth(stdio IO) int {
	for _, kv := range stdio.Environ {
		if v, ok := strings.CutPrefix(kv, "COLUMNS="); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return n
			}
		}
	}
	if f, ok := stdio.Out.(*os.File); ok {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			return w
		}
	}
	return 120
}

// cut shortens s to n runes, marking the cut with "…".
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:max(n-1, 0)]) + "…"
}

// oneLine joins s's lines, so that one entry stays one row.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
