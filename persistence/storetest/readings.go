package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/evaratech/evara/internal/telemetry"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func entries(node telemetry.NodeID, from, n int) []telemetry.Reading {
	out := make([]telemetry.Reading, n)
	for i := range out {
		id := from + i
		out[i] = telemetry.Reading{Node: node, Entry: telemetry.Entry{
			EntryID:   int64(id),
			CreatedAt: t0.Add(time.Duration(id) * 15 * time.Second),
			Fields:    [telemetry.FieldCount]telemetry.Field{{Value: float64(100 + id), Valid: true}, {Value: 23.5, Valid: true}},
		}}
	}
	return out
}

func testReadings(t *testing.T, open Opener) {
	ctx := context.Background()

	t.Run("write once, read back, resume point", func(t *testing.T) {
		s := open(t)
		a, b := newNode("a", nil, nil, nil), newNode("b", nil, nil, nil)
		b.PlanID = "pro"
		for _, n := range []*telemetry.Node{a, b} {
			if err := s.CreateNode(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
		rows := append(entries(a.ID, 1, 50), entries(b.ID, 1, 5)...)
		rows[3].Fields[2] = telemetry.Field{} // a NULL field
		if err := s.WriteReadings(ctx, rows); err != nil {
			t.Fatal(err)
		}
		// A re-fetch overlapping what is stored stores only the new entries.
		if err := s.WriteReadings(ctx, entries(a.ID, 40, 20)); err != nil {
			t.Fatal(err)
		}
		got, err := s.Readings(ctx, a.ID, telemetry.ReadingQuery{})
		if err != nil {
			t.Fatal(err)
		}
		want := append(rows[:50:50], entries(a.ID, 51, 9)...)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("stored readings differ (-want +got):\n%s", diff)
		}
		stored, _ := s.GetNode(ctx, everything, string(a.ID))
		if stored.LastEntryID != 59 || stored.LastSeen == nil || !stored.LastSeen.Equal(want[58].CreatedAt) {
			t.Errorf("resume point %d, last seen %v", stored.LastEntryID, stored.LastSeen)
		}
		// An older batch arriving late never moves the resume point back.
		if err := s.WriteReadings(ctx, entries(a.ID, 1, 2)); err != nil {
			t.Fatal(err)
		}
		if stored, _ = s.GetNode(ctx, everything, string(a.ID)); stored.LastEntryID != 59 {
			t.Errorf("resume point moved back to %d", stored.LastEntryID)
		}
		var classA, classB int
		if err := s.DB().QueryRow(ctx, rebind(s, "SELECT min(retention_days) FROM readings WHERE node_id = $1"), string(a.ID)).Scan(&classA); err != nil {
			t.Fatal(err)
		}
		if err := s.DB().QueryRow(ctx, rebind(s, "SELECT min(retention_days) FROM readings WHERE node_id = $1"), string(b.ID)).Scan(&classB); err != nil {
			t.Fatal(err)
		}
		if classA != 30 || classB != 365 {
			t.Errorf("retention classes %d and %d, want the plans' 30 and 365", classA, classB)
		}
	})

	t.Run("queries", func(t *testing.T) {
		s := open(t)
		n := newNode("q", nil, nil, nil)
		if err := s.CreateNode(ctx, n); err != nil {
			t.Fatal(err)
		}
		if _, err := s.LatestReading(ctx, n.ID); !errors.Is(err, telemetry.ErrNotFound) {
			t.Errorf("latest of an empty node: %v", err)
		}
		if err := s.WriteReadings(ctx, entries(n.ID, 1, 100)); err != nil {
			t.Fatal(err)
		}
		latest, err := s.LatestReading(ctx, n.ID)
		if err != nil || latest.EntryID != 100 {
			t.Errorf("latest = %d, %v", latest.EntryID, err)
		}
		cases := map[string]struct {
			q        telemetry.ReadingQuery
			from, to int64
		}{
			"after an entry":  {telemetry.ReadingQuery{AfterEntryID: 90}, 91, 100},
			"newest N":        {telemetry.ReadingQuery{Limit: 5}, 96, 100},
			"time range":      {telemetry.ReadingQuery{Since: t0.Add(10 * 15 * time.Second), Until: t0.Add(12 * 15 * time.Second)}, 10, 12},
			"newest N after":  {telemetry.ReadingQuery{AfterEntryID: 50, Limit: 3}, 98, 100},
			"nothing after":   {telemetry.ReadingQuery{AfterEntryID: 100}, 1, 0},
			"since, from now": {telemetry.ReadingQuery{Since: t0.Add(time.Hour)}, 1, 0},
		}
		for name, c := range cases {
			t.Run(name, func(t *testing.T) {
				got, err := s.Readings(ctx, n.ID, c.q)
				if err != nil {
					t.Fatal(err)
				}
				if int64(len(got)) != c.to-c.from+1 {
					t.Fatalf("got %d readings, want %d..%d", len(got), c.from, c.to)
				}
				for i, r := range got {
					if r.EntryID != c.from+int64(i) {
						t.Fatalf("reading %d is entry %d, want %d", i, r.EntryID, c.from+int64(i))
					}
				}
			})
		}
	})

	t.Run("readings of a deleted node are dropped, not failed", func(t *testing.T) {
		s := open(t)
		n := newNode("gone", nil, nil, nil)
		if err := s.CreateNode(ctx, n); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteNode(ctx, everything, n.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.WriteReadings(ctx, entries(n.ID, 1, 3)); err != nil {
			t.Fatalf("a queued batch for a deleted node must not fail the writer: %v", err)
		}
	})
}
