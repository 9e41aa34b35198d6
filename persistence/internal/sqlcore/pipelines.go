package sqlcore

import (
	"context"

	"github.com/evaratech/evara/internal/telemetry"
)

// Pipelines belong to no tenant in the schema (no community column): every
// caller allowed to see the map sees all of them.

const pipelineColumns = `id, name, color, positions, created_by, created_at, updated_at`

func scanPipeline(row Row) (telemetry.Pipeline, error) {
	var p telemetry.Pipeline
	err := row.Scan(S(&p.ID), &p.Name, NS(&p.Color), J(&p.Positions), NS(&p.CreatedBy), T(&p.CreatedAt), T(&p.UpdatedAt))
	if p.Positions == nil {
		p.Positions = []telemetry.LatLng{}
	}
	return p, err
}

func positions(p []telemetry.LatLng) JSONArg {
	if p == nil {
		p = []telemetry.LatLng{}
	}
	return JSONArg{p}
}

// CreatePipeline stores a new pipeline and fills in its id and timestamps.
func (s *Store) CreatePipeline(ctx context.Context, p *telemetry.Pipeline) error {
	if p.ID == "" {
		p.ID = NewID()
	}
	if p.Positions == nil {
		p.Positions = []telemetry.LatLng{}
	}
	now := opsNow()
	_, err := s.db.Exec(ctx, s.q(`INSERT INTO pipelines (`+pipelineColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $6)`),
		p.ID, p.Name, Opt(p.Color), positions(p.Positions), Opt(p.CreatedBy), s.d.Time(now))
	if err != nil {
		return s.translate(err, "pipeline")
	}
	p.CreatedAt, p.UpdatedAt = now, now
	return nil
}

// ListPipelines returns every pipeline by name.
func (s *Store) ListPipelines(ctx context.Context) ([]telemetry.Pipeline, error) {
	rows, err := s.db.Query(ctx, s.q(`SELECT `+pipelineColumns+` FROM pipelines ORDER BY name, id`))
	if err != nil {
		return nil, s.translate(err, "pipeline")
	}
	defer rows.Close()
	var out []telemetry.Pipeline
	for rows.Next() {
		p, err := scanPipeline(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// GetPipeline returns one pipeline.
func (s *Store) GetPipeline(ctx context.Context, id string) (telemetry.Pipeline, error) {
	id, ok := opsID(id)
	if !ok {
		return telemetry.Pipeline{}, telemetry.ErrNotFound
	}
	p, err := scanPipeline(s.db.QueryRow(ctx, s.q(`SELECT `+pipelineColumns+` FROM pipelines WHERE id = $1`), id))
	return p, s.translate(err, "pipeline")
}

// UpdatePipeline replaces a pipeline's name, color and positions (the
// caller applies PATCH semantics) and returns the stored pipeline.
func (s *Store) UpdatePipeline(ctx context.Context, p telemetry.Pipeline) (telemetry.Pipeline, error) {
	id, ok := opsID(p.ID)
	if !ok {
		return telemetry.Pipeline{}, telemetry.ErrNotFound
	}
	err := affectedOne(s.db.Exec(ctx, s.q(`UPDATE pipelines SET name = $1, color = $2, positions = $3, updated_at = $4 WHERE id = $5`),
		p.Name, Opt(p.Color), positions(p.Positions), s.d.Time(opsNow()), id))
	if err != nil {
		return telemetry.Pipeline{}, s.translate(err, "pipeline")
	}
	return s.GetPipeline(ctx, id)
}

// DeletePipeline removes a pipeline.
func (s *Store) DeletePipeline(ctx context.Context, id string) error {
	id, ok := opsID(id)
	if !ok {
		return telemetry.ErrNotFound
	}
	return s.translate(affectedOne(s.db.Exec(ctx, s.q(`DELETE FROM pipelines WHERE id = $1`), id)), "pipeline")
}
