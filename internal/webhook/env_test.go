package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/evaratech/evara/internal/keyring"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/webhook"
	"github.com/evaratech/evara/persistence/pgstore"
	"github.com/evaratech/evara/persistence/sqlitestore"
	"github.com/evaratech/evara/persistence/storetest"
)

// store is what the tests need of a real store.
type store interface {
	webhook.Store
	webhook.Queue
	CreateSubscription(ctx context.Context, scope telemetry.Scope, w *telemetry.WebhookSubscription) error
	ListDeadLetters(ctx context.Context, scope telemetry.Scope, subscriptionID string, page telemetry.Page) ([]telemetry.WebhookDelivery, error)
}

var everything = telemetry.Scope{All: true}

// engines opens each real store on a fresh database.
var engines = map[string]func(t *testing.T) store{
	"postgres": func(t *testing.T) store {
		st, err := pgstore.Open(context.Background(), storetest.FreshSchema(t), pgstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	},
	"embedded": func(t *testing.T) store {
		st, err := sqlitestore.Open(context.Background(), t.TempDir(), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	},
}

// clock is a fake clock that only the test moves.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// attempt is one request a receiver saw.
type attempt struct {
	body      []byte
	verifyErr error
	header    http.Header
}

// receiver is a webhook endpoint that verifies every signature against
// now() and answers with respond(n) to its n-th request (from 1).
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	attempts []attempt
}

func newReceiver(t *testing.T, secret []byte, now func() time.Time, respond func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.attempts = append(rc.attempts, attempt{body: body, header: r.Header.Clone(),
			verifyErr: webhook.Verify(secret, r.Header.Get(webhook.SignatureHeader), body, now(), 5*time.Minute)})
		n := len(rc.attempts)
		rc.mu.Unlock()
		respond(n, w, r)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) seen() []attempt {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]attempt(nil), rc.attempts...)
}

// checkAttempts fails the test unless every attempt was a signed JSON POST
// of the same body from evara-webhook.
func checkAttempts(t *testing.T, seen []attempt) {
	t.Helper()
	for i, a := range seen {
		if a.verifyErr != nil {
			t.Errorf("attempt %d: signature refused: %v", i+1, a.verifyErr)
		}
		if ct, ua := a.header.Get("Content-Type"), a.header.Get("User-Agent"); ct != "application/json" || ua != "evara-webhook" {
			t.Errorf("attempt %d: Content-Type %q, User-Agent %q", i+1, ct, ua)
		}
		if !bytes.Equal(a.body, seen[0].body) {
			t.Errorf("attempt %d sent another body: %s, first %s", i+1, a.body, seen[0].body)
		}
	}
}

// world is one store with a keyring and one subscription to a receiver.
type world struct {
	st     store
	keys   *keyring.Keyring
	secret []byte
	reg    *prometheus.Registry
}

func newWorld(t *testing.T, open func(t *testing.T) store) *world {
	kr, err := keyring.New(map[string][]byte{"k1": bytes.Repeat([]byte{7}, keyring.KeySize)}, "k1")
	if err != nil {
		t.Fatal(err)
	}
	return &world{st: open(t), keys: kr, secret: []byte("whsec-" + uuid.NewString()), reg: prometheus.NewRegistry()}
}

// subscribe adds an enabled subscription of every community to url for
// events, its secret sealed with its id as the API seals it.
func (w *world) subscribe(t *testing.T, url string, events ...string) *telemetry.WebhookSubscription {
	t.Helper()
	sub := &telemetry.WebhookSubscription{ID: uuid.NewString(), URL: url, Events: events, Enabled: true}
	keyID, ct, err := w.keys.Seal(w.secret, []byte(sub.ID))
	if err != nil {
		t.Fatal(err)
	}
	sub.Secret = telemetry.SealedSecret{KeyID: keyID, Ciphertext: ct}
	if err := w.st.CreateSubscription(context.Background(), everything, sub); err != nil {
		t.Fatal(err)
	}
	return sub
}

// start runs a dispatcher until the test ends.
func (w *world) start(t *testing.T, opts webhook.Options) *webhook.Dispatcher {
	t.Helper()
	opts.Registerer = w.reg
	if opts.Poll == 0 {
		opts.Poll = 5 * time.Millisecond
	}
	d, err := webhook.NewDispatcher(w.st, w.keys, opts)
	if err != nil {
		t.Fatal(err)
	}
	d.Start()
	t.Cleanup(d.Stop)
	return d
}

// outcomes reads evara_webhook_deliveries_total{outcome} from the
// registry the dispatcher was given.
func (w *world) outcomes(t *testing.T, outcome string) int {
	t.Helper()
	families, err := w.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if f.GetName() == "evara_webhook_deliveries_total" && m.GetLabel()[0].GetValue() == outcome {
				return int(m.GetCounter().GetValue())
			}
		}
	}
	t.Fatalf("no evara_webhook_deliveries_total{outcome=%q}", outcome)
	return 0
}

// pending returns the deliveries not yet delivered nor dead-lettered.
func (w *world) pending(t *testing.T) []telemetry.DueDelivery {
	t.Helper()
	due, err := w.st.DueDeliveries(context.Background(), time.Now().Add(1000*time.Hour), 1000)
	if err != nil {
		t.Fatal(err)
	}
	return due
}

// eventually polls cond until it holds, failing the test after a generous
// deadline (a hung dispatcher, not a slow one).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s", what)
		}
	}
}

func decodeBody(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("body %s: %v", raw, err)
	}
	return m
}
