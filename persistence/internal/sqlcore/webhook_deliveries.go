package sqlcore

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

const deliveryColumns = `d.id, d.subscription_id, d.event, d.payload, d.attempts, d.next_attempt_at, d.last_status,
	d.last_error, d.delivered_at, d.dead_lettered_at, d.created_at`

// pending is the condition that a delivery (alias d) is neither delivered
// nor dead-lettered.
const pending = `d.delivered_at IS NULL AND d.dead_lettered_at IS NULL`

func scanDelivery(row Row, extra ...any) (telemetry.WebhookDelivery, error) {
	var d telemetry.WebhookDelivery
	dest := append([]any{S(&d.ID), S(&d.SubscriptionID), &d.Event, J(&d.Payload), &d.Attempts, T(&d.NextAttemptAt),
		&d.LastStatus, NS(&d.LastError), NT(&d.DeliveredAt), NT(&d.DeadLetteredAt), T(&d.CreatedAt)}, extra...)
	err := row.Scan(dest...)
	return d, err
}

// EnqueueDelivery queues an event for a subscription, due at
// d.NextAttemptAt (now when zero), and fills in its id and creation time.
func (s *Store) EnqueueDelivery(ctx context.Context, d *telemetry.WebhookDelivery) error {
	if !json.Valid(d.Payload) {
		return errors.Join(telemetry.ErrInvalid, errors.New("a webhook payload must be JSON"))
	}
	sub, ok := opsID(d.SubscriptionID)
	if !ok {
		return errors.Join(telemetry.ErrInvalid, errors.New("webhook delivery refers to a subscription that does not exist"))
	}
	if d.ID == "" {
		d.ID = NewID()
	}
	now := opsNow()
	if d.NextAttemptAt.IsZero() {
		d.NextAttemptAt = now
	}
	d.NextAttemptAt = opsTime(d.NextAttemptAt)
	_, err := s.db.Exec(ctx, s.q(`INSERT INTO webhook_deliveries (id, subscription_id, event, payload, attempts, next_attempt_at, created_at)
		VALUES ($1, $2, $3, $4, 0, $5, $6)`),
		d.ID, sub, d.Event, JSONArg{d.Payload}, s.d.Time(d.NextAttemptAt), s.d.Time(now))
	if err != nil {
		return s.translate(err, "webhook delivery")
	}
	d.SubscriptionID, d.Attempts, d.CreatedAt = sub, 0, now
	return nil
}

// DueDeliveries returns up to limit (default 100) pending deliveries of
// enabled subscriptions due at now, longest waiting first, with the URL
// and sealed secret to send them with. It only reads: with several
// replicas, one delivery loop must run, or deliveries go out twice.
func (s *Store) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]telemetry.DueDelivery, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.db.Query(ctx, s.q(`SELECT `+deliveryColumns+`, w.url, w.secret_key_id, w.secret_ciphertext
		FROM webhook_deliveries d JOIN webhook_subscriptions w ON w.id = d.subscription_id
		WHERE `+pending+` AND d.next_attempt_at <= $1 AND w.enabled
		ORDER BY d.next_attempt_at, d.id LIMIT $2`), s.d.Time(opsTime(now)), limit)
	if err != nil {
		return nil, s.translate(err, "webhook delivery")
	}
	defer rows.Close()
	var out []telemetry.DueDelivery
	for rows.Next() {
		var due telemetry.DueDelivery
		due.WebhookDelivery, err = scanDelivery(rows, &due.URL, &due.Secret.KeyID, &due.Secret.Ciphertext)
		if err != nil {
			return nil, err
		}
		out = append(out, due)
	}
	return out, rows.Err()
}

// MarkDelivered records a successful attempt with its HTTP status.
func (s *Store) MarkDelivered(ctx context.Context, id string, status int) error {
	return s.finishAttempt(ctx, id, `last_status = $2, last_error = NULL, delivered_at = $3`,
		optStatus(status), s.d.Time(opsNow()))
}

// MarkFailed records a failed attempt — its HTTP status (0: none came
// back) and error — and when to try again.
func (s *Store) MarkFailed(ctx context.Context, id string, status int, errText string, nextAttempt time.Time) error {
	return s.finishAttempt(ctx, id, `last_status = $2, last_error = $3, next_attempt_at = $4`,
		optStatus(status), OptText(errText), s.d.Time(opsTime(nextAttempt)))
}

// DeadLetter records a last failed attempt and gives the delivery up; it
// stays listed by ListDeadLetters.
func (s *Store) DeadLetter(ctx context.Context, id string, status int, errText string) error {
	return s.finishAttempt(ctx, id, `last_status = $2, last_error = $3, dead_lettered_at = $4`,
		optStatus(status), OptText(errText), s.d.Time(opsNow()))
}

// finishAttempt counts an attempt of a pending delivery and sets what set
// says ($2 onwards are a). A delivery already delivered or dead-lettered is
// ErrConflict; an unknown one ErrNotFound.
func (s *Store) finishAttempt(ctx context.Context, id, set string, a ...any) error {
	id, ok := opsID(id)
	if !ok {
		return telemetry.ErrNotFound
	}
	changed, err := s.db.Exec(ctx, s.q(`UPDATE webhook_deliveries AS d SET attempts = attempts + 1, `+set+
		` WHERE d.id = $1 AND `+pending), append([]any{id}, a...)...)
	if err != nil || changed == 1 {
		return s.translate(err, "webhook delivery")
	}
	var exists bool
	if err := s.db.QueryRow(ctx, s.q(`SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = $1)`), id).Scan(&exists); err != nil {
		return s.translate(err, "webhook delivery")
	}
	if exists {
		return errors.Join(telemetry.ErrConflict, errors.New("the webhook delivery is already finished"))
	}
	return telemetry.ErrNotFound
}

func optStatus(status int) any {
	if status == 0 {
		return nil
	}
	return status
}

// ListDeadLetters returns one page of the dead-lettered deliveries of the
// subscriptions within scope (of one subscription when subscriptionID is
// set), most recently given up first.
func (s *Store) ListDeadLetters(ctx context.Context, scope telemetry.Scope, subscriptionID string, page telemetry.Page) ([]telemetry.WebhookDelivery, error) {
	var a args
	cond := where{"d.dead_lettered_at IS NOT NULL", communityInScope("w.community_id", scope, &a, false)}
	if subscriptionID != "" {
		sub, ok := opsID(subscriptionID)
		if !ok {
			return nil, nil
		}
		cond = append(cond, "d.subscription_id = "+a.add(sub))
	}
	page = page.Normalize()
	rows, err := s.db.Query(ctx, s.q(`SELECT `+deliveryColumns+` FROM webhook_deliveries d
		JOIN webhook_subscriptions w ON w.id = d.subscription_id`+cond.String()+
		` ORDER BY d.dead_lettered_at DESC, d.id DESC LIMIT `+a.add(page.Limit)+` OFFSET `+a.add(page.Offset)), a...)
	if err != nil {
		return nil, s.translate(err, "webhook delivery")
	}
	defer rows.Close()
	var out []telemetry.WebhookDelivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
