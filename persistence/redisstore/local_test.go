package redisstore

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// On an injected clock the GCRA arithmetic is exact: one call back every
// emission interval, the whole burst back after a period.
func TestLocalGCRAOnAClock(t *testing.T) {
	clk := newFakeClock()
	l := NewLocal(Options{Now: clk.Now})
	ctx := context.Background()
	limit := Limit{Rate: 100, Period: time.Minute, Burst: 100} // the per-user API limit
	for i := range 100 {
		if d, _ := l.Allow(ctx, "user:u", limit); !d.Allowed || d.Remaining != 99-i {
			t.Fatalf("call %d: %+v", i+1, d)
		}
	}
	d, _ := l.Allow(ctx, "user:u", limit)
	if d.Allowed || d.RetryAfter != 600*time.Millisecond || d.ResetAfter != time.Minute {
		t.Fatalf("101st call = %+v, want refused, retry after 600ms, reset after 1m", d)
	}
	clk.Advance(599 * time.Millisecond)
	if d, _ := l.Allow(ctx, "user:u", limit); d.Allowed {
		t.Fatalf("allowed 1ms early: %+v", d)
	}
	clk.Advance(time.Millisecond)
	if d, _ := l.Allow(ctx, "user:u", limit); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("after one emission interval = %+v, want allowed with 0 remaining", d)
	}
	clk.Advance(time.Minute)
	if d, _ := l.Allow(ctx, "user:u", limit); !d.Allowed || d.Remaining != 99 {
		t.Fatalf("after a period = %+v, want the whole burst", d)
	}
}

// Expired revocations, limits and snapshots are swept, so a stream of new
// keys (one per client IP, say) does not grow memory without bound.
func TestLocalSweepsExpiredEntries(t *testing.T) {
	clk := newFakeClock()
	l := NewLocal(Options{Now: clk.Now})
	ctx := context.Background()
	limit := Limit{Rate: 10, Period: time.Second}
	for i := range 3000 {
		_, _ = l.Allow(ctx, fmt.Sprintf("ip:%d", i), limit)
		_ = l.Revoke(ctx, fmt.Sprintf("jti-%d", i), clk.Now().Add(time.Minute))
		_ = l.PutLatest(ctx, fmt.Sprintf("node-%d", i), []byte("x"), time.Minute)
	}
	if n := l.Len(); n < 9000/2 || n > 9000 {
		t.Fatalf("Len = %d with 9000 live entries", n)
	}
	_ = l.Revoke(ctx, "lasting", clk.Now().Add(time.Hour))
	clk.Advance(2 * time.Minute) // past every expiry but one
	mustRevoked(t, l, "lasting", true)
	if n := l.Len(); n != 1 {
		t.Errorf("Len after expiry = %d, want 1 (the one live revocation)", n)
	}
	mustRevoked(t, l, "jti-1", false)

	// Without the clock moving, a flood of fresh keys only triggers sweeps
	// when the count doubles; live entries are never dropped.
	for i := range 5000 {
		_, _ = l.Allow(ctx, fmt.Sprintf("flood:%d", i), limit)
	}
	if n := l.Len(); n != 5001 {
		t.Errorf("Len = %d, want all 5001 live entries kept", n)
	}
}

func TestLocalLatestIsACopy(t *testing.T) {
	l := NewLocal(Options{})
	ctx := context.Background()
	p := []byte("abc")
	_ = l.PutLatest(ctx, "n", p, time.Minute)
	p[0] = 'X'
	b, _, _ := l.GetLatest(ctx, "n")
	b[1] = 'Y'
	if b2, _, _ := l.GetLatest(ctx, "n"); string(b2) != "abc" {
		t.Fatalf("stored snapshot changed through a caller's slice: %q", b2)
	}
}

func TestLocalRevocationOnAClock(t *testing.T) {
	clk := newFakeClock()
	l := NewLocal(Options{Now: clk.Now})
	ctx := context.Background()
	exp := clk.Now().Add(10 * time.Minute)
	_ = l.Revoke(ctx, "j", exp)
	_ = l.Revoke(ctx, "j", exp.Add(-5*time.Minute)) // an earlier until never shortens it
	clk.Advance(10*time.Minute - time.Nanosecond)
	mustRevoked(t, l, "j", true)
	clk.Advance(time.Nanosecond)
	mustRevoked(t, l, "j", false)
}
