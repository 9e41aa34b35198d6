package app

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/evaratech/evara/api/auth"
	"github.com/evaratech/evara/internal/config"
	"github.com/evaratech/evara/internal/telemetry"
)

const tokenTestIssuer = "https://issuer.test/auth/v1"

// TestTokenAttacksAreUnauthorized sends forged, stale and revoked tokens to
// the running API: each is a 401 with code "unauthorized". Two good tokens
// (HS256 with the secret, RS256 from the JWKS) are accepted first, so that
// each refusal is the token's flaw and not the test's setup.
func TestTokenAttacksAreUnauthorized(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks := serveJWKS(t, &key.PublicKey, "rsa-1")
	e := newAPIEnv(t, func(c *config.Config) { c.API.JWKSURL, c.API.Issuer = jwks.URL, tokenTestIssuer })
	p := e.fx.Profile["customer"]
	now := time.Now()
	claims := func(kv ...any) jwt.MapClaims {
		c := jwt.MapClaims{"sub": p.ID, "email": *p.Email, "aud": auth.DefaultAudience, "iss": tokenTestIssuer,
			"iat": now.Add(-time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(), "jti": rand.Text()}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(c, kv[i].(string))
				continue
			}
			c[kv[i].(string)] = kv[i+1]
		}
		return c
	}
	hs := func(c jwt.MapClaims) string {
		return signToken(t, jwt.SigningMethodHS256, []byte(apiTestSecret), "", c)
	}
	rs := func(kid string, k *rsa.PrivateKey, c jwt.MapClaims) string {
		return signToken(t, jwt.SigningMethodRS256, k, kid, c)
	}

	e.expect(200, "GET", "/api/v1/auth/me", hs(claims()), nil)
	e.expect(200, "GET", "/api/v1/auth/me", rs("rsa-1", key, claims()), nil)

	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims()).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	publicPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	revoked := hs(claims())
	e.expect(http.StatusNoContent, "POST", "/api/v1/auth/logout", revoked, nil)

	for name, tok := range map[string]string{
		"alg none":                               none,
		"HS256 with the RSA public key (PEM)":    signToken(t, jwt.SigningMethodHS256, publicPEM, "rsa-1", claims()),
		"HS256 with the RSA public key (DER)":    signToken(t, jwt.SigningMethodHS256, der, "rsa-1", claims()),
		"expired":                                hs(claims("iat", now.Add(-3*time.Hour).Unix(), "nbf", now.Add(-3*time.Hour).Unix(), "exp", now.Add(-2*time.Hour).Unix())),
		"not yet valid":                          hs(claims("nbf", now.Add(time.Hour).Unix())),
		"wrong audience":                         hs(claims("aud", "service_role")),
		"wrong issuer":                           hs(claims("iss", "https://evil.example/auth/v1")),
		"no issuer":                              hs(claims("iss", nil)),
		"unknown kid":                            rs("rsa-unknown", key, claims()),
		"RS256 by another key under a known kid": rs("rsa-1", other, claims()),
		"HS256 with another secret":              signToken(t, jwt.SigningMethodHS256, []byte("another-secret-0123456789abcdef0123"), "", claims()),
		"revoked after logout":                   revoked,
		"dev bypass while it is off":             "dev-bypass-superadmin-user-superadmin",
	} {
		t.Run(name, func(t *testing.T) { expectUnauthorized(t, e, e.URL, tok) })
	}
}

// TestDevBypassOnlyOutsideProduction checks both sides of EVARA_DEV_BYPASS:
// the server refuses to start with it in production, and elsewhere it
// accepts the old dashboard's tokens (the other test refuses them when the
// flag is off).
func TestDevBypassOnlyOutsideProduction(t *testing.T) {
	cfg := config.Default()
	cfg.Env, cfg.API.DevBypass = "production", true
	_, err := buildAPI(context.Background(), apiDeps{cfg: cfg, log: slog.New(slog.DiscardHandler)})
	if !errors.Is(err, telemetry.ErrInvalid) {
		t.Errorf("buildAPI with dev bypass in production: %v, want a refusal", err)
	}
	e := newAPIEnv(t, func(c *config.Config) { c.Env, c.API.DevBypass = "development", true })
	var me map[string]any
	mustJSON(t, e.expect(200, "GET", "/api/v1/auth/me", "dev-bypass-customer-user-customer", nil), &me)
	if me["id"] != "user-customer" || me["role"] != "customer" {
		t.Errorf("dev-bypass caller: %v, want the profile of user-customer", me)
	}
	e.expect(http.StatusNoContent, "POST", "/api/v1/auth/logout", "dev-bypass-customer-user-customer", nil)
}

// TestLogoutSeenByAnotherReplica logs a token out on one replica; a second
// replica sharing the Redis refuses it on the next request.
func TestLogoutSeenByAnotherReplica(t *testing.T) {
	redisURL := os.Getenv("EVARA_TEST_REDIS_URL")
	if redisURL == "" {
		if os.Getenv("EVARA_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("EVARA_TEST_REDIS_URL is not set but EVARA_TEST_REQUIRE_SERVICES=1")
		}
		t.Skip("EVARA_TEST_REDIS_URL is not set")
	}
	e := newAPIEnv(t, func(c *config.Config) {
		c.RedisURL, c.Cluster.Name = config.Secret(redisURL), "logout-"+rand.Text() // keys of this test's own
	})
	second := startReplica(t, e)
	p := e.fx.Profile["distributor"]
	tok := e.token(p.ID, *p.Email)
	e.expect(200, "GET", "/api/v1/auth/me", tok, nil)
	expectStatus(t, e, second, tok, http.StatusOK)
	e.expect(http.StatusNoContent, "POST", "/api/v1/auth/logout", tok, nil)
	expectUnauthorized(t, e, second, tok)
	expectUnauthorized(t, e, e.URL, tok)
}

// startReplica starts a second API server built from the environment's
// configuration and store (no device runtime) and returns its base URL.
func startReplica(t *testing.T, e *apiEnv) string {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	srv, err := buildAPI(context.Background(), apiDeps{cfg: e.cfg, store: e.store, keys: e.keys, upstream: "http://127.0.0.1:1",
		log: log, health: &healthReporter{database: "postgres"}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("replica shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("replica serve: %v", err)
		}
		if err := srv.close(); err != nil {
			t.Errorf("replica close: %v", err)
		}
	})
	url := "http://" + ln.Addr().String()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if resp, err := e.client.Get(url + "/healthz"); err == nil {
			_ = resp.Body.Close()
			return url
		}
		if time.Now().After(deadline) {
			t.Fatal("the second replica does not serve")
		}
	}
}

// expectStatus checks the status of GET /auth/me with tok at baseURL.
func expectStatus(t *testing.T, e *apiEnv, baseURL, tok string, want int) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), "GET", baseURL+"/api/v1/auth/me", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != want {
		t.Errorf("GET %s/api/v1/auth/me: %d, want %d", baseURL, resp.StatusCode, want)
	}
}

// serveJWKS serves pub under kid as a JWKS (RS256), as an identity
// provider does.
func serveJWKS(t *testing.T, pub *rsa.PublicKey, kid string) *httptest.Server {
	t.Helper()
	jwk, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: jwkset.AlgRS256, USE: jwkset.UseSig},
	})
	if err != nil {
		t.Fatal(err)
	}
	store := jwkset.NewMemoryStorage()
	if err := store.KeyWrite(context.Background(), jwk); err != nil {
		t.Fatal(err)
	}
	raw, err := store.JSONPublic(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(raw)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// signToken signs claims with method and key, naming kid when set.
func signToken(t *testing.T, method jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}
