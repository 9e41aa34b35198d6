package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/evaratech/evara/api/auth"
	"github.com/evaratech/evara/internal/telemetry"
)

func TestParseDevBypass(t *testing.T) {
	cases := []struct {
		raw  string
		want auth.Claims
		ok   bool
	}{
		{"dev-bypass-superadmin-alice@example.com", auth.Claims{Subject: "alice@example.com", Email: "alice@example.com", Role: "superadmin", DevBypass: true}, true},
		{"dev-bypass-community_admin-bob+ops@example.co.in", auth.Claims{Subject: "bob+ops@example.co.in", Email: "bob+ops@example.co.in", Role: "community_admin", DevBypass: true}, true},
		{"dev-bypass-customer-6f1c2a9e-0000-4000-8000-000000000001", auth.Claims{Subject: "6f1c2a9e-0000-4000-8000-000000000001", Role: "customer", DevBypass: true}, true},
		{"dev-bypass-distributor-d1", auth.Claims{Subject: "d1", Role: "distributor", DevBypass: true}, true},
		{"dev-bypass-admin-alice@example.com", auth.Claims{}, false}, // not a role
		{"dev-bypass-superadmin-", auth.Claims{}, false},                  // no identity
		{"dev-bypass-superadmin", auth.Claims{}, false},                   // no identity
		{"dev-bypass-superadmin-a b@example.com", auth.Claims{}, false},   // space
		{"dev-bypass-superadmin-<script>", auth.Claims{}, false},          // odd characters
		{"dev-bypass-Superadmin-alice@example.com", auth.Claims{}, false}, // roles are lower case
		{"dev-bypass-superadmin-" + strings.Repeat("a", 255), auth.Claims{}, false},
		{"bypass-superadmin-alice@example.com", auth.Claims{}, false},
		{"", auth.Claims{}, false},
	}
	for _, c := range cases {
		t.Run(shorten(c.raw), func(t *testing.T) {
			got, ok := auth.ParseDevBypass(c.raw)
			if ok != c.ok {
				t.Fatalf("ok = %v, want %v", ok, c.ok)
			}
			if d := cmp.Diff(c.want, got); d != "" {
				t.Errorf("claims (-want +got):\n%s", d)
			}
		})
	}
}

func TestVerifyDevBypass(t *testing.T) {
	const tok = "dev-bypass-superadmin-alice@example.com"
	now := func() time.Time { return testNow }
	cases := []struct {
		name string
		opts auth.Options
		raw  string
		want auth.Reason // "" accepted
	}{
		{"disabled", auth.Options{HS256Secret: testSecret, Now: now}, tok, auth.ReasonDevBypassDisabled},
		{"disabled, nothing configured", auth.Options{Now: now}, tok, auth.ReasonDevBypassDisabled},
		{"enabled", auth.Options{HS256Secret: testSecret, DevBypass: true, Now: now}, tok, ""},
		{"enabled without a secret", auth.Options{DevBypass: true, Now: now}, tok, ""},
		{"enabled, bad format", auth.Options{DevBypass: true, Now: now}, "dev-bypass-root-alice@example.com", auth.ReasonMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := newVerifier(t, c.opts)
			got, err := v.Verify(context.Background(), c.raw)
			if r := auth.ReasonOf(err); r != c.want {
				t.Fatalf("reason %q (err %v), want %q", r, err, c.want)
			}
			if c.want == "" && (!got.DevBypass || got.Email != "alice@example.com") {
				t.Errorf("claims %+v, want a dev-bypass identity for alice", got)
			}
		})
	}
}

func TestCheckDevBypassAllowed(t *testing.T) {
	cases := []struct {
		env     string
		enabled bool
		refused bool
	}{
		{"production", true, true},
		{"Production ", true, true},
		{"prod", true, true},
		{"production", false, false},
		{"development", true, false},
		{"staging", true, false},
		{"", true, false},
	}
	for _, c := range cases {
		t.Run(c.env, func(t *testing.T) {
			err := auth.CheckDevBypassAllowed(c.env, c.enabled)
			if (err != nil) != c.refused {
				t.Fatalf("CheckDevBypassAllowed(%q, %v) = %v, want refused=%v", c.env, c.enabled, err, c.refused)
			}
			if err != nil && !errors.Is(err, telemetry.ErrInvalid) {
				t.Errorf("err %v does not wrap telemetry.ErrInvalid", err)
			}
		})
	}
}
