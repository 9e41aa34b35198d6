package webhook_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/webhook"
)

type alertPayload struct {
	AlertID string  `json:"alert_id"`
	NodeID  string  `json:"node_id"`
	Value   float64 `json:"value"`
}

func enqueue(t *testing.T, w *world, event string, now time.Time) {
	t.Helper()
	n, err := webhook.Enqueue(context.Background(), w.st, event, "", alertPayload{"a1", "n1", 42.5}, now)
	if err != nil || n != 1 {
		t.Fatalf("Enqueue: %d deliveries, %v", n, err)
	}
}

// TestRetriesUntilDelivered: a receiver that fails three times gets the
// same signed body four times and the delivery is then done.
func TestRetriesUntilDelivered(t *testing.T) {
	for name, open := range engines {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, open)
			rc := newReceiver(t, w.secret, time.Now, func(n int, rw http.ResponseWriter, _ *http.Request) {
				if n <= 3 {
					http.Error(rw, "not now", http.StatusInternalServerError)
				}
			})
			w.subscribe(t, rc.URL, webhook.EventAlertTriggered)
			enqueue(t, w, webhook.EventAlertTriggered, time.Now())
			d := w.start(t, webhook.Options{Backoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
			eventually(t, "the delivery", func() bool { return len(w.pending(t)) == 0 })
			d.Stop()

			seen := rc.seen()
			if len(seen) != 4 {
				t.Fatalf("%d attempts, want 3 failures and 1 success", len(seen))
			}
			checkAttempts(t, seen)
			body := decodeBody(t, seen[0].body)
			data, _ := body["data"].(map[string]any)
			if body["event"] != webhook.EventAlertTriggered || body["id"] == "" || body["created_at"] == nil ||
				data["alert_id"] != "a1" || data["value"] != 42.5 {
				t.Errorf("body %s", seen[0].body)
			}
			if got := [2]int{w.outcomes(t, "failed"), w.outcomes(t, "delivered")}; got != [2]int{3, 1} {
				t.Errorf("outcomes failed, delivered = %v, want [3 1]", got)
			}
			if dead, _ := w.st.ListDeadLetters(context.Background(), everything, "", telemetry.Page{}); len(dead) != 0 {
				t.Errorf("a delivered event is dead-lettered: %+v", dead)
			}
		})
	}
}

// TestDeadLetteredAfterGiveUp: a receiver that always fails is retried
// with the default backoff (10 s doubling to 1 h) until 24 h after the
// event, then the delivery is dead-lettered and listed. The test moves the
// fake clock on 2 h after each recorded attempt: past any backoff, so each
// move brings exactly one attempt.
func TestDeadLetteredAfterGiveUp(t *testing.T) {
	for name, open := range engines {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, open)
			// A minute behind the store's clock, which stamps the delivery's creation.
			clk := &clock{now: time.Now().Add(-time.Minute)}
			long := strings.Repeat("<html>stack trace ", 1000)
			rc := newReceiver(t, w.secret, clk.Now, func(_ int, rw http.ResponseWriter, _ *http.Request) {
				http.Error(rw, long, http.StatusInternalServerError)
			})
			sub := w.subscribe(t, rc.URL, webhook.EventDeviceOffline)
			enqueue(t, w, webhook.EventDeviceOffline, clk.Now())
			d := w.start(t, webhook.Options{Now: clk.Now})
			var dead []telemetry.WebhookDelivery
			for attempts := 1; ; attempts++ {
				eventually(t, "the attempt to be recorded", func() bool {
					return len(rc.seen()) == attempts && w.outcomes(t, "failed")+w.outcomes(t, "dead_lettered") == attempts
				})
				dead, _ = w.st.ListDeadLetters(context.Background(), everything, sub.ID, telemetry.Page{})
				if len(dead) > 0 || attempts > 20 {
					break
				}
				clk.Advance(2 * time.Hour)
			}
			d.Stop()

			seen := rc.seen()
			checkAttempts(t, seen)
			// Attempts at 0, 2, … 24 h (a minute short of the deadline, so
			// retried once more, at the deadline), and 26 h, which gives up.
			if len(dead) != 1 || len(seen) != 14 || dead[0].Attempts != len(seen) {
				t.Fatalf("%d attempts seen, dead letters %+v; want 14 attempts and one dead letter", len(seen), dead)
			}
			if dead[0].LastStatus == nil || *dead[0].LastStatus != 500 || dead[0].LastError == nil ||
				!strings.HasPrefix(*dead[0].LastError, "HTTP 500") || len(*dead[0].LastError) > 300 {
				t.Errorf("dead letter status %v, error %v: want 500 and a short reason", dead[0].LastStatus, dead[0].LastError)
			}
			if len(w.pending(t)) != 0 {
				t.Error("a dead-lettered delivery is still pending")
			}
			if got := [3]int{w.outcomes(t, "failed"), w.outcomes(t, "dead_lettered"), w.outcomes(t, "delivered")}; got != [3]int{13, 1, 0} {
				t.Errorf("outcomes failed, dead_lettered, delivered = %v, want [13 1 0]", got)
			}
		})
	}
}

// TestTimeoutIsAFailure: a receiver slower than Timeout fails the attempt,
// which is retried later.
func TestTimeoutIsAFailure(t *testing.T) {
	w := newWorld(t, engines["postgres"])
	release := make(chan struct{})
	rc := newReceiver(t, w.secret, time.Now, func(_ int, _ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // before the receiver closes: cleanups run last first
	w.subscribe(t, rc.URL, webhook.EventAlertResolved)
	enqueue(t, w, webhook.EventAlertResolved, time.Now())
	d := w.start(t, webhook.Options{Timeout: 50 * time.Millisecond, Backoff: time.Hour})
	eventually(t, "the failed attempt", func() bool { return w.outcomes(t, "failed") == 1 })
	d.Stop()
	p := w.pending(t)
	if len(p) != 1 || p[0].Attempts != 1 || p[0].LastStatus != nil || p[0].LastError == nil || *p[0].LastError != "timed out" {
		t.Fatalf("after a timeout: %+v", p)
	}
	if !p[0].NextAttemptAt.After(time.Now().Add(20 * time.Minute)) {
		t.Errorf("retried at %v: want the backoff's half hour or more", p[0].NextAttemptAt)
	}
}

// TestNoRedirectToAnotherHost: a receiver redirecting to another host
// fails the attempt; the other host never sees the signed event.
func TestNoRedirectToAnotherHost(t *testing.T) {
	w := newWorld(t, engines["postgres"])
	elsewhere := newReceiver(t, w.secret, time.Now, func(int, http.ResponseWriter, *http.Request) {})
	// 127.0.0.1 and localhost are different hosts to the client.
	target := strings.Replace(elsewhere.URL, "127.0.0.1", "localhost", 1)
	rc := newReceiver(t, w.secret, time.Now, func(_ int, rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/same-host" {
			return
		}
		http.Redirect(rw, r, target, http.StatusTemporaryRedirect)
	})
	w.subscribe(t, rc.URL+"/hook", webhook.EventDeviceOnline)
	enqueue(t, w, webhook.EventDeviceOnline, time.Now())
	d := w.start(t, webhook.Options{Backoff: time.Hour})
	eventually(t, "the failed attempt", func() bool { return w.outcomes(t, "failed") == 1 })
	d.Stop()
	if n := len(elsewhere.seen()); n != 0 {
		t.Errorf("the other host got %d requests", n)
	}
	if p := w.pending(t); len(p) != 1 || p[0].LastStatus == nil || *p[0].LastStatus != http.StatusTemporaryRedirect {
		t.Errorf("after a redirect elsewhere: %+v", p)
	}
}

// TestUnopenableSecret: a secret sealed for another subscription (or under
// a key no longer configured) fails the attempt without sending anything.
func TestUnopenableSecret(t *testing.T) {
	w := newWorld(t, engines["postgres"])
	rc := newReceiver(t, w.secret, time.Now, func(int, http.ResponseWriter, *http.Request) {})
	sub := &telemetry.WebhookSubscription{ID: "7a1f3c2e-0000-4000-8000-000000000001", URL: rc.URL, Events: []string{webhook.EventAlertTriggered}, Enabled: true}
	keyID, ct, err := w.keys.Seal(w.secret, []byte("another subscription"))
	if err != nil {
		t.Fatal(err)
	}
	sub.Secret = telemetry.SealedSecret{KeyID: keyID, Ciphertext: ct}
	if err := w.st.CreateSubscription(context.Background(), everything, sub); err != nil {
		t.Fatal(err)
	}
	enqueue(t, w, webhook.EventAlertTriggered, time.Now())
	d := w.start(t, webhook.Options{Backoff: time.Hour})
	eventually(t, "the failed attempt", func() bool { return w.outcomes(t, "failed") == 1 })
	d.Stop()
	if n := len(rc.seen()); n != 0 {
		t.Errorf("sent %d requests without a secret", n)
	}
}

// TestEnqueue: one delivery per enabled subscription taking the event.
func TestEnqueue(t *testing.T) {
	for name, open := range engines {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, open)
			a := w.subscribe(t, "https://a.example.com/hook", webhook.EventAlertTriggered, webhook.EventAlertResolved)
			b := w.subscribe(t, "https://b.example.com/hook", webhook.EventAlertTriggered)
			w.subscribe(t, "https://c.example.com/hook", webhook.EventDeviceOffline)
			now := time.Now()
			n, err := webhook.Enqueue(context.Background(), w.st, webhook.EventAlertTriggered, "", alertPayload{"a1", "n1", 1}, now)
			if err != nil || n != 2 {
				t.Fatalf("Enqueue: %d, %v; want 2", n, err)
			}
			due, err := w.st.DueDeliveries(context.Background(), now, 10)
			if err != nil || len(due) != 2 {
				t.Fatalf("due: %d, %v", len(due), err)
			}
			subs := map[string]bool{}
			for _, d := range due {
				subs[d.SubscriptionID] = true
				body := decodeBody(t, d.Payload)
				if body["id"] != d.ID || body["event"] != webhook.EventAlertTriggered {
					t.Errorf("delivery %s body %s", d.ID, d.Payload)
				}
			}
			if !subs[a.ID] || !subs[b.ID] {
				t.Errorf("deliveries for %v, want %s and %s", subs, a.ID, b.ID)
			}
			if _, err := webhook.Enqueue(context.Background(), w.st, webhook.EventAlertTriggered, "", func() {}, now); err == nil {
				t.Error("a payload that is not JSON was queued")
			}
		})
	}
}

// TestOnlyTheActiveMemberSends: a dispatcher that is not the active one
// (another member owns the job) polls nothing; once it is, it delivers.
func TestOnlyTheActiveMemberSends(t *testing.T) {
	w := newWorld(t, engines["postgres"])
	rc := newReceiver(t, w.secret, time.Now, func(int, http.ResponseWriter, *http.Request) {})
	w.subscribe(t, rc.URL, webhook.EventDeviceOffline)
	enqueue(t, w, webhook.EventDeviceOffline, time.Now())
	var active atomic.Bool
	var asked atomic.Int64
	d := w.start(t, webhook.Options{Poll: 10 * time.Millisecond, Active: func() bool { asked.Add(1); return active.Load() }})
	eventually(t, "a few polls", func() bool { return asked.Load() >= 5 })
	if n := len(rc.seen()); n != 0 {
		t.Fatalf("an inactive dispatcher sent %d requests", n)
	}
	active.Store(true)
	eventually(t, "the delivery", func() bool { return w.outcomes(t, "delivered") == 1 })
	d.Stop()
}

// TestPublicOnlyRefusesInternalAddresses: with PublicOnly a receiver on
// loopback is never called — by address or by a name resolving to it —
// and the failure says why; without it the same receiver is reached.
func TestPublicOnlyRefusesInternalAddresses(t *testing.T) {
	open := engines["embedded"]
	for _, host := range []string{"127.0.0.1", "localhost"} {
		t.Run(host, func(t *testing.T) {
			w := newWorld(t, open)
			rc := newReceiver(t, w.secret, time.Now, func(int, http.ResponseWriter, *http.Request) {})
			w.subscribe(t, strings.Replace(rc.URL, "127.0.0.1", host, 1), webhook.EventAlertTriggered)
			enqueue(t, w, webhook.EventAlertTriggered, time.Now())
			d := w.start(t, webhook.Options{PublicOnly: true, Backoff: time.Hour})
			eventually(t, "a failed attempt", func() bool { return w.outcomes(t, "failed") == 1 })
			d.Stop()
			if n := len(rc.seen()); n != 0 {
				t.Fatalf("the loopback receiver was called %d times", n)
			}
			pending := w.pending(t)
			if len(pending) != 1 || pending[0].LastError == nil || !strings.Contains(*pending[0].LastError, "not public") {
				t.Fatalf("pending deliveries: %+v, want the one, failed because the address is not public", pending)
			}
		})
	}
	w := newWorld(t, open)
	rc := newReceiver(t, w.secret, time.Now, func(int, http.ResponseWriter, *http.Request) {})
	w.subscribe(t, rc.URL, webhook.EventAlertTriggered)
	enqueue(t, w, webhook.EventAlertTriggered, time.Now())
	d := w.start(t, webhook.Options{})
	eventually(t, "the delivery without PublicOnly", func() bool { return len(rc.seen()) == 1 })
	d.Stop()
}
