package api

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
)

func newMeasuredServer(t *testing.T) *Server {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	return New(Options{
		Logger:     slog.New(slog.DiscardHandler),
		Health:     fixedHealth(Health{Status: HealthOK, Services: map[string]string{}}),
		Registerer: reg,
		Gatherer:   reg,
	})
}

// get answers path and returns the status and body.
func get(t *testing.T, s *Server, path string) (int, string) {
	t.Helper()
	resp, err := s.Handler().Test(httptest.NewRequest(http.MethodGet, path, nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestMetricsCountRequestsByRoutePattern(t *testing.T) {
	s := newMeasuredServer(t)
	for range 3 {
		if code, _ := get(t, s, "/health"); code != http.StatusOK {
			t.Fatalf("/health: %d", code)
		}
	}
	for _, p := range []string{"/no/such/route-x1", "/api/v1/nodes-x2"} {
		if code, body := get(t, s, p); code != http.StatusNotFound || !strings.Contains(body, `"code":"not_found"`) {
			t.Fatalf("%s: %d %s (the error must still have its one shape)", p, code, body)
		}
	}
	code, text := get(t, s, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, text)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^evara_http_request_duration_seconds_count\{code="200",method="GET",route="/health"\} 3$`),
		regexp.MustCompile(`(?m)^evara_http_request_duration_seconds_count\{code="404",method="GET",route="unmatched"\} 2$`),
	} {
		if !want.MatchString(text) {
			t.Errorf("exposition lacks %s:\n%s", want, text)
		}
	}
	for _, raw := range []string{"x1", "x2", `route="/"`} {
		if strings.Contains(text, raw) {
			t.Errorf("exposition holds %s, a raw path or a middleware's prefix as a label:\n%s", raw, text)
		}
	}
}

func TestMetricsLabelHandlerErrorsUnderTheirRoute(t *testing.T) {
	s := newMeasuredServer(t)
	s.Handler().Get("/boom/:id", func(*fiber.Ctx) error { panic("boom") })
	if code, _ := get(t, s, "/boom/7"); code != http.StatusInternalServerError {
		t.Fatalf("panic answered %d", code)
	}
	_, text := get(t, s, "/metrics")
	if !strings.Contains(text, `evara_http_request_duration_seconds_count{code="500",method="GET",route="/boom/:id"} 1`) {
		t.Errorf("a recovered panic is not measured as a 500 of its route:\n%s", text)
	}
}

func TestNoMetricsWithoutRegistry(t *testing.T) {
	s := newTestServer(Health{})
	if code, _ := get(t, s, "/metrics"); code != http.StatusNotFound {
		t.Fatalf("/metrics without a Gatherer: %d", code)
	}
}
