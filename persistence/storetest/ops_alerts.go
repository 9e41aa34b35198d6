package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/evaratech/evara/internal/telemetry"
)

// ruleAlert is the alert a rule raises at at.
func ruleAlert(r *telemetry.AlertRule, at time.Time) *telemetry.Alert {
	return &telemetry.Alert{
		NodeID: r.NodeID, Kind: telemetry.AlertKindRule, RuleID: ptr(r.ID), Metric: ptr(r.Metric), Severity: r.Severity,
		Message: r.Name, Value: ptr(12.5), Threshold: ptr(r.Threshold), TriggeredAt: at,
	}
}

func offlineAlert(node telemetry.NodeID, at time.Time) *telemetry.Alert {
	return &telemetry.Alert{NodeID: node, Kind: telemetry.AlertKindDeviceOffline, Severity: telemetry.SeverityWarning,
		Message: "no data for 3 intervals", TriggeredAt: at}
}

func mustOpen(t *testing.T, s Store, al *telemetry.Alert) *telemetry.Alert {
	t.Helper()
	if created, err := s.OpenAlert(context.Background(), al); err != nil || !created {
		t.Fatalf("OpenAlert: created %v, %v", created, err)
	}
	return al
}

func alertIDs(alerts []telemetry.Alert) []string {
	out := []string{}
	for _, a := range alerts {
		out = append(out, a.ID)
	}
	return out
}

func testAlerts(t *testing.T, open Opener) {
	t.Run("one unresolved alert per cause", func(t *testing.T) { testAlertOnce(t, open(t)) })
	t.Run("invalid alerts", func(t *testing.T) { testAlertInvalid(t, open(t)) })
	t.Run("concurrent opens of one cause make one alert", func(t *testing.T) { testAlertRace(t, open(t)) })
	t.Run("runtime resolve by cause", func(t *testing.T) { testAlertResolveFor(t, open(t)) })
	t.Run("deleting a rule resolves its alerts", func(t *testing.T) { testAlertRuleDeleted(t, open(t)) })
	t.Run("list, filters, pagination, summary", func(t *testing.T) { testAlertList(t, open) })
	t.Run("scope filters every call", func(t *testing.T) { testAlertScope(t, open) })
}

func testAlertOnce(t *testing.T, s Store) {
	ctx := context.Background()
	w := arrangeOps(t, s)
	rule := newRule(w.mine.ID, "Low level")
	if err := s.CreateRule(ctx, everything, rule); err != nil {
		t.Fatal(err)
	}
	first := mustOpen(t, s, ruleAlert(rule, t0))
	want := *ruleAlert(rule, t0)
	want.ID, want.Status = first.ID, telemetry.AlertOpen
	want.Rule = &telemetry.AlertRuleRef{Name: "Low level", Metric: "water_level", Condition: telemetry.ConditionBelow, Threshold: 20}
	if diff := cmp.Diff(want, *first); diff != "" {
		t.Errorf("opened alert (-want +got):\n%s", diff)
	}
	again := ruleAlert(rule, t0.Add(time.Minute))
	created, err := s.OpenAlert(ctx, again)
	if err != nil || created || again.ID != first.ID || !again.TriggeredAt.Equal(t0) {
		t.Errorf("same cause again: created %v, %v, got %s from %v; want the open one", created, err, again.ID, again.TriggeredAt)
	}

	// Other causes of the same node are other alerts.
	tds := ruleAlert(rule, t0)
	tds.Kind, tds.RuleID, tds.Metric = telemetry.AlertKindAnomaly, nil, ptr("tds")
	offline := mustOpen(t, s, offlineAlert(w.mine.ID, t0.Add(2*time.Minute)))
	mustOpen(t, s, tds)
	if created, err := s.OpenAlert(ctx, offlineAlert(w.mine.ID, t0.Add(time.Hour))); created || err != nil {
		t.Errorf("offline twice: created %v, %v", created, err)
	}
	if created, err := s.OpenAlert(ctx, offlineAlert(w.neighbour.ID, t0)); !created || err != nil {
		t.Errorf("offline on another node: created %v, %v", created, err)
	}

	// Once resolved, the cause may open a new alert.
	if _, err := s.ResolveAlert(ctx, everything, first.ID, w.user, "refilled"); err != nil {
		t.Fatal(err)
	}
	next := mustOpen(t, s, ruleAlert(rule, t0.Add(3*time.Hour)))
	if next.ID == first.ID {
		t.Error("a resolved alert was reopened instead of a new one opened")
	}
	warm, err := s.OpenAlerts(ctx, w.mine.ID)
	if err != nil || fmt.Sprint(alertIDs(warm)) != fmt.Sprint([]string{tds.ID, offline.ID, next.ID}) {
		t.Errorf("open alerts of the node: %v, %v; want the anomaly, offline and new rule alert, oldest first", alertIDs(warm), err)
	}
}

func testAlertInvalid(t *testing.T, s Store) {
	ctx := context.Background()
	w := arrangeOps(t, s)
	cases := map[string]struct {
		al   *telemetry.Alert
		want error
	}{
		"rule alert without a rule": {&telemetry.Alert{NodeID: w.mine.ID, Kind: telemetry.AlertKindRule, Severity: "info"}, telemetry.ErrInvalid},
		"unknown rule":              {&telemetry.Alert{NodeID: w.mine.ID, Kind: telemetry.AlertKindRule, RuleID: ptr(newUUID()), Severity: "info"}, telemetry.ErrInvalid},
		"unknown kind":              {&telemetry.Alert{NodeID: w.mine.ID, Kind: "flood", Severity: "info"}, telemetry.ErrInvalid},
		"unknown severity":          {&telemetry.Alert{NodeID: w.mine.ID, Kind: telemetry.AlertKindAnomaly, Severity: "dire"}, telemetry.ErrInvalid},
		"unknown node":              {offlineAlert(telemetry.NodeID(newUUID()), t0), telemetry.ErrInvalid},
		"node id not a UUID":        {offlineAlert("oht-1", t0), telemetry.ErrInvalid},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := s.OpenAlert(ctx, c.al)
			opsIs(t, "open", err, c.want)
		})
	}
}

func testAlertRace(t *testing.T, s Store) {
	ctx := context.Background()
	w := arrangeOps(t, s)
	rule := newRule(w.mine.ID, "Low level")
	if err := s.CreateRule(ctx, everything, rule); err != nil {
		t.Fatal(err)
	}
	const racers = 8
	type outcome struct {
		created bool
		id      string
		err     error
	}
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		out   [racers]outcome
	)
	for i := range racers {
		wg.Go(func() {
			<-start
			al := ruleAlert(rule, t0.Add(time.Duration(i)*time.Second))
			created, err := s.OpenAlert(ctx, al)
			out[i] = outcome{created, al.ID, err}
		})
	}
	close(start)
	wg.Wait()
	created := 0
	for i, o := range out {
		if o.err != nil {
			t.Fatalf("racer %d: %v", i, o.err)
		}
		if o.created {
			created++
		}
		if o.id != out[0].id {
			t.Errorf("racer %d got alert %s, racer 0 %s", i, o.id, out[0].id)
		}
	}
	if created != 1 {
		t.Errorf("%d racers created an alert, want exactly 1", created)
	}
	if _, total, err := s.ListAlerts(ctx, everything, telemetry.AlertFilter{}); err != nil || total != 1 {
		t.Errorf("%d alerts stored, %v", total, err)
	}
}

func testAlertResolveFor(t *testing.T, s Store) {
	ctx := context.Background()
	w := arrangeOps(t, s)
	rule := newRule(w.mine.ID, "Low level")
	if err := s.CreateRule(ctx, everything, rule); err != nil {
		t.Fatal(err)
	}
	if last, err := s.LastAlertActivity(ctx, w.mine.ID); err != nil || !last.IsZero() {
		t.Errorf("LastAlertActivity of a node without alerts = %v, %v; want zero", last, err)
	}
	offline := mustOpen(t, s, offlineAlert(w.mine.ID, t0))
	byRule := mustOpen(t, s, ruleAlert(rule, t0.Add(time.Minute)))
	if last, err := s.LastAlertActivity(ctx, w.mine.ID); err != nil || !last.Equal(t0.Add(time.Minute)) {
		t.Errorf("LastAlertActivity with two open alerts = %v, %v; want the latest trigger %v", last, err, t0.Add(time.Minute))
	}
	got, err := s.ResolveAlertsFor(ctx, w.mine.ID, telemetry.AlertKindDeviceOffline, "", "", "", "data again")
	if err != nil || got.ID != offline.ID || got.Status != telemetry.AlertResolved || got.ResolvedAt == nil ||
		got.ResolvedBy != nil || got.ResolutionComment == nil || *got.ResolutionComment != "data again" {
		t.Errorf("resolved offline alert: %+v, %v", got, err)
	}
	_, err = s.ResolveAlertsFor(ctx, w.mine.ID, telemetry.AlertKindDeviceOffline, "", "", "", "")
	opsIs(t, "resolve a resolved cause", err, telemetry.ErrNotFound)
	_, err = s.ResolveAlertsFor(ctx, w.mine.ID, telemetry.AlertKindRule, rule.ID, "tds", "", "")
	opsIs(t, "resolve another metric of the rule", err, telemetry.ErrNotFound)
	got, err = s.ResolveAlertsFor(ctx, w.mine.ID, telemetry.AlertKindRule, rule.ID, "water_level", w.user, "")
	if err != nil || got.ID != byRule.ID || got.ResolvedBy == nil || *got.ResolvedBy != w.user || got.ResolutionComment != nil {
		t.Errorf("resolved rule alert: %+v, %v", got, err)
	}
	if open, err := s.OpenAlerts(ctx, w.mine.ID); err != nil || len(open) != 0 {
		t.Errorf("still open: %v, %v", alertIDs(open), err)
	}
	if last, err := s.LastAlertActivity(ctx, w.mine.ID); err != nil || !last.Equal(*got.ResolvedAt) {
		t.Errorf("LastAlertActivity after the resolutions = %v, %v; want the latest resolution %v", last, err, *got.ResolvedAt)
	}
}

func testAlertRuleDeleted(t *testing.T, s Store) {
	ctx := context.Background()
	w := arrangeOps(t, s)
	rule := newRule(w.mine.ID, "Low level")
	if err := s.CreateRule(ctx, everything, rule); err != nil {
		t.Fatal(err)
	}
	al := mustOpen(t, s, ruleAlert(rule, t0))
	if err := s.DeleteRule(ctx, everything, rule.ID); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetAlert(ctx, everything, al.ID)
	if err != nil || got.Status != telemetry.AlertResolved || got.ResolvedAt == nil || got.RuleID != nil || got.Rule != nil ||
		got.ResolutionComment == nil || *got.ResolutionComment != "alert rule deleted" {
		t.Errorf("alert of a deleted rule: %+v, %v", got, err)
	}
}
