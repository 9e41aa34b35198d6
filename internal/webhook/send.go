package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/evaratech/evara/internal/telemetry"
)

const (
	// userAgent names the sender to receivers.
	userAgent = "evara-webhook"
	// bodyLimit is how much of a response is read: enough for a reason,
	// never a receiver's whole page.
	bodyLimit = 4 << 10
	// reasonLimit is how much of a receiver's text is kept in a failure's
	// reason (stored as the delivery's last error, never logged in full).
	reasonLimit = 200
	// maxRedirects bounds the redirects followed within one host.
	maxRedirects = 3
)

// attempt POSTs a delivery once. It returns the HTTP status (0 when none
// came back) and, unless a 2xx came back, why the attempt failed: a short
// text that names neither the secret nor the URL's path or query.
func (d *Dispatcher) attempt(ctx context.Context, dd telemetry.DueDelivery) (status int, failure string) {
	secret, err := d.secrets.Open(dd.Secret.KeyID, dd.Secret.Ciphertext, []byte(dd.SubscriptionID))
	if err != nil {
		d.log.Warn("a webhook secret cannot be opened; is its key still configured?", "subscription_id", dd.SubscriptionID, "key_id", dd.Secret.KeyID)
		return 0, "the subscription's secret cannot be opened"
	}
	defer clear(secret)
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dd.URL, bytes.NewReader(dd.Payload))
	if err != nil {
		return 0, "the subscription's URL is not valid"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(SignatureHeader, Sign(secret, d.opts.Now(), dd.Payload))
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, transportFailure(ctx, err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(resp.Body, bodyLimit))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, ""
	}
	failure = "HTTP " + resp.Status
	if r := reason(text); r != "" {
		failure += ": " + r
	}
	return resp.StatusCode, failure
}

// transportFailure describes a request that got no response. *url.Error
// quotes the whole URL, which may hold a receiver's token: only its cause
// is kept.
func transportFailure(ctx context.Context, err error) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return "timed out"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return truncate(err.Error())
}

// reason is a receiver's response text made safe to store: printable, on
// one line, truncated.
func reason(text []byte) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, string(bytes.ToValidUTF8(text, nil)))
	return truncate(strings.Join(strings.Fields(s), " "))
}

func truncate(s string) string {
	if len(s) <= reasonLimit {
		return s
	}
	cut := reasonLimit
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// sameHostRedirect follows a redirect only to the same scheme and host and
// only when it keeps the POST (307, 308): a receiver cannot send a signed
// event to a third party, nor turn it into a GET that "succeeds".
func sameHostRedirect(req *http.Request, via []*http.Request) error {
	first := via[0].URL
	switch {
	case len(via) > maxRedirects:
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	case req.URL.Host != first.Host || req.URL.Scheme != first.Scheme || req.Method != http.MethodPost:
		return http.ErrUseLastResponse
	}
	return nil
}
