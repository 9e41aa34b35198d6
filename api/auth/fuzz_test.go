package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/evaratech/evara/api/auth"
)

// FuzzVerify feeds arbitrary strings to Verify: it must not panic, must
// refuse with ErrUnauthorized (there is no revocation checker to fail), and
// must never echo the input in its error.
func FuzzVerify(f *testing.F) {
	keys(f)
	srv := standardJWKS(f)
	v := newVerifier(f, auth.Options{
		HS256Secret: testSecret, JWKSURL: srv.URL, HTTPClient: srv.Client(), Issuer: testIssuer,
		DevBypass: true, Now: func() time.Time { return testNow },
	})
	ok := validClaims()
	for _, s := range []string{
		sign(f, jwt.SigningMethodHS256, testSecret, "", ok),
		sign(f, jwt.SigningMethodRS256, rsaKey, "rsa-1", ok),
		sign(f, jwt.SigningMethodES256, ecKey, "ec-1", ok),
		sign(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", ok),
		sign(f, jwt.SigningMethodRS256, rsaKey, "unknown", ok),
		"dev-bypass-superadmin-alice@example.com",
		"dev-bypass-x-y", "", "a.b.c", "eyJhbGciOiJIUzI1NiJ9..", "....", "\x00\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		_, err := v.Verify(context.Background(), raw)
		if err == nil {
			return
		}
		if !errors.Is(err, auth.ErrUnauthorized) {
			t.Errorf("error %v does not wrap ErrUnauthorized", err)
		}
		if auth.ReasonOf(err) == "" {
			t.Errorf("refusal %v has no reason", err)
		}
		if len(raw) > 20 && strings.Contains(err.Error(), raw) {
			t.Errorf("error echoes the input")
		}
	})
}
