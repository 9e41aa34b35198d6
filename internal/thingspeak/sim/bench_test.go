package sim

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkFeedResults1 measures feeds.json?results=1 over real loopback HTTP
// with keep-alive, client and server in this process (so on a 2-core machine
// the Go client's own cost is part of the figure).
func BenchmarkFeedResults1(b *testing.B) {
	sim, err := New(Options{Channels: 1000})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := Start("127.0.0.1:0", sim)
	if err != nil {
		b.Fatal(err)
	}
	transport := &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512, DisableCompression: true}
	b.Cleanup(func() {
		transport.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			b.Error(err)
		}
	})
	client := &http.Client{Transport: transport}
	urls := make([]string, 0, 1000)
	for _, sp := range sim.Channels() {
		urls = append(urls, srv.URL+feedPath(sp, "results=1"))
	}
	var next atomic.Uint64
	b.SetParallelism(16) // 16 × GOMAXPROCS connections in flight
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 4096)
		for pb.Next() {
			req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, urls[next.Add(1)%uint64(len(urls))], nil)
			if err != nil {
				b.Error(err)
				return
			}
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.CopyBuffer(io.Discard, resp.Body, buf)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// discardWriter is a reusable ResponseWriter that keeps nothing but counts.
type discardWriter struct {
	header http.Header
	status int
	bytes  int
}

func (w *discardWriter) Header() http.Header { return w.header }
func (w *discardWriter) WriteHeader(status int) {
	w.status = status
}

func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.bytes += len(p)
	return len(p), nil
}

func (w *discardWriter) reset() {
	clear(w.header)
	w.status, w.bytes = 0, 0
}

// benchmarkHandler measures ServeHTTP alone for the given feed parameters.
func benchmarkHandler(b *testing.B, opts Options, params string) {
	sim, err := New(opts)
	if err != nil {
		b.Fatal(err)
	}
	var reqs []*http.Request
	for _, sp := range sim.Channels() {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://sim"+feedPath(sp, params), nil)
		if err != nil {
			b.Fatal(err)
		}
		reqs = append(reqs, req)
	}
	w := &discardWriter{header: make(http.Header)}
	i := 0
	for b.Loop() {
		w.reset()
		sim.ServeHTTP(w, reqs[i%len(reqs)])
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
		i++
	}
	b.SetBytes(int64(w.bytes))
}

// BenchmarkHandlerResults1 is the handler's own cost for results=1.
func BenchmarkHandlerResults1(b *testing.B) {
	benchmarkHandler(b, Options{Channels: 1000}, "results=1")
}

// BenchmarkHandlerResults8000 is the cost of a full backfill page.
func BenchmarkHandlerResults8000(b *testing.B) {
	benchmarkHandler(b, Options{Channels: 12, History: 9000}, "results=8000")
}

// BenchmarkHandlerResults1Faults adds an active (never triggered) fault
// configuration: a rate limit and an outage in the past.
func BenchmarkHandlerResults1Faults(b *testing.B) {
	past := Window{Start: time.Unix(0, 0), End: time.Unix(1, 0)}
	benchmarkHandler(b, Options{Channels: 1000, Faults: FaultConfig{Global: Faults{RateLimit: 1e9, Outages: []Window{past}}}}, "results=1")
}

// BenchmarkHandlerResults1Overrides adds an override to every channel's
// field1 that covers every entry, so each request applies one.
func BenchmarkHandlerResults1Overrides(b *testing.B) {
	specs := generateSpecs(0, 1000)
	list := make([]Override, len(specs))
	for i, sp := range specs {
		list[i] = Override{Channel: sp.ID, Field: 1, Value: new(950.0)}
	}
	benchmarkHandler(b, Options{Specs: specs, Overrides: list}, "results=1")
}
