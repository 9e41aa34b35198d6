package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp (under fiber) keeps one process-wide goroutine that refreshes
		// the Date header, started once and never stopped.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		// fasthttp's worker-pool cleaner notices Stop only after its current
		// sleep (MaxIdleWorkerDuration, 10s); it then exits.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	)
}

type fixedHealth Health

func (h fixedHealth) Health(context.Context) Health { return Health(h) }

func newTestServer(h Health) *Server {
	return New(Options{
		Logger: slog.New(slog.DiscardHandler),
		Health: fixedHealth(h),
		Build:  BuildInfo{Version: "v1.2.3", Commit: "abc123", Go: "go1.26"},
	})
}

func do(t *testing.T, s *Server, method, path string) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := s.Handler().Test(httptest.NewRequest(method, path, nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("%s %s: body is not JSON: %v", method, path, err)
	}
	return resp, body
}

func TestHealthShapes(t *testing.T) {
	s := newTestServer(Health{Status: HealthOK, Database: "embedded", Timestamp: time.Now(), Services: map[string]string{"database": "embedded", "thingspeak": "simulator", "cache": "local", "cluster": "single"}})
	for _, path := range []string{"/health", "/health/", "/api/v1/health", "/api/v1/health/"} {
		t.Run(path, func(t *testing.T) {
			resp, body := do(t, s, http.MethodGet, path)
			if resp.StatusCode != http.StatusOK || body["status"] != "ok" || body["database"] != "embedded" {
				t.Fatalf("status %d body %v", resp.StatusCode, body)
			}
			services, _ := body["services"].(map[string]any)
			for _, k := range []string{"database", "thingspeak", "cache", "cluster"} {
				if _, ok := services[k]; !ok {
					t.Errorf("services lacks %s: %v", k, body)
				}
			}
			if _, ok := body["timestamp"].(string); !ok {
				t.Errorf("timestamp missing: %v", body)
			}
			if resp.Header.Get("X-Request-ID") == "" {
				t.Error("no X-Request-ID")
			}
		})
	}
}

func TestCriticalHealthIs503(t *testing.T) {
	s := newTestServer(Health{Status: HealthCritical, Services: map[string]string{}})
	resp, body := do(t, s, http.MethodGet, "/health")
	if resp.StatusCode != http.StatusServiceUnavailable || body["status"] != "critical" {
		t.Fatalf("status %d body %v", resp.StatusCode, body)
	}
}

func TestVersion(t *testing.T) {
	_, body := do(t, newTestServer(Health{}), http.MethodGet, "/version")
	if body["version"] != "v1.2.3" || body["commit"] != "abc123" {
		t.Fatalf("body %v", body)
	}
}

func TestErrorsHaveOneShape(t *testing.T) {
	s := newTestServer(Health{})
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{http.MethodGet, "/no/such/route", 404, "not_found"},
		{http.MethodGet, "/api/v1/nodes-that-do-not-exist", 404, "not_found"},
	} {
		resp, body := do(t, s, tc.method, tc.path)
		if resp.StatusCode != tc.status || body["code"] != tc.code || body["detail"] == "" {
			t.Errorf("%s %s: status %d body %v", tc.method, tc.path, resp.StatusCode, body)
		}
		id := resp.Header.Get("X-Request-ID")
		if id == "" || body["correlation_id"] != id {
			t.Errorf("%s: correlation_id %v does not match X-Request-ID %q", tc.path, body["correlation_id"], id)
		}
	}
}

func TestReadinessFollowsServeAndShutdown(t *testing.T) {
	s := newTestServer(Health{Status: HealthOK})
	resp, _ := do(t, s, http.MethodGet, "/readyz")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("ready before serving: %d", resp.StatusCode)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	url := "http://" + ln.Addr().String()
	for _, path := range []string{"/readyz", "/healthz"} {
		r, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusOK {
			t.Errorf("%s while serving: %d", path, r.StatusCode)
		}
	}
	http.DefaultClient.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve returned %v", err)
	}
	resp, _ = do(t, s, http.MethodGet, "/readyz")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("ready after shutdown: %d", resp.StatusCode)
	}
}
