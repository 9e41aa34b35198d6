package config

import (
	"log/slog"
	"net/url"
	"strings"
)

// Secret holds a credential. Its String, JSON and slog forms are redacted so
// that printing or logging a Config never leaks it; Reveal returns the value
// for the one component that needs it.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// IsSet reports whether a value was given.
func (s Secret) IsSet() bool { return s != "" }

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// MarshalText keeps secrets out of JSON and text encodings.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue keeps secrets out of structured logs.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// RedactedURL shows where a connection URL points without its credentials:
// the password (and any password= query parameter) is masked, user, host and
// database stay visible for diagnosis. Anything it cannot parse as a URL is
// hidden entirely.
func (s Secret) RedactedURL() string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(string(s))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return redacted
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	q := u.Query()
	for k := range q {
		if strings.Contains(strings.ToLower(k), "password") {
			q.Set(k, "xxxxx")
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}
