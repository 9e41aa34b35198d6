-- +goose Up
-- The change log of nodes (see the PostgreSQL migration of the same number):
-- the embedded store has one member, whose placement reads it the same way.
CREATE TABLE node_changes (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    node_id       TEXT NOT NULL,
    changed_at_ms INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
);
CREATE INDEX node_changes_at_idx ON node_changes (changed_at_ms);

-- +goose StatementBegin
CREATE TRIGGER nodes_log_insert AFTER INSERT ON nodes
BEGIN
    INSERT INTO node_changes (node_id) VALUES (NEW.id);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER nodes_log_update AFTER UPDATE OF version ON nodes
BEGIN
    INSERT INTO node_changes (node_id) VALUES (NEW.id);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER nodes_log_delete AFTER DELETE ON nodes
BEGIN
    INSERT INTO node_changes (node_id) VALUES (OLD.id);
END;
-- +goose StatementEnd
