package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/evaratech/evara/internal/telemetry"
)

func nodeWindow(n *telemetry.Node, from, to time.Time) *telemetry.MaintenanceWindow {
	id := n.ID
	return &telemetry.MaintenanceWindow{NodeID: &id, StartsAt: from, EndsAt: to, Reason: "pump service"}
}

func communityWindow(community string, from, to time.Time) *telemetry.MaintenanceWindow {
	return &telemetry.MaintenanceWindow{CommunityID: ptr(community), StartsAt: from, EndsAt: to, Reason: "mains shut-off"}
}

func windowIDs(ws []telemetry.MaintenanceWindow) []string {
	out := []string{}
	for _, w := range ws {
		out = append(out, w.ID)
	}
	return out
}

func testMaintenance(t *testing.T, open Opener) {
	t.Run("create, list, delete", func(t *testing.T) { testWindowCRUD(t, open(t)) })
	t.Run("invalid windows", func(t *testing.T) { testWindowInvalid(t, open(t)) })
	t.Run("scope filters every call", func(t *testing.T) { testWindowScope(t, open(t)) })
	t.Run("in maintenance through the node or its community", func(t *testing.T) { testInMaintenance(t, open(t)) })
}

func testWindowCRUD(t *testing.T, s Store) {
	ctx := context.Background()
	w := arrangeOps(t, s)
	early := nodeWindow(w.mine, t0, t0.Add(2*time.Hour))
	early.CreatedBy = &w.user
	late := communityWindow(strings.ToUpper(w.communityA), t0.Add(time.Hour), t0.Add(3*time.Hour))
	for _, mw := range []*telemetry.MaintenanceWindow{early, late} {
		if err := s.CreateWindow(ctx, everything, mw); err != nil {
			t.Fatal(err)
		}
	}
	if early.ID == "" || early.CreatedAt.IsZero() || *late.CommunityID != w.communityA {
		t.Fatalf("created windows not filled in: %+v %+v", early, late)
	}
	all, err := s.ListWindows(ctx, everything, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]telemetry.MaintenanceWindow{*early, *late}, all); diff != "" {
		t.Errorf("listed windows (-created +listed):\n%s", diff)
	}
	active := map[time.Duration][]string{
		-time.Millisecond:              {},
		0:                              {early.ID},
		90 * time.Minute:               {early.ID, late.ID},
		2 * time.Hour:                  {late.ID},
		3 * time.Hour:                  {},
		3*time.Hour - time.Millisecond: {late.ID},
	}
	for d, want := range active {
		at := t0.Add(d)
		got, err := s.ListWindows(ctx, everything, &at)
		if err != nil || fmt.Sprint(windowIDs(got)) != fmt.Sprint(want) {
			t.Errorf("active at t0%+v: %v, %v; want %v", d, windowIDs(got), err, want)
		}
	}
	if err := s.DeleteWindow(ctx, everything, early.ID); err != nil {
		t.Fatal(err)
	}
	opsIs(t, "delete twice", s.DeleteWindow(ctx, everything, early.ID), telemetry.ErrNotFound)
	opsIs(t, "delete a non-UUID", s.DeleteWindow(ctx, everything, "w1"), telemetry.ErrNotFound)
	if left, _ := s.ListWindows(ctx, everything, nil); fmt.Sprint(windowIDs(left)) != fmt.Sprint([]string{late.ID}) {
		t.Errorf("after delete: %v", windowIDs(left))
	}
}

func testWindowInvalid(t *testing.T, s Store) {
	ctx := context.Background()
	w := arrangeOps(t, s)
	both := nodeWindow(w.mine, t0, t0.Add(time.Hour))
	both.CommunityID = &w.communityA
	cases := map[string]struct {
		mw   *telemetry.MaintenanceWindow
		want error
	}{
		"ends before it starts": {nodeWindow(w.mine, t0, t0.Add(-time.Hour)), telemetry.ErrInvalid},
		"ends as it starts":     {nodeWindow(w.mine, t0, t0), telemetry.ErrInvalid},
		"no target":             {&telemetry.MaintenanceWindow{StartsAt: t0, EndsAt: t0.Add(time.Hour)}, telemetry.ErrInvalid},
		"two targets":           {both, telemetry.ErrInvalid},
		"unknown node":          {nodeWindow(&telemetry.Node{ID: telemetry.NodeID(newUUID())}, t0, t0.Add(time.Hour)), telemetry.ErrNotFound},
		"unknown community":     {communityWindow(newUUID(), t0, t0.Add(time.Hour)), telemetry.ErrNotFound},
		"unknown author":        {&telemetry.MaintenanceWindow{CommunityID: &w.communityB, StartsAt: t0, EndsAt: t0.Add(time.Hour), CreatedBy: ptr("nobody")}, telemetry.ErrInvalid},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			opsIs(t, "create", s.CreateWindow(ctx, everything, c.mw), c.want)
		})
	}
}

func testWindowScope(t *testing.T, s Store) {
	ctx := context.Background()
	w := arrangeOps(t, s)
	windows := map[string]*telemetry.MaintenanceWindow{
		"mine":        nodeWindow(w.mine, t0, t0.Add(time.Hour)),
		"neighbour":   nodeWindow(w.neighbour, t0, t0.Add(time.Hour)),
		"other":       nodeWindow(w.other, t0, t0.Add(time.Hour)),
		"community A": communityWindow(w.communityA, t0, t0.Add(time.Hour)),
		"community B": communityWindow(w.communityB, t0, t0.Add(time.Hour)),
	}
	for _, mw := range windows {
		if err := s.CreateWindow(ctx, everything, mw); err != nil {
			t.Fatal(err)
		}
	}
	sees := map[string][]string{
		"superadmin":        {"community A", "community B", "mine", "neighbour", "other"},
		"distributor":       {"community A", "mine", "neighbour"},
		"community admin A": {"community A", "mine", "neighbour"},
		"community admin B": {"community B", "other"},
		"customer":          {"community A", "mine"},
		"nobody":            {},
	}
	for name, sc := range w.scopes() {
		t.Run(name, func(t *testing.T) {
			listed, err := s.ListWindows(ctx, sc.scope, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for wname, mw := range windows {
				if slices.Contains(windowIDs(listed), mw.ID) {
					got = append(got, wname)
				}
			}
			if want := sees[name]; fmt.Sprint(slices.Sorted(slices.Values(got))) != fmt.Sprint(want) || len(listed) != len(want) {
				t.Errorf("sees %v, want %v", got, want)
			}
			for wname, mw := range windows {
				if !slices.Contains(sees[name], wname) {
					opsIs(t, "delete "+wname+" outside scope", s.DeleteWindow(ctx, sc.scope, mw.ID), telemetry.ErrNotFound)
				}
			}
			testWindowCreateScope(t, s, w, sc.scope, sc.sees)
		})
	}
}

// testWindowCreateScope checks that a caller creates (and deletes) windows
// of the nodes and communities in its scope, and of no others.
func testWindowCreateScope(t *testing.T, s Store, w opsWorld, scope telemetry.Scope, sees []*telemetry.Node) {
	t.Helper()
	ctx := context.Background()
	for _, n := range []*telemetry.Node{w.mine, w.neighbour, w.other} {
		mw := nodeWindow(n, t0.Add(time.Hour), t0.Add(2*time.Hour))
		err := s.CreateWindow(ctx, scope, mw)
		if !opsSees(sees, n) {
			opsIs(t, "create for "+n.NodeKey+" outside scope", err, telemetry.ErrNotFound)
			continue
		}
		opsIs(t, "create for "+n.NodeKey, err, nil)
		opsIs(t, "delete for "+n.NodeKey, s.DeleteWindow(ctx, scope, mw.ID), nil)
	}
	// Customers see their community's windows but do not manage them.
	for _, c := range []string{w.communityA, w.communityB} {
		mw := communityWindow(c, t0.Add(time.Hour), t0.Add(2*time.Hour))
		err := s.CreateWindow(ctx, scope, mw)
		if !scope.All && scope.CommunityID != c && (scope.DistributorID == "" || c != w.communityA) {
			opsIs(t, "create for community "+c+" outside scope", err, telemetry.ErrNotFound)
			continue
		}
		opsIs(t, "create for community "+c, err, nil)
		opsIs(t, "delete for community "+c, s.DeleteWindow(ctx, scope, mw.ID), nil)
	}
}

func testInMaintenance(t *testing.T, s Store) {
	ctx := context.Background()
	w := arrangeOps(t, s)
	for _, mw := range []*telemetry.MaintenanceWindow{
		nodeWindow(w.mine, t0, t0.Add(time.Hour)),
		communityWindow(w.communityA, t0.Add(2*time.Hour), t0.Add(3*time.Hour)),
	} {
		if err := s.CreateWindow(ctx, everything, mw); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		node *telemetry.Node
		at   time.Duration
		want bool
	}{
		{w.mine, -time.Millisecond, false},
		{w.mine, 0, true},
		{w.mine, 59 * time.Minute, true},
		{w.mine, time.Hour, false},
		{w.neighbour, 30 * time.Minute, false},
		{w.neighbour, 2 * time.Hour, true},
		{w.mine, 150 * time.Minute, true},
		{w.other, 150 * time.Minute, false},
		{w.neighbour, 3 * time.Hour, false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s at t0%+v", c.node.NodeKey, c.at), func(t *testing.T) {
			got, err := s.InMaintenance(ctx, c.node.ID, t0.Add(c.at))
			if err != nil || got != c.want {
				t.Errorf("InMaintenance = %v, %v; want %v", got, err, c.want)
			}
			// The device actor's way: the windows not over yet, judged locally.
			windows, err := s.NodeWindows(ctx, c.node.ID, t0.Add(c.at))
			if err != nil {
				t.Fatal(err)
			}
			if got := telemetry.InWindow(windows, t0.Add(c.at)); got != c.want {
				t.Errorf("InWindow(NodeWindows) = %v over %d windows; want %v", got, len(windows), c.want)
			}
		})
	}
	if got, err := s.InMaintenance(ctx, telemetry.NodeID(newUUID()), t0); err != nil || got {
		t.Errorf("unknown node: %v, %v", got, err)
	}
	if got, err := s.NodeWindows(ctx, w.mine.ID, t0.Add(-time.Hour)); err != nil || len(got) != 2 || !got[0].StartsAt.Equal(t0) {
		t.Errorf("NodeWindows of a node with a window of its own and one of its community = %+v, %v; want both, by start", got, err)
	}
	if got, err := s.NodeWindows(ctx, w.other.ID, t0.Add(-time.Hour)); err != nil || len(got) != 0 {
		t.Errorf("NodeWindows of a node of another community = %+v, %v; want none", got, err)
	}
}
