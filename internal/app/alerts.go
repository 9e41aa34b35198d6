package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/evaratech/evara/actors/device"
	"github.com/evaratech/evara/actors/limiter"
	"github.com/evaratech/evara/actors/msg"
	"github.com/evaratech/evara/api"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/webhook"
)

// alertNotices is the devices' Notifier: an alert a device opened or
// resolved reaches the WebSocket sessions that follow the node or watch
// the alerts topic, on every member (ALERT_TRIGGERED / ALERT_RESOLVED),
// and every notice is queued for the webhook
// subscriptions that take it. It runs on the device's own goroutine, off
// its mailbox; safe for concurrent use.
type alertNotices struct {
	store interface {
		webhook.Queue
		GetCommunity(ctx context.Context, scope telemetry.Scope, idOrSlug string) (telemetry.Community, error)
	}
	live   *liveSessions // nil: no sessions (tests of the webhooks alone)
	queued func()        // after deliveries were queued (wakes the dispatcher); may be nil
	log    *slog.Logger

	distributors  ttlCache[string]                          // community id → its distributor, for distributorTTL
	subscriptions ttlCache[[]telemetry.WebhookSubscription] // event/community → subscriptions, for subscriptionsTTL
}

// subscriptionsTTL is how long the subscriptions taking an event of a
// community are remembered: a burst of alerts (an outage takes many devices
// offline at once) costs one query per event and community, and a new or
// changed subscription takes effect within this long.
const subscriptionsTTL = 5 * time.Second

// distributorTTL is how long a community's distributor is remembered: a
// community that changes distributor shows its alerts to the old one's
// `alerts` topic for at most this long.
const distributorTTL = time.Minute

// ttlCache remembers a value per key for a while. Keys are few (one per
// community, or per community and event) and expired entries are replaced
// when next asked for, so it needs no eviction. Safe for concurrent use;
// two callers missing at once both load.
type ttlCache[V any] struct {
	mu      sync.Mutex
	entries map[string]ttlEntry[V]
}

type ttlEntry[V any] struct {
	v       V
	expires time.Time
}

// get returns key's value, loading it (and keeping it for ttl) when it is
// missing or expired; a failed load is not kept.
func (c *ttlCache[V]) get(key string, ttl time.Duration, load func() (V, error)) (V, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.v, nil
	}
	v, err := load()
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]ttlEntry[V]{}
	}
	c.entries[key] = ttlEntry[V]{v: v, expires: now.Add(ttl)}
	c.mu.Unlock()
	return v, nil
}

// Notify implements device.Notifier.
func (a *alertNotices) Notify(ctx context.Context, n device.Notice) {
	owner := n.Owner
	owner.CommunityDistributorID = a.communityDistributor(ctx, owner.CommunityID)
	var data any
	switch n.Kind {
	case device.NoticeAlertTriggered, device.NoticeAlertResolved:
		alert := api.AlertObject(n.Alert)
		// detected_at: when the device took in the reading that changed it.
		data = map[string]any{"node_id": n.Node, "alert": alert, "detected_at": n.At.UTC()}
		a.publish(n, alert, owner)
	default:
		data = map[string]any{"node_id": n.Node, "status": n.Status, "at": n.At.UTC()}
	}
	queued, err := webhook.Enqueue(ctx, cachedQueue{a}, string(n.Kind), owner.CommunityID, data, time.Now())
	if err != nil {
		a.log.Warn("webhook deliveries not queued", "event", string(n.Kind), "node_id", string(n.Node), "queued", queued, "err", err)
	}
	if queued > 0 && a.queued != nil {
		a.queued()
	}
}

// publish hands an alert event to the live sessions.
func (a *alertNotices) publish(n device.Notice, alert any, owner telemetry.NodeOwner) {
	if a.live == nil {
		return
	}
	kind := telemetry.LiveAlertTriggered
	if n.Kind == device.NoticeAlertResolved {
		kind = telemetry.LiveAlertResolved
	}
	body, err := json.Marshal(map[string]any{"alert": alert})
	if err != nil {
		a.log.Error("alert event not published", "node_id", string(n.Node), "err", err)
		return
	}
	a.live.PublishAlert(telemetry.LiveEvent{Kind: kind, NodeID: n.Node, ProducedUnixMs: n.At.UnixMilli(), Data: body}, owner, n.Followers)
}

// cachedQueue is the store's webhook queue with SubscriptionsFor
// remembered for subscriptionsTTL.
type cachedQueue struct{ a *alertNotices }

func (q cachedQueue) SubscriptionsFor(ctx context.Context, event, community string) ([]telemetry.WebhookSubscription, error) {
	return q.a.subscriptions.get(event+"/"+community, subscriptionsTTL, func() ([]telemetry.WebhookSubscription, error) {
		return q.a.store.SubscriptionsFor(ctx, event, community)
	})
}

func (q cachedQueue) EnqueueDelivery(ctx context.Context, d *telemetry.WebhookDelivery) error {
	return q.a.store.EnqueueDelivery(ctx, d)
}

// communityDistributor is the distributor of a community ("" when it has
// none or cannot be read: then only the node's own distributor sees it).
func (a *alertNotices) communityDistributor(ctx context.Context, community string) string {
	if community == "" {
		return ""
	}
	id, err := a.distributors.get(community, distributorTTL, func() (string, error) {
		comm, err := a.store.GetCommunity(ctx, telemetry.Scope{All: true}, community)
		if err != nil || comm.DistributorID == nil {
			return "", err
		}
		return *comm.DistributorID, nil
	})
	if err != nil {
		a.log.Warn("cannot read the community of an alert's node", "community_id", community, "err", err)
	}
	return id
}

// AlertSettingsChanged implements api.AlertSettings: the device of node,
// or of every node of community, reads its rules and windows again. A
// device that is moving misses it and reads them when it starts.
func (r *deviceRuntime) AlertSettingsChanged(ctx context.Context, node telemetry.NodeID, community string) {
	if node != "" {
		r.reloadAlerts(node)
		return
	}
	for offset := 0; ; offset += 1000 {
		nodes, total, err := r.store.ListNodes(ctx, telemetry.Scope{All: true}, telemetry.NodeFilter{CommunityID: community, Page: telemetry.Page{Limit: 1000, Offset: offset}})
		if err != nil {
			r.log.Warn("the devices of a community were not told of a maintenance window; they read it at their next reload", "community_id", community, "err", err)
			return
		}
		for _, n := range nodes {
			if n.ChannelID > 0 {
				r.reloadAlerts(n.ID)
			}
		}
		if len(nodes) == 0 || offset+len(nodes) >= total {
			return
		}
	}
}

func (r *deviceRuntime) reloadAlerts(node telemetry.NodeID) {
	r.system.Root.Send(actor.NewPID(r.member.Owner(node), limiter.DeviceID(node)), &msg.ReloadAlerts{NodeId: string(node)})
}
