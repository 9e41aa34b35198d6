-- +goose Up
-- A change log of nodes, written by a trigger, so that every member of a
-- cluster learns within a fraction of a second that a node was created,
-- reconfigured or deleted — whoever changed it (an API replica, a CLI, an
-- operator's SQL) — and starts, reconfigures or stops its device. Status
-- updates by the devices themselves do not bump version and are not logged.
-- Rows are pruned after an hour by the maintenance job (a small table, not
-- readings: row deletes are fine here).
CREATE TABLE node_changes (
    seq           bigserial PRIMARY KEY,
    node_id       text NOT NULL,
    changed_at_ms bigint NOT NULL DEFAULT (floor(extract(epoch FROM clock_timestamp()) * 1000))::bigint
);
CREATE INDEX node_changes_at_idx ON node_changes (changed_at_ms);

-- +goose StatementBegin
CREATE FUNCTION evara_log_node_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO node_changes (node_id) VALUES (OLD.id::text);
    ELSE
        INSERT INTO node_changes (node_id) VALUES (NEW.id::text);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER nodes_log_change AFTER INSERT OR DELETE OR UPDATE OF version ON nodes
    FOR EACH ROW EXECUTE FUNCTION evara_log_node_change();
