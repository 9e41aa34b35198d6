package thingspeak

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// Kinds of failure. Every *Error returned by the client matches exactly one
// of them (or the caller's context error) under errors.Is.
var (
	// ErrUnauthorized: the read key was refused (HTTP 401/403, or ThingSpeak's body "-1").
	ErrUnauthorized = errors.New("unauthorized")
	// ErrNotFound: the channel does not exist (HTTP 404).
	ErrNotFound = errors.New("channel not found")
	// ErrRateLimited: the upstream or a proxy refused the request (HTTP 429).
	// The *Error's RetryAfter holds the advertised wait when one was sent.
	ErrRateLimited = errors.New("rate limited")
	// ErrUpstream: the upstream failed (5xx, an unexpected status, or the
	// connection could not be made or broke).
	ErrUpstream = errors.New("upstream failure")
	// ErrTimeout: the request did not complete within the client's timeout.
	ErrTimeout = errors.New("timeout")
	// ErrMalformed: the response body could not be understood (not JSON,
	// cut off, wrong shape, or larger than the response cap).
	ErrMalformed = errors.New("malformed response")
)

// Error describes a failed read of one channel.
type Error struct {
	Channel    telemetry.ChannelID
	Op         string        // "feed" or "last"
	Kind       error         // one of the Err* kinds above, or the caller's context error
	Status     int           // HTTP status when a response arrived, else 0
	RetryAfter time.Duration // from a 429's Retry-After header, else 0
	Err        error         // underlying cause, if any; never contains the read key
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("thingspeak: channel ")
	b.WriteString(e.Channel.String())
	b.WriteString(" ")
	b.WriteString(e.Op)
	b.WriteString(": ")
	b.WriteString(e.Kind.Error())
	if e.Status != 0 {
		b.WriteString(" (HTTP ")
		b.WriteString(strconv.Itoa(e.Status))
		if e.RetryAfter > 0 {
			b.WriteString(", retry after ")
			b.WriteString(e.RetryAfter.String())
		}
		b.WriteString(")")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap exposes both the kind and the cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// RetryAfter returns how long the upstream asked the caller to wait, if the
// error carries such a hint.
func RetryAfter(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return e.RetryAfter, true
	}
	return 0, false
}

// kindForStatus maps a non-200 HTTP status to a failure kind.
func kindForStatus(status int) error {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return ErrUnauthorized
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusTooManyRequests:
		return ErrRateLimited
	default:
		return ErrUpstream
	}
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now).Round(time.Second)
	}
	return 0
}

// upstreamMessage extracts the message of ThingSpeak's JSON error shape
// {"status":"429","error":{"error_code":"…","message":"…"}} for the error's
// cause, so operators see what the upstream said. Bodies are capped by the
// caller; anything that is not that shape yields nil.
func upstreamMessage(body []byte) error {
	code, msg := parseUpstreamError(body)
	if code == "" {
		return nil
	}
	if len(msg) > 200 {
		msg = strings.ToValidUTF8(msg[:200], "") + "…"
	}
	return fmt.Errorf("%s: %s", code, msg)
}

func parseUpstreamError(body []byte) (code, message string) {
	var e struct {
		Error struct {
			Code    string `json:"error_code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if unmarshalJSON(body, &e) != nil {
		return "", ""
	}
	return e.Error.Code, e.Error.Message
}
