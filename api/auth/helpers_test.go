package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/evaratech/evara/api/auth"
)

var (
	testNow    = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	testSecret = []byte("a-test-secret-of-at-least-32-bytes!!")
	testIssuer = "https://issuer.test/auth/v1"
)

// Keys are generated once: RSA generation is slow.
var (
	keysOnce        sync.Once
	rsaKey, rsaKey2 *rsa.PrivateKey
	rsaOther        *rsa.PrivateKey // never published
	ecKey, ecOther  *ecdsa.PrivateKey
)

func keys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		mustRSA := func() *rsa.PrivateKey {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			return k
		}
		mustEC := func() *ecdsa.PrivateKey {
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				panic(err)
			}
			return k
		}
		rsaKey, rsaKey2, rsaOther = mustRSA(), mustRSA(), mustRSA()
		ecKey, ecOther = mustEC(), mustEC()
	})
}

// clock is a settable clock shared by the verifier and the test.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.ns.Store(t.UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// jwksServer serves a JWKS that a test can grow, and counts requests.
type jwksServer struct {
	*httptest.Server
	mu       sync.Mutex
	keys     []jwkset.JWK
	failing  bool
	requests atomic.Int64
}

func newJWKSServer(t testing.TB) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing {
		http.Error(w, "down", http.StatusInternalServerError)
		return
	}
	store := jwkset.NewMemoryStorage()
	for _, k := range s.keys {
		if err := store.KeyWrite(r.Context(), k); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	raw, err := store.JSONPublic(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(raw)
}

// add publishes pub under kid; alg may be "" (a key that names no alg).
func (s *jwksServer) add(t testing.TB, pub any, kid string, alg jwkset.ALG) {
	t.Helper()
	k, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: alg, USE: jwkset.UseSig},
	})
	if err != nil {
		t.Fatalf("jwk for %s: %v", kid, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append(s.keys, k)
}

func (s *jwksServer) setFailing(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing = v
}

// standardJWKS publishes rsaKey as rsa-1 (RS256), rsaKey2 as rsa-noalg (no
// alg) and ecKey as ec-1 (ES256).
func standardJWKS(t testing.TB) *jwksServer {
	t.Helper()
	keys(t)
	s := newJWKSServer(t)
	s.add(t, &rsaKey.PublicKey, "rsa-1", jwkset.AlgRS256)
	s.add(t, &rsaKey2.PublicKey, "rsa-noalg", "")
	s.add(t, &ecKey.PublicKey, "ec-1", jwkset.AlgES256)
	return s
}

func newVerifier(t testing.TB, o auth.Options) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(o)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return v
}

// claims are valid for testNow unless a case changes them.
func validClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"sub":   "6f1c2a9e-0000-4000-8000-000000000001",
		"email": "alice@example.com",
		"role":  "authenticated",
		"aud":   "authenticated",
		"iss":   testIssuer,
		"iat":   testNow.Add(-time.Minute).Unix(),
		"nbf":   testNow.Add(-time.Minute).Unix(),
		"exp":   testNow.Add(time.Hour).Unix(),
		"jti":   "jti-ok",
	}
}

func with(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func sign(t testing.TB, m jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", m.Alg(), err)
	}
	return s
}

// fakeRevocations is a hand-written RevocationChecker.
type fakeRevocations struct {
	revoked map[string]bool
	failOn  string
}

var errStoreDown = errors.New("store down")

func (f fakeRevocations) IsRevoked(_ context.Context, jti string) (bool, error) {
	if jti == f.failOn {
		return false, errStoreDown
	}
	return f.revoked[jti], nil
}
