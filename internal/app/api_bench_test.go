package app

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"

	"github.com/evaratech/evara/internal/config"
)

// BenchmarkAPILoad measures the dashboard's two hottest calls over real
// HTTP on the real PostgreSQL (10,000 nodes in tenant A): GET
// /devices/{id}/live-data and GET /dashboard/stats, each against a bare
// fiber handler that returns a static body of the same size, with the same
// load generator (keep-alive clients in this process), in the same run. It
// reports throughput, p95 and the throughput ratio (target ≥ 0.5; p95 < 5 ms).
//
//	EVARA_TEST_DATABASE_URL=… go test -run='^$' -bench=APILoad -benchtime=1x ./internal/app/
//
// EVARA_BENCH_API_DURATION (default 5s) is each phase's length,
// EVARA_BENCH_API_WORKERS (default 32) the concurrent clients.
func BenchmarkAPILoad(b *testing.B) {
	duration := envDuration("EVARA_BENCH_API_DURATION", 5*time.Second)
	workers := envInt("EVARA_BENCH_API_WORKERS", 32)
	e := newAPIEnv(b, func(c *config.Config) { c.API.UserRate = 1 << 30 })
	e.seedNodes(b, 10_000)
	token := e.fx.Tokens["superadmin"]
	live := "/api/v1/devices/" + string(e.fx.NodeA.ID) + "/live-data"
	e.waitLiveData(b, live, token)
	client := loadClient(workers)
	for _, target := range []struct{ name, path string }{
		{"live-data", live},
		{"dashboard-stats", "/api/v1/dashboard/stats"},
	} {
		b.Run(target.name, func(b *testing.B) {
			for range b.N {
				body := e.expect(http.StatusOK, http.MethodGet, target.path, token, nil)
				bare, stop := bareServer(b, body)
				base := runLoad(b, client, bare+"/static", "", workers, duration)
				stop()
				got := runLoad(b, client, e.URL+target.path, token, workers, duration)
				b.ReportMetric(got.rps, "req/s")
				b.ReportMetric(base.rps, "bare-req/s")
				b.ReportMetric(got.rps/base.rps, "ratio")
				b.ReportMetric(ms(got.p95), "p95-ms")
				b.ReportMetric(ms(base.p95), "bare-p95-ms")
				b.Logf("%s: %.0f req/s (bare %.0f): ratio %.2f; p50 %.2f ms p95 %.2f ms p99 %.2f ms (bare p95 %.2f ms); %d errors; body %d bytes",
					target.name, got.rps, base.rps, got.rps/base.rps, ms(got.p50), ms(got.p95), ms(got.p99), ms(base.p95), got.errors, len(body))
			}
		})
	}
}

// seedNodes adds n channel-less nodes to community A in one statement.
func (e *apiEnv) seedNodes(b *testing.B, n int) {
	ctx := context.Background()
	db, err := pgx.Connect(ctx, e.cfg.DatabaseURL.Reveal())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close(ctx)
	_, err = db.Exec(ctx, `INSERT INTO nodes (node_key, label, category, analytics_type, status, community_id, distributor_id)
		SELECT 'bench-' || g, 'Bench ' || g, 'OHT', 'EvaraTank', (ARRAY['Online','Offline','Alert','Maintenance'])[1 + g % 4], $1, $2
		FROM generate_series(1, $3::int) g`, e.fx.CommA.ID, e.fx.DistA.ID, n)
	if err == nil {
		_, err = db.Exec(ctx, `VACUUM ANALYZE nodes`)
	}
	if err != nil {
		b.Fatal(err)
	}
}

// waitLiveData waits until the device has a reading, so the benchmark
// measures the answer a dashboard gets.
func (e *apiEnv) waitLiveData(b *testing.B, path, token string) {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, raw := e.do(http.MethodGet, path, token, nil)
		if resp.StatusCode == http.StatusOK && !bytes.Contains(raw, []byte(`"timestamp":null`)) {
			return
		}
	}
	b.Fatal("the device has no reading")
}

// bareServer serves body at /static from a plain fiber app: the ceiling.
func bareServer(b *testing.B, body []byte) (string, func()) {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/static", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(body)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = app.Listener(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = app.Shutdown(); <-done }
}

func loadClient(workers int) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConns: workers * 2, MaxIdleConnsPerHost: workers * 2, IdleConnTimeout: time.Minute,
	}}
}

type loadResult struct {
	rps           float64
	p50, p95, p99 time.Duration
	errors        int64
}

// runLoad sends GET path from workers clients for d and measures each
// answer; a non-200 answer counts as an error.
func runLoad(b *testing.B, client *http.Client, url, token string, workers int, d time.Duration) loadResult {
	var (
		mu     sync.Mutex
		all    []time.Duration
		errs   atomic.Int64
		wg     sync.WaitGroup
		stopAt = time.Now().Add(d)
	)
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			took := make([]time.Duration, 0, 4096)
			for time.Now().Before(stopAt) {
				req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					errs.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				took = append(took, time.Since(t0))
				if resp.StatusCode != http.StatusOK {
					errs.Add(1)
				}
			}
			mu.Lock()
			all = append(all, took...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if len(all) == 0 {
		b.Fatal("no answers")
	}
	slices.Sort(all)
	at := func(q float64) time.Duration { return all[min(len(all)-1, int(q*float64(len(all))))] }
	return loadResult{rps: float64(len(all)) / elapsed.Seconds(), p50: at(0.50), p95: at(0.95), p99: at(0.99), errors: errs.Load()}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
