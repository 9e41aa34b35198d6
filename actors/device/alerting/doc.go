// Package alerting is a device's alert engine (issue 7): it decides, from
// the node's readings and status, when an alert opens and when it
// resolves. It owns no goroutine and does no I/O: a device actor holds one
// Engine for its node, feeds it from Receive, and persists and publishes
// the Actions it returns off its mailbox. An Engine is not safe for
// concurrent use; only its owner calls it.
//
// # Causes
//
// An alert belongs to a Cause — (kind, rule, metric) of the node, as the
// store's alerts_one_unresolved_per_cause index has it — and at most one
// alert per cause is open. For every cause the Actions alternate: an Open,
// then a Resolve, then an Open… never two of one kind in a row, so the
// store's OpenAlert never meets an open alert it was not told about, and
// ResolveAlertsFor always has one to resolve.
//
// Rules (kind "rule", the rule's id and metric): on every reading that
// carries the rule's metric, the condition is evaluated. When it holds and
// no alert of the rule is open, one opens; while it keeps holding nothing
// happens; when it no longer holds the alert resolves. The rule's cooldown
// stops a new alert of the same rule within CooldownMinutes of the previous
// one's trigger, measured on Options.Now (wall clock: a backfill that
// delivers an hour of flapping readings at once opens one alert, not six).
// The engine is level-triggered: a condition still holding when the
// cooldown (or a maintenance window) ends opens its alert on the next
// reading. A reading without the metric, or with a NaN or infinite value,
// changes nothing.
//
// Anomalies (kind "anomaly", no rule, the metric): each metric has its own
// window of the last AnomalyWindow values. A value whose z-score against
// the window (population standard deviation) exceeds AnomalyZ, once the
// window holds AnomalyMinSamples values, opens a warning alert whose
// message gives the value, the mean and the standard deviation; the first
// later value with |z| ≤ AnomalyZ resolves it. The deviation z is
// measured in the window's standard deviation or in the metric's
// resolution, whichever is larger: the smallest non-zero difference
// between two consecutive values seen before (a temperature reported in
// tenths on a flat day has a standard deviation of a few hundredths, and
// its next tenth is no anomaly; a pump's 0/1 flips only the first time).
// A window whose values are all equal, of a metric that never changed
// (no resolution yet), finds any other value anomalous; that change is
// then its resolution, so the next value like it resolves the alert.
//
// Outliers enter the window clamped to mean ± AnomalyZ·sd (winsorised).
// Left out entirely, a lasting change of level would never be learnt and
// its alert would never resolve; entered as they are, one spike of 10 sd
// doubles the window's variance for the next AnomalyWindow readings and
// hides the spikes that follow it. Clamped, a spike barely moves the
// window (one value of 3 sd in 100 raises the variance by under a tenth),
// while a lasting shift pulls it along step by step until its values are
// normal again and the alert resolves. (A constant window cannot clamp:
// there the value enters as it is. Neither can a window still short of
// AnomalyMinSamples, which judges nothing: its values enter as they are.)
//
// Offline (kind "device_offline", no rule, no metric): StatusChanged(true)
// opens a critical alert, StatusChanged(false) resolves it.
//
// Maintenance: while a node is in a maintenance window (the inMaintenance
// argument) no alert opens; alerts already open still resolve, and the
// anomaly windows still learn.
//
// # Persistence and failures
//
// The engine changes its own state as if every Action succeeds. Open
// carries the alert to pass to the store's OpenAlert (which makes a second
// open of a cause a no-op), Resolve the cause to pass to ResolveAlertsFor
// (whose ErrNotFound, for an alert a user already resolved, is harmless).
// When persisting an Action fails, the owner re-reads the node's open
// alerts and calls Reseed with them: the engine then believes the store
// again. Because rules are level-triggered, a rule whose Open was lost
// opens again on the next reading that still crosses (after its cooldown,
// which the lost attempt started); an anomaly whose Open was lost is not
// re-raised unless a later value is anomalous too.
//
// A device that restarts or moves to another member builds its Engine with
// the node's open alerts from the store (Options.Open), so it neither opens
// a second alert for a cause already open nor forgets to resolve one. New
// returns the Resolves of seeded alerts whose rule is gone or disabled.
// The anomaly windows start empty after a restart.
package alerting
