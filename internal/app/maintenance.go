package app

import (
	"context"
	"log/slog"
	"time"
)

// retentionEvery is how often the retention job runs. Partitions are
// months, so a few runs a day keep them created ahead and dropped on time.
const retentionEvery = 6 * time.Hour

// nodeChangesKept is how long node change log entries are kept: members
// read them within a second; the rest is for operators.
const nodeChangesKept = time.Hour

// runRetention applies per-plan retention at start and then every
// retentionEvery until ctx ends. Failures are logged and retried on the next
// run: retention is housekeeping, never a reason to stop serving.
func runRetention(ctx context.Context, r retention, log *slog.Logger) error {
	for {
		start := time.Now()
		dropped, err := r.ExpireReadings(ctx, start)
		if _, perr := r.PruneNodeChanges(ctx, start.Add(-nodeChangesKept)); perr != nil && ctx.Err() == nil {
			log.Warn("pruning the node change log failed; retrying on the next run", "err", perr)
		}
		if ctx.Err() != nil {
			return nil //nolint:nilerr // stopping: an error from the cancelled run is expected
		}
		switch {
		case err != nil:
			log.Warn("reading retention failed; retrying on the next run", "err", err, "next_in", retentionEvery.String())
		case len(dropped) > 0:
			log.Info("reading retention applied", "expired", dropped, "took", time.Since(start).String())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(retentionEvery):
		}
	}
}
