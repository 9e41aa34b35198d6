package auth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/evaratech/evara/api/auth"
	"github.com/evaratech/evara/internal/telemetry"
)

func TestMintVerifies(t *testing.T) {
	now := func() time.Time { return testNow }
	v := newVerifier(t, auth.Options{HS256Secret: testSecret, Issuer: testIssuer, Now: now})
	tok, err := auth.Mint(testSecret, auth.MintOptions{
		Subject: "user-1", Email: "dev@example.com", Role: "superadmin", TTL: 2 * time.Hour, Issuer: testIssuer, Now: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("Verify(Mint(...)): %v", err)
	}
	want := auth.Claims{
		Subject: "user-1", Email: "dev@example.com", Role: "superadmin",
		ExpiresAt: testNow.Add(2 * time.Hour), IssuedAt: testNow, Audience: []string{"authenticated"},
	}
	if d := cmp.Diff(want, got, cmpopts.IgnoreFields(auth.Claims{}, "JTI")); d != "" {
		t.Errorf("claims (-want +got):\n%s", d)
	}
	if got.JTI == "" {
		t.Error("minted token has no jti: logout could not revoke it")
	}
	again, err := auth.Mint(testSecret, auth.MintOptions{Subject: "user-1", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	c2, err := v.Verify(context.Background(), again)
	if err == nil && c2.JTI == got.JTI {
		t.Errorf("two minted tokens share jti %q", got.JTI)
	}
	// Default TTL is one hour: expired 1 h + leeway later.
	late := newVerifier(t, auth.Options{HS256Secret: testSecret, Now: func() time.Time { return testNow.Add(time.Hour + time.Minute) }})
	if _, err := late.Verify(context.Background(), again); auth.ReasonOf(err) != auth.ReasonExpired {
		t.Errorf("default TTL: err %v, want expired after 1 h", err)
	}
	// Another secret refuses it.
	other := newVerifier(t, auth.Options{HS256Secret: []byte("some-other-secret-32-bytes-long!!!"), Now: now})
	if _, err := other.Verify(context.Background(), tok); auth.ReasonOf(err) != auth.ReasonBadSignature {
		t.Errorf("other secret: err %v, want bad_signature", err)
	}
}

func TestMintRejects(t *testing.T) {
	cases := []struct {
		name   string
		secret []byte
		opts   auth.MintOptions
	}{
		{"no secret", nil, auth.MintOptions{Subject: "u"}},
		{"no subject", testSecret, auth.MintOptions{}},
		{"negative ttl", testSecret, auth.MintOptions{Subject: "u", TTL: -time.Second}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok, err := auth.Mint(c.secret, c.opts)
			if !errors.Is(err, telemetry.ErrInvalid) || tok != "" {
				t.Errorf("Mint = %q, %v; want telemetry.ErrInvalid", tok, err)
			}
		})
	}
}
