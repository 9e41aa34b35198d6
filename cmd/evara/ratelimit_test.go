package main

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evaratech/evara/persistence/storetest"
)

// TestRateLimitSharedByReplicas runs two evara processes on one PostgreSQL
// and one Redis and spends one user's budget across both: the per-user
// limit is one limit for the cluster, not one per replica (the old backend
// documented per-user limits and had none). Another user is unaffected.
func TestRateLimitSharedByReplicas(t *testing.T) {
	redisURL := os.Getenv("EVARA_TEST_REDIS_URL")
	if redisURL == "" {
		if os.Getenv("EVARA_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("EVARA_TEST_REDIS_URL is not set")
		}
		t.Skip("EVARA_TEST_REDIS_URL is not set")
	}
	dbURL := storetest.FreshSchema(t)
	const perMinute = 10
	// Its own cluster name: the Redis keys are prefixed with it, so this
	// run shares no budget with another.
	cluster := "ratelimit-" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	env := []string{"DATABASE_URL=" + dbURL, "REDIS_URL=" + redisURL, "SUPABASE_JWT_SECRET=" + testJWTSecret,
		"EVARA_CLUSTER_NAME=" + cluster, "EVARA_RATE_LIMIT_USER=" + strconv.Itoa(perMinute)}
	var urls []string
	for range 2 {
		p := startEvara(t, env, "serve", "--addr", "127.0.0.1:0")
		addr, _ := p.waitFor(t, "evara serving", 30*time.Second)["addr"].(string)
		urls = append(urls, "http://"+addr)
	}
	mint := func(sub string) string {
		out, errOut, code := evara(t, []string{"SUPABASE_JWT_SECRET=" + testJWTSecret}, "token", "--sub", sub, "--email", sub+"@example.com")
		if code != 0 {
			t.Fatalf("evara token: exit %d: %s", code, errOut)
		}
		return strings.TrimSpace(out)
	}
	alice, bob := mint("user-alice"), mint("user-bob")

	// Alternate between the replicas: together they allow perMinute
	// requests (GCRA with a burst of a minute's worth), then both refuse.
	allowed := 0
	for i := range perMinute + 6 {
		status, retry := call(t, urls[i%2], alice)
		switch status {
		case http.StatusOK:
			allowed++
		case http.StatusTooManyRequests:
			if n, err := strconv.Atoi(retry); err != nil || n < 1 {
				t.Errorf("429 with Retry-After %q, want whole seconds ≥ 1", retry)
			}
		default:
			t.Fatalf("request %d: status %d", i, status)
		}
	}
	if allowed != perMinute {
		t.Errorf("the two replicas allowed %d requests of one user, want %d between them", allowed, perMinute)
	}
	for _, u := range urls {
		if status, _ := call(t, u, alice); status != http.StatusTooManyRequests {
			t.Errorf("%s: alice's request after the budget: %d, want 429", u, status)
		}
		if status, _ := call(t, u, bob); status != http.StatusOK {
			t.Errorf("%s: bob's first request: %d, want 200 (limits are per user)", u, status)
		}
	}
}

// call sends an authenticated request and returns its status and
// Retry-After header.
func call(t *testing.T, base, token string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/health", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After")
}
