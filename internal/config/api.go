package config

import (
	"errors"
	"fmt"
	"net/mail"
	"net/netip"
	"net/url"
	"strings"
)

// ParsePrefix reads one entry of EVARA_IP_ALLOW, EVARA_IP_DENY or
// EVARA_TRUSTED_PROXIES: a CIDR such as 10.0.0.0/8 or 2001:db8::/32, or a
// bare address, which stands for itself alone (/32 for IPv4, /128 for
// IPv6). The prefix comes back masked: 10.1.2.3/8 is 10.0.0.0/8.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8 or 2001:db8::/32", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR or an IP address", s)
	}
	a = a.Unmap() // ::ffff:10.0.0.1 is the IPv4 address the gate sees
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ParsePrefixes reads a whole list with ParsePrefix; the first bad entry
// is the error.
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		p, err := ParsePrefix(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// validateAPI checks the REST API's settings (serve and config check).
func (c Config) validateAPI() []error {
	var problems []error
	a := c.API
	if a.JWKSURL != "" && !validURL(a.JWKSURL, "http", "https") {
		problems = append(problems, fmt.Errorf("EVARA_JWKS_URL: %q is not an absolute http(s) URL", a.JWKSURL))
	}
	if c.Production() && !c.JWTSecret.IsSet() && a.JWKSURL == "" {
		problems = append(problems, errors.New("EVARA_JWT_SECRET: production needs a way to verify tokens: set EVARA_JWT_SECRET (or SUPABASE_JWT_SECRET), EVARA_JWKS_URL, or both"))
	}
	if a.DevBypass && c.Production() {
		problems = append(problems, errors.New("EVARA_DEV_BYPASS=true is refused when EVARA_ENV=production"))
	}
	if a.UserRate < 1 {
		problems = append(problems, fmt.Errorf("EVARA_RATE_LIMIT_USER: %d is less than 1 request per minute", a.UserRate))
	}
	if a.AnonRate < 1 {
		problems = append(problems, fmt.Errorf("EVARA_RATE_LIMIT_ANON: %d is less than 1 request per minute", a.AnonRate))
	}
	if a.BodyLimit < MinBodyLimit || a.BodyLimit > MaxBodyLimit {
		problems = append(problems, fmt.Errorf("EVARA_BODY_LIMIT: %d bytes is outside %d (1 KiB) to %d (64 MiB)", a.BodyLimit, MinBodyLimit, MaxBodyLimit))
	}
	for _, list := range []struct {
		name    string
		entries []string
	}{{"EVARA_IP_ALLOW", a.IPAllow}, {"EVARA_IP_DENY", a.IPDeny}, {"EVARA_TRUSTED_PROXIES", a.TrustedProxies}} {
		for _, e := range list.entries {
			if _, err := ParsePrefix(e); err != nil {
				problems = append(problems, fmt.Errorf("%s: %w", list.name, err))
			}
		}
	}
	for _, o := range a.CORSOrigins {
		if err := checkOrigin(o); err != nil {
			problems = append(problems, fmt.Errorf("EVARA_CORS_ORIGINS: %w", err))
		}
	}
	for _, e := range a.BootstrapSuperadmins {
		if addr, err := mail.ParseAddress(e); err != nil || addr.Address != e {
			problems = append(problems, fmt.Errorf("EVARA_BOOTSTRAP_SUPERADMINS: %q is not an email address", e))
		}
	}
	return problems
}

// checkOrigin accepts what a browser sends in Origin: scheme://host[:port],
// nothing more. A trailing slash or path would never match, and "*" is not
// accepted: the dashboard's origins are listed.
func checkOrigin(o string) error {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#") {
		return fmt.Errorf("%q is not an origin such as https://app.example.com (scheme, host and optional port; no path, no trailing slash, no wildcard)", o)
	}
	return nil
}
