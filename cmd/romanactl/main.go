// Command romanactl installs and upgrades the Romana network plugin on Kubernetes.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	// First: it sets the garbage collector's start-up target before the heavy package
	// inits run (see startup.startGCPercent).
	_ "github.com/romana/romanactl/internal/startup"
)

func main() {
	// SIGINT/SIGTERM cancel the context: a wait stops, --atomic undoes, and the release
	// ends deployed, failed or rolled back, never pending.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	root := newRootCmd(os.Stdout, os.Stderr)
	err := root.ExecuteContext(ctx)
	stop()
	if err == nil {
		return
	}
	if !isQuiet(err) {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
	}
	os.Exit(exitCode(err))
}
