package devicetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/evaratech/evara/actors/device"
	"github.com/evaratech/evara/internal/telemetry"
)

// AlertStore is an in-memory device.AlertStore with the relational stores'
// rule of at most one unresolved alert per node and cause, and a way to
// make its next writes fail. The stores themselves are tested against the
// same contract in persistence/storetest.
type AlertStore struct {
	mu        sync.Mutex
	rules     []telemetry.AlertRule
	alerts    []telemetry.Alert
	failNext  int // OpenAlert and ResolveAlertsFor calls still to fail
	nextID    int
	openCalls int
}

var _ device.AlertStore = (*AlertStore)(nil)

// ErrInjected is the failure FailNext injects.
var ErrInjected = errors.New("devicetest: injected store failure")

// NewAlertStore holds rules (all taken as enabled).
func NewAlertStore(rules ...telemetry.AlertRule) *AlertStore {
	return &AlertStore{rules: rules}
}

// FailNext makes the next n writes (OpenAlert, ResolveAlertsFor) fail.
func (s *AlertStore) FailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = n
}

// Alerts returns every alert stored, in the order they were opened.
func (s *AlertStore) Alerts() []telemetry.Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]telemetry.Alert(nil), s.alerts...)
}

// OpenAlertCalls is how many times OpenAlert was called.
func (s *AlertStore) OpenAlertCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.openCalls
}

func (s *AlertStore) fail() bool {
	if s.failNext > 0 {
		s.failNext--
		return true
	}
	return false
}

// EnabledRules implements device.AlertStore.
func (s *AlertStore) EnabledRules(_ context.Context, node telemetry.NodeID) ([]telemetry.AlertRule, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []telemetry.AlertRule
	for _, r := range s.rules {
		if r.NodeID == node && r.Enabled {
			out = append(out, r)
		}
	}
	return out, nil
}

// OpenAlerts implements device.AlertStore.
func (s *AlertStore) OpenAlerts(_ context.Context, node telemetry.NodeID) ([]telemetry.Alert, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []telemetry.Alert
	for _, a := range s.alerts {
		if a.NodeID == node && a.Status != telemetry.AlertResolved {
			out = append(out, a)
		}
	}
	return out, nil
}

// LastAlertActivity implements device.AlertStore.
func (s *AlertStore) LastAlertActivity(_ context.Context, node telemetry.NodeID) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var last time.Time
	for _, a := range s.alerts {
		if a.NodeID != node {
			continue
		}
		if a.TriggeredAt.After(last) {
			last = a.TriggeredAt
		}
		if a.ResolvedAt != nil && a.ResolvedAt.After(last) {
			last = *a.ResolvedAt
		}
	}
	return last, nil
}

// NodeWindows implements device.AlertStore: no maintenance windows.
func (s *AlertStore) NodeWindows(context.Context, telemetry.NodeID, time.Time) ([]telemetry.MaintenanceWindow, error) {
	return nil, nil
}

func sameCause(a telemetry.Alert, node telemetry.NodeID, kind telemetry.AlertKind, ruleID, metric string) bool {
	deref := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	return a.NodeID == node && a.Kind == kind && deref(a.RuleID) == ruleID && deref(a.Metric) == metric
}

// OpenAlert implements device.AlertStore.
func (s *AlertStore) OpenAlert(_ context.Context, al *telemetry.Alert) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.openCalls++
	if s.fail() {
		return false, ErrInjected
	}
	rule, metric := "", ""
	if al.RuleID != nil {
		rule = *al.RuleID
	}
	if al.Metric != nil {
		metric = *al.Metric
	}
	for _, a := range s.alerts {
		if a.Status != telemetry.AlertResolved && sameCause(a, al.NodeID, al.Kind, rule, metric) {
			*al = a
			return false, nil
		}
	}
	s.nextID++
	al.ID, al.Status = fmt.Sprintf("alert-%d", s.nextID), telemetry.AlertOpen
	s.alerts = append(s.alerts, *al)
	return true, nil
}

// ResolveAlertsFor implements device.AlertStore.
func (s *AlertStore) ResolveAlertsFor(_ context.Context, node telemetry.NodeID, kind telemetry.AlertKind, ruleID, metric, by, comment string) (telemetry.Alert, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail() {
		return telemetry.Alert{}, ErrInjected
	}
	for i, a := range s.alerts {
		if a.Status != telemetry.AlertResolved && sameCause(a, node, kind, ruleID, metric) {
			now := time.Now()
			s.alerts[i].Status, s.alerts[i].ResolvedAt = telemetry.AlertResolved, &now
			return s.alerts[i], nil
		}
	}
	return telemetry.Alert{}, telemetry.ErrNotFound
}

// Notices records what a device notifies (a device.Notifier).
type Notices struct {
	mu  sync.Mutex
	got []device.Notice
}

// Notify implements device.Notifier.
func (n *Notices) Notify(_ context.Context, x device.Notice) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, x)
}

// Kinds returns the kinds notified so far, in order.
func (n *Notices) Kinds() []device.NoticeKind {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]device.NoticeKind, len(n.got))
	for i, x := range n.got {
		out[i] = x.Kind
	}
	return out
}
