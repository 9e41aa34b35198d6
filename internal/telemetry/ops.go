package telemetry

import (
	"encoding/json"
	"time"
)

// MaintenanceWindow silences a node, or every node of a community, from
// StartsAt (inclusive) to EndsAt (exclusive): no alerts inside one, and the
// node shows StatusMaintenance. Exactly one of NodeID and CommunityID is set.
type MaintenanceWindow struct {
	ID          string
	NodeID      *NodeID
	CommunityID *string
	StartsAt    time.Time
	EndsAt      time.Time
	Reason      string
	CreatedBy   *string
	CreatedAt   time.Time
}

// Covers reports whether the window covers at: from its start, inclusive,
// to its end, exclusive.
func (w MaintenanceWindow) Covers(at time.Time) bool {
	return !at.Before(w.StartsAt) && at.Before(w.EndsAt)
}

// InWindow reports whether any of windows covers at.
func InWindow(windows []MaintenanceWindow, at time.Time) bool {
	for _, w := range windows {
		if w.Covers(at) {
			return true
		}
	}
	return false
}

// LatLng is one point of a pipeline; it encodes as [lat, lng].
type LatLng [2]float64

// Pipeline is a drawn water line on the map.
type Pipeline struct {
	ID        string
	Name      string
	Color     *string
	Positions []LatLng
	CreatedBy *string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ProvisioningClaim is what a claimed one-time provisioning token grants:
// a device provisioned with it joins this community (and customer).
type ProvisioningClaim struct {
	CommunityID string
	CustomerID  *string
	CreatedBy   *string
	CreatedAt   time.Time
	ExpiresAt   time.Time
	ClaimedAt   time.Time
}

// WebhookSubscription asks for events to be POSTed to URL, signed with a
// secret sealed like channel keys. A subscription without a community
// receives the events of every community (superadmins only).
type WebhookSubscription struct {
	ID          string
	URL         string
	Events      []string // event names, e.g. alert.triggered (internal/webhook.Events)
	Secret      SealedSecret
	Enabled     bool
	CommunityID *string
	CreatedBy   *string
	CreatedAt   time.Time
}

// Wants reports whether the subscription takes event.
func (w WebhookSubscription) Wants(event string) bool {
	for _, e := range w.Events {
		if e == event {
			return true
		}
	}
	return false
}

// WebhookDelivery is one event on its way to one subscription. It is
// pending until it is delivered or dead-lettered.
type WebhookDelivery struct {
	ID             string
	SubscriptionID string
	Event          string
	Payload        json.RawMessage
	Attempts       int
	NextAttemptAt  time.Time
	LastStatus     *int // HTTP status of the last attempt; nil when none came back
	LastError      *string
	DeliveredAt    *time.Time
	DeadLetteredAt *time.Time
	CreatedAt      time.Time
}

// DueDelivery is a pending delivery with what sending it takes.
type DueDelivery struct {
	WebhookDelivery
	URL    string
	Secret SealedSecret
}

// NodeChange is one entry of the node change log: the node was created,
// reconfigured or deleted at AtUnixMs (the database's clock).
type NodeChange struct {
	Seq      int64
	Node     NodeID
	AtUnixMs int64
}
