package auth_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/evaratech/evara/api/auth"
)

func jwksVerifier(t *testing.T, srv *jwksServer, clk *clock, o auth.Options) *auth.Verifier {
	t.Helper()
	o.JWKSURL = srv.URL
	o.HTTPClient = srv.Client()
	o.Now = clk.Now
	return newVerifier(t, o)
}

// An unknown kid refreshes the set once, which finds a key published after
// the verifier started.
func TestUnknownKidRefreshFindsNewKey(t *testing.T) {
	keys(t)
	srv := standardJWKS(t)
	v := jwksVerifier(t, srv, newClock(testNow), auth.Options{})
	if n := srv.requests.Load(); n != 1 {
		t.Fatalf("%d JWKS requests after NewVerifier, want 1 (the initial fetch)", n)
	}
	srv.add(t, &rsaOther.PublicKey, "rsa-rotated", jwkset.AlgRS256)
	tok := sign(t, jwt.SigningMethodRS256, rsaOther, "rsa-rotated", validClaims())
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("token of the rotated key: %v", err)
	}
	if n := srv.requests.Load(); n != 2 {
		t.Errorf("%d JWKS requests, want 2 (one refresh for the unknown kid)", n)
	}
	// A known kid costs no request.
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if n := srv.requests.Load(); n != 2 {
		t.Errorf("%d JWKS requests after a known kid, want 2", n)
	}
}

// A flood of forged kids causes at most one refresh per interval, and the
// requests over the rate are refused at once rather than queued.
func TestUnknownKidFloodIsRateLimited(t *testing.T) {
	keys(t)
	srv := standardJWKS(t)
	clk := newClock(testNow)
	v := jwksVerifier(t, srv, clk, auth.Options{JWKSMinRefreshInterval: 30 * time.Second})
	flood := func(round int) {
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				tok := sign(t, jwt.SigningMethodES256, ecKey, fmt.Sprintf("forged-%d-%d", round, i), validClaims())
				if _, err := v.Verify(context.Background(), tok); auth.ReasonOf(err) != auth.ReasonUnknownKey {
					t.Errorf("forged kid: err %v, want unknown_key", err)
				}
			})
		}
		wg.Wait()
	}
	steps := []struct {
		advance time.Duration
		want    int64 // JWKS requests so far
	}{
		{0, 2},                // initial fetch + one refresh
		{10 * time.Second, 2}, // inside the interval: none
		{19 * time.Second, 2}, // 29 s after the refresh: still none
		{1 * time.Second, 3},  // 30 s: one more
		{time.Hour, 4},        // the limiter's burst is one: one more, not many
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		flood(i)
		if n := srv.requests.Load(); n != s.want {
			t.Fatalf("step %d: %d JWKS requests, want %d", i, n, s.want)
		}
	}
}

// The periodic refresh picks up new keys without any unknown kid, and Close
// stops it: no request after Close returns.
func TestPeriodicRefreshAndClose(t *testing.T) {
	keys(t)
	srv := standardJWKS(t)
	v, err := auth.NewVerifier(auth.Options{
		JWKSURL: srv.URL, HTTPClient: srv.Client(), Now: func() time.Time { return testNow },
		JWKSRefreshInterval: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.requests.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d JWKS requests: the periodic refresh does not run", srv.requests.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	after := srv.requests.Load()
	time.Sleep(50 * time.Millisecond)
	if n := srv.requests.Load(); n != after {
		t.Errorf("%d JWKS requests after Close, want none", n-after)
	}
	if err := v.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// A closed verifier still verifies with the keys it holds.
	tok := sign(t, jwt.SigningMethodES256, ecKey, "ec-1", validClaims())
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Errorf("Verify after Close: %v", err)
	}
}

// A JWKS endpoint that is down at start does not stop NewVerifier; tokens are
// refused with unknown_key until it answers, then accepted.
func TestJWKSDownAtStart(t *testing.T) {
	keys(t)
	srv := standardJWKS(t)
	srv.setFailing(true)
	clk := newClock(testNow)
	v := jwksVerifier(t, srv, clk, auth.Options{})
	tok := sign(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", validClaims())
	if _, err := v.Verify(context.Background(), tok); auth.ReasonOf(err) != auth.ReasonUnknownKey {
		t.Fatalf("err %v, want unknown_key while the JWKS is down", err)
	}
	srv.setFailing(false)
	clk.Advance(auth.DefaultJWKSMinRefreshInterval)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("after the JWKS came back: %v", err)
	}
}

// A refresh that fails keeps the keys already held.
func TestFailedRefreshKeepsKeys(t *testing.T) {
	keys(t)
	srv := standardJWKS(t)
	clk := newClock(testNow)
	v := jwksVerifier(t, srv, clk, auth.Options{})
	srv.setFailing(true)
	forged := sign(t, jwt.SigningMethodRS256, rsaKey, "forged", validClaims())
	if _, err := v.Verify(context.Background(), forged); auth.ReasonOf(err) != auth.ReasonUnknownKey {
		t.Fatalf("err %v, want unknown_key", err)
	}
	if srv.requests.Load() != 2 {
		t.Fatalf("%d requests, want 2", srv.requests.Load())
	}
	tok := sign(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", validClaims())
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Errorf("known key after a failed refresh: %v", err)
	}
}
