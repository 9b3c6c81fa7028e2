package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/watchkeeper/watchkeeper/internal/store"
)

func incidentCmd(g *globals, stdio IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "incident",
		Short: "Read what is kept with incidents",
	}
	cmd.AddCommand(incidentEvidenceCmd(g, stdio))
	return cmd
}

func incidentEvidenceCmd(g *globals, stdio IO) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "evidence INCIDENT [NAME]",
		Short: "List the files kept with an incident, or write one out",
		Long: `An incident's investigation keeps what it read that the source will forget: the sampled
traces of the alerting service over the incident's window (traces.keep_with_incidents),
as spans in JSON Lines (docs/traces.md), which analyze sample and analyze rca read.

  watchkeeper incident evidence inc_20261124T1400_1                       # list
  watchkeeper incident evidence inc_20261124T1400_1 traces/checkout.jsonl # to standard output
  watchkeeper incident evidence inc_20261124T1400_1 --out /tmp/inc        # every file, under /tmp/inc`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, cfg, err := g.store(cmd.Context(), stdio)
			if err != nil {
				return err
			}
			defer s.Close()
			ctx, id := cmd.Context(), args[0]
			if len(args) == 2 && out == "" {
				e, err := s.GetEvidence(ctx, id, args[1])
				if errors.Is(err, store.ErrNotFound) {
					return usageError{fmt.Errorf("incident %s keeps no %s: list its files with `watchkeeper incident evidence %s`", id, args[1], id)}
				}
				if err != nil {
					return err
				}
				_, err = stdio.Out.Write(e.Data)
				return err
			}
			list, err := s.ListEvidence(ctx, id)
			if err != nil {
				return err
			}
			if len(args) == 2 {
				list = filterEvidence(list, args[1])
			}
			if len(list) == 0 {
				if _, err := s.GetIncident(ctx, id); errors.Is(err, store.ErrNotFound) {
					return usageError{fmt.Errorf("no incident %s in the store %s", id, cfg.Store.Path)}
				}
				fmt.Fprintf(stdio.Out, "Incident %s keeps no files.\n", id)
				return nil
			}
			if out == "" {
				tw := tabwriter.NewWriter(stdio.Out, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tBYTES\tKEPT\tSUMMARY")
				for _, e := range list {
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", e.Name, e.Size, e.CreatedAt.Format("2006-01-02 15:04:05Z07:00"), e.Summary)
				}
				return tw.Flush()
			}
			for _, meta := range list {
				e, err := s.GetEvidence(ctx, id, meta.Name)
				if err != nil {
					return err
				}
				path, err := evidencePath(out, e.Name)
				if err != nil {
					return err
				}
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					return fmt.Errorf("--out: %w", err)
				}
				if err := os.WriteFile(path, e.Data, 0o644); err != nil {
					return fmt.Errorf("--out: %w", err)
				}
				fmt.Fprintf(stdio.Out, "%s (%d bytes): %s\n", path, len(e.Data), e.Summary)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "write the files under this directory (the names are paths in it)")
	return cmd
}

func filterEvidence(list []store.Evidence, name string) []store.Evidence {
	var out []store.Evidence
	for _, e := range list {
		if e.Name == name {
			out = append(out, e)
		}
	}
	return out
}

// evidencePath is where name goes under dir. Names are made by the bot,
// but the store is a shared database: a name that would leave dir is
// refused rather than followed.
func evidencePath(dir, name string) (string, error) {
	rel := filepath.FromSlash(name)
	if !filepath.IsLocal(rel) || strings.ContainsRune(name, '\\') {
		return "", fmt.Errorf("evidence %q: not a relative path inside --out; not written", name)
	}
	return filepath.Join(dir, rel), nil
}
