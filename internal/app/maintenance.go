package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/evaratech/evara/cluster"
	"github.com/evaratech/evara/internal/keyring"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/webhook"
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

// webhookDispatcherKey is hashed over the members like a device id: its
// owner sends the webhooks.
const webhookDispatcherKey telemetry.NodeID = "webhook-dispatcher"

// newWebhookDispatcher returns the dispatcher of the webhook deliveries,
// nil when the store keeps none. Only one may send per database (the
// store does not claim deliveries): in a cluster, the member that owns
// the dispatcher's key by rendezvous hashing, as it would own a device.
// In production it sends to public addresses only.
func newWebhookDispatcher(st any, kr *keyring.Keyring, member *cluster.Member, wake <-chan struct{}, production bool, reg prometheus.Registerer, log *slog.Logger) (*webhook.Dispatcher, error) {
	ws, ok := st.(webhook.Store)
	if !ok {
		return nil, nil
	}
	active := func() bool { return member.Owner(webhookDispatcherKey) == member.Address() }
	d, err := webhook.NewDispatcher(ws, kr, webhook.Options{Logger: log.With("component", "webhooks"), Registerer: reg, Active: active, Wake: wake,
		PublicOnly: production})
	if err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	return d, nil
}
