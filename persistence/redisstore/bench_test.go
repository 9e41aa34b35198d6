package redisstore

import (
	"context"
	"testing"
	"time"
)

// BenchmarkRedis compares Allow (one EVALSHA of the GCRA script) with a bare
// PING round trip on the same connection pool, in the same run:
//
//	EVARA_TEST_REDIS_URL=redis://127.0.0.1:6379/0 go test -run '^$' -bench Redis ./persistence/redisstore/
//
// The "ratio" sub-benchmark alternates the two and reports allow/ping, the
// cost of a shared limit in units of the network round trip it cannot avoid.
func BenchmarkRedis(b *testing.B) {
	s, _ := openStore(b)
	ctx := context.Background()
	limit := Limit{Rate: 1 << 20, Period: time.Second} // always allowed: the write path
	b.Run("ping", func(b *testing.B) {
		for b.Loop() {
			if err := s.Ping(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("allow", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Allow(ctx, "bench", limit); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ratio", func(b *testing.B) {
		var ping, allow time.Duration
		for b.Loop() {
			t0 := time.Now()
			if err := s.Ping(ctx); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if _, err := s.Allow(ctx, "bench", limit); err != nil {
				b.Fatal(err)
			}
			ping += t1.Sub(t0)
			allow += time.Since(t1)
		}
		b.ReportMetric(float64(allow)/float64(ping), "allow/ping")
		b.ReportMetric(float64(ping.Nanoseconds())/float64(b.N), "ping-ns/op")
		b.ReportMetric(float64(allow.Nanoseconds())/float64(b.N), "allow-ns/op")
	})
	b.Run("local", func(b *testing.B) {
		l := NewLocal(Options{})
		for b.Loop() {
			_, _ = l.Allow(ctx, "bench", limit)
		}
	})
}
