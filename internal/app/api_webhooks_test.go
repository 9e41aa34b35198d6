package app

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/evaratech/evara/internal/config"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/webhook"
)

// The webhook subscription routes (api/webhooks.go): authorization matrix
// cases, behaviour over HTTP against PostgreSQL, and the JSON contract.

func webhookMatrix() []matrixCase {
	admins := []string{"superadmin", "distributor", "community_admin"}
	pair := func(suffix string) func(*apiEnv, string) (string, string) {
		return func(e *apiEnv, _ string) (string, string) {
			a, b := hookSub(e, &e.fx.CommA.ID), hookSub(e, &e.fx.CommB.ID)
			return "/webhooks/" + a.ID + suffix, "/webhooks/" + b.ID + suffix
		}
	}
	return []matrixCase{
		{Method: "GET", Route: "/webhooks", Setup: fixed("/webhooks"), Allowed: admins},
		{Method: "POST", Route: "/webhooks", Setup: fixed("/webhooks"), Allowed: admins, Status: http.StatusCreated,
			Body: func(e *apiEnv, _ string) any { return hookBody(e.fx.CommA.ID) }},
		{Method: "GET", Route: "/webhooks/:id", Setup: pair(""), Allowed: admins},
		{Method: "PATCH", Route: "/webhooks/:id", Setup: pair(""), Allowed: admins,
			Body: func(*apiEnv, string) any { return map[string]any{"enabled": false} }},
		{Method: "DELETE", Route: "/webhooks/:id", Setup: pair(""), Allowed: admins, Status: http.StatusNoContent},
		{Method: "GET", Route: "/webhooks/:id/deliveries", Setup: pair("/deliveries"), Allowed: admins},
	}
}

// hookBody is a valid create body for a community.
func hookBody(communityID string) map[string]any {
	return map[string]any{"url": "https://hooks.example.com/evara", "events": []string{"alert.triggered", "device.offline"},
		"community_id": communityID}
}

// hookSub subscribes through the store (nil community: every community),
// its secret sealed as the API seals it.
func hookSub(e *apiEnv, community *string) telemetry.WebhookSubscription {
	e.t.Helper()
	w := telemetry.WebhookSubscription{ID: uuid.Must(uuid.NewV7()).String(), URL: "https://hooks.example.com/probe",
		Events: []string{webhook.EventAlertTriggered}, Enabled: true, CommunityID: community}
	keyID, sealed, err := e.keys.Seal([]byte(strings.Repeat("s", 32)), []byte(w.ID))
	if err != nil {
		e.t.Fatal(err)
	}
	w.Secret = telemetry.SealedSecret{KeyID: keyID, Ciphertext: sealed}
	if err := e.store.CreateSubscription(context.Background(), telemetry.Scope{All: true}, &w); err != nil {
		e.t.Fatal(err)
	}
	return w
}

// hookJSON is a subscription as the API answers it.
type hookJSON struct {
	ID          string    `json:"id"`
	URL         string    `json:"url"`
	Events      []string  `json:"events"`
	CommunityID *string   `json:"community_id"`
	Enabled     bool      `json:"enabled"`
	CreatedBy   *string   `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
	Secret      *string   `json:"secret"`
}

// hookRow reads a subscription's sealed secret straight from the table.
func hookRow(t *testing.T, e *apiEnv, id string) (keyID string, ciphertext []byte) {
	t.Helper()
	ctx := context.Background()
	db, err := pgx.Connect(ctx, e.cfg.DatabaseURL.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	if err := db.QueryRow(ctx, `SELECT secret_key_id, secret_ciphertext FROM webhook_subscriptions WHERE id = $1`, id).
		Scan(&keyID, &ciphertext); err != nil {
		t.Fatal(err)
	}
	return keyID, ciphertext
}

// hookQueue is what the tests need of the store to queue and finish
// deliveries as the runtime and the Dispatcher do.
type hookQueue interface {
	webhook.Queue
	webhook.Store
}

func hookQueueOf(t *testing.T, e *apiEnv) hookQueue {
	t.Helper()
	q, ok := e.store.(hookQueue)
	if !ok {
		t.Fatal("the store queues no webhook deliveries")
	}
	return q
}

// TestWebhookSubscriptions: a community admin subscribes (its community by
// default, a secret generated, shown once, sealed bound to the id), reads,
// changes and deletes the subscription; every change is audited, and the
// secret is in no answer but the first and nowhere in the audit log.
func TestWebhookSubscriptions(t *testing.T) {
	e := newAPIEnv(t)
	admin := e.fx.Tokens["community_admin"]

	resp, raw := e.do("POST", "/api/v1/webhooks", admin, map[string]any{"url": "https://hooks.example.com/a",
		"events": []string{"alert.triggered", "alert.resolved"}})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, raw)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("the answer that carries the secret is cacheable: Cache-Control %q", cc)
	}
	var created hookJSON
	mustJSON(t, raw, &created)
	if created.Secret == nil || len(*created.Secret) != 64 || strings.Trim(*created.Secret, "0123456789abcdef") != "" {
		t.Fatalf("generated secret: %v", created.Secret)
	}
	secret := *created.Secret
	if created.CommunityID == nil || *created.CommunityID != e.fx.CommA.ID || !created.Enabled ||
		created.CreatedBy == nil || *created.CreatedBy != e.fx.Profile["community_admin"].ID {
		t.Errorf("created: %+v", created)
	}

	// Sealed at rest, bound to the subscription's id (as the Dispatcher
	// opens it), and nothing like the secret in the row.
	keyID, sealed := hookRow(t, e, created.ID)
	rawSecret, err := hex.DecodeString(secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(secret)) || bytes.Contains(sealed, rawSecret) {
		t.Error("the stored ciphertext holds the secret")
	}
	if plain, err := e.keys.Open(keyID, sealed, []byte(created.ID)); err != nil || string(plain) != secret {
		t.Errorf("the sealed secret opens to %q, %v", plain, err)
	}
	if _, err := e.keys.Open(keyID, sealed, []byte(e.fx.CommA.ID)); err == nil {
		t.Error("the sealed secret opens bound to another id")
	}

	// A given secret is kept as given.
	given := "whsec_" + strings.Repeat("Z9", 20)
	var second hookJSON
	mustJSON(t, e.expect(http.StatusCreated, "POST", "/api/v1/webhooks", admin, map[string]any{"url": "http://10.0.0.5:9000/in",
		"events": []string{"device.offline"}, "enabled": false, "secret": given}), &second)
	if second.Secret == nil || *second.Secret != given || second.Enabled {
		t.Errorf("created with a given secret: %+v", second)
	}
	keyID2, sealed2 := hookRow(t, e, second.ID)
	if plain, err := e.keys.Open(keyID2, sealed2, []byte(second.ID)); err != nil || string(plain) != given {
		t.Errorf("the given secret opens to %q, %v", plain, err)
	}

	var answers [][]byte
	listRaw := e.expect(http.StatusOK, "GET", "/api/v1/webhooks", admin, nil)
	answers = append(answers, listRaw)
	var list []hookJSON
	mustJSON(t, listRaw, &list)
	if len(list) != 2 || list[0].ID != created.ID || list[1].ID != second.ID {
		t.Fatalf("listed: %s", listRaw)
	}
	getRaw := e.expect(http.StatusOK, "GET", "/api/v1/webhooks/"+strings.ToUpper(created.ID), admin, nil)
	answers = append(answers, getRaw)
	var got hookJSON
	mustJSON(t, getRaw, &got)
	if got.ID != created.ID || got.URL != "https://hooks.example.com/a" || len(got.Events) != 2 {
		t.Errorf("get: %s", getRaw)
	}

	patchRaw := e.expect(http.StatusOK, "PATCH", "/api/v1/webhooks/"+created.ID, admin, map[string]any{
		"enabled": false, "events": []string{"device.online"}, "url": "https://hooks.example.com/b"})
	answers = append(answers, patchRaw)
	var patched hookJSON
	mustJSON(t, patchRaw, &patched)
	if patched.Enabled || patched.URL != "https://hooks.example.com/b" || len(patched.Events) != 1 || patched.Events[0] != "device.online" ||
		patched.CommunityID == nil || *patched.CommunityID != e.fx.CommA.ID || !patched.CreatedAt.Equal(created.CreatedAt) {
		t.Errorf("patched: %s", patchRaw)
	}
	if keyID3, sealed3 := hookRow(t, e, created.ID); keyID3 != keyID || !bytes.Equal(sealed3, sealed) {
		t.Error("a PATCH changed the sealed secret")
	}
	for _, a := range answers {
		if bytes.Contains(a, []byte(`"secret"`)) || bytes.Contains(a, []byte(secret)) || bytes.Contains(a, []byte(given)) {
			t.Errorf("an answer after the create shows a secret: %s", a)
		}
	}

	e.expect(http.StatusNoContent, "DELETE", "/api/v1/webhooks/"+created.ID, admin, nil)
	e.expect(http.StatusNotFound, "GET", "/api/v1/webhooks/"+created.ID, admin, nil)
	e.expect(http.StatusNotFound, "DELETE", "/api/v1/webhooks/"+created.ID, admin, nil)
	e.expect(http.StatusNotFound, "PATCH", "/api/v1/webhooks/"+created.ID, admin, map[string]any{"enabled": true})

	entries := opsAudit(t, e, created.ID)
	if got := opsActions(entries); got != "webhook.create,webhook.update,webhook.delete" {
		t.Fatalf("audit: %s", got)
	}
	for _, en := range entries {
		if en.UserID != e.fx.Profile["community_admin"].ID || en.ResourceType != "webhook_subscription" {
			t.Errorf("audited as %+v", en)
		}
	}
	if m := entries[0].Metadata; m["secret_generated"] != true {
		t.Errorf("create audited as %v", m)
	}
	before, _ := entries[1].Metadata["before"].(map[string]any)
	after, _ := entries[1].Metadata["after"].(map[string]any)
	if before["enabled"] != true || after["enabled"] != false || after["url"] != "https://hooks.example.com/b" {
		t.Errorf("update audited as %v", entries[1].Metadata)
	}
	all := append(entries, opsAudit(t, e, second.ID)...)
	dump, err := json.Marshal(all)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(dump, []byte(secret)) || bytes.Contains(dump, []byte(given)) || bytes.Contains(dump, []byte(`"secret"`)) {
		t.Errorf("the audit log holds a secret: %s", dump)
	}
}

// TestWebhookScope: a community admin sees, changes and deletes only its
// community's subscriptions (tenant B's and the global ones are 404 and stay
// as they are); only a superadmin subscribes to every community; a
// distributor names one of its communities; customers may not manage them.
func TestWebhookScope(t *testing.T) {
	e := newAPIEnv(t)
	admin, distributor, super := e.fx.Tokens["community_admin"], e.fx.Tokens["distributor"], e.fx.Tokens["superadmin"]
	subA, subB, global := hookSub(e, &e.fx.CommA.ID), hookSub(e, &e.fx.CommB.ID), hookSub(e, nil)

	ids := func(token string) []string {
		var list []hookJSON
		mustJSON(t, e.expect(http.StatusOK, "GET", "/api/v1/webhooks", token, nil), &list)
		var out []string
		for _, w := range list {
			out = append(out, w.ID)
		}
		return out
	}
	for who, want := range map[string][]string{
		"community_admin": {subA.ID}, "distributor": {subA.ID}, "community_admin_b": {subB.ID}, "distributor_b": {subB.ID},
		"superadmin": {subA.ID, subB.ID, global.ID},
	} {
		if got := ids(e.fx.Tokens[who]); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s lists %v, want %v", who, got, want)
		}
	}
	for _, sub := range []telemetry.WebhookSubscription{subB, global} {
		path := "/api/v1/webhooks/" + sub.ID
		e.expect(http.StatusNotFound, "GET", path, admin, nil)
		e.expect(http.StatusNotFound, "GET", path+"/deliveries", admin, nil)
		e.expect(http.StatusNotFound, "PATCH", path, admin, map[string]any{"enabled": false, "url": "https://evil.example.com"})
		e.expect(http.StatusNotFound, "DELETE", path, admin, nil)
		e.expect(http.StatusNotFound, "DELETE", path, distributor, nil)
		got, err := e.store.GetSubscription(context.Background(), telemetry.Scope{All: true}, sub.ID)
		if err != nil || got.URL != sub.URL || !got.Enabled {
			t.Errorf("tenant B's or the global subscription changed: %+v, %v", got, err)
		}
		if entries := opsAudit(t, e, sub.ID); len(entries) != 0 {
			t.Errorf("refused calls audited: %s", opsActions(entries))
		}
	}

	before := opsCount(t, e, "webhook_subscriptions")
	e.expect(http.StatusNotFound, "POST", "/api/v1/webhooks", admin, hookBody(e.fx.CommB.ID))
	e.expect(http.StatusNotFound, "POST", "/api/v1/webhooks", distributor, hookBody(e.fx.CommB.ID))
	e.expect(http.StatusNotFound, "POST", "/api/v1/webhooks", admin, hookBody(uuid.NewString()))
	noCommunity := hookBody("")
	delete(noCommunity, "community_id")
	raw := e.expect(http.StatusUnprocessableEntity, "POST", "/api/v1/webhooks", distributor, noCommunity)
	if !strings.Contains(string(raw), `"field":"community_id"`) {
		t.Errorf("a distributor without community_id: %s", raw)
	}
	e.expect(http.StatusForbidden, "POST", "/api/v1/webhooks", e.fx.Tokens["customer"], hookBody(e.fx.CommA.ID))
	e.expect(http.StatusForbidden, "GET", "/api/v1/webhooks", e.fx.Tokens["customer"], nil)
	if n := opsCount(t, e, "webhook_subscriptions"); n != before {
		t.Fatalf("refused creates wrote %d subscriptions", n-before)
	}

	// A superadmin's subscription without a community takes every
	// community's events; a distributor's, one of its communities'.
	var all, mine hookJSON
	mustJSON(t, e.expect(http.StatusCreated, "POST", "/api/v1/webhooks", super, noCommunity), &all)
	if all.CommunityID != nil {
		t.Errorf("a superadmin's subscription without community_id is of community %v", *all.CommunityID)
	}
	mustJSON(t, e.expect(http.StatusCreated, "POST", "/api/v1/webhooks", distributor, hookBody(strings.ToUpper(e.fx.CommA.ID))), &mine)
	if mine.CommunityID == nil || *mine.CommunityID != e.fx.CommA.ID {
		t.Errorf("a distributor's subscription is of community %v", mine.CommunityID)
	}
	subs, err := hookQueueOf(t, e).SubscriptionsFor(context.Background(), webhook.EventAlertTriggered, e.fx.CommB.ID)
	if err != nil {
		t.Fatal(err)
	}
	var forB []string
	for _, s := range subs {
		forB = append(forB, s.ID)
	}
	if want := []string{subB.ID, global.ID, all.ID}; strings.Join(forB, ",") != strings.Join(want, ",") {
		t.Errorf("subscriptions taking community B's alerts: %v, want %v", forB, want)
	}
	e.expect(http.StatusNoContent, "DELETE", "/api/v1/webhooks/"+subA.ID, distributor, nil)
}

// TestWebhookValidation: each invalid body is a 422 naming its field, and
// nothing is written or audited.
func TestWebhookValidation(t *testing.T) {
	e := newAPIEnv(t)
	admin := e.fx.Tokens["community_admin"]
	sub := hookSub(e, &e.fx.CommA.ID)
	with := func(edit map[string]any) map[string]any {
		body := hookBody(e.fx.CommA.ID)
		for k, v := range edit {
			if v == nil {
				delete(body, k)
			} else {
				body[k] = v
			}
		}
		return body
	}
	cases := []struct {
		method string
		body   any
		fields []string
	}{
		{"POST", with(map[string]any{"url": nil}), []string{"url"}},
		{"POST", with(map[string]any{"events": nil}), []string{"events"}},
		{"POST", with(map[string]any{"url": nil, "events": nil, "secret": "short"}), []string{"url", "events", "secret"}},
		{"POST", with(map[string]any{"url": "ftp://hooks.example.com"}), []string{"url"}},
		{"POST", with(map[string]any{"url": "/relative"}), []string{"url"}},
		{"POST", with(map[string]any{"url": "http://"}), []string{"url"}},
		{"POST", with(map[string]any{"url": "https://user:pw@hooks.example.com/"}), []string{"url"}},
		{"POST", with(map[string]any{"url": "https://hooks.example.com/" + strings.Repeat("a", 2048)}), []string{"url"}},
		{"POST", with(map[string]any{"events": []string{}}), []string{"events"}},
		{"POST", with(map[string]any{"events": []string{"alert.triggered", "alert.triggered"}}), []string{"events"}},
		{"POST", with(map[string]any{"events": []string{"ALERT_TRIGGERED"}}), []string{"events"}},
		{"POST", with(map[string]any{"events": "alert.triggered"}), []string{"events"}},
		{"POST", with(map[string]any{"secret": strings.Repeat("s", 31)}), []string{"secret"}},
		{"POST", with(map[string]any{"secret": strings.Repeat("s", 257)}), []string{"secret"}},
		{"POST", with(map[string]any{"secret": strings.Repeat("s", 31) + " "}), []string{"secret"}},
		{"POST", with(map[string]any{"community_id": "green-meadows"}), []string{"community_id"}},
		{"POST", with(map[string]any{"url": "ftp://x", "community_id": "green-meadows"}), []string{"url", "community_id"}},
		{"POST", with(map[string]any{"enabled": "yes"}), []string{"enabled"}},
		{"POST", with(map[string]any{"id": uuid.NewString()}), []string{"id"}},
		{"PATCH", map[string]any{}, []string{"body"}},
		{"PATCH", map[string]any{"url": "mailto:ops@example.com"}, []string{"url"}},
		{"PATCH", map[string]any{"events": []string{}}, []string{"events"}},
		{"PATCH", map[string]any{"events": []string{"device.online", "nope"}}, []string{"events"}},
		{"PATCH", map[string]any{"secret": strings.Repeat("s", 40)}, []string{"secret"}},                 // fixed at creation
		{"PATCH", map[string]any{"community_id": e.fx.CommA.ID}, []string{"community_id"}},               // fixed at creation
		{"PATCH", map[string]any{"url": "https://hooks.example.com/#x", "events": nil}, []string{"url"}}, // null events: unchanged
	}
	before := opsCount(t, e, "webhook_subscriptions")
	for _, c := range cases {
		path := "/api/v1/webhooks"
		if c.method == "PATCH" {
			path += "/" + sub.ID
		}
		raw := e.expect(http.StatusUnprocessableEntity, c.method, path, admin, c.body)
		var problem struct {
			Code   string
			Errors []struct{ Field string }
		}
		mustJSON(t, raw, &problem)
		var fields []string
		for _, f := range problem.Errors {
			fields = append(fields, f.Field)
		}
		if strings.Join(fields, ",") != strings.Join(c.fields, ",") || problem.Code != "validation_failed" {
			t.Errorf("%s %v: fields %v (code %s), want %v", c.method, c.body, fields, problem.Code, c.fields)
		}
		if bytes.Contains(raw, []byte(strings.Repeat("s", 31))) {
			t.Errorf("a refusal echoes the secret: %s", raw)
		}
	}
	if n := opsCount(t, e, "webhook_subscriptions"); n != before {
		t.Errorf("invalid bodies wrote %d subscriptions", n-before)
	}
	if got, err := e.store.GetSubscription(context.Background(), telemetry.Scope{All: true}, sub.ID); err != nil ||
		got.URL != sub.URL || strings.Join(got.Events, ",") != strings.Join(sub.Events, ",") || !got.Enabled {
		t.Errorf("invalid PATCHes changed the subscription: %+v, %v", got, err)
	}
	if entries := opsAudit(t, e, sub.ID); len(entries) != 0 {
		t.Errorf("refused calls audited: %s", opsActions(entries))
	}
	e.expect(http.StatusUnprocessableEntity, "GET", "/api/v1/webhooks/"+sub.ID+"/deliveries?status=pending", admin, nil)
	e.expect(http.StatusUnprocessableEntity, "GET", "/api/v1/webhooks/"+sub.ID+"/deliveries?limit=0", admin, nil)
	e.expect(http.StatusNotFound, "GET", "/api/v1/webhooks/not-a-uuid", admin, nil)
	e.expect(http.StatusNotFound, "PATCH", "/api/v1/webhooks/not-a-uuid", admin, map[string]any{"enabled": false})
}

// TestWebhookHTTPSInProduction: with EVARA_ENV=production only https://
// URLs are taken, on create and on change.
func TestWebhookHTTPSInProduction(t *testing.T) {
	e := newAPIEnv(t, func(c *config.Config) { c.Env = "production" })
	admin := e.fx.Tokens["community_admin"]
	body := hookBody(e.fx.CommA.ID)
	body["url"] = "http://hooks.example.com/evara"
	raw := e.expect(http.StatusUnprocessableEntity, "POST", "/api/v1/webhooks", admin, body)
	if !strings.Contains(string(raw), "https:// URL in production") {
		t.Errorf("plain HTTP in production: %s", raw)
	}
	var created hookJSON
	mustJSON(t, e.expect(http.StatusCreated, "POST", "/api/v1/webhooks", admin, hookBody(e.fx.CommA.ID)), &created)
	e.expect(http.StatusUnprocessableEntity, "PATCH", "/api/v1/webhooks/"+created.ID, admin, map[string]any{"url": "http://hooks.example.com/x"})
	e.expect(http.StatusOK, "PATCH", "/api/v1/webhooks/"+created.ID, admin, map[string]any{"url": "https://hooks.example.com/x"})
}
