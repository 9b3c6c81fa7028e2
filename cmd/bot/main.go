// Command watchkeeper is the Watchkeeper binary. It turns SIGTERM into
// context cancellation and hands over to internal/cli; everything else lives
// in packages that tests can run in-process.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/watchkeeper/watchkeeper/internal/cli"
)

func main() {
	os.Exit(run())
}

func run() int {
	// SIGINT is left to the commands: in an interactive chat it cancels
	// the running question rather than the process.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	return cli.Run(ctx, os.Args[1:], cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Environ: os.Environ()})
}
