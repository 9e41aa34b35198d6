package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/evaratech/evara/internal/telemetry"
)

func newSubscription(community *string, events ...string) *telemetry.WebhookSubscription {
	return &telemetry.WebhookSubscription{
		URL: "https://hooks.example.com/evara", Events: events, Enabled: true, CommunityID: community,
		Secret: telemetry.SealedSecret{KeyID: "k1", Ciphertext: []byte{9, 8, 7}},
	}
}

func subscriptionIDs(subs []telemetry.WebhookSubscription) []string {
	out := []string{}
	for _, s := range subs {
		out = append(out, s.ID)
	}
	return slices.Sorted(slices.Values(out))
}

func sortedIDs(ids ...string) []string { return slices.Sorted(slices.Values(ids)) }

func testWebhooks(t *testing.T, open Opener) {
	t.Run("create, get, delete, subscriptions for an event", func(t *testing.T) { testSubscriptionCRUD(t, open(t)) })
	t.Run("invalid subscriptions", func(t *testing.T) { testSubscriptionInvalid(t, open(t)) })
	t.Run("scope filters every call", func(t *testing.T) { testSubscriptionScope(t, open(t)) })
	t.Run("update", func(t *testing.T) { testSubscriptionUpdate(t, open(t)) })
}

func testSubscriptionCRUD(t *testing.T, s Store) {
	ctx := context.Background()
	w := arrangeOps(t, s)
	subA := newSubscription(&w.communityA, "ALERT_TRIGGERED", "ALERT_RESOLVED")
	subA.CreatedBy = &w.user
	global := newSubscription(nil, "NODE_PROVISIONED", "ALERT_TRIGGERED")
	subB := newSubscription(&w.communityB, "ALERT_TRIGGERED")
	off := newSubscription(&w.communityA, "ALERT_TRIGGERED")
	off.Enabled = false
	for _, sub := range []*telemetry.WebhookSubscription{subA, global, subB, off} {
		if err := s.CreateSubscription(ctx, everything, sub); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GetSubscription(ctx, everything, subA.ID)
	if diff := cmp.Diff(*subA, got); err != nil || diff != "" {
		t.Errorf("round trip (%v), (-created +stored):\n%s", err, diff)
	}
	cases := []struct {
		event, community string
		want             []string
	}{
		{"ALERT_TRIGGERED", w.communityA, sortedIDs(subA.ID, global.ID)},
		{"ALERT_RESOLVED", w.communityA, sortedIDs(subA.ID)},
		{"ALERT_TRIGGERED", w.communityB, sortedIDs(subB.ID, global.ID)},
		{"NODE_PROVISIONED", w.communityB, sortedIDs(global.ID)},
		{"ALERT_TRIGGERED", "", sortedIDs(global.ID)},
		{"STATUS_UPDATE", w.communityA, []string{}},
	}
	for _, c := range cases {
		subs, err := s.SubscriptionsFor(ctx, c.event, c.community)
		if diff := cmp.Diff(c.want, subscriptionIDs(subs), cmpopts.EquateEmpty()); err != nil || diff != "" {
			t.Errorf("SubscriptionsFor(%s, %s) (%v), (-want +got):\n%s", c.event, c.community, err, diff)
		}
	}
	if err := s.DeleteSubscription(ctx, everything, subA.ID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{subA.ID, "hook-1"} {
		_, err := s.GetSubscription(ctx, everything, id)
		opsIs(t, "get "+id, err, telemetry.ErrNotFound)
		opsIs(t, "delete "+id, s.DeleteSubscription(ctx, everything, id), telemetry.ErrNotFound)
	}
}

func testSubscriptionInvalid(t *testing.T, s Store) {
	ctx := context.Background()
	w := arrangeOps(t, s)
	cases := map[string]struct {
		edit func(sub *telemetry.WebhookSubscription)
		want error
	}{
		"not http":             {func(sub *telemetry.WebhookSubscription) { sub.URL = "ftp://hooks.example.com" }, telemetry.ErrInvalid},
		"no events":            {func(sub *telemetry.WebhookSubscription) { sub.Events = nil }, telemetry.ErrInvalid},
		"empty events":         {func(sub *telemetry.WebhookSubscription) { sub.Events = []string{} }, telemetry.ErrInvalid},
		"no secret":            {func(sub *telemetry.WebhookSubscription) { sub.Secret = telemetry.SealedSecret{} }, telemetry.ErrInvalid},
		"unknown author":       {func(sub *telemetry.WebhookSubscription) { sub.CreatedBy = ptr("nobody") }, telemetry.ErrInvalid},
		"unknown community":    {func(sub *telemetry.WebhookSubscription) { sub.CommunityID = ptr(newUUID()) }, telemetry.ErrNotFound},
		"community not a UUID": {func(sub *telemetry.WebhookSubscription) { sub.CommunityID = ptr("lake-view") }, telemetry.ErrNotFound},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			sub := newSubscription(&w.communityA, "ALERT_TRIGGERED")
			c.edit(sub)
			opsIs(t, "create", s.CreateSubscription(ctx, everything, sub), c.want)
		})
	}
}

func testSubscriptionScope(t *testing.T, s Store) {
	ctx := context.Background()
	w := arrangeOps(t, s)
	subs := map[string]*telemetry.WebhookSubscription{
		"A": newSubscription(&w.communityA, "ALERT_TRIGGERED"),
		"B": newSubscription(&w.communityB, "ALERT_TRIGGERED"),
		"*": newSubscription(nil, "ALERT_TRIGGERED"),
	}
	for _, sub := range subs {
		if err := s.CreateSubscription(ctx, everything, sub); err != nil {
			t.Fatal(err)
		}
	}
	sees := map[string][]string{
		"superadmin": {"*", "A", "B"}, "distributor": {"A"}, "community admin A": {"A"},
		"community admin B": {"B"}, "customer": {}, "nobody": {},
	}
	for name, sc := range w.scopes() {
		t.Run(name, func(t *testing.T) {
			listed, err := s.ListSubscriptions(ctx, sc.scope)
			var want []string
			for _, k := range sees[name] {
				want = append(want, subs[k].ID)
			}
			if diff := cmp.Diff(sortedIDs(want...), subscriptionIDs(listed), cmpopts.EquateEmpty()); err != nil || diff != "" {
				t.Errorf("listed (%v), (-want +got):\n%s", err, diff)
			}
			for k, sub := range subs {
				if slices.Contains(sees[name], k) {
					continue
				}
				_, err := s.GetSubscription(ctx, sc.scope, sub.ID)
				opsIs(t, "get "+k+" outside scope", err, telemetry.ErrNotFound)
				opsIs(t, "delete "+k+" outside scope", s.DeleteSubscription(ctx, sc.scope, sub.ID), telemetry.ErrNotFound)
				opsIs(t, "create in "+k+" outside scope", s.CreateSubscription(ctx, sc.scope, newSubscription(sub.CommunityID, "X")), telemetry.ErrNotFound)
			}
		})
	}
}

// testSubscriptionUpdate: URL, events and enabled change within scope and
// nothing else does (community, secret, author, creation time); outside
// scope, for an unknown id or with invalid values nothing changes.
func testSubscriptionUpdate(t *testing.T, s Store) {
	ctx := context.Background()
	w := arrangeOps(t, s)
	sub := newSubscription(&w.communityA, "ALERT_TRIGGERED")
	sub.CreatedBy = &w.user
	if err := s.CreateSubscription(ctx, everything, sub); err != nil {
		t.Fatal(err)
	}
	changed := *sub
	changed.URL, changed.Events, changed.Enabled = "http://hooks.example.com/v2?team=ops", []string{"ALERT_RESOLVED", "DEVICE_OFFLINE"}, false
	// Only these three fields are the store's to change.
	sneaky := changed
	sneaky.CommunityID, sneaky.CreatedBy = &w.communityB, nil
	sneaky.Secret = telemetry.SealedSecret{KeyID: "k2", Ciphertext: []byte{1}}
	got, err := s.UpdateSubscription(ctx, telemetry.Scope{CommunityID: w.communityA}, sneaky)
	if diff := cmp.Diff(changed, got); err != nil || diff != "" {
		t.Fatalf("update (%v), (-want +got):\n%s", err, diff)
	}
	if stored, err := s.GetSubscription(ctx, everything, sub.ID); err != nil || !cmp.Equal(changed, stored) {
		t.Errorf("stored after the update (%v): %+v", err, stored)
	}
	for event, want := range map[string][]string{"ALERT_TRIGGERED": {}, "ALERT_RESOLVED": {}} {
		subs, err := s.SubscriptionsFor(ctx, event, w.communityA)
		if diff := cmp.Diff(want, subscriptionIDs(subs), cmpopts.EquateEmpty()); err != nil || diff != "" {
			t.Errorf("disabled: SubscriptionsFor(%s) (%v), (-want +got):\n%s", event, err, diff)
		}
	}
	changed.Enabled = true
	if _, err := s.UpdateSubscription(ctx, everything, changed); err != nil {
		t.Fatal(err)
	}
	if subs, err := s.SubscriptionsFor(ctx, "ALERT_RESOLVED", w.communityA); err != nil || len(subs) != 1 || subs[0].ID != sub.ID {
		t.Errorf("enabled again: SubscriptionsFor(ALERT_RESOLVED) = %v, %v", subscriptionIDs(subs), err)
	}

	refused := map[string]struct {
		scope telemetry.Scope
		edit  func(sub *telemetry.WebhookSubscription)
		want  error
	}{
		"outside scope":   {telemetry.Scope{CommunityID: w.communityB}, func(*telemetry.WebhookSubscription) {}, telemetry.ErrNotFound},
		"a customer":      {telemetry.Scope{CustomerID: w.customer}, func(*telemetry.WebhookSubscription) {}, telemetry.ErrNotFound},
		"unknown id":      {everything, func(sub *telemetry.WebhookSubscription) { sub.ID = newUUID() }, telemetry.ErrNotFound},
		"id not a UUID":   {everything, func(sub *telemetry.WebhookSubscription) { sub.ID = "hook-1" }, telemetry.ErrNotFound},
		"not http":        {everything, func(sub *telemetry.WebhookSubscription) { sub.URL = "ftp://hooks.example.com" }, telemetry.ErrInvalid},
		"empty events":    {everything, func(sub *telemetry.WebhookSubscription) { sub.Events = []string{} }, telemetry.ErrInvalid},
		"no events (nil)": {everything, func(sub *telemetry.WebhookSubscription) { sub.Events = nil }, telemetry.ErrInvalid},
	}
	for name, c := range refused {
		t.Run(name, func(t *testing.T) {
			edit := changed
			edit.URL, edit.Events, edit.Enabled = "https://elsewhere.example.com", []string{"DEVICE_ONLINE"}, false
			c.edit(&edit)
			_, err := s.UpdateSubscription(ctx, c.scope, edit)
			opsIs(t, "update", err, c.want)
			if stored, err := s.GetSubscription(ctx, everything, sub.ID); err != nil || !cmp.Equal(changed, stored) {
				t.Errorf("changed by a refused update (%v): %+v", err, stored)
			}
		})
	}
}

// deliveryWorld is the arrangement of the delivery tests: an enabled and a
// disabled subscription of community A.
type deliveryWorld struct {
	opsWorld
	s        Store
	sub, off *telemetry.WebhookSubscription
}

func arrangeDeliveries(t *testing.T, s Store) deliveryWorld {
	t.Helper()
	dw := deliveryWorld{opsWorld: arrangeOps(t, s), s: s}
	dw.sub, dw.off = newSubscription(&dw.communityA, "ALERT_TRIGGERED"), newSubscription(&dw.communityA, "ALERT_TRIGGERED")
	dw.off.Enabled = false
	for _, x := range []*telemetry.WebhookSubscription{dw.sub, dw.off} {
		if err := s.CreateSubscription(context.Background(), everything, x); err != nil {
			t.Fatal(err)
		}
	}
	return dw
}

func (dw deliveryWorld) enqueue(t *testing.T, subID string, due time.Duration) *telemetry.WebhookDelivery {
	t.Helper()
	d := &telemetry.WebhookDelivery{SubscriptionID: subID, Event: "ALERT_TRIGGERED", NextAttemptAt: t0.Add(due),
		Payload: json.RawMessage(`{"event": "ALERT_TRIGGERED", "node_id": "n1", "value": 12.5}`)}
	if err := dw.s.EnqueueDelivery(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	return d
}

func (dw deliveryWorld) due(t *testing.T, at time.Duration, limit int) []telemetry.DueDelivery {
	t.Helper()
	list, err := dw.s.DueDeliveries(context.Background(), t0.Add(at), limit)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func dueIDs(list []telemetry.DueDelivery) string {
	var out []string
	for _, d := range list {
		out = append(out, d.ID)
	}
	return fmt.Sprint(out)
}

func testWebhookDeliveries(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	dw := arrangeDeliveries(t, s)
	d1, d2, d3 := dw.enqueue(t, dw.sub.ID, 0), dw.enqueue(t, dw.sub.ID, time.Minute), dw.enqueue(t, dw.sub.ID, 10*time.Minute)
	dw.enqueue(t, dw.off.ID, 0) // never due: its subscription is disabled

	first := dw.due(t, 5*time.Minute, 10)
	if dueIDs(first) != fmt.Sprint([]string{d1.ID, d2.ID}) || first[0].URL != dw.sub.URL || first[0].Secret.KeyID != "k1" {
		t.Fatalf("due at t0+5m: %+v", first)
	}
	var payload, want any
	_ = json.Unmarshal(first[0].Payload, &payload)
	_ = json.Unmarshal(d1.Payload, &want)
	if diff := cmp.Diff(want, payload); diff != "" || first[0].Attempts != 0 {
		t.Errorf("payload (-enqueued +due):\n%s", diff)
	}
	if got := dw.due(t, 5*time.Minute, 1); dueIDs(got) != fmt.Sprint([]string{d1.ID}) {
		t.Errorf("limit 1: %s", dueIDs(got))
	}

	opsIs(t, "fail d1", s.MarkFailed(ctx, d1.ID, 503, "service unavailable", t0.Add(20*time.Minute)), nil)
	opsIs(t, "fail d2", s.MarkFailed(ctx, d2.ID, 0, "connection refused", t0.Add(6*time.Minute)), nil)
	if got := dw.due(t, 5*time.Minute, 10); len(got) != 0 {
		t.Errorf("failed deliveries are due before their next attempt: %s", dueIDs(got))
	}
	retry := dw.due(t, 7*time.Minute, 10)
	if dueIDs(retry) != fmt.Sprint([]string{d2.ID}) || retry[0].Attempts != 1 || retry[0].LastStatus != nil ||
		retry[0].LastError == nil || *retry[0].LastError != "connection refused" {
		t.Errorf("retry at t0+7m: %+v", retry)
	}
	opsIs(t, "deliver d2", s.MarkDelivered(ctx, d2.ID, 204), nil)
	if got := dw.due(t, 30*time.Minute, 10); dueIDs(got) != fmt.Sprint([]string{d3.ID, d1.ID}) {
		t.Errorf("due at t0+30m: %s, want d3 then d1", dueIDs(got))
	}
	opsIs(t, "dead-letter d1", s.DeadLetter(ctx, d1.ID, 500, "gave up"), nil)
	if got := dw.due(t, 30*time.Minute, 10); dueIDs(got) != fmt.Sprint([]string{d3.ID}) {
		t.Errorf("due after dead-lettering: %s", dueIDs(got))
	}
	t.Run("dead letters", func(t *testing.T) { testDeadLetters(t, dw, d1) })
	t.Run("finished and unknown deliveries", func(t *testing.T) { testFinishedDeliveries(t, s, d1, d2) })
	t.Run("enqueue", func(t *testing.T) { testEnqueue(t, dw) })
}

func testFinishedDeliveries(t *testing.T, s Store, dead, delivered *telemetry.WebhookDelivery) {
	ctx := context.Background()
	opsIs(t, "deliver a dead letter", s.MarkDelivered(ctx, dead.ID, 200), telemetry.ErrConflict)
	opsIs(t, "fail a delivered one", s.MarkFailed(ctx, delivered.ID, 500, "x", t0), telemetry.ErrConflict)
	opsIs(t, "dead-letter a delivered one", s.DeadLetter(ctx, delivered.ID, 500, "x"), telemetry.ErrConflict)
	for _, id := range []string{newUUID(), "d-1"} {
		opsIs(t, "deliver "+id, s.MarkDelivered(ctx, id, 200), telemetry.ErrNotFound)
		opsIs(t, "fail "+id, s.MarkFailed(ctx, id, 500, "x", t0), telemetry.ErrNotFound)
		opsIs(t, "dead-letter "+id, s.DeadLetter(ctx, id, 500, "x"), telemetry.ErrNotFound)
	}
}

func testEnqueue(t *testing.T, dw deliveryWorld) {
	ctx := context.Background()
	bad := map[string]*telemetry.WebhookDelivery{
		"payload not JSON":     {SubscriptionID: dw.sub.ID, Event: "X", Payload: json.RawMessage(`{"a":`)},
		"no payload":           {SubscriptionID: dw.sub.ID, Event: "X"},
		"unknown subscription": {SubscriptionID: newUUID(), Event: "X", Payload: json.RawMessage(`{}`)},
		"subscription no UUID": {SubscriptionID: "hook-1", Event: "X", Payload: json.RawMessage(`{}`)},
	}
	for name, d := range bad {
		opsIs(t, name, dw.s.EnqueueDelivery(ctx, d), telemetry.ErrInvalid)
	}
	now := &telemetry.WebhookDelivery{SubscriptionID: dw.sub.ID, Event: "X", Payload: json.RawMessage(`[1, 2]`)}
	if err := dw.s.EnqueueDelivery(ctx, now); err != nil || now.NextAttemptAt.IsZero() {
		t.Errorf("a delivery without a due time is due at once: %+v, %v", now, err)
	}
	if err := dw.s.DeleteSubscription(ctx, everything, dw.sub.ID); err != nil {
		t.Fatal(err)
	}
	if left, err := dw.s.ListDeadLetters(ctx, everything, "", telemetry.Page{}); err != nil || len(left) != 0 {
		t.Errorf("deliveries outlive their subscription: %d, %v", len(left), err)
	}
}

func testDeadLetters(t *testing.T, dw deliveryWorld, dead *telemetry.WebhookDelivery) {
	ctx := context.Background()
	s, w, sub := dw.s, dw.opsWorld, dw.sub
	cases := map[string]struct {
		scope telemetry.Scope
		sub   string
		want  int
	}{
		"superadmin":          {everything, "", 1},
		"of the subscription": {everything, sub.ID, 1},
		"of another":          {everything, newUUID(), 0},
		"of a non-UUID":       {everything, "hook-1", 0},
		"community admin A":   {telemetry.Scope{CommunityID: w.communityA}, "", 1},
		"community admin B":   {telemetry.Scope{CommunityID: w.communityB}, "", 0},
		"customer":            {telemetry.Scope{CustomerID: w.customer}, "", 0},
		"a page past the end": {everything, "", 0},
	}
	for name, c := range cases {
		page := telemetry.Page{}
		if name == "a page past the end" {
			page.Offset = 1
		}
		got, err := s.ListDeadLetters(ctx, c.scope, c.sub, page)
		if err != nil || len(got) != c.want {
			t.Errorf("%s: %d dead letters, %v; want %d", name, len(got), err, c.want)
			continue
		}
		if c.want == 1 && (got[0].ID != dead.ID || got[0].Attempts != 2 || got[0].DeadLetteredAt == nil ||
			got[0].LastStatus == nil || *got[0].LastStatus != 500 || got[0].LastError == nil || *got[0].LastError != "gave up") {
			t.Errorf("%s: dead letter %+v", name, got[0])
		}
	}
}
