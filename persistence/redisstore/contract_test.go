package redisstore

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

// shared is the method set the package doc promises for all three types.
type shared interface {
	Revoke(ctx context.Context, jti string, until time.Time) error
	IsRevoked(ctx context.Context, jti string) (bool, error)
	Allow(ctx context.Context, key string, limit Limit) (Decision, error)
	PutLatest(ctx context.Context, node string, payload []byte, ttl time.Duration) error
	GetLatest(ctx context.Context, node string) ([]byte, bool, error)
}

var (
	_ shared = (*Store)(nil)
	_ shared = (*Local)(nil)
	_ shared = (*Degrading)(nil)
)

// implementations are the subjects of the contract, each opened fresh per
// test on the real clock.
var implementations = []struct {
	name string
	open func(t *testing.T) shared
}{
	{"Store", func(t *testing.T) shared { s, _ := openStore(t); return s }},
	{"Local", func(*testing.T) shared { return NewLocal(Options{}) }},
	{"Degrading", func(t *testing.T) shared {
		s, _ := openStore(t)
		return NewDegrading(s, NewLocal(Options{}), nil)
	}},
}

// TestContract runs one set of behaviours against every implementation, so
// that the fallback cannot drift from Redis.
func TestContract(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, s shared)
	}{
		{"revocation", testRevocation},
		{"revocation expires", testRevocationExpires},
		{"gcra burst then refuse", testGCRABurst},
		{"gcra refills", testGCRARefills},
		{"gcra default burst and invalid limits", testGCRALimits},
		{"latest snapshot", testLatest},
		{"latest snapshot expires", testLatestExpires},
	}
	for _, impl := range implementations {
		t.Run(impl.name, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.run(t, impl.open(t))
				})
			}
		})
	}
}

func mustRevoked(t *testing.T, s shared, jti string, want bool) {
	t.Helper()
	got, err := s.IsRevoked(context.Background(), jti)
	if err != nil {
		t.Fatalf("IsRevoked(%q): %v", jti, err)
	}
	if got != want {
		t.Fatalf("IsRevoked(%q) = %v, want %v", jti, got, want)
	}
}

func testRevocation(t *testing.T, s shared) {
	ctx := context.Background()
	mustRevoked(t, s, "jti-1", false)
	if err := s.Revoke(ctx, "jti-1", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	mustRevoked(t, s, "jti-1", true)
	mustRevoked(t, s, "jti-2", false)
	mustRevoked(t, s, "", false)

	// A token that has already expired needs no revocation.
	if err := s.Revoke(ctx, "jti-old", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	mustRevoked(t, s, "jti-old", false)

	if err := s.Revoke(ctx, "", time.Now().Add(time.Minute)); !errors.Is(err, ErrEmptyJTI) {
		t.Fatalf("Revoke(\"\") = %v, want ErrEmptyJTI", err)
	}
}

func testRevocationExpires(t *testing.T, s shared) {
	ctx := context.Background()
	if err := s.Revoke(ctx, "short", time.Now().Add(300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(ctx, "long", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	mustRevoked(t, s, "short", true)
	time.Sleep(1200 * time.Millisecond) // well past the 300 ms
	mustRevoked(t, s, "short", false)
	mustRevoked(t, s, "long", true)
}

func allowN(t *testing.T, s shared, key string, limit Limit, n int) []Decision {
	t.Helper()
	out := make([]Decision, n)
	for i := range out {
		d, err := s.Allow(context.Background(), key, limit)
		if err != nil {
			t.Fatalf("Allow #%d: %v", i+1, err)
		}
		out[i] = d
	}
	return out
}

func testGCRABurst(t *testing.T, s shared) {
	limit := Limit{Rate: 5, Period: time.Second, Burst: 5}
	ds := allowN(t, s, "user:a", limit, 10)
	for i, d := range ds {
		if want := i < 5; d.Allowed != want {
			t.Fatalf("call %d: Allowed = %v, want %v (decisions %+v)", i+1, d.Allowed, want, ds)
		}
	}
	if ds[0].Remaining != 4 || ds[4].Remaining != 0 {
		t.Errorf("Remaining after the 1st and 5th = %d, %d; want 4, 0", ds[0].Remaining, ds[4].Remaining)
	}
	if ds[0].RetryAfter != 0 {
		t.Errorf("an allowed call has RetryAfter %v, want 0", ds[0].RetryAfter)
	}
	if r := ds[5].RetryAfter; r <= 0 || r > time.Second {
		t.Errorf("6th call RetryAfter = %v, want in (0, 1s]", r)
	}
	if r := ds[5].ResetAfter; r <= 0 || r > time.Second {
		t.Errorf("6th call ResetAfter = %v, want in (0, 1s]", r)
	}
	// Another key has its own budget.
	if d := allowN(t, s, "user:b", limit, 1)[0]; !d.Allowed || d.Remaining != 4 {
		t.Errorf("first call on another key = %+v, want allowed with 4 remaining", d)
	}
}

func testGCRARefills(t *testing.T, s shared) {
	limit := Limit{Rate: 5, Period: time.Second, Burst: 5}
	ds := allowN(t, s, "ip:192.0.2.1", limit, 6)
	if ds[5].Allowed {
		t.Fatal("6th immediate call allowed")
	}
	time.Sleep(ds[5].RetryAfter + 150*time.Millisecond) // one emission interval is 200 ms
	if d := allowN(t, s, "ip:192.0.2.1", limit, 1)[0]; !d.Allowed {
		t.Fatalf("after RetryAfter (%v) the call is still refused: %+v", ds[5].RetryAfter, d)
	}
	time.Sleep(1500 * time.Millisecond) // a full period: back to the whole burst
	if d := allowN(t, s, "ip:192.0.2.1", limit, 1)[0]; !d.Allowed || d.Remaining < 3 {
		t.Fatalf("after a full period: %+v, want allowed with (nearly) the whole burst", d)
	}
}

func testGCRALimits(t *testing.T, s shared) {
	// Burst 0 means Burst = Rate.
	ds := allowN(t, s, "k", Limit{Rate: 3, Period: time.Minute}, 4)
	if !ds[2].Allowed || ds[3].Allowed {
		t.Fatalf("Rate 3, Burst 0: decisions %+v, want 3 allowed then refused", ds)
	}
	if r := ds[3].RetryAfter; r < 10*time.Second || r > 20*time.Second {
		t.Errorf("RetryAfter = %v, want about 20s (one emission of 3/min)", r)
	}
	for _, l := range []Limit{{}, {Rate: 0, Period: time.Second}, {Rate: 1}, {Rate: -1, Period: time.Second}, {Rate: 2e9, Period: time.Second}, {Rate: 1, Period: time.Hour, Burst: 1 << 50}} {
		if _, err := s.Allow(context.Background(), "k", l); !errors.Is(err, ErrInvalidLimit) {
			t.Errorf("Allow(%+v) error = %v, want ErrInvalidLimit", l, err)
		}
	}
}

func testLatest(t *testing.T, s shared) {
	ctx := context.Background()
	if b, ok, err := s.GetLatest(ctx, "node-1"); err != nil || ok || b != nil {
		t.Fatalf("GetLatest on nothing = %q, %v, %v", b, ok, err)
	}
	for _, payload := range [][]byte{[]byte(`{"level":1.5}`), {0, 1, 2, 255}, []byte(`{"level":2}`)} {
		if err := s.PutLatest(ctx, "node-1", payload, time.Minute); err != nil {
			t.Fatal(err)
		}
		b, ok, err := s.GetLatest(ctx, "node-1")
		if err != nil || !ok || !bytes.Equal(b, payload) {
			t.Fatalf("GetLatest = %q, %v, %v; want %q", b, ok, err, payload)
		}
	}
	if _, ok, _ := s.GetLatest(ctx, "node-2"); ok {
		t.Error("another node has a snapshot")
	}
}

func testLatestExpires(t *testing.T, s shared) {
	ctx := context.Background()
	if err := s.PutLatest(ctx, "short", []byte("x"), 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := s.PutLatest(ctx, "forever", []byte("y"), 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond)
	if _, ok, err := s.GetLatest(ctx, "short"); err != nil || ok {
		t.Errorf("expired snapshot: ok=%v err=%v, want gone", ok, err)
	}
	if b, ok, err := s.GetLatest(ctx, "forever"); err != nil || !ok || string(b) != "y" {
		t.Errorf("snapshot without ttl = %q, %v, %v", b, ok, err)
	}
}
