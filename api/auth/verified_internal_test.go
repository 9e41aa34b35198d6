package auth

import (
	"testing"
	"time"
	"unsafe"
)

// TestVerifiedCacheOwnsItsKeys: the raw token is often a view of the HTTP
// server's buffer, which is reused for the next request. What the cache
// remembers must not change with it: another token written into the same
// bytes is not taken for the one verified.
func TestVerifiedCacheOwnsItsKeys(t *testing.T) {
	var c verifiedCache
	now := time.Unix(1_700_000_000, 0)
	buf := []byte("token-of-alice")
	view := unsafe.String(&buf[0], len(buf))
	c.put(view, Claims{Subject: "alice"}, now.Add(time.Minute))
	copy(buf, "token-of-mal0y") // the buffer now holds another caller's token
	if got, ok := c.get("token-of-mal0y", now); ok {
		t.Fatalf("another token found as %q", got.Subject)
	}
	if got, ok := c.get("token-of-alice", now); !ok || got.Subject != "alice" {
		t.Fatalf("the verified token: %+v, %v", got, ok)
	}
	if _, ok := c.get("token-of-alice", now.Add(time.Minute)); ok {
		t.Fatal("found at its expiry")
	}
}
