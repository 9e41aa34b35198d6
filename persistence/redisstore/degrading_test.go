package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/evaratech/evara/persistence/storetest"
)

const (
	msgDegraded  = "redis unavailable: answering from the local fallback"
	msgRecovered = "redis recovered"
)

// With its Redis client closed, a Degrading answers every call from the
// local fallback, reports Degraded and logs the transition once.
func TestDegradingAnswersLocallyWhenRedisFails(t *testing.T) {
	url, prefix := storetest.FreshRedisPrefix(t)
	log, logs := newLogger()
	primary := openStoreAt(t, url, prefix, nil)
	d := NewDegrading(primary, NewLocal(Options{}), log)
	ctx := context.Background()

	if _, err := d.Allow(ctx, "warm", Limit{Rate: 1, Period: time.Second}); err != nil || d.Degraded() {
		t.Fatalf("healthy: err=%v degraded=%v", err, d.Degraded())
	}
	_ = primary.Close() // the outage

	if err := d.Revoke(ctx, "jti-x", time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("Revoke during the outage: %v", err)
	}
	if !d.Degraded() {
		t.Fatal("not Degraded after Redis failed")
	}
	mustRevoked(t, d, "jti-x", true)
	mustRevoked(t, d, "jti-y", false)

	limit := Limit{Rate: 5, Period: time.Second, Burst: 5}
	allowed := 0
	for range 10 {
		dec, err := d.Allow(ctx, "user:u", limit)
		if err != nil {
			t.Fatalf("Allow during the outage: %v", err)
		}
		if dec.Allowed {
			allowed++
		}
	}
	if allowed != 5 {
		t.Errorf("during the outage %d of 10 immediate calls allowed, want 5", allowed)
	}

	if err := d.PutLatest(ctx, "n1", []byte("snap"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if b, ok, err := d.GetLatest(ctx, "n1"); err != nil || !ok || string(b) != "snap" {
		t.Fatalf("GetLatest during the outage = %q, %v, %v", b, ok, err)
	}
	if _, err := d.Allow(ctx, "k", Limit{}); err == nil {
		t.Error("an invalid limit is not an outage: want ErrInvalidLimit")
	}
	if n := logs.count(msgDegraded); n != 1 {
		t.Errorf("degradation logged %d times, want once:\n%s", n, logs)
	}
}

// An outage and recovery through a proxy that goes down and comes back: the
// revocation taken during the outage reaches Redis (and so the other
// replica) once it is back, so does one Redis lost meanwhile, and each
// transition is logged once.
func TestDegradingRecoversAndReplaysRevocations(t *testing.T) {
	url, prefix := storetest.FreshRedisPrefix(t)
	p, viaProxy := newProxy(t, url)
	log, logs := newLogger()
	primary := openStoreAt(t, viaProxy, prefix, nil)
	other := openStoreAt(t, url, prefix, nil) // another replica, unaffected
	d := NewDegrading(primary, NewLocal(Options{}), log)
	d.probeEvery = 50 * time.Millisecond
	ctx := context.Background()

	if err := d.Revoke(ctx, "before", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	mustRevoked(t, other, "before", true)

	p.down()
	// Redis loses its data while down (a restart without persistence).
	if err := other.rdb.Del(ctx, other.revokedKey(hashJTI("before"))).Err(); err != nil {
		t.Fatal(err)
	}
	if err := d.Revoke(ctx, "during", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if !d.Degraded() {
		t.Fatal("not Degraded with the proxy down")
	}
	mustRevoked(t, d, "during", true)      // this replica refuses it at once
	mustRevoked(t, d, "before", true)      // and still knows its own earlier revocation
	mustRevoked(t, other, "during", false) // the documented window
	for range 20 {                         // many calls, one log line
		_, _ = d.IsRevoked(ctx, "anything")
	}

	p.up(t)
	deadline := time.Now().Add(10 * time.Second)
	for d.Degraded() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		_, _ = d.Allow(ctx, "probe", Limit{Rate: 100, Period: time.Second})
	}
	if d.Degraded() {
		t.Fatal("still Degraded 10s after Redis came back")
	}
	mustRevoked(t, other, "during", true)
	mustRevoked(t, other, "before", true) // restored from this replica's record
	if n := logs.count(msgDegraded); n != 1 {
		t.Errorf("degradation logged %d times, want once:\n%s", n, logs)
	}
	if n := logs.count(msgRecovered); n != 1 {
		t.Errorf("recovery logged %d times, want once:\n%s", n, logs)
	}
}

// A Redis that accepts connections but never answers costs a call at most
// the call timeout.
func TestDegradingBoundsAHungRedis(t *testing.T) {
	url, prefix := storetest.FreshRedisPrefix(t)
	p, viaProxy := newProxy(t, url)
	primary := openStoreAt(t, viaProxy, prefix, nil)
	d := NewDegrading(primary, NewLocal(Options{}), nil)
	d.callTimeout = 100 * time.Millisecond
	p.stalled.Store(true) // commands go out, answers never come back

	start := time.Now()
	dec, err := d.Allow(context.Background(), "user:h", Limit{Rate: 1, Period: time.Second})
	if err != nil || !dec.Allowed {
		t.Fatalf("Allow with Redis hung = %+v, %v; want a local answer", dec, err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("Allow took %v with a 100ms call timeout", el)
	}
	if !d.Degraded() {
		t.Error("not Degraded after a timeout")
	}
	// While degraded, calls between probes do not wait on Redis at all.
	start = time.Now()
	for range 50 {
		if _, err := d.IsRevoked(context.Background(), "j"); err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("50 degraded calls took %v; they should skip Redis between probes", el)
	}
}
