package device

import (
	"context"
	"errors"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// staleAfter is how long without a new entry makes a device Offline.
func (d *device) staleAfter() time.Duration { return OfflineAfterIntervals * d.interval }

// checkStale turns the device Offline when its newest entry (or, before it
// has seen one, its start) is older than staleAfter.
func (d *device) checkStale(now time.Time) {
	since := d.lastSeen
	if since.IsZero() {
		since = d.started
	}
	if now.Sub(since) >= d.staleAfter() {
		d.setStatus(telemetry.StatusOffline)
	}
}

// setStatus records a status decision (SPEC §4) and persists it if it is
// a change.
func (d *device) setStatus(s telemetry.Status) {
	if d.status == s {
		return
	}
	d.logger().Info("device status changed", "from", string(d.status), "to", string(s))
	d.status = s
	d.publishStatus()
	d.persistStatus()
}

// persistStatus stores the current status unless it is stored already or a
// store call is under way (its answer persists whatever is current then).
func (d *device) persistStatus() {
	if d.saving || d.status == d.saved || d.done || d.self == nil {
		return
	}
	d.saving = true
	store, id, status := d.cfg.Store, d.cfg.Node.ID, d.status
	var lastSeen *time.Time
	if !d.lastSeen.IsZero() {
		t := d.lastSeen
		lastSeen = &t
	}
	msg := &statusSaved{owner: d, status: status}
	d.goAndReport(msg, storeTimeout, func(ctx context.Context) {
		msg.err = store.SetNodeStatus(ctx, id, status, lastSeen)
	})
}

func (d *device) onStatusSaved(m *statusSaved) {
	d.saving = false
	if m.err != nil {
		// The next tick tries again.
		d.logger().Warn("cannot store the device status", "status", string(m.status), "err", m.err)
		return
	}
	d.saved = m.status
	d.carry.setStatus(m.status)
	d.persistStatus()
}

func isNotFound(err error) bool { return errors.Is(err, telemetry.ErrNotFound) }
