package api

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestTTLCache(t *testing.T) {
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	c := newTTLCache[int](time.Second, 10, clock)
	var loads atomic.Int32
	release := make(chan struct{})
	load := func(context.Context) (int, error) { loads.Add(1); <-release; return 7, nil }

	// Concurrent misses of one key load once.
	var wg sync.WaitGroup
	got := make([]int, 20)
	for i := range got {
		wg.Add(1)
		go func() { defer wg.Done(); got[i], _ = c.get(context.Background(), "k", load) }()
	}
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	for i, v := range got {
		if v != 7 {
			t.Fatalf("caller %d got %d", i, v)
		}
	}
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d loads for concurrent misses, want 1", n)
	}
	// Fresh within the ttl, loaded again after it.
	advance(999 * time.Millisecond)
	_, _ = c.get(context.Background(), "k", load)
	advance(2 * time.Millisecond)
	_, _ = c.get(context.Background(), "k", load)
	if n := loads.Load(); n != 2 {
		t.Fatalf("%d loads, want 2 (one expiry)", n)
	}
	// Errors are not kept.
	boom := errors.New("boom")
	fails := 0
	fail := func(context.Context) (int, error) { fails++; return 0, boom }
	for range 2 {
		if _, err := c.get(context.Background(), "e", fail); !errors.Is(err, boom) {
			t.Fatal(err)
		}
	}
	if fails != 2 {
		t.Fatalf("a failed load was cached (%d loads)", fails)
	}
	// forget drops everything; the limit bounds the keys.
	c.forget()
	_, _ = c.get(context.Background(), "k", load)
	if n := loads.Load(); n != 3 {
		t.Fatalf("%d loads after forget, want 3", n)
	}
	for i := range 25 {
		_, _ = c.get(context.Background(), string(rune('a'+i)), func(context.Context) (int, error) { return i, nil })
	}
	if n := len(c.entries); n > 10 {
		t.Fatalf("%d entries over a limit of 10", n)
	}
}
