package storetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// PostgresCluster stops ("stop") or starts ("start") the machine's own
// PostgreSQL cluster, for the fault tests that take the database away
// (they run alone: make test-faults). Stopping disconnects clients at once.
func PostgresCluster(action string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	versions, err := os.ReadDir("/etc/postgresql")
	if err != nil || len(versions) == 0 {
		return errors.Join(fmt.Errorf("no PostgreSQL cluster to %s", action), err)
	}
	args := []string{"--skip-systemctl-redirect", versions[0].Name(), "main", action}
	if action == "stop" {
		args = append(args, "--", "-m", "fast")
	}
	// Output goes to a file, not a pipe: the server that "start" launches
	// inherits the descriptors and would hold a pipe open for ever.
	logFile, err := os.CreateTemp("", "pg_ctlcluster-*.log")
	if err != nil {
		return err
	}
	defer os.Remove(logFile.Name())
	defer logFile.Close()
	cmd := exec.CommandContext(ctx, "pg_ctlcluster", args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Run(); err != nil {
		out, _ := os.ReadFile(logFile.Name())
		if !strings.Contains(string(out), "already running") {
			return fmt.Errorf("pg_ctlcluster %s: %w\n%s", action, err, out)
		}
	}
	return nil
}
