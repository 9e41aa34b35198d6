package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/evaratech/evara/internal/telemetry"
)

func newRule(node telemetry.NodeID, name string) *telemetry.AlertRule {
	return &telemetry.AlertRule{
		NodeID: node, Name: name, Metric: "water_level", Condition: telemetry.ConditionBelow, Threshold: 20,
		Severity: telemetry.SeverityCritical, Enabled: true, CooldownMinutes: 15,
	}
}

func ruleNames(rules []telemetry.AlertRule) []string {
	out := []string{}
	for _, r := range rules {
		out = append(out, r.Name)
	}
	return out
}

func testAlertRules(t *testing.T, open Opener) {
	t.Run("create, get, list", func(t *testing.T) { testRuleCreate(t, open(t)) })
	t.Run("update and delete", func(t *testing.T) { testRuleUpdate(t, open(t)) })
	t.Run("invalid and not found", func(t *testing.T) { testRuleInvalid(t, open(t)) })
	t.Run("scope filters every call", func(t *testing.T) { testRuleScope(t, open(t)) })
}

func testRuleCreate(t *testing.T, s Store) {
	ctx := context.Background()
	w := arrangeOps(t, s)
	low := newRule(w.mine.ID, "Low level")
	low.CreatedBy = &w.user
	if err := s.CreateRule(ctx, everything, low); err != nil {
		t.Fatal(err)
	}
	if low.ID == "" || low.CreatedAt.IsZero() || !low.UpdatedAt.Equal(low.CreatedAt) {
		t.Fatalf("created rule not filled in: %+v", low)
	}
	for _, id := range []string{low.ID, strings.ToUpper(low.ID)} {
		got, err := s.GetRule(ctx, everything, id)
		if err != nil {
			t.Fatalf("GetRule(%s): %v", id, err)
		}
		if diff := cmp.Diff(*low, got); diff != "" {
			t.Errorf("GetRule(%s) differs (-created +stored):\n%s", id, diff)
		}
	}
	tds := newRule(w.mine.ID, "High TDS")
	tds.Metric, tds.Condition, tds.Threshold, tds.Enabled = "tds", telemetry.ConditionAbove, 500, false
	elsewhere := newRule(w.neighbour.ID, "Empty sump")
	for _, r := range []*telemetry.AlertRule{tds, elsewhere} {
		if err := s.CreateRule(ctx, everything, r); err != nil {
			t.Fatal(err)
		}
	}
	listed, err := s.ListRules(ctx, everything, w.mine.ID)
	if err != nil || fmt.Sprint(ruleNames(listed)) != "[High TDS Low level]" {
		t.Errorf("rules of a node: %v, %v", ruleNames(listed), err)
	}
	if all, err := s.ListRules(ctx, everything, ""); err != nil || len(all) != 3 {
		t.Errorf("all rules: %v, %v", ruleNames(all), err)
	}
	enabled, err := s.EnabledRules(ctx, w.mine.ID)
	if err != nil || fmt.Sprint(ruleNames(enabled)) != "[Low level]" {
		t.Errorf("enabled rules: %v, %v", ruleNames(enabled), err)
	}
}

func testRuleUpdate(t *testing.T, s Store) {
	ctx := context.Background()
	w := arrangeOps(t, s)
	low := newRule(w.mine.ID, "Low level")
	if err := s.CreateRule(ctx, everything, low); err != nil {
		t.Fatal(err)
	}
	edit := *low
	edit.Name, edit.Condition, edit.Threshold, edit.Enabled, edit.CooldownMinutes = "Very low", telemetry.ConditionAtMost, 10, false, 0
	edit.NodeID = w.other.ID // the node of a rule is fixed
	got, err := s.UpdateRule(ctx, everything, edit)
	if err != nil {
		t.Fatal(err)
	}
	want := edit
	want.NodeID, want.UpdatedAt = low.NodeID, got.UpdatedAt
	if diff := cmp.Diff(want, got); diff != "" || got.UpdatedAt.Before(low.UpdatedAt) {
		t.Errorf("updated rule (-want +got):\n%s", diff)
	}
	if enabled, _ := s.EnabledRules(ctx, w.mine.ID); len(enabled) != 0 {
		t.Errorf("a disabled rule is still evaluated: %v", ruleNames(enabled))
	}

	if err := s.DeleteRule(ctx, everything, low.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetRule(ctx, everything, low.ID)
	opsIs(t, "get a deleted rule", err, telemetry.ErrNotFound)
	opsIs(t, "delete twice", s.DeleteRule(ctx, everything, low.ID), telemetry.ErrNotFound)
}

func testRuleInvalid(t *testing.T, s Store) {
	ctx := context.Background()
	w := arrangeOps(t, s)
	cases := map[string]struct {
		edit func(r *telemetry.AlertRule)
		want error
	}{
		"unknown condition":  {func(r *telemetry.AlertRule) { r.Condition = "=>" }, telemetry.ErrInvalid},
		"unknown severity":   {func(r *telemetry.AlertRule) { r.Severity = "fatal" }, telemetry.ErrInvalid},
		"blank name":         {func(r *telemetry.AlertRule) { r.Name = "  " }, telemetry.ErrInvalid},
		"negative cooldown":  {func(r *telemetry.AlertRule) { r.CooldownMinutes = -1 }, telemetry.ErrInvalid},
		"unknown author":     {func(r *telemetry.AlertRule) { r.CreatedBy = ptr("nobody") }, telemetry.ErrInvalid},
		"unknown node":       {func(r *telemetry.AlertRule) { r.NodeID = telemetry.NodeID(newUUID()) }, telemetry.ErrNotFound},
		"node id not a UUID": {func(r *telemetry.AlertRule) { r.NodeID = "oht-1" }, telemetry.ErrNotFound},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			r := newRule(w.mine.ID, "Rule")
			c.edit(r)
			opsIs(t, "create", s.CreateRule(ctx, everything, r), c.want)
		})
	}
	for _, id := range []string{newUUID(), "not-a-uuid"} {
		_, err := s.GetRule(ctx, everything, id)
		opsIs(t, "get "+id, err, telemetry.ErrNotFound)
		_, err = s.UpdateRule(ctx, everything, telemetry.AlertRule{ID: id, Name: "x", Condition: ">", Severity: "info"})
		opsIs(t, "update "+id, err, telemetry.ErrNotFound)
		opsIs(t, "delete "+id, s.DeleteRule(ctx, everything, id), telemetry.ErrNotFound)
	}
	r := newRule(w.mine.ID, "Rule")
	if err := s.CreateRule(ctx, everything, r); err != nil {
		t.Fatal(err)
	}
	bad := *r
	bad.Condition = "~"
	_, err := s.UpdateRule(ctx, everything, bad)
	opsIs(t, "update to an unknown condition", err, telemetry.ErrInvalid)
	if rules, err := s.ListRules(ctx, everything, "not-a-uuid"); err != nil || len(rules) != 0 {
		t.Errorf("rules of a node id that is no UUID: %v, %v", rules, err)
	}
}

func testRuleScope(t *testing.T, s Store) {
	ctx := context.Background()
	w := arrangeOps(t, s)
	rules := map[*telemetry.Node]*telemetry.AlertRule{}
	for _, n := range []*telemetry.Node{w.mine, w.neighbour, w.other} {
		rules[n] = newRule(n.ID, "Rule of "+n.NodeKey)
		if err := s.CreateRule(ctx, everything, rules[n]); err != nil {
			t.Fatal(err)
		}
	}
	for name, sc := range w.scopes() {
		t.Run(name, func(t *testing.T) {
			listed, err := s.ListRules(ctx, sc.scope, "")
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, n := range sc.sees {
				want = append(want, rules[n].Name)
			}
			if got := ruleNames(listed); fmt.Sprint(slices.Sorted(slices.Values(got))) != fmt.Sprint(slices.Sorted(slices.Values(want))) {
				t.Errorf("sees %v, want %v", got, want)
			}
			for n, r := range rules {
				if opsSees(sc.sees, n) {
					continue
				}
				_, err := s.GetRule(ctx, sc.scope, r.ID)
				opsIs(t, "get outside scope", err, telemetry.ErrNotFound)
				_, err = s.UpdateRule(ctx, sc.scope, *r)
				opsIs(t, "update outside scope", err, telemetry.ErrNotFound)
				opsIs(t, "delete outside scope", s.DeleteRule(ctx, sc.scope, r.ID), telemetry.ErrNotFound)
				opsIs(t, "create outside scope", s.CreateRule(ctx, sc.scope, newRule(n.ID, "Intruder")), telemetry.ErrNotFound)
			}
		})
	}
}

func opsSees(sees []*telemetry.Node, n *telemetry.Node) bool {
	for _, v := range sees {
		if v == n {
			return true
		}
	}
	return false
}
