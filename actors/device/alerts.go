package device

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/evaratech/evara/actors/device/alerting"
	"github.com/evaratech/evara/internal/telemetry"
)

// AlertStore is what a device needs to keep its node's alert state. Every
// call runs off the mailbox with a timeout.
type AlertStore interface {
	// EnabledRules are the node's enabled alert rules.
	EnabledRules(ctx context.Context, node telemetry.NodeID) ([]telemetry.AlertRule, error)
	// OpenAlerts are the node's unresolved alerts.
	OpenAlerts(ctx context.Context, node telemetry.NodeID) ([]telemetry.Alert, error)
	// LastAlertActivity is when the node's alerts last changed (zero: never).
	LastAlertActivity(ctx context.Context, node telemetry.NodeID) (time.Time, error)
	// NodeWindows are the maintenance windows of the node or of its
	// community that end after after.
	NodeWindows(ctx context.Context, node telemetry.NodeID, after time.Time) ([]telemetry.MaintenanceWindow, error)
	// OpenAlert opens al unless its cause already has an unresolved alert,
	// reports whether it created one, and fills al with the stored alert.
	OpenAlert(ctx context.Context, al *telemetry.Alert) (created bool, err error)
	// ResolveAlertsFor resolves the unresolved alert of a cause and returns
	// it, or an error wrapping telemetry.ErrNotFound when none is open.
	ResolveAlertsFor(ctx context.Context, node telemetry.NodeID, kind telemetry.AlertKind, ruleID, metric, by, comment string) (telemetry.Alert, error)
}

// NoticeKind is what a Notice is about; the names are the webhook events'.
type NoticeKind string

// The notices.
const (
	NoticeAlertTriggered NoticeKind = "alert.triggered"
	NoticeAlertResolved  NoticeKind = "alert.resolved"
	NoticeDeviceOffline  NoticeKind = "device.offline"
	NoticeDeviceOnline   NoticeKind = "device.online"
)

// Notice is one change a device reports to its Notifier: an alert it
// stored as opened or resolved (Alert, as stored), or its node going
// offline or coming back (Status).
type Notice struct {
	Kind   NoticeKind
	Node   telemetry.NodeID
	Owner  telemetry.NodeOwner // the node's tenancy (CommunityDistributorID left empty)
	Alert  telemetry.Alert     // alert notices
	Status telemetry.Status    // device notices
	// At is when the device decided: for an alert, when the reading that
	// raised it arrived (not the reading's own timestamp).
	At time.Time
	// Followers are the device's subscribers (sessions on any member) when
	// the change was handed to the store: the Notifier tells them directly,
	// so that an alert reaches the node's followers without a broadcast.
	Followers []*actor.PID
}

// Notifier hears of a device's notices (the WebSocket sessions and the
// webhooks, in internal/app). Notify is called off the mailbox, one call
// at a time per device and in the order the changes happened, only after
// an alert change was stored, and only for changes this device made (a
// second opening of a cause, by the previous owner of a device that moved,
// notifies nobody). It may block briefly (it shares the device's store
// timeout) and must be safe for concurrent use by many devices.
type Notifier interface {
	Notify(ctx context.Context, n Notice)
}

// alertReload is how often a device reads its rules, windows and open
// alerts again even when nobody told it they changed (a ReloadAlerts lost
// while the device moved, an alert a user resolved).
const alertReload = 5 * time.Minute

// alertState is the device's alert side: the engine once loaded, the
// node's maintenance windows, and the changes on their way to the store.
type alertState struct {
	engine  *alerting.Engine // nil until the first load succeeds
	windows []telemetry.MaintenanceWindow
	loaded  time.Time // real time of the last successful load
	loading bool
	again   bool // a reload was asked for while one ran

	queue  []alertItem // to store and notify, in order
	saving bool        // a goroutine stores a batch of the queue
	// gen counts the actions queued: a load that started before the latest
	// one must not reseed the engine with what the store said then.
	gen uint64
	// stale: a change could not be stored, so the engine may believe in an
	// alert the store does not have (or the reverse): it reads the store
	// again as soon as nothing is on its way there.
	stale bool

	edgeTimer *time.Timer // the next start or end of a window
	edgeGen   uint64
}

// alertItem is one queued change: an engine Action, or a device notice.
type alertItem struct {
	action alerting.Action
	notice *Notice
	at     time.Time // when it was decided
}

// alertSnapshot is what a load reads from the store.
type alertSnapshot struct {
	rules   []telemetry.AlertRule
	open    []telemetry.Alert
	windows []telemetry.MaintenanceWindow
	last    time.Time // LastAlertActivity
	err     error
}

type (
	alertsLoaded struct {
		reportOf
		snap alertSnapshot
		gen  uint64
		// settled: nothing was queued or being stored when the read began,
		// so the open alerts read are all there are (unless gen moved).
		settled bool
	}
	alertsSaved struct {
		reportOf
		failed bool // a change was not stored
	}
	windowEdge struct {
		owner *device
		gen   uint64
	}
)

// readAlertState reads the node's rules, open alerts and the maintenance
// windows not over yet.
func readAlertState(ctx context.Context, store AlertStore, node telemetry.NodeID, now time.Time) alertSnapshot {
	var s alertSnapshot
	var errs [4]error
	s.rules, errs[0] = store.EnabledRules(ctx, node)
	s.open, errs[1] = store.OpenAlerts(ctx, node)
	s.windows, errs[2] = store.NodeWindows(ctx, node, now)
	s.last, errs[3] = store.LastAlertActivity(ctx, node)
	s.err = errors.Join(errs[:]...)
	return s
}

// loadAlerts reads the alert state again, off the mailbox.
func (d *device) loadAlerts() {
	a := &d.alerts
	if d.cfg.Alerts == nil || d.done || d.self == nil {
		return
	}
	if a.loading {
		a.again = true
		return
	}
	a.loading, a.again = true, false
	store, node, now := d.cfg.Alerts, d.cfg.Node.ID, d.cfg.Now()
	m := &alertsLoaded{reportOf: reportOf{d}, gen: a.gen, settled: !a.saving && len(a.queue) == 0}
	d.goAndReport(m, storeTimeout, func(ctx context.Context) { m.snap = readAlertState(ctx, store, node, now) })
}

func (d *device) onAlertsLoaded(m *alertsLoaded) {
	a := &d.alerts
	a.loading = false
	d.applyAlertState(m.snap, m.gen, m.settled)
	if a.again {
		d.loadAlerts()
	}
}

// applyAlertState takes a snapshot read when the queue had seen gen
// actions: the first builds the engine; later ones replace the rules and
// windows and, when the read began with nothing on its way to the store
// (settled) and nothing was queued since, the open alerts.
func (d *device) applyAlertState(s alertSnapshot, gen uint64, settled bool) {
	a := &d.alerts
	if s.err != nil {
		d.logger().Warn("cannot read the node's alert rules, open alerts or maintenance windows; trying again on the next tick", "err", s.err)
		return
	}
	a.loaded, a.windows = time.Now(), s.windows
	if a.engine == nil {
		var actions []alerting.Action
		// Readings until the node's last alert change were judged by a
		// previous incarnation (here or on another member): the fetch
		// after a move may bring them again.
		opts := d.cfg.Anomaly
		opts.Node, opts.Rules, opts.Open, opts.Now, opts.JudgedThrough = d.cfg.Node.ID, s.rules, s.open, d.cfg.Now, s.last
		a.engine, actions = alerting.New(opts)
		d.queueActions(actions)
	} else {
		d.queueActions(a.engine.SetRules(s.rules))
		if settled && gen == a.gen {
			d.queueActions(a.engine.Reseed(s.open))
			a.stale = false
		}
	}
	d.armWindowEdge()
	d.checkConnectivityAlert()
	d.refreshStatus()
}

// inMaintenance reports whether a maintenance window of the node covers at.
func (d *device) inMaintenance(at time.Time) bool { return telemetry.InWindow(d.alerts.windows, at) }

// armWindowEdge arms a timer for the next start or end of a window, when
// the node's status changes without any reading.
func (d *device) armWindowEdge() {
	a := &d.alerts
	stopTimer(a.edgeTimer)
	a.edgeGen++
	now := d.cfg.Now()
	var next time.Time
	for _, w := range a.windows {
		for _, t := range []time.Time{w.StartsAt, w.EndsAt} {
			if t.After(now) && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
	}
	if !next.IsZero() {
		a.edgeTimer = d.after(next.Sub(now), &windowEdge{owner: d, gen: a.edgeGen})
	}
}

func (d *device) onWindowEdge() {
	now := d.cfg.Now()
	d.alerts.windows = slices.DeleteFunc(d.alerts.windows, func(w telemetry.MaintenanceWindow) bool { return !w.EndsAt.After(now) })
	d.armWindowEdge()
	d.checkConnectivityAlert() // a device still offline when its window ends
	d.refreshStatus()
}

// observe evaluates the node's rules and anomaly windows on new entries.
func (d *device) observe(entries []telemetry.Entry) {
	e := d.alerts.engine
	if e == nil {
		return
	}
	for _, en := range entries {
		d.queueActions(e.Observe(en.CreatedAt, metrics(d.cfg.Node.FieldMapping, en), d.inMaintenance(en.CreatedAt)))
	}
	d.refreshStatus()
}

// checkConnectivityAlert opens or resolves the offline alert to match the
// node's connectivity (a no-op when they agree).
func (d *device) checkConnectivityAlert() {
	e := d.alerts.engine
	if e == nil || (d.status != telemetry.StatusOnline && d.status != telemetry.StatusOffline) {
		return
	}
	now := d.cfg.Now()
	d.queueActions(e.StatusChanged(d.status == telemetry.StatusOffline, now, d.inMaintenance(now)))
}

// connectivityChanged follows the node going offline or coming back from
// Offline (a node's first data is not a return): the offline alert, and
// the device notice.
func (d *device) connectivityChanged(from telemetry.Status) {
	d.checkConnectivityAlert()
	var kind NoticeKind
	switch {
	case d.status == telemetry.StatusOffline:
		kind = NoticeDeviceOffline
	case d.status == telemetry.StatusOnline && from == telemetry.StatusOffline:
		kind = NoticeDeviceOnline
	default:
		return
	}
	if d.cfg.Notify != nil {
		d.queue(alertItem{notice: &Notice{Kind: kind, Status: d.status, At: time.Now()}, at: time.Now()})
	}
}

func (d *device) queueActions(actions []alerting.Action) {
	for _, act := range actions {
		d.queue(alertItem{action: act, at: time.Now()})
		d.alerts.gen++
	}
}

func (d *device) queue(it alertItem) {
	d.alerts.queue = append(d.alerts.queue, it)
	d.saveAlerts()
}

// saveAlerts stores the queued changes and notifies them, in order, on one
// goroutine at a time; what is queued meanwhile waits for its answer.
func (d *device) saveAlerts() {
	a := &d.alerts
	if a.saving || len(a.queue) == 0 || d.done || d.self == nil {
		return
	}
	a.saving = true
	items := a.queue
	a.queue = nil
	store, notify, node, owner, log := d.cfg.Alerts, d.cfg.Notify, d.cfg.Node.ID, d.owner(), d.logger
	followers := d.subs.pids()
	m := &alertsSaved{reportOf: reportOf{d}}
	timeout := storeTimeout + time.Duration(len(items))*time.Second
	d.goAndReport(m, timeout, func(ctx context.Context) {
		failed, lost := 0, 0
		var firstErr error
		for i, it := range items {
			if ctx.Err() != nil { // timed out or stopping: the rest is lost too
				lost = len(items) - i
				break
			}
			n, err := persistItem(ctx, store, node, it)
			if err != nil {
				failed++
				firstErr = cmp.Or(firstErr, err)
				continue
			}
			if n != nil && notify != nil {
				n.Node, n.Owner, n.Followers = node, owner, followers
				notify.Notify(ctx, *n)
			}
		}
		if failed+lost == 0 {
			return
		}
		if firstErr == nil {
			firstErr = ctx.Err()
		}
		m.failed = true
		log().Warn("cannot store alert changes; the alert state is read again", "failed", failed, "not_tried", lost, "err", firstErr)
	})
}

// persistItem stores one change of node and returns the notice it makes,
// if any: none for an alert that was open already, or already resolved.
func persistItem(ctx context.Context, store AlertStore, node telemetry.NodeID, it alertItem) (*Notice, error) {
	switch act := it.action; {
	case it.notice != nil:
		return it.notice, nil
	case act.Open != nil:
		al := *act.Open
		created, err := store.OpenAlert(ctx, &al)
		if err != nil || !created {
			return nil, err
		}
		return &Notice{Kind: NoticeAlertTriggered, Alert: al, At: it.at}, nil
	default:
		c := act.Resolve
		al, err := store.ResolveAlertsFor(ctx, node, c.Kind, c.RuleID, c.Metric, "", "")
		if isNotFound(err) { // a user resolved it already
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return &Notice{Kind: NoticeAlertResolved, Alert: al, At: it.at}, nil
	}
}

func (d *device) onAlertsSaved(m *alertsSaved) {
	a := &d.alerts
	a.saving = false
	if m.failed {
		a.stale = true
	}
	d.saveAlerts()
	if a.stale && !a.saving && len(a.queue) == 0 {
		d.loadAlerts() // believe the store again, now that nothing is on its way there
	}
	d.refreshStatus()
}

// owner is the node's tenancy, for the notices.
func (d *device) owner() telemetry.NodeOwner {
	n := &d.cfg.Node
	return telemetry.NodeOwner{CommunityID: deref(n.CommunityID), CustomerID: deref(n.CustomerID), DistributorID: deref(n.DistributorID)}
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
