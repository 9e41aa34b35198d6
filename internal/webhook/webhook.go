// Package webhook delivers events to webhook subscriptions: Enqueue queues
// one signed JSON POST per subscription that takes an event, and a
// Dispatcher sends the queued deliveries, retrying with exponential backoff
// until they are delivered or, GiveUpAfter (24 h) after they were queued,
// dead-lettered.
//
// Delivery is at least once: a receiver deduplicates by the body's "id",
// which is the delivery's id and stays the same across retries. Every
// request carries X-Evara-Signature (see Sign; receivers check it with
// Verify). The queue lives in the store, so producers — device actors —
// only insert a row and never wait on a receiver.
//
// Enqueue and Verify are safe for concurrent use. A Dispatcher runs one
// loop, owned by whoever calls Run (or Start, then Stop).
package webhook

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/evaratech/evara/internal/telemetry"
)

// The events a subscription may take.
const (
	EventAlertTriggered = "alert.triggered"
	EventAlertResolved  = "alert.resolved"
	EventDeviceOffline  = "device.offline"
	EventDeviceOnline   = "device.online"
)

// Events lists every event, for validating a subscription.
var Events = []string{EventAlertTriggered, EventAlertResolved, EventDeviceOffline, EventDeviceOnline}

// Queue is what Enqueue needs of the store.
type Queue interface {
	SubscriptionsFor(ctx context.Context, event, communityID string) ([]telemetry.WebhookSubscription, error)
	EnqueueDelivery(ctx context.Context, d *telemetry.WebhookDelivery) error
}

// Body is the JSON every delivery POSTs.
type Body struct {
	ID        string    `json:"id"` // the delivery's id: the same on every retry
	Event     string    `json:"event"`
	CreatedAt time.Time `json:"created_at"`
	Data      any       `json:"data"`
}

// Enqueue queues event, with payload as the body's "data", for every
// enabled subscription that takes it from communityID ("" for an event of
// no community: subscriptions of every community only). The deliveries are
// due at now. It returns how many were queued; on an error, those queued
// before it stay queued.
func Enqueue(ctx context.Context, q Queue, event, communityID string, payload any, now time.Time) (int, error) {
	data, err := json.Marshal(payload)
	if err != nil {
		return 0, errors.Join(telemetry.ErrInvalid, fmt.Errorf("webhook payload: %w", err))
	}
	subs, err := q.SubscriptionsFor(ctx, event, communityID)
	if err != nil {
		return 0, fmt.Errorf("webhook subscriptions for %s: %w", event, err)
	}
	for i, sub := range subs {
		id, err := uuid.NewRandomFromReader(rand.Reader)
		if err != nil {
			return i, fmt.Errorf("webhook delivery id: %w", err)
		}
		body, err := json.Marshal(Body{ID: id.String(), Event: event, CreatedAt: now.UTC(), Data: json.RawMessage(data)})
		if err != nil {
			return i, fmt.Errorf("webhook body: %w", err)
		}
		d := &telemetry.WebhookDelivery{ID: id.String(), SubscriptionID: sub.ID, Event: event, Payload: body, NextAttemptAt: now}
		if err := q.EnqueueDelivery(ctx, d); err != nil {
			return i, fmt.Errorf("enqueue webhook delivery: %w", err)
		}
	}
	return len(subs), nil
}
