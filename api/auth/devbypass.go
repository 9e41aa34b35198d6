package auth

import (
	"fmt"
	"strings"

	"github.com/evaratech/evara/internal/telemetry"
)

// DevBypassPrefix starts every dev-bypass token.
const DevBypassPrefix = "dev-bypass-"

// maxDevBypassIdentity is the longest identity accepted (an email's limit).
const maxDevBypassIdentity = 254

// ParseDevBypass recognises the old dashboard's unsigned development tokens:
//
//	dev-bypass-<role>-<identity>
//
// <role> is one of superadmin, distributor, community_admin, customer (role
// names contain no '-', so the first '-' after the role ends it). <identity>
// is 1–254 characters from [A-Za-z0-9.@_+%-]: an email when it contains '@'
// (e.g. dev-bypass-superadmin-alice@example.com), otherwise a user id (e.g.
// dev-bypass-customer-3f0c…). The claims carry Subject = identity, Email =
// identity when it is an email, Role = <role> and DevBypass = true; there is
// no expiry and no jti. As with any token, the role is informational: the
// server resolves the user in users_profiles (by Email when set, else by
// Subject). ParseDevBypass only parses; whether such tokens are accepted is
// Options.DevBypass, guarded by CheckDevBypassAllowed.
func ParseDevBypass(raw string) (Claims, bool) {
	rest, ok := strings.CutPrefix(raw, DevBypassPrefix)
	if !ok {
		return Claims{}, false
	}
	role, identity, ok := strings.Cut(rest, "-")
	if !ok || !telemetry.Role(role).Valid() || !validIdentity(identity) {
		return Claims{}, false
	}
	c := Claims{Subject: identity, Role: role, DevBypass: true}
	if strings.Contains(identity, "@") {
		c.Email = identity
	}
	return c, true
}

func validIdentity(s string) bool {
	if s == "" || len(s) > maxDevBypassIdentity {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte(".@_+%-", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// CheckDevBypassAllowed refuses to enable dev-bypass tokens in production
// (SPEC §9: the server refuses to start with EVARA_DEV_BYPASS=true when
// EVARA_ENV=production). env is compared case-insensitively; "prod" counts
// as production too. The error wraps telemetry.ErrInvalid.
func CheckDevBypassAllowed(env string, enabled bool) error {
	if !enabled {
		return nil
	}
	switch strings.ToLower(strings.TrimSpace(env)) {
	case "production", "prod":
		return fmt.Errorf("auth: EVARA_DEV_BYPASS=true is not allowed when EVARA_ENV=production: %w", telemetry.ErrInvalid)
	}
	return nil
}
