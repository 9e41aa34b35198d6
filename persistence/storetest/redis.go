package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisURL returns the test Redis URL (EVARA_TEST_REDIS_URL), skipping the
// test when none is configured — or failing it when
// EVARA_TEST_REQUIRE_SERVICES=1 (CI).
func RedisURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("EVARA_TEST_REDIS_URL")
	if url == "" {
		if os.Getenv("EVARA_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("EVARA_TEST_REDIS_URL is not set but EVARA_TEST_REQUIRE_SERVICES=1")
		}
		t.Skip("EVARA_TEST_REDIS_URL is not set: skipping Redis tests")
	}
	return url
}

// FreshRedisPrefix checks that the test Redis answers and returns its URL
// and a key prefix of the test's own ("evara_test_<random>:"). When the test
// ends every key containing the prefix is deleted — also keys that a library
// puts its own prefix in front of (redis_rate's "rate:").
func FreshRedisPrefix(t testing.TB) (url, prefix string) {
	t.Helper()
	url = RedisURL(t)
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal("EVARA_TEST_REDIS_URL cannot be parsed") // it may hold a password: not echoed
	}
	rdb := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		if os.Getenv("EVARA_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("Redis unreachable: %v", err)
		}
		t.Skipf("Redis unreachable: %v", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix = "evara_test_" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		defer rdb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, "*"+prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("scan test keys: %v", err)
			return
		}
		for len(keys) > 0 {
			n := min(len(keys), 500)
			if err := rdb.Del(ctx, keys[:n]...).Err(); err != nil {
				t.Errorf("delete test keys: %v", err)
				return
			}
			keys = keys[n:]
		}
	})
	return url, prefix
}
