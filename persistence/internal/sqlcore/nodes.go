package sqlcore

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/evaratech/evara/internal/telemetry"
)

const nodeColumns = `n.id, n.node_key, n.label, n.category, n.analytics_type, n.location_name, n.lat, n.lng, n.capacity,
	n.status, n.thingspeak_channel_id, n.channel_key_id, n.channel_key_ciphertext, n.write_key_ciphertext, n.field_mapping,
	n.poll_interval_seconds, n.hardware_id, n.device_type, n.plan_id, n.community_id, n.customer_id, n.distributor_id,
	n.created_by, n.created_at, n.updated_at, n.last_seen, n.last_entry_id, n.version, c.kind, c.params`

const nodeFrom = ` FROM nodes n LEFT JOIN node_configs c ON c.node_id = n.id`

func scanNode(r Row) (telemetry.Node, error) {
	var (
		n         telemetry.Node
		channel   *int64
		keyID     *string
		poll      *int64
		cfgKind   *string
		cfgParams map[string]any
	)
	err := r.Scan(S((*string)(&n.ID)), &n.NodeKey, &n.Label, &n.Category, &n.AnalyticsType, NS(&n.LocationName), &n.Lat, &n.Lng, &n.Capacity,
		(*string)(&n.Status), &channel, NS(&keyID), &n.ChannelKey.Ciphertext, &n.WriteKey, J(&n.FieldMapping),
		&poll, NS(&n.HardwareID), NS(&n.DeviceType), &n.PlanID, NS(&n.CommunityID), NS(&n.CustomerID), NS(&n.DistributorID),
		NS(&n.CreatedBy), T(&n.CreatedAt), T(&n.UpdatedAt), NT(&n.LastSeen), &n.LastEntryID, &n.Version, NS(&cfgKind), J(&cfgParams))
	if err != nil {
		return n, err
	}
	if channel != nil {
		n.ChannelID = telemetry.ChannelID(*channel)
	}
	if keyID != nil {
		n.ChannelKey.KeyID = *keyID
	}
	if poll != nil {
		d := time.Duration(*poll) * time.Second
		n.PollInterval = &d
	}
	if cfgKind != nil {
		n.Config = &telemetry.NodeConfig{Kind: *cfgKind, Params: cfgParams}
	}
	if n.FieldMapping == nil {
		n.FieldMapping = map[string]string{}
	}
	return n, nil
}

func pollSeconds(d *time.Duration) any {
	if d == nil {
		return nil
	}
	return int64(d.Round(time.Second) / time.Second)
}

func channelArg(c telemetry.ChannelID) any {
	if c == 0 {
		return nil
	}
	return int64(c)
}

func keyArgs(s telemetry.SealedSecret) (any, any) {
	if !s.IsSet() {
		return nil, nil
	}
	return s.KeyID, s.Ciphertext
}

// CreateNode stores a new node (and its config) and fills in its id,
// timestamps and version.
func (s *Store) CreateNode(ctx context.Context, n *telemetry.Node) error {
	if n.ID == "" {
		n.ID = telemetry.NodeID(NewID())
	}
	if n.Status == "" {
		n.Status = telemetry.StatusProvisioning
	}
	if n.PlanID == "" {
		n.PlanID = "base"
	}
	if n.FieldMapping == nil {
		n.FieldMapping = map[string]string{}
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	keyID, keyCT := keyArgs(n.ChannelKey)
	err := s.db.InTx(ctx, func(tx DB) error {
		// A node in a community belongs to the community's distributor: taking
		// it from the community keeps the (community, distributor) pair, which
		// the schema checks only when both are set, consistent.
		err := tx.QueryRow(ctx, s.q(`INSERT INTO nodes (id, node_key, label, category, analytics_type, location_name, lat, lng, capacity,
			status, thingspeak_channel_id, channel_key_id, channel_key_ciphertext, write_key_ciphertext, field_mapping,
			poll_interval_seconds, hardware_id, device_type, plan_id, community_id, customer_id, distributor_id, created_by,
			created_at, updated_at, last_seen, last_entry_id, version)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,
				COALESCE($22, (SELECT distributor_id FROM communities WHERE id = $20)),$23,$24,$24,$25,$26,1)
			RETURNING distributor_id`),
			string(n.ID), n.NodeKey, n.Label, n.Category, n.AnalyticsType, Opt(n.LocationName), Opt(n.Lat), Opt(n.Lng), Opt(n.Capacity),
			string(n.Status), channelArg(n.ChannelID), keyID, keyCT, n.WriteKey, JSONArg{n.FieldMapping},
			pollSeconds(n.PollInterval), Opt(n.HardwareID), Opt(n.DeviceType), n.PlanID, Opt(n.CommunityID), Opt(n.CustomerID),
			Opt(n.DistributorID), Opt(n.CreatedBy), s.d.Time(now), nullTime(s.d, n.LastSeen), n.LastEntryID).Scan(NS(&n.DistributorID))
		if err != nil {
			return err
		}
		return s.putNodeConfig(ctx, tx, n.ID, n.Config, now)
	})
	if err != nil {
		return s.translate(err, "node")
	}
	n.CreatedAt, n.UpdatedAt, n.Version = now, now, 1
	return nil
}

func (s *Store) putNodeConfig(ctx context.Context, tx DB, id telemetry.NodeID, cfg *telemetry.NodeConfig, now time.Time) error {
	if cfg == nil {
		_, err := tx.Exec(ctx, s.q(`DELETE FROM node_configs WHERE node_id = $1`), string(id))
		return err
	}
	params := cfg.Params
	if params == nil {
		params = map[string]any{}
	}
	_, err := tx.Exec(ctx, s.q(`INSERT INTO node_configs (node_id, kind, params, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (node_id) DO UPDATE SET kind = excluded.kind, params = excluded.params, updated_at = excluded.updated_at`),
		string(id), cfg.Kind, JSONArg{params}, s.d.Time(now))
	return err
}

func nullTime(d Dialect, t *time.Time) any {
	if t == nil {
		return nil
	}
	return d.Time(*t)
}

// GetNode returns the node with this id or node_key, if it is in scope;
// a node outside the scope is reported as not found.
func (s *Store) GetNode(ctx context.Context, scope telemetry.Scope, idOrKey string) (telemetry.Node, error) {
	var a args
	cond := where{nodeScope(scope, &a)}
	if looksLikeUUID(idOrKey) {
		cond = append(cond, "n.id = "+a.add(strings.ToLower(idOrKey)))
	} else {
		cond = append(cond, "n.node_key = "+a.add(idOrKey))
	}
	n, err := scanNode(s.db.QueryRow(ctx, s.q("SELECT "+nodeColumns+nodeFrom+cond.String()), a...))
	return n, s.translate(err, "node")
}

func looksLikeUUID(s string) bool {
	return uuid.Validate(s) == nil && len(s) == 36
}

// ListNodes returns one page of the nodes in scope that match f, ordered by
// label, and the number of matching nodes.
func (s *Store) ListNodes(ctx context.Context, scope telemetry.Scope, f telemetry.NodeFilter) ([]telemetry.Node, int, error) {
	var a args
	cond := where{nodeScope(scope, &a)}
	if f.Query != "" {
		p := a.add("%" + escapeLike(f.Query) + "%")
		cond = append(cond, "(n.label {ILIKE} "+p+" ESCAPE '\\' OR n.node_key {ILIKE} "+p+" ESCAPE '\\' OR n.location_name {ILIKE} "+p+" ESCAPE '\\')")
	}
	if f.Status != "" {
		cond = append(cond, "n.status = "+a.add(string(f.Status)))
	}
	if f.CommunityID != "" {
		cond = append(cond, "n.community_id = "+a.add(f.CommunityID))
	}
	var total int
	if err := s.db.QueryRow(ctx, s.q("SELECT count(*) FROM nodes n"+cond.String()), a...).Scan(&total); err != nil {
		return nil, 0, s.translate(err, "node")
	}
	page := f.Page.Normalize()
	query := "SELECT " + nodeColumns + nodeFrom + cond.String() + " ORDER BY n.label, n.id LIMIT " + a.add(page.Limit) + " OFFSET " + a.add(page.Offset)
	nodes, err := s.queryNodes(ctx, query, a...)
	return nodes, total, err
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func (s *Store) queryNodes(ctx context.Context, query string, a ...any) ([]telemetry.Node, error) {
	return queryAll(ctx, s, "node", query, a, scanNode)
}

// RuntimeNodes lists every node with a ThingSpeak channel: the devices the
// cluster must run.
func (s *Store) RuntimeNodes(ctx context.Context) ([]telemetry.Node, error) {
	return s.queryNodes(ctx, "SELECT "+nodeColumns+nodeFrom+" WHERE n.thingspeak_channel_id IS NOT NULL ORDER BY n.id")
}

// ErrStaleVersion is returned (wrapped with telemetry.ErrConflict) when an
// update names a version that is no longer current.
var ErrStaleVersion = errors.New("the node was changed by someone else; reload and retry")

// UpdateNode replaces the node's editable fields if n.Version is current,
// and returns the stored node.
func (s *Store) UpdateNode(ctx context.Context, scope telemetry.Scope, n telemetry.Node) (telemetry.Node, error) {
	current, err := s.GetNode(ctx, scope, string(n.ID))
	if err != nil {
		return telemetry.Node{}, err
	}
	if current.Version != n.Version {
		return telemetry.Node{}, errors.Join(telemetry.ErrConflict, ErrStaleVersion)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	keyID, keyCT := keyArgs(n.ChannelKey)
	err = s.db.InTx(ctx, func(tx DB) error {
		affected, err := tx.Exec(ctx, s.q(`UPDATE nodes SET node_key=$1, label=$2, category=$3, analytics_type=$4, location_name=$5,
			lat=$6, lng=$7, capacity=$8, status=$9, thingspeak_channel_id=$10, channel_key_id=$11, channel_key_ciphertext=$12,
			write_key_ciphertext=$13, field_mapping=$14, poll_interval_seconds=$15, hardware_id=$16, device_type=$17, plan_id=$18,
			community_id=$19, customer_id=$20, distributor_id=$21, updated_at=$22, version = version + 1
			WHERE id = $23 AND version = $24`),
			n.NodeKey, n.Label, n.Category, n.AnalyticsType, Opt(n.LocationName), Opt(n.Lat), Opt(n.Lng), Opt(n.Capacity),
			string(n.Status), channelArg(n.ChannelID), keyID, keyCT, n.WriteKey, JSONArg{orEmpty(n.FieldMapping)},
			pollSeconds(n.PollInterval), Opt(n.HardwareID), Opt(n.DeviceType), n.PlanID, Opt(n.CommunityID), Opt(n.CustomerID),
			Opt(n.DistributorID), s.d.Time(now), string(n.ID), n.Version)
		if err != nil {
			return err
		}
		if affected == 0 {
			return errors.Join(telemetry.ErrConflict, ErrStaleVersion)
		}
		return s.putNodeConfig(ctx, tx, n.ID, n.Config, now)
	})
	if err != nil {
		return telemetry.Node{}, s.translate(err, "node")
	}
	return s.GetNode(ctx, telemetry.Scope{All: true}, string(n.ID))
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// DeleteNode removes a node in scope with its configuration, readings and alerts.
func (s *Store) DeleteNode(ctx context.Context, scope telemetry.Scope, id telemetry.NodeID) error {
	var a args
	cond := where{"n.id = " + a.add(string(id)), nodeScope(scope, &a)}
	affected, err := s.db.Exec(ctx, s.q("DELETE FROM nodes WHERE id IN (SELECT n.id FROM nodes n"+cond.String()+")"), a...)
	if err != nil {
		return s.translate(err, "node")
	}
	if affected == 0 {
		return telemetry.ErrNotFound
	}
	return nil
}

// SetNodeStatus records a device's status as its actor decided it (no scope:
// the runtime owns every node).
func (s *Store) SetNodeStatus(ctx context.Context, id telemetry.NodeID, status telemetry.Status, lastSeen *time.Time) error {
	affected, err := s.db.Exec(ctx, s.q(`UPDATE nodes SET status = $1, last_seen = COALESCE($2, last_seen) WHERE id = $3`),
		string(status), nullTime(s.d, lastSeen), string(id))
	if err != nil {
		return s.translate(err, "node")
	}
	if affected == 0 {
		return telemetry.ErrNotFound
	}
	return nil
}

// CountNodesByStatus counts the nodes in scope per status.
func (s *Store) CountNodesByStatus(ctx context.Context, scope telemetry.Scope) (telemetry.StatusCounts, error) {
	var a args
	rows, err := s.db.Query(ctx, s.q("SELECT n.status, count(*) FROM nodes n"+where{nodeScope(scope, &a)}.String()+" GROUP BY n.status"), a...)
	if err != nil {
		return telemetry.StatusCounts{}, s.translate(err, "node")
	}
	defer rows.Close()
	var c telemetry.StatusCounts
	for rows.Next() {
		var status string
		var n int
		if err := rows.Scan(&status, &n); err != nil {
			return c, err
		}
		c.Total += n
		switch telemetry.Status(status) {
		case telemetry.StatusOnline:
			c.Online += n
		case telemetry.StatusOffline:
			c.Offline += n
		case telemetry.StatusAlert:
			c.Alert += n
		case telemetry.StatusMaintenance:
			c.Maintenance += n
		case telemetry.StatusProvisioning:
			c.Provisioning += n
		}
	}
	return c, rows.Err()
}
