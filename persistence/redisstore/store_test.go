package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/evaratech/evara/persistence/storetest"
)

// Two Stores on one Redis stand for two replicas: they enforce one limit
// between them and see each other's revocations.
func TestStoreReplicasShareState(t *testing.T) {
	url, prefix := storetest.FreshRedisPrefix(t)
	a := openStoreAt(t, url, prefix, nil)
	b := openStoreAt(t, url, prefix, nil)
	ctx := context.Background()

	limit := Limit{Rate: 5, Period: time.Second, Burst: 5}
	allowed := 0
	for i := range 10 {
		s := a
		if i%2 == 1 {
			s = b
		}
		d, err := s.Allow(ctx, "user:shared", limit)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed {
			allowed++
		}
	}
	if allowed != 5 {
		t.Errorf("two replicas allowed %d of 10 immediate calls, want 5 in all", allowed)
	}

	if err := a.Revoke(ctx, "logout-on-a", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.IsRevoked(ctx, "logout-on-a"); err != nil || !ok {
		t.Errorf("replica b: IsRevoked = %v, %v; want true", ok, err)
	}
}

// Revocations are stored under the SHA-256 of the jti, never the jti, and
// expire in Redis at the token's exp.
func TestStoreKeepsOnlyTheJTIHash(t *testing.T) {
	url, prefix := storetest.FreshRedisPrefix(t)
	s := openStoreAt(t, url, prefix, nil)
	ctx := context.Background()
	const jti = "9f3c-secret-token-id"
	if err := s.Revoke(ctx, jti, time.Now().Add(90*time.Second)); err != nil {
		t.Fatal(err)
	}
	keys, err := s.rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(jti))
	want := prefix + "revoked:" + hex.EncodeToString(sum[:])
	if len(keys) != 1 || keys[0] != want {
		t.Fatalf("keys = %q, want only %q", keys, want)
	}
	if strings.Contains(keys[0], jti) {
		t.Fatal("the jti is stored in clear")
	}
	ttl, err := s.rdb.PTTL(ctx, want).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl < 80*time.Second || ttl > 91*time.Second {
		t.Errorf("revocation TTL = %v, want about 90s", ttl)
	}
}

// The URL's password appears neither in Open's error nor in its logs.
func TestOpenNeverShowsThePassword(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now

	log, logs := newLogger()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, url := range []string{
		"redis://user:hunter2-pw@" + addr + "/0",
		"redis://:hunter2-pw@" + addr + "/0?dial_timeout=1s",
		"redis://user:hunter2-pw@" + addr + "/not-a-db",
		"http://user:hunter2-pw@" + addr,
	} {
		s, err := Open(ctx, url, Options{Logger: log})
		if err == nil {
			_ = s.Close()
			t.Fatalf("Open succeeded against a closed port")
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error shows the password: %v", err)
		}
	}
	if strings.Contains(logs.String(), "hunter2") {
		t.Errorf("logs show the password: %s", logs)
	}
}

// A wrong password is refused at Open, without echoing it.
func TestOpenWrongPassword(t *testing.T) {
	url, _ := storetest.FreshRedisPrefix(t)
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), "redis://nobody:hunter2-pw@"+opts.Addr+"/0", Options{})
	if err == nil {
		t.Skip("the test Redis accepts any credentials")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error shows the password: %v", err)
	}
}
