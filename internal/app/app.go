package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"text/tabwriter"

	"github.com/evaratech/evara/internal/config"
)

// Build identifies the binary; cmd/evara fills it from -ldflags.
type Build struct {
	Version string
	Commit  string
}

// Run executes cfg.Command until it finishes or ctx is cancelled (a signal).
// Human-facing output (version, config check, cluster status, token,
// users promote) goes to stdout; everything else is logged.
func Run(ctx context.Context, cfg config.Config, build Build, log *slog.Logger, stdout io.Writer) error {
	if cfg.Command == config.CmdConfigCheck {
		return configCheck(cfg, stdout)
	}
	if cfg.Command == config.CmdVersion {
		_, err := fmt.Fprintf(stdout, "evara %s (commit %s, %s)\n", build.Version, orUnknown(build.Commit), runtime.Version())
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	switch cfg.Command {
	case config.CmdServe:
		return serve(ctx, cfg, build, log)
	case config.CmdSim:
		return runSim(ctx, cfg, log)
	case config.CmdKeysRotate:
		return keysRotate(ctx, cfg, log, stdout)
	case config.CmdMigrate:
		return migrate(ctx, cfg, log, stdout)
	case config.CmdClusterStat:
		return clusterStatus(ctx, cfg, stdout)
	case config.CmdToken:
		return mintToken(cfg, stdout)
	case config.CmdUsersPromote:
		return usersPromote(ctx, cfg, log, stdout)
	case config.CmdBenchWS:
		return benchWS(ctx, cfg, stdout)
	}
	return fmt.Errorf("unknown command %q", cfg.Command)
}

// configCheck prints the effective configuration, secrets redacted, and
// returns every problem when it is invalid.
func configCheck(cfg config.Config, stdout io.Writer) error {
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tFLAG\tVALUE\tSOURCE")
	for _, it := range cfg.Describe() {
		flag := "-"
		if it.Flag != "" {
			flag = "--" + it.Flag
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", it.Name, flag, orDash(it.Value), it.Source)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("configuration is invalid:\n%w", err)
	}
	_, err := fmt.Fprintln(stdout, "configuration is valid")
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
