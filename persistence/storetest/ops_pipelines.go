package storetest

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/evaratech/evara/internal/telemetry"
)

func testPipelines(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	w := arrangeOps(t, s)
	trunk := &telemetry.Pipeline{Name: "Main line", Color: ptr("#1e88e5"), CreatedBy: &w.user,
		Positions: []telemetry.LatLng{{17.4486, 78.3908}, {17.4501, 78.3925}, {17.4522, 78.3949}}}
	branch := &telemetry.Pipeline{Name: "Branch"}
	for _, p := range []*telemetry.Pipeline{trunk, branch} {
		if err := s.CreatePipeline(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GetPipeline(ctx, trunk.ID)
	if diff := cmp.Diff(*trunk, got); err != nil || diff != "" {
		t.Errorf("round trip (%v), (-created +stored):\n%s", err, diff)
	}
	list, err := s.ListPipelines(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "Branch" || list[1].Name != "Main line" || list[0].Positions == nil {
		t.Errorf("list by name: %+v, %v", list, err)
	}

	edit := got
	edit.Name, edit.Color, edit.Positions = "Main line (new)", nil, edit.Positions[:1]
	updated, err := s.UpdatePipeline(ctx, edit)
	if err != nil {
		t.Fatal(err)
	}
	edit.UpdatedAt = updated.UpdatedAt
	if diff := cmp.Diff(edit, updated); diff != "" || updated.UpdatedAt.Before(got.UpdatedAt) {
		t.Errorf("updated (-want +got):\n%s", diff)
	}

	opsIs(t, "blank name", s.CreatePipeline(ctx, &telemetry.Pipeline{Name: " "}), telemetry.ErrInvalid)
	opsIs(t, "unknown author", s.CreatePipeline(ctx, &telemetry.Pipeline{Name: "x", CreatedBy: ptr("nobody")}), telemetry.ErrInvalid)
	if err := s.DeletePipeline(ctx, trunk.ID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{trunk.ID, "p-1"} {
		_, err := s.GetPipeline(ctx, id)
		opsIs(t, "get "+id, err, telemetry.ErrNotFound)
		_, err = s.UpdatePipeline(ctx, telemetry.Pipeline{ID: id, Name: "x"})
		opsIs(t, "update "+id, err, telemetry.ErrNotFound)
		opsIs(t, "delete "+id, s.DeletePipeline(ctx, id), telemetry.ErrNotFound)
	}
}
