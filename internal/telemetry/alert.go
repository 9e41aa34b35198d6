package telemetry

import "time"

// Severity grades an alert rule and the alerts it raises.
type Severity string

// The severities; a critical alert puts its node in StatusAlert.
const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// Condition compares a reading's metric with a rule's threshold.
type Condition string

// The conditions a rule may use (SPEC §7).
const (
	ConditionAbove    Condition = ">"
	ConditionBelow    Condition = "<"
	ConditionAtLeast  Condition = ">="
	ConditionAtMost   Condition = "<="
	ConditionEqual    Condition = "=="
	ConditionNotEqual Condition = "!="
)

// Valid reports whether c is one of the six conditions.
func (c Condition) Valid() bool {
	switch c {
	case ConditionAbove, ConditionBelow, ConditionAtLeast, ConditionAtMost, ConditionEqual, ConditionNotEqual:
		return true
	}
	return false
}

// Holds reports whether value meets the condition against threshold. An
// unknown condition never holds.
func (c Condition) Holds(value, threshold float64) bool {
	switch c {
	case ConditionAbove:
		return value > threshold
	case ConditionBelow:
		return value < threshold
	case ConditionAtLeast:
		return value >= threshold
	case ConditionAtMost:
		return value <= threshold
	case ConditionEqual:
		return value == threshold
	case ConditionNotEqual:
		return value != threshold
	}
	return false
}

// AlertRule raises an alert when a node's metric meets its condition.
// The node of a rule is fixed when it is created.
type AlertRule struct {
	ID              string
	NodeID          NodeID
	Name            string
	Metric          string // a field alias ("water_level") or field name
	Condition       Condition
	Threshold       float64
	Severity        Severity
	Enabled         bool
	CooldownMinutes int
	CreatedBy       *string
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// AlertKind is what raised an alert.
type AlertKind string

// The kinds of alert. A rule alert names its rule.
const (
	AlertKindRule          AlertKind = "rule"
	AlertKindDeviceOffline AlertKind = "device_offline"
	AlertKindAnomaly       AlertKind = "anomaly"
)

// AlertStatus is where an alert is in its lifecycle:
// open → acknowledged → resolved (open → resolved directly too).
type AlertStatus string

// The alert statuses.
const (
	AlertOpen         AlertStatus = "open"
	AlertAcknowledged AlertStatus = "acknowledged"
	AlertResolved     AlertStatus = "resolved"
)

// Alert is one occurrence of a cause — (node, kind, rule, metric) — from
// the moment it triggered until it was resolved. At most one alert per
// cause is unresolved at any time.
type Alert struct {
	ID       string
	NodeID   NodeID
	Kind     AlertKind
	RuleID   *string // nil for other kinds, and once the rule is deleted
	Metric   *string
	Severity Severity
	Status   AlertStatus
	Message  string
	// Value is the metric's value when the alert triggered; Threshold the
	// rule's threshold at that moment.
	Value             *float64
	Threshold         *float64
	TriggeredAt       time.Time
	AcknowledgedAt    *time.Time
	AcknowledgedBy    *string
	ResolvedAt        *time.Time
	ResolvedBy        *string
	ResolutionComment *string
	// Rule is the rule as it is now (joined on read); nil when there is none.
	Rule *AlertRuleRef
}

// AlertRuleRef is the part of a rule shown beside its alerts (SPEC §7
// /dashboard/alerts).
type AlertRuleRef struct {
	Name      string
	Metric    string
	Condition Condition
	Threshold float64
}

// AlertFilter narrows an alert list. Zero fields do not filter.
type AlertFilter struct {
	Status     AlertStatus
	Unresolved bool // only open and acknowledged alerts
	Severity   Severity
	NodeID     NodeID
	Page       Page
}

// AlertSummary counts the alerts of a scope.
type AlertSummary struct {
	Total int
	// ByStatus counts every alert by status; all three statuses are present.
	ByStatus map[AlertStatus]int
	// BySeverity counts the unresolved (open or acknowledged) alerts by
	// severity; all three severities are present.
	BySeverity map[Severity]int
}
