package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/evaratech/evara/internal/telemetry"
)

// AnalyticsStore covers the aggregates of the analytics routes and the
// row streams of the exports.
type AnalyticsStore interface {
	DailyStats(ctx context.Context, node telemetry.NodeID, since time.Time) ([]telemetry.DailyStat, error)
	FleetCounts(ctx context.Context, scope telemetry.Scope) ([]telemetry.FleetCount, error)
	LevelDrops(ctx context.Context, nodes []telemetry.NodeID, field int, since time.Time) ([]telemetry.DayTotal, error)
	StreamNodes(ctx context.Context, scope telemetry.Scope, fn func(telemetry.Node) error) error
	StreamAlerts(ctx context.Context, scope telemetry.Scope, f telemetry.AlertFilter, fn func(telemetry.Alert) error) error
	StreamReadings(ctx context.Context, node telemetry.NodeID, q telemetry.ReadingQuery, fn func(telemetry.Reading) error) error
	ListAlerts(ctx context.Context, scope telemetry.Scope, f telemetry.AlertFilter) ([]telemetry.Alert, int, error)
}

func testAnalytics(t *testing.T, open Opener) {
	t.Run("DailyStats", func(t *testing.T) { testDailyStats(t, open) })
	t.Run("LevelDrops", func(t *testing.T) { testLevelDrops(t, open) })
	t.Run("FleetCounts", func(t *testing.T) { testFleetCounts(t, open) })
	t.Run("StreamNodes", func(t *testing.T) { testStreamNodes(t, open) })
	t.Run("StreamAlerts", func(t *testing.T) { testStreamAlerts(t, open) })
	t.Run("StreamReadings", func(t *testing.T) { testStreamReadingsAll(t, open) })
}

// day is 00:00 UTC of November d, 2026.
func day(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }

// reading is entry id of node at at, with field values by number (NaN-free;
// a field not named is absent).
func reading(node telemetry.NodeID, id int64, at time.Time, fields map[int]float64) telemetry.Reading {
	r := telemetry.Reading{Node: node, Entry: telemetry.Entry{EntryID: id, CreatedAt: at}}
	for n, v := range fields {
		r.Fields[n-1] = telemetry.Field{Value: v, Valid: true}
	}
	return r
}

func createNodes(t *testing.T, s Store, nodes ...*telemetry.Node) {
	t.Helper()
	for _, n := range nodes {
		if err := s.CreateNode(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
}

func testDailyStats(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	a, b := newNode("stats-a", nil, nil, nil), newNode("stats-b", nil, nil, nil)
	createNodes(t, s, a, b)
	rows := []telemetry.Reading{
		reading(a.ID, 1, day(17).Add(12*time.Hour), map[int]float64{1: 999, 2: 999}), // before the window
		// Nov 18: field1 10, 20, 30; field2 only twice (one reading lacks it).
		reading(a.ID, 2, day(18), map[int]float64{1: 10, 2: 1.5}),
		reading(a.ID, 3, day(18).Add(12*time.Hour), map[int]float64{1: 20}),
		reading(a.ID, 4, day(19).Add(-time.Millisecond), map[int]float64{1: 30, 2: 2.5}), // the day's last millisecond
		// Nov 19: field1 only, and field8 once.
		reading(a.ID, 5, day(19), map[int]float64{1: -4}),
		reading(a.ID, 6, day(19).Add(23*time.Hour), map[int]float64{1: 8, 8: 0.25}),
		// Nov 21 (nothing on the 20th).
		reading(a.ID, 7, day(21).Add(time.Hour), map[int]float64{2: 7}),
		reading(b.ID, 1, day(18).Add(time.Hour), map[int]float64{1: 5000, 2: 5000}), // another node
	}
	if err := s.WriteReadings(ctx, rows); err != nil {
		t.Fatal(err)
	}
	got, err := s.DailyStats(ctx, a.ID, day(18))
	if err != nil {
		t.Fatal(err)
	}
	want := []telemetry.DailyStat{
		{Field: 1, Day: day(18), Count: 3, Min: 10, Avg: 20, Max: 30},
		{Field: 1, Day: day(19), Count: 2, Min: -4, Avg: 2, Max: 8},
		{Field: 2, Day: day(18), Count: 2, Min: 1.5, Avg: 2, Max: 2.5},
		{Field: 2, Day: day(21), Count: 1, Min: 7, Avg: 7, Max: 7},
		{Field: 8, Day: day(19), Count: 1, Min: 0.25, Avg: 0.25, Max: 0.25},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("daily stats (-want +got):\n%s", diff)
	}
	for name, id := range map[string]telemetry.NodeID{"malformed id": "not-a-uuid", "unknown node": telemetry.NodeID(newUUID())} {
		if got, err := s.DailyStats(ctx, id, day(1)); err != nil || len(got) != 0 {
			t.Errorf("%s: %v, %v; want nothing", name, got, err)
		}
	}
}

func testLevelDrops(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	a, b, c := newNode("level-a", nil, nil, nil), newNode("level-b", nil, nil, nil), newNode("level-c", nil, nil, nil)
	createNodes(t, s, a, b, c)
	since := day(18)
	rows := []telemetry.Reading{
		reading(a.ID, 1, since.Add(-30*time.Hour), map[int]float64{1: 500}), // beyond the look-back: ignored
		reading(a.ID, 2, since.Add(-time.Hour), map[int]float64{1: 110}),    // before the window: the 10 to 100 counts
		reading(a.ID, 3, since.Add(time.Hour), map[int]float64{1: 100}),
		reading(a.ID, 4, since.Add(2*time.Hour), map[int]float64{1: 90}),
		reading(a.ID, 5, since.Add(3*time.Hour), map[int]float64{1: 95}), // a refill: not counted
		reading(a.ID, 6, day(19).Add(time.Hour), map[int]float64{1: 80}),
		reading(a.ID, 7, day(19).Add(2*time.Hour), map[int]float64{2: 3}), // no level: skipped, not a drop to 0
		reading(a.ID, 8, day(19).Add(3*time.Hour), map[int]float64{1: 70}),
		reading(a.ID, 9, day(20).Add(time.Hour), map[int]float64{1: 100}), // only a rise on the 20th: no entry
		// b's level is field2; its field1 falls but is not asked for.
		reading(b.ID, 1, since.Add(time.Hour), map[int]float64{1: 50, 2: 40.5}),
		reading(b.ID, 2, since.Add(2*time.Hour), map[int]float64{1: 10, 2: 40}),
		// c is not asked for at all.
		reading(c.ID, 1, since.Add(time.Hour), map[int]float64{1: 50}),
		reading(c.ID, 2, since.Add(2*time.Hour), map[int]float64{1: 10}),
	}
	if err := s.WriteReadings(ctx, rows); err != nil {
		t.Fatal(err)
	}
	got, err := s.LevelDrops(ctx, []telemetry.NodeID{a.ID, "not-a-uuid"}, 1, since)
	if err != nil {
		t.Fatal(err)
	}
	want := []telemetry.DayTotal{{Node: a.ID, Day: day(18), Total: 20}, {Node: a.ID, Day: day(19), Total: 25}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("field 1 of a (-want +got):\n%s", diff)
	}
	got, err = s.LevelDrops(ctx, []telemetry.NodeID{b.ID}, 2, since)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]telemetry.DayTotal{{Node: b.ID, Day: day(18), Total: 0.5}}, got); diff != "" {
		t.Errorf("field 2 of b (-want +got):\n%s", diff)
	}
	if got, err := s.LevelDrops(ctx, nil, 1, since); err != nil || len(got) != 0 {
		t.Errorf("no nodes: %v, %v", got, err)
	}
	if _, err := s.LevelDrops(ctx, []telemetry.NodeID{a.ID}, 9, since); !errors.Is(err, telemetry.ErrInvalid) {
		t.Errorf("field 9: %v, want ErrInvalid", err)
	}
}

func testFleetCounts(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	w := arrangeOps(t, s) // mine, neighbour (A, OHT EvaraTank), other (B)
	sump := newNode("sump", &w.communityA, nil, &w.distributor)
	sump.Category = "Sump"
	bore := newNode("bore", &w.communityA, nil, &w.distributor)
	bore.Category, bore.AnalyticsType = "Borewell", "EvaraDeep"
	createNodes(t, s, sump, bore)
	for id, st := range map[telemetry.NodeID]telemetry.Status{w.mine.ID: telemetry.StatusOnline, bore.ID: telemetry.StatusOnline,
		sump.ID: telemetry.StatusAlert} {
		if err := s.SetNodeStatus(ctx, id, st, nil); err != nil {
			t.Fatal(err)
		}
	}
	cases := map[string]struct {
		scope telemetry.Scope
		want  []telemetry.FleetCount
	}{
		"community A": {telemetry.Scope{CommunityID: w.communityA}, []telemetry.FleetCount{
			{Category: "Borewell", AnalyticsType: "EvaraDeep", Status: telemetry.StatusOnline, Count: 1},
			{Category: "OHT", AnalyticsType: "EvaraTank", Status: telemetry.StatusOnline, Count: 1},
			{Category: "OHT", AnalyticsType: "EvaraTank", Status: telemetry.StatusProvisioning, Count: 1},
			{Category: "Sump", AnalyticsType: "EvaraTank", Status: telemetry.StatusAlert, Count: 1},
		}},
		"superadmin": {everything, []telemetry.FleetCount{
			{Category: "Borewell", AnalyticsType: "EvaraDeep", Status: telemetry.StatusOnline, Count: 1},
			{Category: "OHT", AnalyticsType: "EvaraTank", Status: telemetry.StatusOnline, Count: 1},
			{Category: "OHT", AnalyticsType: "EvaraTank", Status: telemetry.StatusProvisioning, Count: 2},
			{Category: "Sump", AnalyticsType: "EvaraTank", Status: telemetry.StatusAlert, Count: 1},
		}},
		"customer": {telemetry.Scope{CustomerID: w.customer}, []telemetry.FleetCount{
			{Category: "OHT", AnalyticsType: "EvaraTank", Status: telemetry.StatusOnline, Count: 1},
		}},
		"nobody": {telemetry.Scope{}, nil},
	}
	for name, c := range cases {
		got, err := s.FleetCounts(ctx, c.scope)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

func testStreamNodes(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	w := arrangeOps(t, s)
	for name, c := range w.scopes() {
		var got []string
		err := s.StreamNodes(ctx, c.scope, func(n telemetry.Node) error {
			got = append(got, n.NodeKey)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, n := range c.sees { // in label order already: Tank mine, Tank neighbour, Tank other
			want = append(want, n.NodeKey)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	stop := errors.New("client went away")
	calls := 0
	err := s.StreamNodes(ctx, everything, func(telemetry.Node) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("a failing fn: %d calls, error %v; want 1 call and its error", calls, err)
	}
}

func testStreamAlerts(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	w, _ := arrangeAlertList(t, s)
	filters := map[string]telemetry.AlertFilter{
		"all": {}, "open": {Status: telemetry.AlertOpen}, "warning": {Severity: telemetry.SeverityWarning},
		"one node": {NodeID: w.mine.ID}, "malformed node": {NodeID: "x"},
	}
	for who, sc := range w.scopes() {
		for name, f := range filters {
			var got []string
			err := s.StreamAlerts(ctx, sc.scope, f, func(a telemetry.Alert) error {
				got = append(got, a.ID)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			f.Page = telemetry.Page{Limit: 1000}
			list, _, err := s.ListAlerts(ctx, sc.scope, f)
			if err != nil {
				t.Fatal(err)
			}
			want := alertIDs(list) // the list's order: newest first
			if len(want) == 0 {
				want = nil
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s, %s: stream differs from the list (-list +stream):\n%s", who, name, diff)
			}
		}
	}
}

// testStreamReadingsAll streams more readings than any page holds, all of
// them, in entry order.
func testStreamReadingsAll(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	n := newNode("many", nil, nil, nil)
	createNodes(t, s, n)
	const total = 3000
	if err := s.WriteReadings(ctx, entries(n.ID, 1, total)); err != nil {
		t.Fatal(err)
	}
	next := int64(1)
	err := s.StreamReadings(ctx, n.ID, telemetry.ReadingQuery{}, func(r telemetry.Reading) error {
		if r.EntryID != next {
			return errors.New("out of order")
		}
		next++
		return nil
	})
	if err != nil || next != total+1 {
		t.Errorf("streamed up to entry %d of %d: %v", next-1, total, err)
	}
}
