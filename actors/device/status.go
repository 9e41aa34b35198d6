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

// setStatus records a connectivity decision (SPEC §4): Online or Offline.
func (d *device) setStatus(s telemetry.Status) {
	if d.status == s {
		return
	}
	d.logger().Info("device status changed", "from", string(d.status), "to", string(s))
	from := d.status
	d.status = s
	d.connectivityChanged(from)
	d.refreshStatus()
}

// shownStatus is the node's status as SPEC §4 has it: Maintenance during a
// window; else Offline when it is; else Alert while a critical alert is
// open; else its connectivity. (An offline device has a critical offline
// alert open: it shows Offline, which says more.)
func (d *device) shownStatus() telemetry.Status {
	now := d.cfg.Now()
	switch {
	case d.inMaintenance(now):
		return telemetry.StatusMaintenance
	case d.status == telemetry.StatusOnline && d.alerts.engine != nil && d.alerts.engine.CriticalOpen():
		return telemetry.StatusAlert
	}
	return d.status
}

// refreshStatus publishes and persists the shown status when it changed.
func (d *device) refreshStatus() {
	s := d.shownStatus()
	if s == d.shown {
		return
	}
	d.shown = s
	d.publishStatus()
	d.persistStatus()
}

// connectivity is the Online/Offline part of a stored status: a node shown
// in Alert was online; one in Maintenance is taken to be until the first
// poll or the staleness check says otherwise.
func connectivity(s telemetry.Status) telemetry.Status {
	if s == telemetry.StatusAlert || s == telemetry.StatusMaintenance {
		return telemetry.StatusOnline
	}
	return s
}

// persistStatus stores the shown status unless it is stored already or a
// store call is under way (its answer persists whatever is current then).
func (d *device) persistStatus() {
	if d.saving || d.shown == d.saved || d.done || d.self == nil {
		return
	}
	d.saving = true
	store, id, status := d.cfg.Store, d.cfg.Node.ID, d.shown
	var lastSeen *time.Time
	if !d.lastSeen.IsZero() {
		t := d.lastSeen
		lastSeen = &t
	}
	msg := &statusSaved{reportOf: reportOf{d}, status: status}
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
	d.carry.setStatus(d.status, m.status)
	d.persistStatus()
}

func isNotFound(err error) bool { return errors.Is(err, telemetry.ErrNotFound) }
