package auth_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/evaratech/evara/api/auth"
	"github.com/evaratech/evara/internal/telemetry"
)

// fullVerifier has a secret, the standard JWKS, an issuer and revocations.
func fullVerifier(t *testing.T, o auth.Options) *auth.Verifier {
	t.Helper()
	srv := standardJWKS(t)
	o.HS256Secret = testSecret
	o.JWKSURL = srv.URL
	o.HTTPClient = srv.Client()
	o.Issuer = testIssuer
	if o.Now == nil {
		o.Now = func() time.Time { return testNow }
	}
	o.Revoked = fakeRevocations{revoked: map[string]bool{"jti-revoked": true}, failOn: "jti-boom"}
	return newVerifier(t, o)
}

func rsaPublicPEM(t *testing.T) []byte {
	der := rsaPublicDER(t)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func rsaPublicDER(t *testing.T) []byte {
	der, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func noneToken(t *testing.T, kid string) string {
	return sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kid, validClaims())
}

func TestVerifyRefusals(t *testing.T) {
	keys(t)
	v := fullVerifier(t, auth.Options{})
	ok := validClaims()
	b64 := base64.RawURLEncoding.EncodeToString
	cases := []struct {
		name  string
		token func(t *testing.T) string
		want  auth.Reason
	}{
		{"alg none", func(t *testing.T) string { return noneToken(t, "") }, auth.ReasonBadAlgorithm},
		{"alg none with a JWKS kid", func(t *testing.T) string { return noneToken(t, "rsa-1") }, auth.ReasonBadAlgorithm},
		{"alg none, empty signature by hand", func(t *testing.T) string {
			return b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64([]byte(`{"sub":"x","aud":"authenticated","exp":1999999999}`)) + "."
		}, auth.ReasonBadAlgorithm},
		{"alg NONE upper case", func(t *testing.T) string {
			return b64([]byte(`{"alg":"NONE"}`)) + "." + b64([]byte(`{"sub":"x"}`)) + ".c2ln"
		}, auth.ReasonBadAlgorithm},
		{"HS256 with the RSA public key PEM as secret", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, rsaPublicPEM(t), "rsa-1", ok)
		}, auth.ReasonBadSignature},
		{"HS256 with the RSA public key DER as secret", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, rsaPublicDER(t), "rsa-noalg", ok)
		}, auth.ReasonBadSignature},
		{"HS384 refused", func(t *testing.T) string { return sign(t, jwt.SigningMethodHS384, testSecret, "", ok) }, auth.ReasonBadAlgorithm},
		{"PS256 refused", func(t *testing.T) string { return sign(t, jwt.SigningMethodPS256, rsaKey, "rsa-noalg", ok) }, auth.ReasonBadAlgorithm},
		{"RS384 with a key pinned to RS256", func(t *testing.T) string { return sign(t, jwt.SigningMethodRS384, rsaKey, "rsa-1", ok) }, auth.ReasonBadAlgorithm},
		{"ES256 naming an RSA key", func(t *testing.T) string { return sign(t, jwt.SigningMethodES256, ecKey, "rsa-noalg", ok) }, auth.ReasonBadAlgorithm},
		{"RS256 naming an EC key", func(t *testing.T) string { return sign(t, jwt.SigningMethodRS256, rsaKey, "ec-1", ok) }, auth.ReasonBadAlgorithm},
		{"HS256 wrong secret", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, []byte("another-secret-of-32-bytes-length!!"), "", ok)
		}, auth.ReasonBadSignature},
		{"RS256 signed by an unpublished key", func(t *testing.T) string { return sign(t, jwt.SigningMethodRS256, rsaOther, "rsa-1", ok) }, auth.ReasonBadSignature},
		{"ES256 signed by an unpublished key", func(t *testing.T) string { return sign(t, jwt.SigningMethodES256, ecOther, "ec-1", ok) }, auth.ReasonBadSignature},
		{"payload swapped after signing", func(t *testing.T) string {
			good := strings.Split(sign(t, jwt.SigningMethodHS256, testSecret, "", ok), ".")
			evil := strings.Split(sign(t, jwt.SigningMethodHS256, testSecret, "", with(ok, "sub", "someone-else")), ".")
			return good[0] + "." + evil[1] + "." + good[2]
		}, auth.ReasonBadSignature},
		{"expired", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, "", with(ok, "exp", testNow.Add(-31*time.Second).Unix()))
		}, auth.ReasonExpired},
		{"expired beats bad audience", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, "", with(ok, "exp", testNow.Add(-time.Hour).Unix(), "aud", "x"))
		}, auth.ReasonExpired},
		{"not yet valid (nbf)", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, "", with(ok, "nbf", testNow.Add(31*time.Second).Unix()))
		}, auth.ReasonNotYetValid},
		{"iat in the future beyond leeway", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodES256, ecKey, "ec-1", with(ok, "iat", testNow.Add(31*time.Second).Unix()))
		}, auth.ReasonNotYetValid},
		{"wrong audience", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", with(ok, "aud", []string{"anon", "service_role"}))
		}, auth.ReasonBadAudience},
		{"no audience", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, "", with(ok, "aud", nil))
		}, auth.ReasonBadAudience},
		{"wrong issuer", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, "", with(ok, "iss", "https://evil.test/auth/v1"))
		}, auth.ReasonBadIssuer},
		{"no issuer", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, "", with(ok, "iss", nil))
		}, auth.ReasonBadIssuer},
		{"unknown kid", func(t *testing.T) string { return sign(t, jwt.SigningMethodRS256, rsaKey, "rsa-unknown", ok) }, auth.ReasonUnknownKey},
		{"no kid on a JWKS token", func(t *testing.T) string { return sign(t, jwt.SigningMethodRS256, rsaKey, "", ok) }, auth.ReasonUnknownKey},
		{"revoked jti", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, "", with(ok, "jti", "jti-revoked"))
		}, auth.ReasonRevoked},
		{"missing sub", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, "", with(ok, "sub", nil))
		}, auth.ReasonNoSubject},
		{"empty sub", func(t *testing.T) string { return sign(t, jwt.SigningMethodHS256, testSecret, "", with(ok, "sub", "")) }, auth.ReasonNoSubject},
		{"missing exp", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, "", with(ok, "exp", nil))
		}, auth.ReasonMalformed},
		{"exp of the wrong type", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, testSecret, "", with(ok, "exp", "tomorrow"))
		}, auth.ReasonMalformed},
		{"dev-bypass while disabled", func(*testing.T) string { return "dev-bypass-superadmin-alice@example.com" }, auth.ReasonDevBypassDisabled},
	}
	for _, s := range []string{
		"", "x", "abc", "a.b", "a.b.c", "....", "a.b.c.d", "Bearer abc.def.ghi", "eyJ.eyJ.sig",
		b64([]byte(`{"alg":"HS256"}`)) + ".%%%." + "sig",
		b64([]byte(`{"alg":"HS256"}`)) + "." + b64([]byte(`[1,2]`)) + ".sig",
		b64([]byte(`not json`)) + "." + b64([]byte(`{}`)) + ".sig",
		strings.Repeat("A", 20_000) + ".x.y",
	} {
		cases = append(cases, struct {
			name  string
			token func(t *testing.T) string
			want  auth.Reason
		}{"malformed " + shorten(s), func(*testing.T) string { return s }, auth.ReasonMalformed})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := c.token(t)
			got, err := v.Verify(context.Background(), raw)
			if !errors.Is(err, auth.ErrUnauthorized) {
				t.Fatalf("Verify = %+v, %v; want a refusal (%s)", got, err, c.want)
			}
			if r := auth.ReasonOf(err); r != c.want {
				t.Errorf("reason %q (err %q), want %q", r, err, c.want)
			}
			if len(raw) > 20 && strings.Contains(err.Error(), raw) {
				t.Errorf("error echoes the token")
			}
			if !cmp.Equal(got, auth.Claims{}) {
				t.Errorf("claims %+v returned with a refusal", got)
			}
		})
	}
}

func shorten(s string) string {
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}

func TestVerifyAccepts(t *testing.T) {
	keys(t)
	v := fullVerifier(t, auth.Options{})
	ok := validClaims()
	want := auth.Claims{
		Subject:   "6f1c2a9e-0000-4000-8000-000000000001",
		Email:     "alice@example.com",
		JTI:       "jti-ok",
		Role:      "authenticated",
		ExpiresAt: testNow.Add(time.Hour),
		IssuedAt:  testNow.Add(-time.Minute),
		Audience:  []string{"authenticated"},
	}
	cases := []struct {
		name  string
		token string
		want  auth.Claims
	}{
		{"HS256 with the secret", sign(t, jwt.SigningMethodHS256, testSecret, "", ok), want},
		{"HS256 with a kid still uses the secret", sign(t, jwt.SigningMethodHS256, testSecret, "rsa-1", ok), want},
		{"RS256 via JWKS", sign(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", ok), want},
		{"RS256 via a JWKS key without alg", sign(t, jwt.SigningMethodRS256, rsaKey2, "rsa-noalg", ok), want},
		{"ES256 via JWKS", sign(t, jwt.SigningMethodES256, ecKey, "ec-1", ok), want},
		{"audience among several", sign(t, jwt.SigningMethodHS256, testSecret, "", with(ok, "aud", []string{"x", "authenticated"})),
			withAud(want, "x", "authenticated")},
		{"no jti: checked by its digest, not revoked", sign(t, jwt.SigningMethodHS256, testSecret, "", with(ok, "jti", nil)), withJTI(want, "")},
		{"no iat", sign(t, jwt.SigningMethodHS256, testSecret, "", with(ok, "iat", nil)), withIAT(want, time.Time{})},
		// Leeway (30 s) at both edges of the window.
		{"exp 29 s ago", sign(t, jwt.SigningMethodHS256, testSecret, "", with(ok, "exp", testNow.Add(-29*time.Second).Unix())),
			withExp(want, testNow.Add(-29*time.Second))},
		{"nbf 30 s ahead", sign(t, jwt.SigningMethodHS256, testSecret, "", with(ok, "nbf", testNow.Add(30*time.Second).Unix())), want},
		{"iat 30 s ahead", sign(t, jwt.SigningMethodHS256, testSecret, "", with(ok, "iat", testNow.Add(30*time.Second).Unix())),
			withIAT(want, testNow.Add(30*time.Second))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := v.Verify(context.Background(), c.token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if d := cmp.Diff(c.want, got); d != "" {
				t.Errorf("claims (-want +got):\n%s", d)
			}
		})
	}
}

func withAud(c auth.Claims, aud ...string) auth.Claims { c.Audience = aud; return c }
func withJTI(c auth.Claims, jti string) auth.Claims    { c.JTI = jti; return c }
func withIAT(c auth.Claims, iat time.Time) auth.Claims { c.IssuedAt = iat; return c }
func withExp(c auth.Claims, exp time.Time) auth.Claims { c.ExpiresAt = exp; return c }

// TestLeewayOption checks that the leeway is configurable, and that a
// negative leeway means none.
func TestLeewayOption(t *testing.T) {
	cases := []struct {
		leeway time.Duration
		expAgo time.Duration
		want   auth.Reason // "" accepted
	}{
		{0, 29 * time.Second, ""}, // default 30 s
		{0, 30 * time.Second, auth.ReasonExpired},
		{-1, time.Second, auth.ReasonExpired},
		{-1, -time.Second, ""},
		{2 * time.Minute, 119 * time.Second, ""},
		{2 * time.Minute, 121 * time.Second, auth.ReasonExpired},
	}
	for _, c := range cases {
		t.Run(c.leeway.String()+"/"+c.expAgo.String(), func(t *testing.T) {
			v := newVerifier(t, auth.Options{HS256Secret: testSecret, Leeway: c.leeway, Now: func() time.Time { return testNow }})
			tok := sign(t, jwt.SigningMethodHS256, testSecret, "", with(validClaims(), "exp", testNow.Add(-c.expAgo).Unix()))
			_, err := v.Verify(context.Background(), tok)
			if got := auth.ReasonOf(err); got != c.want {
				t.Errorf("reason %q (err %v), want %q", got, err, c.want)
			}
		})
	}
}

// TestAlgorithmConfusion: an HS256 token made with the RSA public key as the
// HMAC secret is refused whatever is configured, including a JWKS holding
// that RSA key and no HS256 secret at all.
func TestAlgorithmConfusion(t *testing.T) {
	keys(t)
	srv := standardJWKS(t)
	now := func() time.Time { return testNow }
	configs := []struct {
		name string
		opts auth.Options
		want auth.Reason
	}{
		{"JWKS only", auth.Options{JWKSURL: srv.URL, HTTPClient: srv.Client(), Now: now}, auth.ReasonBadAlgorithm},
		{"JWKS and secret", auth.Options{JWKSURL: srv.URL, HTTPClient: srv.Client(), HS256Secret: testSecret, Now: now}, auth.ReasonBadSignature},
	}
	secrets := map[string][]byte{
		"pem": rsaPublicPEM(t), "der": rsaPublicDER(t),
		"n": rsaKey.N.Bytes(), "jwk-json": mustJWKJSON(t, srv),
	}
	for _, c := range configs {
		v := newVerifier(t, c.opts)
		for name, secret := range secrets {
			for _, kid := range []string{"rsa-1", "rsa-noalg", ""} {
				t.Run(c.name+"/"+name+"/"+kid, func(t *testing.T) {
					tok := sign(t, jwt.SigningMethodHS256, secret, kid, validClaims())
					_, err := v.Verify(context.Background(), tok)
					if got := auth.ReasonOf(err); got != c.want {
						t.Errorf("reason %q (err %v), want %q", got, err, c.want)
					}
				})
			}
		}
	}
}

// mustJWKJSON is the published JWK of rsa-1, another "secret" an attacker
// could try.
func mustJWKJSON(t *testing.T, srv *jwksServer) []byte {
	t.Helper()
	srv.mu.Lock()
	defer srv.mu.Unlock()
	b, err := json.Marshal(srv.keys[0].Marshal())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRevocationCheckerFailure(t *testing.T) {
	v := fullVerifier(t, auth.Options{})
	tok := sign(t, jwt.SigningMethodHS256, testSecret, "", with(validClaims(), "jti", "jti-boom"))
	_, err := v.Verify(context.Background(), tok)
	if !errors.Is(err, telemetry.ErrUnavailable) || !errors.Is(err, errStoreDown) {
		t.Fatalf("err = %v, want one wrapping telemetry.ErrUnavailable and the checker's error", err)
	}
	if errors.Is(err, auth.ErrUnauthorized) {
		t.Errorf("a checker failure must not read as a refusal: %v", err)
	}
}

func TestNotConfigured(t *testing.T) {
	v := newVerifier(t, auth.Options{Now: func() time.Time { return testNow }})
	tok := sign(t, jwt.SigningMethodHS256, testSecret, "", validClaims())
	_, err := v.Verify(context.Background(), tok)
	if got := auth.ReasonOf(err); got != auth.ReasonNotConfigured || !errors.Is(err, auth.ErrUnauthorized) {
		t.Fatalf("err = %v, want a not_configured refusal", err)
	}
}

func TestNewVerifierRejectsBadJWKSURL(t *testing.T) {
	for _, u := range []string{"ftp://example.com/jwks", "/relative/jwks.json", "https://", "::"} {
		t.Run(u, func(t *testing.T) {
			v, err := auth.NewVerifier(auth.Options{JWKSURL: u})
			if err == nil {
				_ = v.Close()
				t.Fatal("NewVerifier accepted an unusable JWKS URL")
			}
			if !errors.Is(err, telemetry.ErrInvalid) {
				t.Errorf("err = %v, want telemetry.ErrInvalid", err)
			}
		})
	}
}

// TestVerifiedTokensStillExpireAndRevoke: a token verified once is
// remembered, but never past its expiry (plus leeway), and a revocation
// made after it was remembered still refuses it.
func TestVerifiedTokensStillExpireAndRevoke(t *testing.T) {
	clk := newClock(testNow)
	revoked := map[string]bool{}
	v := newVerifier(t, auth.Options{HS256Secret: testSecret, Now: clk.Now, Revoked: fakeRevocations{revoked: revoked}})
	tok := sign(t, jwt.SigningMethodHS256, testSecret, "", with(validClaims(), "exp", testNow.Add(10*time.Second).Unix()))
	for range 2 {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatalf("fresh token refused: %v", err)
		}
	}
	clk.Advance(10*time.Second + auth.DefaultLeeway)
	if _, err := v.Verify(context.Background(), tok); auth.ReasonOf(err) != auth.ReasonExpired {
		t.Errorf("remembered token past its expiry and leeway: %v, want %s", err, auth.ReasonExpired)
	}

	other := sign(t, jwt.SigningMethodHS256, testSecret, "", with(validClaims(), "jti", "jti-later"))
	clk.ns.Store(testNow.UnixNano())
	if _, err := v.Verify(context.Background(), other); err != nil {
		t.Fatalf("fresh token refused: %v", err)
	}
	revoked["jti-later"] = true
	if _, err := v.Verify(context.Background(), other); auth.ReasonOf(err) != auth.ReasonRevoked {
		t.Errorf("remembered token revoked afterwards: %v, want %s", err, auth.ReasonRevoked)
	}
}
