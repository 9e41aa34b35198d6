package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"go.uber.org/goleak"
)

// pgx's pool and the stores are closed by each test; nothing of ours may
// outlive it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func hmacHex(key, msg string) string {
	h := hmac.New(sha256.New, []byte(key))
	h.Write([]byte(msg))
	return hex.EncodeToString(h.Sum(nil))
}
