package app

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/evaratech/evara/api/auth"
	"github.com/evaratech/evara/internal/config"
)

const testJWTSecret = "token-test-secret-0123456789abcdef" // 34 bytes

// TestToken runs `evara token` as the command line gives it and checks
// that the server's verifier, configured the same way, accepts the token.
func TestToken(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		verify  auth.Options // HS256Secret is filled in
		wantErr string       // "" for success
		want    auth.Claims  // Subject, Email, Role compared
		ttl     time.Duration
	}{
		{
			name: "sub, email and role", args: []string{"token", "--sub", "user-1", "--email", "ada@example.com", "--role", "superadmin"},
			env:  map[string]string{"EVARA_JWT_SECRET": testJWTSecret},
			want: auth.Claims{Subject: "user-1", Email: "ada@example.com", Role: "superadmin"}, ttl: time.Hour,
		},
		{
			name: "legacy secret name, ttl", args: []string{"token", "--sub", "user-2", "--ttl", "5m"},
			env:  map[string]string{"SUPABASE_JWT_SECRET": testJWTSecret},
			want: auth.Claims{Subject: "user-2"}, ttl: 5 * time.Minute,
		},
		{
			name: "audience and issuer of the server", args: []string{"token", "--sub", "user-3", "--jwt-audience", "evara", "--jwt-issuer", "https://idp.example/auth/v1"},
			env:    map[string]string{"EVARA_JWT_SECRET": testJWTSecret},
			verify: auth.Options{Audience: "evara", Issuer: "https://idp.example/auth/v1"},
			want:   auth.Claims{Subject: "user-3"}, ttl: time.Hour,
		},
		{
			name: "no secret", args: []string{"token", "--sub", "user-1"},
			wantErr: "EVARA_JWT_SECRET",
		},
		{
			name: "no sub", args: []string{"token", "--email", "ada@example.com"},
			env:     map[string]string{"EVARA_JWT_SECRET": testJWTSecret},
			wantErr: "--sub",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Load(tt.args, func(k string) string { return tt.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			err = Run(context.Background(), cfg, Build{}, slog.New(slog.DiscardHandler), &out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || out.Len() > 0 {
					t.Fatalf("Run = %v, output %q; want an error naming %s and no output", err, out.String(), tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tok, ok := strings.CutSuffix(out.String(), "\n")
			if !ok || tok == "" || strings.ContainsAny(tok, " \n") {
				t.Fatalf("output %q is not one token and a newline", out.String())
			}
			opts := tt.verify
			opts.HS256Secret = []byte(testJWTSecret)
			v, err := auth.NewVerifier(opts)
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			c, err := v.Verify(context.Background(), tok)
			if err != nil {
				t.Fatalf("the server refuses the minted token: %v", err)
			}
			if c.Subject != tt.want.Subject || c.Email != tt.want.Email || c.Role != tt.want.Role || c.JTI == "" {
				t.Errorf("claims = %+v, want sub %q, email %q, role %q and a jti", c, tt.want.Subject, tt.want.Email, tt.want.Role)
			}
			if life := c.ExpiresAt.Sub(c.IssuedAt); life != tt.ttl {
				t.Errorf("token lives %s, want %s", life, tt.ttl)
			}
			if tt.verify.Audience == "" {
				return
			}
			// A server expecting another audience refuses it.
			other, err := auth.NewVerifier(auth.Options{HS256Secret: []byte(testJWTSecret)})
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			if _, err := other.Verify(context.Background(), tok); err == nil {
				t.Error("a verifier with the default audience accepted a token minted for another")
			}
		})
	}
}

// TestTokenWrongSecret: a token minted with another secret is refused, so
// the command really signs with the configured one.
func TestTokenWrongSecret(t *testing.T) {
	cfg, err := config.Load([]string{"token", "--sub", "user-1"}, func(k string) string {
		if k == "EVARA_JWT_SECRET" {
			return testJWTSecret
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := Run(context.Background(), cfg, Build{}, slog.New(slog.DiscardHandler), &out); err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Options{HS256Secret: []byte(strings.ToUpper(testJWTSecret))})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.Verify(context.Background(), strings.TrimSpace(out.String())); err == nil {
		t.Fatal("a verifier with another secret accepted the token")
	}
}
