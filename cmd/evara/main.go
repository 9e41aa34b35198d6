// Command evara is the Evara backend: `evara serve`, the ThingSpeak
// simulator `evara sim`, and the operator commands. See `evara -h`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/evaratech/evara/internal/app"
	"github.com/evaratech/evara/internal/config"
)

// Set at build time: go build -ldflags "-X main.version=… -X main.commit=…".
var (
	version = "dev"
	commit  = ""
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx)
	stop()
	os.Exit(code)
}

func run(ctx context.Context) int {
	cfg, err := config.Load(os.Args[1:], os.Getenv)
	var usage *config.UsageError
	if errors.As(err, &usage) {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Print(usage.Text)
			return 0
		}
		fmt.Fprintf(os.Stderr, "evara: %v\n\n%s", err, usage.Text)
		return 2
	}
	log := app.NewLogger(cfg, os.Stderr)
	if err := app.Run(ctx, cfg, app.Build{Version: version, Commit: commit}, log, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "evara: %v\n", err)
		return 1
	}
	return 0
}
