package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries Sign's result on every delivery.
const SignatureHeader = "X-Evara-Signature"

var (
	// ErrMalformedSignature: the header is not t=<unix>,v1=<hex>.
	ErrMalformedSignature = errors.New("webhook: malformed signature header")
	// ErrSignatureMismatch: no v1 value is the HMAC of the body under the secret.
	ErrSignatureMismatch = errors.New("webhook: signature does not match")
	// ErrSignatureExpired: the signed time is further from now than the tolerance (a replay, or a skewed clock).
	ErrSignatureExpired = errors.New("webhook: signature timestamp outside the tolerance")
)

// Sign returns the X-Evara-Signature value of body sent at t:
// "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<unix seconds>.<body>">".
// Signing the time with the body lets a receiver refuse replays.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a signature header as a receiver should: one of its v1
// values (several may be sent while a secret rotates) must be the HMAC of
// body under secret, compared in constant time, and its t must be within
// tolerance of now. Unknown keys in the header are ignored.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var (
		ts     string
		hashes [][]byte
	)
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrMalformedSignature
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sum, err := hex.DecodeString(v)
			if err != nil {
				return ErrMalformedSignature
			}
			hashes = append(hashes, sum)
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(hashes) == 0 {
		return ErrMalformedSignature
	}
	want := mac(secret, ts, body)
	matched := false
	for _, h := range hashes {
		if hmac.Equal(h, want) {
			matched = true
		}
	}
	if !matched {
		return ErrSignatureMismatch
	}
	if age := now.Sub(time.Unix(unix, 0)); age > tolerance || age < -tolerance {
		return ErrSignatureExpired
	}
	return nil
}
