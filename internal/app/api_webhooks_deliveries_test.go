package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/webhook"
)

// The webhook routes' dead letters, a round trip through the real
// Dispatcher, and the routes' JSON contract (api_webhooks_test.go has the
// subscriptions' behaviour).

// hookDeliveryBody is a delivery's JSON body as webhook.Enqueue makes it.
func hookDeliveryBody(id, event string) json.RawMessage {
	return json.RawMessage(`{"id":"` + id + `","event":"` + event + `","created_at":"2026-03-01T10:00:00Z","data":{"node_id":"n-1","value":12.5}}`)
}

// TestWebhookDeadLetters: the deliveries route lists a subscription's dead
// letters only — not its pending or delivered ones, not another
// subscription's — with the body as an object, latest first, paged.
func TestWebhookDeadLetters(t *testing.T) {
	e := newAPIEnv(t)
	ctx, q := context.Background(), hookQueueOf(t, e)
	admin := e.fx.Tokens["community_admin"]
	sub, other := hookSub(e, &e.fx.CommA.ID), hookSub(e, &e.fx.CommA.ID)
	// Time-ordered ids: two dead letters of the same millisecond are listed
	// by id, latest first, so the order below holds either way.
	enqueue := func(subID, event string) *telemetry.WebhookDelivery {
		id := uuid.Must(uuid.NewV7()).String()
		d := &telemetry.WebhookDelivery{ID: id, SubscriptionID: subID, Event: event, Payload: hookDeliveryBody(id, event)}
		if err := q.EnqueueDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	path := "/api/v1/webhooks/" + sub.ID + "/deliveries"
	if raw := e.expect(http.StatusOK, "GET", path, admin, nil); string(raw) != "[]" {
		t.Fatalf("before any dead letter: %s", raw)
	}
	first, second := enqueue(sub.ID, webhook.EventAlertTriggered), enqueue(sub.ID, webhook.EventDeviceOffline)
	pending, delivered, elsewhere := enqueue(sub.ID, webhook.EventAlertResolved), enqueue(sub.ID, webhook.EventAlertResolved), enqueue(other.ID, webhook.EventAlertTriggered)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(q.MarkFailed(ctx, first.ID, 502, "HTTP 502: bad gateway", time.Now()))
	must(q.DeadLetter(ctx, first.ID, 500, "HTTP 500: boom"))
	must(q.DeadLetter(ctx, second.ID, 0, "connection refused"))
	must(q.MarkFailed(ctx, pending.ID, 503, "HTTP 503", time.Now().Add(time.Hour)))
	must(q.MarkDelivered(ctx, delivered.ID, 204))
	must(q.DeadLetter(ctx, elsewhere.ID, 410, "HTTP 410: gone"))

	type deadJSON struct {
		ID             string          `json:"id"`
		SubscriptionID string          `json:"subscription_id"`
		Event          string          `json:"event"`
		Attempts       int             `json:"attempts"`
		LastStatus     *int            `json:"last_status"`
		LastError      *string         `json:"last_error"`
		CreatedAt      time.Time       `json:"created_at"`
		DeadAt         *time.Time      `json:"dead_at"`
		Payload        json.RawMessage `json:"payload"`
	}
	for _, q := range []string{"", "?status=dead"} {
		var dead []deadJSON
		mustJSON(t, e.expect(http.StatusOK, "GET", path+q, admin, nil), &dead)
		if len(dead) != 2 || dead[0].ID != second.ID || dead[1].ID != first.ID {
			t.Fatalf("dead letters%s: %+v", q, dead)
		}
		d := dead[1]
		if d.SubscriptionID != sub.ID || d.Event != webhook.EventAlertTriggered || d.Attempts != 2 || d.LastStatus == nil ||
			*d.LastStatus != 500 || d.LastError == nil || *d.LastError != "HTTP 500: boom" || d.DeadAt == nil || d.CreatedAt.IsZero() {
			t.Errorf("dead letter: %+v", d)
		}
		var body webhook.Body
		if err := json.Unmarshal(d.Payload, &body); err != nil || body.ID != first.ID || body.Event != webhook.EventAlertTriggered {
			t.Errorf("payload %s (%v)", d.Payload, err)
		}
		if dead[0].LastStatus != nil || dead[0].Attempts != 1 {
			t.Errorf("a dead letter without an HTTP answer: %+v", dead[0])
		}
	}
	var paged []deadJSON
	mustJSON(t, e.expect(http.StatusOK, "GET", path+"?limit=1&offset=1", admin, nil), &paged)
	if len(paged) != 1 || paged[0].ID != first.ID {
		t.Errorf("page 2 of 1: %+v", paged)
	}
	e.expect(http.StatusNotFound, "GET", path, e.fx.Tokens["community_admin_b"], nil)
	e.expect(http.StatusNoContent, "DELETE", "/api/v1/webhooks/"+sub.ID, admin, nil)
	e.expect(http.StatusNotFound, "GET", path, admin, nil)
}

// TestWebhookDeliveredAndDeadLettered drives the real Dispatcher from a
// subscription made through the API: the receiver verifies the signature
// with the secret the create answer showed (so the API seals it as the
// Dispatcher opens it), and a receiver that fails has its delivery
// dead-lettered and listed by the API.
func TestWebhookDeliveredAndDeadLettered(t *testing.T) {
	e := newAPIEnv(t)
	admin := e.fx.Tokens["community_admin"]
	var (
		mu       sync.Mutex
		verified []string // delivery ids whose signature checked out
		refused  []error
	)
	var secret string // the create answer's, set before any delivery is sent
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if err := webhook.Verify([]byte(secret), r.Header.Get(webhook.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
			refused = append(refused, err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var b webhook.Body
		_ = json.Unmarshal(body, &b)
		verified = append(verified, b.ID)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer good.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer bad.Close()

	var ok, failing hookJSON
	mustJSON(t, e.expect(http.StatusCreated, "POST", "/api/v1/webhooks", admin, map[string]any{"url": good.URL + "/hook",
		"events": []string{"alert.triggered"}}), &ok)
	mu.Lock()
	secret = *ok.Secret
	mu.Unlock()
	mustJSON(t, e.expect(http.StatusCreated, "POST", "/api/v1/webhooks", admin, map[string]any{"url": bad.URL + "/hook",
		"events": []string{"alert.triggered"}}), &failing)

	q := hookQueueOf(t, e)
	n, err := webhook.Enqueue(context.Background(), q, webhook.EventAlertTriggered, e.fx.CommA.ID,
		map[string]any{"node_id": string(e.fx.NodeA.ID), "value": 3.5}, time.Now())
	if err != nil || n != 2 {
		t.Fatalf("enqueued %d, %v", n, err)
	}
	// Every failure is the last: the first failed attempt dead-letters.
	d, err := webhook.NewDispatcher(q, e.keys, webhook.Options{Poll: 20 * time.Millisecond, GiveUpAfter: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	d.Start()
	defer d.Stop()

	var dead []struct {
		SubscriptionID string `json:"subscription_id"`
		LastStatus     *int   `json:"last_status"`
		Payload        struct {
			Event string         `json:"event"`
			Data  map[string]any `json:"data"`
		} `json:"payload"`
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		mustJSON(t, e.expect(http.StatusOK, "GET", "/api/v1/webhooks/"+failing.ID+"/deliveries", admin, nil), &dead)
		mu.Lock()
		done := len(verified) > 0 && len(dead) > 0
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			mu.Lock()
			t.Fatalf("verified %v, refused %v, dead letters %+v", verified, refused, dead)
		}
	}
	d.Stop()
	mu.Lock()
	defer mu.Unlock()
	if len(refused) != 0 || len(verified) != 1 {
		t.Errorf("signatures: %d verified, refused %v", len(verified), refused)
	}
	if len(dead) != 1 || dead[0].SubscriptionID != failing.ID || dead[0].LastStatus == nil || *dead[0].LastStatus != 500 ||
		dead[0].Payload.Event != webhook.EventAlertTriggered || dead[0].Payload.Data["node_id"] != string(e.fx.NodeA.ID) {
		t.Errorf("dead letters: %+v", dead)
	}
	var none []json.RawMessage
	mustJSON(t, e.expect(http.StatusOK, "GET", "/api/v1/webhooks/"+ok.ID+"/deliveries", admin, nil), &none)
	if len(none) != 0 {
		t.Errorf("the delivered subscription lists dead letters: %s", none)
	}
}

// TestWebhookContracts compares the answers of the webhook routes with
// their golden JSON.
func TestWebhookContracts(t *testing.T) {
	e := newAPIEnv(t)
	admin := e.fx.Tokens["community_admin"]
	body := hookBody(e.fx.CommA.ID)
	body["secret"] = "contract-secret-0123456789abcdef-0123"
	raw := e.expect(http.StatusCreated, "POST", "/api/v1/webhooks", admin, body)
	golden(t, "webhooks_create", raw)
	var created hookJSON
	mustJSON(t, raw, &created)
	golden(t, "webhooks_get", e.expect(http.StatusOK, "GET", "/api/v1/webhooks/"+created.ID, admin, nil))
	golden(t, "webhooks_list", e.expect(http.StatusOK, "GET", "/api/v1/webhooks", admin, nil))
	golden(t, "webhooks_patch", e.expect(http.StatusOK, "PATCH", "/api/v1/webhooks/"+created.ID, admin,
		map[string]any{"enabled": false, "events": []string{"device.offline", "device.online"}}))
	bad := hookBody(e.fx.CommA.ID)
	bad["url"], bad["events"] = "ftp://hooks.example.com", []string{"alert.triggered", "alert.triggered"}
	golden(t, "webhooks_error_422", e.expect(http.StatusUnprocessableEntity, "POST", "/api/v1/webhooks", admin, bad), "correlation_id")

	q := hookQueueOf(t, e)
	id := uuid.NewString()
	d := &telemetry.WebhookDelivery{ID: id, SubscriptionID: created.ID, Event: webhook.EventAlertTriggered,
		Payload: hookDeliveryBody(id, webhook.EventAlertTriggered)}
	if err := q.EnqueueDelivery(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if err := q.DeadLetter(context.Background(), d.ID, 503, "HTTP 503: service unavailable"); err != nil {
		t.Fatal(err)
	}
	golden(t, "webhooks_dead_letters", e.expect(http.StatusOK, "GET", "/api/v1/webhooks/"+created.ID+"/deliveries?status=dead", admin, nil))
}
