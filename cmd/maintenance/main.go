// Command maintenance puts web sites into maintenance mode and back, and
// manages the rules that let operators, health checks and webhooks through.
// Run "maintenance help" for its commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/gomaint/maintenance/internal/safetext"
)

func main() {
	ctx, _ := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	os.Exit(exitCode(err, safetext.NewWriter(os.Stderr)))
}
