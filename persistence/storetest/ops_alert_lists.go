package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/evaratech/evara/internal/telemetry"
)

// arrangeAlertList opens five alerts a1…a5, a minute apart: a rule alert
// on mine (critical), an acknowledged offline alert on mine (warning), a
// resolved rule alert on neighbour (warning), an anomaly on other (info)
// and an offline alert on neighbour (warning).
func arrangeAlertList(t *testing.T, s Store) (opsWorld, [5]string) {
	t.Helper()
	ctx := context.Background()
	w := arrangeOps(t, s)
	low, tds := newRule(w.mine.ID, "Low level"), newRule(w.neighbour.ID, "High TDS")
	tds.Metric, tds.Severity = "tds", telemetry.SeverityWarning
	for _, r := range []*telemetry.AlertRule{low, tds} {
		if err := s.CreateRule(ctx, everything, r); err != nil {
			t.Fatal(err)
		}
	}
	anomaly := &telemetry.Alert{NodeID: w.other.ID, Kind: telemetry.AlertKindAnomaly, Metric: ptr("flow"),
		Severity: telemetry.SeverityInfo, TriggeredAt: t0.Add(3 * time.Minute)}
	a1 := mustOpen(t, s, ruleAlert(low, t0)).ID
	a2 := mustOpen(t, s, offlineAlert(w.mine.ID, t0.Add(time.Minute))).ID
	a3 := mustOpen(t, s, ruleAlert(tds, t0.Add(2*time.Minute))).ID
	a4 := mustOpen(t, s, anomaly).ID
	a5 := mustOpen(t, s, offlineAlert(w.neighbour.ID, t0.Add(4*time.Minute))).ID
	if _, err := s.AcknowledgeAlert(ctx, everything, a2, w.user); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResolveAlert(ctx, everything, a3, w.user, ""); err != nil {
		t.Fatal(err)
	}
	return w, [5]string{a1, a2, a3, a4, a5}
}

func testAlertList(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	w, ids := arrangeAlertList(t, s)
	a1, a2, a3, a4, a5 := ids[0], ids[1], ids[2], ids[3], ids[4]
	cases := map[string]struct {
		f     telemetry.AlertFilter
		want  []string
		total int
	}{
		"everything, newest first": {telemetry.AlertFilter{}, []string{a5, a4, a3, a2, a1}, 5},
		"a page":                   {telemetry.AlertFilter{Page: telemetry.Page{Limit: 2, Offset: 1}}, []string{a4, a3}, 5},
		"past the end":             {telemetry.AlertFilter{Page: telemetry.Page{Offset: 5}}, []string{}, 5},
		"open":                     {telemetry.AlertFilter{Status: telemetry.AlertOpen}, []string{a5, a4, a1}, 3},
		"acknowledged":             {telemetry.AlertFilter{Status: telemetry.AlertAcknowledged}, []string{a2}, 1},
		"resolved":                 {telemetry.AlertFilter{Status: telemetry.AlertResolved}, []string{a3}, 1},
		"unresolved":               {telemetry.AlertFilter{Unresolved: true}, []string{a5, a4, a2, a1}, 4},
		"warnings":                 {telemetry.AlertFilter{Severity: telemetry.SeverityWarning}, []string{a5, a3, a2}, 3},
		"unresolved warnings":      {telemetry.AlertFilter{Severity: telemetry.SeverityWarning, Unresolved: true}, []string{a5, a2}, 2},
		"one node":                 {telemetry.AlertFilter{NodeID: w.mine.ID}, []string{a2, a1}, 2},
		"a node id that is no id":  {telemetry.AlertFilter{NodeID: "oht-1"}, []string{}, 0},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, total, err := s.ListAlerts(ctx, everything, c.f)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, alertIDs(got)); diff != "" || total != c.total {
				t.Errorf("total %d (want %d), ids (-want +got):\n%s", total, c.total, diff)
			}
		})
	}
	t.Run("joined rule and summary", func(t *testing.T) { testAlertSummary(t, s, w) })
}

func testAlertSummary(t *testing.T, s Store, w opsWorld) {
	ctx := context.Background()
	listed, _, err := s.ListAlerts(ctx, everything, telemetry.AlertFilter{NodeID: w.mine.ID})
	if err != nil || len(listed) != 2 {
		t.Fatalf("alerts of mine: %v, %v", alertIDs(listed), err)
	}
	wantRule := &telemetry.AlertRuleRef{Name: "Low level", Metric: "water_level", Condition: telemetry.ConditionBelow, Threshold: 20}
	if diff := cmp.Diff(wantRule, listed[1].Rule); diff != "" || listed[0].Rule != nil {
		t.Errorf("joined rule of a rule alert (-want +got):\n%s\nof an offline alert: %+v", diff, listed[0].Rule)
	}

	sum, err := s.AlertSummary(ctx, everything)
	if err != nil {
		t.Fatal(err)
	}
	wantSum := telemetry.AlertSummary{
		Total:      5,
		ByStatus:   map[telemetry.AlertStatus]int{telemetry.AlertOpen: 3, telemetry.AlertAcknowledged: 1, telemetry.AlertResolved: 1},
		BySeverity: map[telemetry.Severity]int{telemetry.SeverityCritical: 1, telemetry.SeverityWarning: 2, telemetry.SeverityInfo: 1},
	}
	if diff := cmp.Diff(wantSum, sum); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	if n, err := s.CountActiveAlerts(ctx, everything); err != nil || n != 4 {
		t.Errorf("active alerts %d, %v; want 4", n, err)
	}
}

func testAlertScope(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	w := arrangeOps(t, s)
	alerts := map[*telemetry.Node]string{}
	for _, n := range []*telemetry.Node{w.mine, w.neighbour, w.other} {
		alerts[n] = mustOpen(t, s, offlineAlert(n.ID, t0)).ID
	}
	for name, sc := range w.scopes() {
		t.Run(name, func(t *testing.T) {
			want := []string{}
			for _, n := range sc.sees {
				want = append(want, alerts[n])
			}
			listed, total, err := s.ListAlerts(ctx, sc.scope, telemetry.AlertFilter{})
			got := alertIDs(listed)
			if err != nil || total != len(want) || fmt.Sprint(slices.Sorted(slices.Values(got))) != fmt.Sprint(slices.Sorted(slices.Values(want))) {
				t.Errorf("sees %v (total %d, %v), want %v", got, total, err, want)
			}
			for n, id := range alerts {
				_, err := s.GetAlert(ctx, sc.scope, id)
				if opsSees(sc.sees, n) {
					opsIs(t, "get in scope", err, nil)
					continue
				}
				opsIs(t, "get outside scope", err, telemetry.ErrNotFound)
				_, err = s.AcknowledgeAlert(ctx, sc.scope, id, "")
				opsIs(t, "acknowledge outside scope", err, telemetry.ErrNotFound)
				_, err = s.ResolveAlert(ctx, sc.scope, id, "", "")
				opsIs(t, "resolve outside scope", err, telemetry.ErrNotFound)
			}
			sum, err := s.AlertSummary(ctx, sc.scope)
			if err != nil || sum.Total != len(want) || sum.ByStatus[telemetry.AlertOpen] != len(want) {
				t.Errorf("summary %+v, %v", sum, err)
			}
			if n, err := s.CountActiveAlerts(ctx, sc.scope); err != nil || n != len(want) {
				t.Errorf("active alerts %d, %v; want %d", n, err, len(want))
			}
		})
	}
}

func testAlertLifecycle(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	w := arrangeOps(t, s)
	al := mustOpen(t, s, offlineAlert(w.mine.ID, t0))

	acked, err := s.AcknowledgeAlert(ctx, telemetry.Scope{CustomerID: w.customer}, al.ID, w.user)
	if err != nil || acked.Status != telemetry.AlertAcknowledged || acked.AcknowledgedAt == nil ||
		acked.AcknowledgedBy == nil || *acked.AcknowledgedBy != w.user {
		t.Fatalf("acknowledged by the node's customer: %+v, %v", acked, err)
	}
	again, err := s.AcknowledgeAlert(ctx, everything, al.ID, "")
	if diff := cmp.Diff(acked, again); err != nil || diff != "" {
		t.Errorf("acknowledging twice must change nothing (%v), (-first +second):\n%s", err, diff)
	}
	resolved, err := s.ResolveAlert(ctx, everything, al.ID, w.user, "refilled")
	if err != nil || resolved.Status != telemetry.AlertResolved || resolved.ResolvedAt == nil ||
		resolved.ResolutionComment == nil || *resolved.ResolutionComment != "refilled" ||
		resolved.AcknowledgedAt == nil || !resolved.AcknowledgedAt.Equal(*acked.AcknowledgedAt) {
		t.Fatalf("resolved: %+v, %v", resolved, err)
	}
	twice, err := s.ResolveAlert(ctx, everything, al.ID, "", "again")
	if diff := cmp.Diff(resolved, twice); err != nil || diff != "" {
		t.Errorf("resolving twice must change nothing (%v), (-first +second):\n%s", err, diff)
	}
	_, err = s.AcknowledgeAlert(ctx, everything, al.ID, w.user)
	opsIs(t, "acknowledge a resolved alert", err, telemetry.ErrConflict)

	direct := mustOpen(t, s, offlineAlert(w.neighbour.ID, t0))
	if got, err := s.ResolveAlert(ctx, everything, direct.ID, "", ""); err != nil || got.Status != telemetry.AlertResolved || got.AcknowledgedAt != nil {
		t.Errorf("open → resolved: %+v, %v", got, err)
	}
	other := mustOpen(t, s, offlineAlert(w.other.ID, t0))
	_, err = s.AcknowledgeAlert(ctx, everything, other.ID, "no-such-user")
	opsIs(t, "acknowledged by an unknown user", err, telemetry.ErrInvalid)
	for _, id := range []string{newUUID(), "not-a-uuid"} {
		_, err := s.AcknowledgeAlert(ctx, everything, id, "")
		opsIs(t, "acknowledge "+id, err, telemetry.ErrNotFound)
		_, err = s.ResolveAlert(ctx, everything, id, "", "")
		opsIs(t, "resolve "+id, err, telemetry.ErrNotFound)
		_, err = s.GetAlert(ctx, everything, id)
		opsIs(t, "get "+id, err, telemetry.ErrNotFound)
	}
}
