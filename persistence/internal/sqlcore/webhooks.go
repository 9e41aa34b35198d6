package sqlcore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/evaratech/evara/internal/telemetry"
)

// Webhook subscriptions. Deliveries are in webhook_deliveries.go.

const subscriptionColumns = `w.id, w.url, w.events, w.secret_key_id, w.secret_ciphertext, w.enabled, w.community_id,
	w.created_by, w.created_at`

func scanSubscription(row Row) (telemetry.WebhookSubscription, error) {
	var (
		w      telemetry.WebhookSubscription
		events any
	)
	err := row.Scan(S(&w.ID), &w.URL, &events, &w.Secret.KeyID, &w.Secret.Ciphertext, &w.Enabled, NS(&w.CommunityID),
		NS(&w.CreatedBy), T(&w.CreatedAt))
	if err != nil {
		return w, err
	}
	w.Events, err = stringList(events)
	return w, err
}

// stringsArg encodes a list of strings for the engine (text[] in
// PostgreSQL, a JSON array in SQLite).
func (s *Store) stringsArg(v []string) any { return s.d.Strings(v) }

// stringList reads what stringsArg wrote: pgx returns a text[] scanned
// into any as []any, SQLite a JSON array as text.
func stringList(v any) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case []string:
		return v, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("sqlcore: a string list holds a %T", e)
			}
			out = append(out, s)
		}
		return out, nil
	case string:
		return stringList([]byte(v))
	case []byte:
		var out []string
		if err := json.Unmarshal(v, &out); err != nil {
			return nil, fmt.Errorf("sqlcore: a string list: %w", err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("sqlcore: cannot read %T as a list of strings", v)
}

// CreateSubscription stores a webhook subscription of a community within
// scope (a subscription without a community: superadmins only; anything
// else is not found) and fills in its id and creation time. The secret must
// be sealed already.
func (s *Store) CreateSubscription(ctx context.Context, scope telemetry.Scope, w *telemetry.WebhookSubscription) error {
	if w.ID == "" {
		w.ID = NewID()
	}
	now := opsNow()
	keyID, keyCT := keyArgs(w.Secret)
	a := args{w.ID, w.URL, s.stringsArg(w.Events), keyID, keyCT, w.Enabled, Opt(w.CreatedBy), s.d.Time(now)}
	insert := `INSERT INTO webhook_subscriptions (id, url, events, secret_key_id, secret_ciphertext, enabled, created_by,
		created_at, community_id) `
	var query string
	switch {
	case w.CommunityID != nil:
		community, ok := opsID(*w.CommunityID)
		if !ok {
			return telemetry.ErrNotFound
		}
		w.CommunityID = &community
		query = insert + `SELECT $1, $2, $3, $4, $5, $6, $7, $8, c.id FROM communities c WHERE c.id = ` + a.add(community) +
			` AND ` + communityInScope("c.id", scope, &a, false)
	case scope.All:
		query = insert + `VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)`
	default:
		return errors.Join(telemetry.ErrNotFound, errors.New("only a superadmin may subscribe to every community"))
	}
	if err := affectedOne(s.db.Exec(ctx, s.q(query), a...)); err != nil {
		return s.translate(err, "webhook subscription")
	}
	w.CreatedAt = now
	return nil
}

// ListSubscriptions returns the webhook subscriptions within scope, oldest first.
func (s *Store) ListSubscriptions(ctx context.Context, scope telemetry.Scope) ([]telemetry.WebhookSubscription, error) {
	var a args
	return s.querySubscriptions(ctx, "SELECT "+subscriptionColumns+" FROM webhook_subscriptions w WHERE "+
		communityInScope("w.community_id", scope, &a, false)+" ORDER BY w.created_at, w.id", a...)
}

// GetSubscription returns a webhook subscription within scope.
func (s *Store) GetSubscription(ctx context.Context, scope telemetry.Scope, id string) (telemetry.WebhookSubscription, error) {
	id, ok := opsID(id)
	if !ok {
		return telemetry.WebhookSubscription{}, telemetry.ErrNotFound
	}
	a := args{id}
	w, err := scanSubscription(s.db.QueryRow(ctx, s.q("SELECT "+subscriptionColumns+" FROM webhook_subscriptions w WHERE w.id = $1 AND "+
		communityInScope("w.community_id", scope, &a, false)), a...))
	return w, s.translate(err, "webhook subscription")
}

// UpdateSubscription changes the URL, events and enabled flag of a webhook
// subscription within scope (its community and secret stay) and returns it
// as stored. Pending deliveries keep their body and go to the new URL.
func (s *Store) UpdateSubscription(ctx context.Context, scope telemetry.Scope, w telemetry.WebhookSubscription) (telemetry.WebhookSubscription, error) {
	id, ok := opsID(w.ID)
	if !ok {
		return telemetry.WebhookSubscription{}, telemetry.ErrNotFound
	}
	a := args{w.URL, s.stringsArg(w.Events), w.Enabled, id}
	err := affectedOne(s.db.Exec(ctx, s.q(`UPDATE webhook_subscriptions SET url = $1, events = $2, enabled = $3
		WHERE id IN (SELECT w.id FROM webhook_subscriptions w WHERE w.id = $4 AND `+
		communityInScope("w.community_id", scope, &a, false)+")"), a...))
	if err != nil {
		return telemetry.WebhookSubscription{}, s.translate(err, "webhook subscription")
	}
	return s.GetSubscription(ctx, telemetry.Scope{All: true}, id)
}

// DeleteSubscription removes a webhook subscription within scope, with its deliveries.
func (s *Store) DeleteSubscription(ctx context.Context, scope telemetry.Scope, id string) error {
	id, ok := opsID(id)
	if !ok {
		return telemetry.ErrNotFound
	}
	a := args{id}
	err := affectedOne(s.db.Exec(ctx, s.q("DELETE FROM webhook_subscriptions WHERE id IN (SELECT w.id FROM webhook_subscriptions w WHERE w.id = $1 AND "+
		communityInScope("w.community_id", scope, &a, false)+")"), a...))
	return s.translate(err, "webhook subscription")
}

// SubscriptionsFor returns the enabled subscriptions that take event from
// a community: the community's own and those of every community
// (communityID "" for an event of no community: only the latter).
func (s *Store) SubscriptionsFor(ctx context.Context, event, communityID string) ([]telemetry.WebhookSubscription, error) {
	var a args
	cond := where{"w.enabled", "w.community_id IS NULL"}
	if community, ok := opsID(communityID); ok {
		cond[1] = "(w.community_id IS NULL OR w.community_id = " + a.add(community) + ")"
	}
	all, err := s.querySubscriptions(ctx, "SELECT "+subscriptionColumns+" FROM webhook_subscriptions w"+cond.String()+
		" ORDER BY w.created_at, w.id", a...)
	if err != nil {
		return nil, err
	}
	// Event membership is tested here rather than in SQL, where the two
	// engines' list types need different operators; a community has few
	// subscriptions.
	var out []telemetry.WebhookSubscription
	for _, w := range all {
		if w.Wants(event) {
			out = append(out, w)
		}
	}
	return out, nil
}

func (s *Store) querySubscriptions(ctx context.Context, query string, a ...any) ([]telemetry.WebhookSubscription, error) {
	return queryAll(ctx, s, "webhook subscription", query, a, scanSubscription)
}
