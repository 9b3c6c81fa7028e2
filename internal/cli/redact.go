package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/watchkeeper/watchkeeper/internal/redact"
)

func redactCmd(g *globals, stdio IO) *cobra.Command {
	var count bool
	cmd := &cobra.Command{
		Use:   "redact",
		Short: "Check what Watchkeeper would send to a language model or Slack: print standard input with secrets masked",
		Long: `Reads standard input and writes it to standard output as a language model or Slack would
see it: every secret Watchkeeper recognises — tokens, passwords, keys, cookies, credentials in
URLs, and the secret values of the loaded configuration — is replaced by [REDACTED]. Use it to
check what leaves your network, before pointing Watchkeeper at a source.

  kubectl logs deploy/checkout | watchkeeper redact
  watchkeeper redact --count < app.log > /dev/null    # only how many secrets were masked`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			l, err := g.load(stdio)
			if err != nil {
				return err
			}
			// The same redactor as the server's: built-in rules plus the
			// configuration's own secrets.
			n, err := redact.New(l.Secrets()...).Copy(stdio.Out, stdio.In)
			if err != nil {
				return fmt.Errorf("redact standard input: %w", err)
			}
			if count {
				word := "secrets"
				if n == 1 {
					word = "secret"
				}
				fmt.Fprintf(stdio.Err, "%d %s masked\n", n, word)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&count, "count", false, "print to standard error how many secrets were masked")
	return cmd
}
