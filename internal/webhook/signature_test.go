package webhook_test

import (
	"errors"
	"testing"
	"time"

	"github.com/evaratech/evara/internal/webhook"
)

func TestVerify(t *testing.T) {
	secret, body := []byte("whsec-1"), []byte(`{"id":"d1","event":"alert.triggered"}`)
	at := time.Unix(1_800_000_000, 0)
	good := webhook.Sign(secret, at, body)
	if good != webhook.Sign(secret, at, body) {
		t.Fatal("signing the same body at the same time gives different signatures")
	}
	other := webhook.Sign([]byte("whsec-2"), at, body)
	cases := map[string]struct {
		secret []byte
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		"valid":                               {secret, good, body, at.Add(time.Minute), nil},
		"valid, clock of the receiver behind": {secret, good, body, at.Add(-time.Minute), nil},
		"tampered body":                       {secret, good, []byte(`{"id":"d1","event":"alert.resolved"}`), at, webhook.ErrSignatureMismatch},
		"wrong secret":                        {[]byte("whsec-2"), good, body, at, webhook.ErrSignatureMismatch},
		"old timestamp (replay)":              {secret, good, body, at.Add(6 * time.Minute), webhook.ErrSignatureExpired},
		"timestamp from the future":           {secret, good, body, at.Add(-6 * time.Minute), webhook.ErrSignatureExpired},
		"timestamp changed":                   {secret, "t=1800000001," + good[len("t=1800000000,"):], body, at, webhook.ErrSignatureMismatch},
		"one of two v1 values valid":          {secret, other + "," + good[len("t=1800000000,"):], body, at, nil},
		"no v1":                               {secret, "t=1800000000", body, at, webhook.ErrMalformedSignature},
		"no t":                                {secret, good[len("t=1800000000,"):], body, at, webhook.ErrMalformedSignature},
		"v1 not hex":                          {secret, "t=1800000000,v1=zz", body, at, webhook.ErrMalformedSignature},
		"empty":                               {secret, "", body, at, webhook.ErrMalformedSignature},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if err := webhook.Verify(c.secret, c.header, c.body, c.now, 5*time.Minute); !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Errorf("Verify(%q) = %v, want %v", c.header, err, c.want)
			}
		})
	}
}

// TestSignFormat pins the header to a value a receiver can compute by
// hand: HMAC-SHA256("k", "1700000000.{}").
func TestSignFormat(t *testing.T) {
	got := webhook.Sign([]byte("k"), time.Unix(1_700_000_000, 0), []byte("{}"))
	want := "t=1700000000,v1=" + hmacHex("k", "1700000000.{}")
	if got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}
