package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

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
		Long: `Prints who proposed, approved, rejected and executed what, and the outcome, from the store.

  watchkeeper audit                     # the newest 50 entries as a table
  watchkeeper audit --json --limit 0    # everything, oldest first, one JSON object per line`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := g.load(stdio)
			if err != nil {
				return err
			}
			s, err := openStore(cmd.Context(), l.Config)
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
			w := tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "TIME\tACTOR\tACTION\tTARGET\tOUTCOME")
			for _, e := range entries {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", e.Time.UTC().Format("2006-01-02 15:04:05"), e.Actor, e.Action, e.Target, e.Outcome)
			}
			return w.Flush()
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 50, "entries to print; 0 for all (at most the newest 10,000)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "JSON lines, oldest first (for export)")
	return cmd
}

// openStore opens the configured store for a command that reads it.
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
