package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/webhook"
)

// Webhook subscriptions (issue 7): who receives the signed POSTs of
// internal/webhook. A community admin's subscriptions are of its community;
// a superadmin's may be of every community (community_id null). The
// signing secret is sealed at rest, bound to the subscription's id (the
// Dispatcher opens it with that id), and shown once: in the answer to the
// POST that creates it, never again and never in a log or the audit log.

// WebhookStore holds the webhook subscriptions and their dead letters.
type WebhookStore interface {
	CreateSubscription(ctx context.Context, scope telemetry.Scope, w *telemetry.WebhookSubscription) error
	ListSubscriptions(ctx context.Context, scope telemetry.Scope) ([]telemetry.WebhookSubscription, error)
	GetSubscription(ctx context.Context, scope telemetry.Scope, id string) (telemetry.WebhookSubscription, error)
	// UpdateSubscription changes URL, events and enabled; nothing else.
	UpdateSubscription(ctx context.Context, scope telemetry.Scope, w telemetry.WebhookSubscription) (telemetry.WebhookSubscription, error)
	DeleteSubscription(ctx context.Context, scope telemetry.Scope, id string) error
	ListDeadLetters(ctx context.Context, scope telemetry.Scope, subscriptionID string, page telemetry.Page) ([]telemetry.WebhookDelivery, error)
}

func (s *Server) webhookRoutes() {
	s.handle(fiber.MethodGet, "/webhooks", PermAlertManage, "webhook subscriptions in scope (never their secrets)", s.listWebhooks)
	s.handle(fiber.MethodPost, "/webhooks", PermAlertManage,
		"subscribe a URL to events; the answer carries the signing secret, shown this once", s.createWebhook)
	s.handle(fiber.MethodGet, "/webhooks/:id", PermAlertManage, "a webhook subscription", s.getWebhook)
	s.handle(fiber.MethodPatch, "/webhooks/:id", PermAlertManage, "change a subscription's url, events or enabled", s.patchWebhook)
	s.handle(fiber.MethodDelete, "/webhooks/:id", PermAlertManage, "delete a subscription with its deliveries", s.deleteWebhook)
	s.handle(fiber.MethodGet, "/webhooks/:id/deliveries", PermAlertManage,
		"a subscription's dead-lettered deliveries, latest first (?status=dead, ?limit=, ?offset=)", s.listWebhookDeliveries)
}

// webhookJSON is a subscription as the API shows it: without its secret.
type webhookJSON struct {
	ID          string    `json:"id"`
	URL         string    `json:"url"`
	Events      []string  `json:"events"`
	CommunityID *string   `json:"community_id"` // null: every community
	Enabled     bool      `json:"enabled"`
	CreatedBy   *string   `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
}

func webhookOf(w telemetry.WebhookSubscription) webhookJSON {
	events := w.Events
	if events == nil {
		events = []string{}
	}
	return webhookJSON{ID: w.ID, URL: w.URL, Events: events, CommunityID: w.CommunityID, Enabled: w.Enabled,
		CreatedBy: w.CreatedBy, CreatedAt: w.CreatedAt}
}

// createdWebhookJSON is the answer to a create: the one time the secret is
// shown.
type createdWebhookJSON struct {
	webhookJSON
	Secret string `json:"secret"`
}

// deliveryJSON is a dead-lettered delivery; payload is the body that was
// sent, as an object.
type deliveryJSON struct {
	ID             string          `json:"id"`
	SubscriptionID string          `json:"subscription_id"`
	Event          string          `json:"event"`
	Attempts       int             `json:"attempts"`
	LastStatus     *int            `json:"last_status"` // null: no HTTP answer came back
	LastError      *string         `json:"last_error"`
	CreatedAt      time.Time       `json:"created_at"`
	DeadAt         *time.Time      `json:"dead_at"`
	Payload        json.RawMessage `json:"payload"`
}

func deliveryOf(d telemetry.WebhookDelivery) deliveryJSON {
	return deliveryJSON{ID: d.ID, SubscriptionID: d.SubscriptionID, Event: d.Event, Attempts: d.Attempts,
		LastStatus: d.LastStatus, LastError: d.LastError, CreatedAt: d.CreatedAt, DeadAt: d.DeadLetteredAt, Payload: d.Payload}
}

// webhookRequest is the body of POST: url and events required, enabled
// true and a generated secret by default. A subscription's community and
// secret are fixed when it is created (PATCH takes neither): to change
// them, create another.
type webhookRequest struct {
	URL         *string   `json:"url"`
	Events      *[]string `json:"events"`
	Enabled     *bool     `json:"enabled"`
	CommunityID *string   `json:"community_id"` // POST only
	Secret      *string   `json:"secret"`       // POST only
}

// webhookPatch is the body of PATCH: what may change; at least one field.
type webhookPatch struct {
	URL     *string   `json:"url"`
	Events  *[]string `json:"events"`
	Enabled *bool     `json:"enabled"`
}

// Webhook bounds. A generated secret is 32 random bytes, hex-encoded.
const (
	maxWebhookURL       = 2048
	minWebhookSecret    = 32
	maxWebhookSecret    = 256
	webhookSecretBytes  = 32
	msgWebhookEvents    = "must list one or more of alert.triggered, alert.resolved, device.offline, device.online, each once"
	msgWebhookURL       = "must be an absolute http:// or https:// URL with a host, at most 2048 characters, without credentials or a fragment"
	msgWebhookHTTPSOnly = "must be an https:// URL in production"
	msgWebhookSecret    = "must be 32 to 256 visible ASCII characters (leave it out to have one generated)"
)

// apply copies the fields onto w and checks the result into v; httpsOnly
// refuses plain-HTTP URLs.
func (req webhookPatch) apply(w *telemetry.WebhookSubscription, httpsOnly bool, v *checks) {
	if req.URL != nil {
		w.URL = strings.TrimSpace(*req.URL)
	}
	if req.Events != nil {
		w.Events = slices.Clone(*req.Events)
	}
	if req.Enabled != nil {
		w.Enabled = *req.Enabled
	}
	if msg := checkWebhookURL(w.URL, httpsOnly); msg != "" {
		v.check(false, "url", msg)
	}
	v.check(validWebhookEvents(w.Events), "events", msgWebhookEvents)
}

// checkWebhookURL is the problem with a subscription's URL, "" when none.
// The scheme is checked literally (lower case), as the schema's constraint
// does.
func checkWebhookURL(raw string, httpsOnly bool) string {
	if raw == "" || utf8.RuneCountInString(raw) > maxWebhookURL || strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return msgWebhookURL
	}
	if !strings.HasPrefix(raw, "http://") && !strings.HasPrefix(raw, "https://") {
		return msgWebhookURL
	}
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" || u.User != nil || strings.Contains(raw, "#") {
		return msgWebhookURL
	}
	if httpsOnly && u.Scheme != "https" {
		return msgWebhookHTTPSOnly
	}
	return ""
}

// validWebhookEvents: one or more of webhook.Events, none twice.
func validWebhookEvents(events []string) bool {
	if len(events) == 0 {
		return false
	}
	seen := map[string]bool{}
	for _, e := range events {
		if seen[e] || !slices.Contains(webhook.Events, e) {
			return false
		}
		seen[e] = true
	}
	return true
}

// validWebhookSecret: 32 to 256 visible ASCII characters (no spaces: a
// secret is pasted into a receiver's configuration, where a stray space
// is a mismatch nobody sees).
func validWebhookSecret(secret string) bool {
	if len(secret) < minWebhookSecret || len(secret) > maxWebhookSecret {
		return false
	}
	return !strings.ContainsFunc(secret, func(r rune) bool { return r <= ' ' || r > '~' })
}

func (s *Server) listWebhooks(c *fiber.Ctx) error {
	ctx, cancel := reqContext()
	defer cancel()
	subs, err := s.store.ListSubscriptions(ctx, scopeOf(c))
	if err != nil {
		return err
	}
	out := make([]webhookJSON, len(subs))
	for i, w := range subs {
		out[i] = webhookOf(w)
	}
	setTotal(c, len(out))
	return c.JSON(out)
}

// createWebhook subscribes a URL for the caller's community (a community
// admin), a community in the caller's scope (named by community_id; one
// outside it is 404 and nothing is written), or every community (a
// superadmin without community_id).
func (s *Server) createWebhook(c *fiber.Ctx) error {
	var req webhookRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	var v checks
	w := telemetry.WebhookSubscription{Enabled: true}
	if req.URL == nil || req.Events == nil {
		v.check(req.URL != nil, "url", msgRequired)
		v.check(req.Events != nil, "events", msgRequired)
	} else {
		webhookPatch{URL: req.URL, Events: req.Events, Enabled: req.Enabled}.apply(&w, s.webhooksHTTPSOnly, &v)
	}
	v.check(req.CommunityID == nil || uuid.Validate(*req.CommunityID) == nil, "community_id", "must be a UUID")
	v.check(req.Secret == nil || validWebhookSecret(*req.Secret), "secret", msgWebhookSecret)
	if err := v.err(); err != nil {
		return err
	}
	scope := scopeOf(c)
	switch {
	case req.CommunityID != nil:
		community := strings.ToLower(*req.CommunityID)
		w.CommunityID = &community
	case scope.All: // every community
	case scope.CommunityID != "":
		community := scope.CommunityID
		w.CommunityID = &community
	default:
		return invalid("community_id", "is required: name one of your communities")
	}
	secret, generated := "", req.Secret == nil
	if generated {
		var err error
		if secret, err = newWebhookSecret(); err != nil {
			return err
		}
	} else {
		secret = *req.Secret
	}
	// The id is chosen here because the secret is sealed bound to it.
	id, err := uuid.NewV7()
	if err != nil {
		return fmt.Errorf("webhook subscription id: %w", err)
	}
	w.ID = id.String()
	if w.Secret, err = s.sealWebhookSecret(w.ID, secret); err != nil {
		return err
	}
	user := principalOf(c).UserID()
	w.CreatedBy = &user
	ctx, cancel := reqContext()
	defer cancel()
	if err := s.store.CreateSubscription(ctx, scope, &w); err != nil {
		return err
	}
	out := webhookOf(w)
	s.record(c, "webhook.create", "webhook_subscription", w.ID, map[string]any{"after": out, "secret_generated": generated})
	c.Set(fiber.HeaderCacheControl, "no-store") // the secret must not linger in a cache
	return c.Status(fiber.StatusCreated).JSON(createdWebhookJSON{webhookJSON: out, Secret: secret})
}

// newWebhookSecret is 32 random bytes, hex-encoded.
func newWebhookSecret() (string, error) {
	b := make([]byte, webhookSecretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("webhook secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// sealWebhookSecret seals a subscription's secret bound to its id, the
// associated data internal/webhook's Dispatcher opens it with.
func (s *Server) sealWebhookSecret(id, secret string) (telemetry.SealedSecret, error) {
	if s.sealer == nil {
		return telemetry.SealedSecret{}, fmt.Errorf("%w: no key to seal webhook secrets with", telemetry.ErrUnavailable)
	}
	keyID, sealed, err := s.sealer.Seal([]byte(secret), []byte(id))
	if err != nil {
		return telemetry.SealedSecret{}, fmt.Errorf("seal the webhook secret: %w", err)
	}
	return telemetry.SealedSecret{KeyID: keyID, Ciphertext: sealed}, nil
}

func (s *Server) getWebhook(c *fiber.Ctx) error {
	ctx, cancel := reqContext()
	defer cancel()
	w, err := s.store.GetSubscription(ctx, scopeOf(c), param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(webhookOf(w))
}

func (s *Server) patchWebhook(c *fiber.Ctx) error {
	var req webhookPatch
	if err := decode(c, &req); err != nil {
		return err
	}
	if req == (webhookPatch{}) {
		return invalid("body", "names no field to change (url, events, enabled)")
	}
	ctx, cancel := reqContext()
	defer cancel()
	scope := scopeOf(c)
	before, err := s.store.GetSubscription(ctx, scope, param(c, "id"))
	if err != nil {
		return err
	}
	w := before
	w.Events = slices.Clone(before.Events)
	var v checks
	req.apply(&w, s.webhooksHTTPSOnly, &v)
	if err := v.err(); err != nil {
		return err
	}
	after, err := s.store.UpdateSubscription(ctx, scope, w)
	if err != nil {
		return err
	}
	s.record(c, "webhook.update", "webhook_subscription", after.ID, map[string]any{"before": webhookOf(before), "after": webhookOf(after)})
	return c.JSON(webhookOf(after))
}

func (s *Server) deleteWebhook(c *fiber.Ctx) error {
	ctx, cancel := reqContext()
	defer cancel()
	scope := scopeOf(c)
	before, err := s.store.GetSubscription(ctx, scope, param(c, "id"))
	if err != nil {
		return err
	}
	if err := s.store.DeleteSubscription(ctx, scope, before.ID); err != nil {
		return err
	}
	s.record(c, "webhook.delete", "webhook_subscription", before.ID, map[string]any{"before": webhookOf(before)})
	return c.SendStatus(fiber.StatusNoContent)
}

// listWebhookDeliveries lists a subscription's dead letters: the deliveries
// given up after 24 hours of failures, with their last status and error.
// Pending and delivered ones are not listed (?status= takes only dead).
func (s *Server) listWebhookDeliveries(c *fiber.Ctx) error {
	if st := c.Query("status", "dead"); st != "dead" {
		return invalid("status", "must be dead (only dead-lettered deliveries are listed)")
	}
	pg, err := page(c)
	if err != nil {
		return err
	}
	ctx, cancel := reqContext()
	defer cancel()
	scope := scopeOf(c)
	w, err := s.store.GetSubscription(ctx, scope, param(c, "id"))
	if err != nil {
		return err
	}
	dead, err := s.store.ListDeadLetters(ctx, scope, w.ID, pg)
	if err != nil {
		return err
	}
	out := make([]deliveryJSON, len(dead))
	for i, d := range dead {
		out[i] = deliveryOf(d)
	}
	return c.JSON(out)
}
