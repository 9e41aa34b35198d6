package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/evaratech/evara/internal/telemetry"
)

var everything = telemetry.Scope{All: true}

func ptr[T any](v T) *T { return &v }

// tenancy arranges a distributor with two communities and a customer in the
// first, through SQL (the tenancy calls have their own tests).
type tenancy struct {
	distributor, communityA, communityB, customer string
}

func arrangeTenancy(t *testing.T, s Store) tenancy {
	t.Helper()
	ctx := context.Background()
	ids := tenancy{distributor: newUUID(), communityA: newUUID(), communityB: newUUID(), customer: newUUID()}
	stmts := []struct {
		q    string
		args []any
	}{
		{"INSERT INTO distributors (id, name) VALUES ($1, 'Aqua Distributors')", []any{ids.distributor}},
		{"INSERT INTO communities (id, name, slug, distributor_id) VALUES ($1, 'Green Meadows', 'green-meadows', $2)", []any{ids.communityA, ids.distributor}},
		{"INSERT INTO communities (id, name, slug) VALUES ($1, 'Lake View', 'lake-view')", []any{ids.communityB}},
		{"INSERT INTO customers (id, full_name, community_id, distributor_id) VALUES ($1, 'Asha Rao', $2, $3)", []any{ids.customer, ids.communityA, ids.distributor}},
	}
	for _, st := range stmts {
		if _, err := s.DB().Exec(ctx, rebind(s, st.q), st.args...); err != nil {
			t.Fatalf("arrange %q: %v", st.q, err)
		}
	}
	return ids
}

func newNode(key string, community, customer, distributor *string) *telemetry.Node {
	return &telemetry.Node{
		NodeKey: key, Label: "Tank " + key, Category: "OHT", AnalyticsType: "EvaraTank",
		LocationName: ptr("Block " + key), Lat: ptr(17.38), Lng: ptr(78.48), Capacity: ptr(5000.0),
		ChannelID:    telemetry.ChannelID(2_000_000 + len(key)),
		ChannelKey:   telemetry.SealedSecret{KeyID: "k1", Ciphertext: []byte{1, 2, 3}},
		FieldMapping: map[string]string{"field1": "water_level"},
		PollInterval: ptr(30 * time.Second),
		CommunityID:  community, CustomerID: customer, DistributorID: distributor,
		Config: &telemetry.NodeConfig{Kind: "tank", Params: map[string]any{"height_cm": 200.0}},
	}
}

func testNodes(t *testing.T, open Opener) {
	ctx := context.Background()

	t.Run("create, get by id and key, round trip", func(t *testing.T) {
		s := open(t)
		ten := arrangeTenancy(t, s)
		n := newNode("oht-1", &ten.communityA, &ten.customer, &ten.distributor)
		if err := s.CreateNode(ctx, n); err != nil {
			t.Fatal(err)
		}
		if n.ID == "" || n.Version != 1 || n.Status != telemetry.StatusProvisioning || n.CreatedAt.IsZero() {
			t.Fatalf("created node not filled in: %+v", n)
		}
		for _, key := range []string{string(n.ID), n.NodeKey} {
			got, err := s.GetNode(ctx, everything, key)
			if err != nil {
				t.Fatalf("GetNode(%s): %v", key, err)
			}
			if diff := cmp.Diff(*n, got, cmpopts.EquateApproxTime(time.Millisecond)); diff != "" {
				t.Errorf("GetNode(%s) differs (-created +stored):\n%s", key, diff)
			}
		}
	})

	t.Run("not found and conflicts", func(t *testing.T) {
		s := open(t)
		if _, err := s.GetNode(ctx, everything, "no-such-node"); !errors.Is(err, telemetry.ErrNotFound) {
			t.Errorf("unknown key: %v", err)
		}
		if _, err := s.GetNode(ctx, everything, newUUID()); !errors.Is(err, telemetry.ErrNotFound) {
			t.Errorf("unknown id: %v", err)
		}
		if err := s.CreateNode(ctx, newNode("dup", nil, nil, nil)); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateNode(ctx, newNode("dup", nil, nil, nil)); !errors.Is(err, telemetry.ErrConflict) {
			t.Errorf("duplicate node_key: %v", err)
		}
		bad := newNode("bad", nil, nil, nil)
		bad.Category = "Bucket"
		if err := s.CreateNode(ctx, bad); !errors.Is(err, telemetry.ErrInvalid) {
			t.Errorf("bad category: %v", err)
		}
		orphan := newNode("orphan", ptr(newUUID()), nil, nil)
		if err := s.CreateNode(ctx, orphan); !errors.Is(err, telemetry.ErrInvalid) {
			t.Errorf("unknown community: %v", err)
		}
		if err := s.DeleteNode(ctx, everything, telemetry.NodeID(newUUID())); !errors.Is(err, telemetry.ErrNotFound) {
			t.Errorf("delete unknown: %v", err)
		}
	})

	t.Run("scope filters every call", func(t *testing.T) {
		s := open(t)
		ten := arrangeTenancy(t, s)
		mine := newNode("mine", &ten.communityA, &ten.customer, &ten.distributor)
		neighbour := newNode("neighbour", &ten.communityA, nil, nil) // the distributor comes from the community
		other := newNode("other", &ten.communityB, nil, nil)
		for _, n := range []*telemetry.Node{mine, neighbour, other} {
			if err := s.CreateNode(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
		if neighbour.DistributorID == nil || *neighbour.DistributorID != ten.distributor {
			t.Errorf("a node created in a community got distributor %v, want the community's", neighbour.DistributorID)
		}
		scopes := map[string]struct {
			scope telemetry.Scope
			sees  []string
		}{
			"superadmin":      {everything, []string{"mine", "neighbour", "other"}},
			"distributor":     {telemetry.Scope{DistributorID: ten.distributor}, []string{"mine", "neighbour"}},
			"community admin": {telemetry.Scope{CommunityID: ten.communityB}, []string{"other"}},
			"customer":        {telemetry.Scope{CustomerID: ten.customer}, []string{"mine"}},
			"nobody":          {telemetry.Scope{}, nil},
		}
		for name, sc := range scopes {
			t.Run(name, func(t *testing.T) {
				nodes, total, err := s.ListNodes(ctx, sc.scope, telemetry.NodeFilter{})
				if err != nil {
					t.Fatal(err)
				}
				var keys []string
				for _, n := range nodes {
					keys = append(keys, n.NodeKey)
				}
				if fmt.Sprint(keys) != fmt.Sprint(sc.sees) || total != len(sc.sees) {
					t.Errorf("sees %v (total %d), want %v", keys, total, sc.sees)
				}
				for _, n := range []*telemetry.Node{mine, neighbour, other} {
					_, err := s.GetNode(ctx, sc.scope, string(n.ID))
					visible := contains(sc.sees, n.NodeKey)
					if visible != (err == nil) || (!visible && !errors.Is(err, telemetry.ErrNotFound)) {
						t.Errorf("GetNode(%s) = %v, visible %v", n.NodeKey, err, visible)
					}
					if !visible {
						if err := s.DeleteNode(ctx, sc.scope, n.ID); !errors.Is(err, telemetry.ErrNotFound) {
							t.Errorf("DeleteNode(%s) outside scope = %v", n.NodeKey, err)
						}
					}
				}
				counts, err := s.CountNodesByStatus(ctx, sc.scope)
				if err != nil || counts.Total != len(sc.sees) || counts.Provisioning != len(sc.sees) {
					t.Errorf("counts %+v, %v", counts, err)
				}
			})
		}
	})

	t.Run("filters and pagination", func(t *testing.T) {
		s := open(t)
		for i := 0; i < 7; i++ {
			if err := s.CreateNode(ctx, newNode(fmt.Sprintf("n%d", i), nil, nil, nil)); err != nil {
				t.Fatal(err)
			}
		}
		page, total, err := s.ListNodes(ctx, everything, telemetry.NodeFilter{Page: telemetry.Page{Limit: 3, Offset: 3}})
		if err != nil || total != 7 || len(page) != 3 || page[0].NodeKey != "n3" {
			t.Fatalf("page = %d nodes from %v, total %d, err %v", len(page), keysOf(page), total, err)
		}
		n2, _ := s.GetNode(ctx, everything, "n2")
		if err := s.SetNodeStatus(ctx, n2.ID, telemetry.StatusOnline, ptr(time.Now())); err != nil {
			t.Fatal(err)
		}
		online, total, err := s.ListNodes(ctx, everything, telemetry.NodeFilter{Status: telemetry.StatusOnline})
		if err != nil || total != 1 || online[0].NodeKey != "n2" || online[0].LastSeen == nil {
			t.Errorf("status filter: %v total %d err %v", keysOf(online), total, err)
		}
		found, _, err := s.ListNodes(ctx, everything, telemetry.NodeFilter{Query: "TANK N5"})
		if err != nil || len(found) != 1 || found[0].NodeKey != "n5" {
			t.Errorf("search: %v %v", keysOf(found), err)
		}
		none, _, err := s.ListNodes(ctx, everything, telemetry.NodeFilter{Query: "%"})
		if err != nil || len(none) != 0 {
			t.Errorf("a %% in the query must match itself, not everything: %v %v", keysOf(none), err)
		}
		if err := s.SetNodeStatus(ctx, telemetry.NodeID(newUUID()), telemetry.StatusOnline, nil); !errors.Is(err, telemetry.ErrNotFound) {
			t.Errorf("status of unknown node: %v", err)
		}
	})

	t.Run("optimistic update", func(t *testing.T) {
		s := open(t)
		n := newNode("upd", nil, nil, nil)
		if err := s.CreateNode(ctx, n); err != nil {
			t.Fatal(err)
		}
		edit := *n
		edit.Label, edit.Config, edit.PollInterval = "Renamed", nil, nil
		got, err := s.UpdateNode(ctx, everything, edit)
		if err != nil {
			t.Fatal(err)
		}
		if got.Label != "Renamed" || got.Version != 2 || got.Config != nil || got.PollInterval != nil {
			t.Errorf("updated = %+v", got)
		}
		if _, err := s.UpdateNode(ctx, everything, edit); !errors.Is(err, telemetry.ErrConflict) {
			t.Errorf("stale version: %v", err)
		}
		if _, err := s.UpdateNode(ctx, telemetry.Scope{CustomerID: newUUID()}, got); !errors.Is(err, telemetry.ErrNotFound) {
			t.Errorf("update outside scope: %v", err)
		}
	})

	t.Run("runtime nodes and delete", func(t *testing.T) {
		s := open(t)
		withChannel, without := newNode("ch", nil, nil, nil), newNode("noch", nil, nil, nil)
		without.ChannelID, without.ChannelKey = 0, telemetry.SealedSecret{}
		for _, n := range []*telemetry.Node{withChannel, without} {
			if err := s.CreateNode(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
		rt, err := s.RuntimeNodes(ctx)
		if err != nil || len(rt) != 1 || rt[0].NodeKey != "ch" || !rt[0].ChannelKey.IsSet() {
			t.Fatalf("runtime nodes %v %v", keysOf(rt), err)
		}
		if err := s.DeleteNode(ctx, everything, withChannel.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetNode(ctx, everything, "ch"); !errors.Is(err, telemetry.ErrNotFound) {
			t.Errorf("deleted node still there: %v", err)
		}
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func keysOf(nodes []telemetry.Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.NodeKey)
	}
	return out
}
