package alerting

import "github.com/evaratech/evara/internal/telemetry"

// Cause is what an alert is about: the store keeps at most one unresolved
// alert per node and Cause. RuleID and Metric are "" where the kind has
// none (device_offline has neither, anomaly has no rule, and a rule alert
// whose rule was deleted has lost its rule id).
type Cause struct {
	Kind   telemetry.AlertKind
	RuleID string
	Metric string
}

func causeOf(al telemetry.Alert) Cause {
	c := Cause{Kind: al.Kind}
	if al.RuleID != nil {
		c.RuleID = *al.RuleID
	}
	if al.Metric != nil {
		c.Metric = *al.Metric
	}
	return c
}

// Action is one change of alert state for the owner to persist and
// publish. Exactly one of Open and Resolve is set:
//
//	Open    → store.OpenAlert(ctx, a.Open), then ALERT_TRIGGERED
//	Resolve → store.ResolveAlertsFor(ctx, node, c.Kind, c.RuleID, c.Metric, "", ""), then ALERT_RESOLVED
//
// The Alert of an Open is the owner's to keep (the engine holds no
// reference to it).
type Action struct {
	Open    *telemetry.Alert
	Resolve *Cause
}

// Cause is the cause the action opens or resolves.
func (a Action) Cause() Cause {
	if a.Open != nil {
		return causeOf(*a.Open)
	}
	return *a.Resolve
}
