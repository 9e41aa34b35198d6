package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/evaratech/evara/cluster"
	"github.com/evaratech/evara/internal/config"
)

// fixtureClusterStats is two members that answered and one that did not.
func fixtureClusterStats() cluster.Stats {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	m1 := cluster.MemberStats{
		ID: "6f1c2a9e-47b1-4d0e-9a55-0c3f1d2e7b88", Address: "10.0.0.1:6000", Status: "up",
		StartedAt: at.Add(-(26*time.Hour + 20*time.Minute)), UptimeSeconds: (26*time.Hour + 20*time.Minute).Seconds(),
		DeviceActors: 40, Sessions: 3, Mailbox: cluster.Mailbox{Max: 9, P99: 4},
		Breakers: cluster.Breakers{Closed: 37, Open: 2, HalfOpen: 1},
		Limiter:  cluster.Limiter{Share: 25, Rate: 20, Burst: 10, Tokens: 3.5, Waiting: 6, Demand: 30, Stretch: 1.5},
		Upstream: cluster.Upstream{OK: 1000, Failed: 12, RateLimited: 5, OKPerMinute: 60, FailedPerMinute: 2, RateLimitedPerMinute: 1},
		Restarts: 7, Crashed: 1, DeadLetters: 11, MembersSeen: 3,
	}
	m2 := cluster.MemberStats{
		ID: "m2", Address: "10.0.0.2:6000", Status: "stopping",
		StartedAt: at.Add(-90 * time.Second), UptimeSeconds: 90,
		DeviceActors: 30, Sessions: 2, Mailbox: cluster.Mailbox{Max: 3, P99: 1},
		Breakers:    cluster.Breakers{Closed: 30},
		Limiter:     cluster.Limiter{Share: 25, Rate: 25, Burst: 10, Tokens: 10, Stretch: 1},
		Upstream:    cluster.Upstream{OK: 500, OKPerMinute: 40},
		MembersSeen: 3,
	}
	return cluster.Stats{
		At: at, Members: []cluster.MemberStats{m1, m2}, Unreachable: []string{"10.0.0.3:6000"},
		Totals: cluster.Totals{
			Members: 2, DeviceActors: 70, Sessions: 5, MailboxMax: 9,
			Breakers: cluster.Breakers{Closed: 67, Open: 2, HalfOpen: 1}, Share: 50, Waiting: 6,
			Upstream: cluster.Upstream{OK: 1500, Failed: 12, RateLimited: 5, OKPerMinute: 100, FailedPerMinute: 2, RateLimitedPerMinute: 1},
			Restarts: 7, Crashed: 1, DeadLetters: 11,
		},
	}
}

// statsServer answers GET /api/v1/cluster/stats with status and body.
func statsServer(t *testing.T, status int, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/api/v1/cluster/stats" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// runClusterStatus runs the command as cmd/evara would, flags included.
func runClusterStatus(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cfg, err := config.Load(append([]string{"cluster", "status"}, args...), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	err = Run(context.Background(), cfg, Build{}, slog.New(slog.DiscardHandler), &out)
	return out.String(), err
}

func fixtureJSON(t *testing.T) string {
	t.Helper()
	b, err := json.Marshal(fixtureClusterStats())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestClusterStatusTable(t *testing.T) {
	srv := statsServer(t, http.StatusOK, fixtureJSON(t))
	out, err := runClusterStatus(t, "--url", srv.URL+"/") // a trailing slash is fine
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("want header, 2 members, TOTAL and unreachable; got:\n%s", out)
	}
	for _, h := range []string{"ID", "ADDRESS", "UPTIME", "MAILBOX", "BREAKERS", "SHARE", "RATE", "TOKENS", "WAITING", "STRETCH", "UPSTREAM", "RESTARTS", "DEAD LETTERS"} {
		if !strings.Contains(lines[0], h) {
			t.Errorf("header lacks %s: %q", h, lines[0])
		}
	}
	for i, want := range [][]string{
		{"6f1c2a9e-47b…", "10.0.0.1:6000", "up", "1d2h", "40", "3", "9/4", "37/2/1", "25.0", "20.0", "3.5", "6", "1.50", "60/2/1", "7", "11"},
		{"m2", "10.0.0.2:6000", "stopping", "1m30s", "30", "2", "3/1", "30/0/0", "25.0", "25.0", "10.0", "0", "1.00", "40/0/0", "0", "0"},
		{"TOTAL", "2", "members", "-", "-", "70", "5", "9/-", "67/2/1", "50.0", "45.0", "-", "6", "-", "100/2/1", "7", "11"},
	} {
		if diff := cmp.Diff(want, strings.Fields(lines[i+1])); diff != "" {
			t.Errorf("row %d (-want +got):\n%s\n%s", i+1, diff, out)
		}
	}
	if lines[4] != "unreachable (no answer in time): 10.0.0.3:6000" {
		t.Errorf("last line %q", lines[4])
	}
}

func TestClusterStatusJSONRoundTrips(t *testing.T) {
	srv := statsServer(t, http.StatusOK, fixtureJSON(t))
	out, err := runClusterStatus(t, "--url", srv.URL, "--json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "\n  \"members\": [") {
		t.Errorf("JSON is not indented:\n%s", out)
	}
	var got cluster.Stats
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if diff := cmp.Diff(fixtureClusterStats(), got); diff != "" {
		t.Errorf("round trip (-sent +printed):\n%s", diff)
	}
}

func TestClusterStatusErrors(t *testing.T) {
	problem := statsServer(t, http.StatusServiceUnavailable,
		`{"detail":"the cluster is still forming","code":"unavailable","correlation_id":"req-42"}`)
	plain := statsServer(t, http.StatusBadGateway, "upstream proxy failed\n")
	notStats := statsServer(t, http.StatusOK, `[1,2,3]`)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // nothing listens there any more

	for _, tc := range []struct {
		name, url string
		want      []string
	}{
		{"error shape", problem.URL, []string{"503", "the cluster is still forming", "req-42"}},
		{"other body", plain.URL, []string{"502", "upstream proxy failed"}},
		{"not stats", notStats.URL, []string{"did not answer with cluster stats"}},
		{"unreachable", down.URL, []string{"cannot reach " + down.URL + "/api/v1/cluster/stats"}},
		{"not a URL", "127.0.0.1:8080", []string{`"127.0.0.1:8080" is not an http(s) URL`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runClusterStatus(t, "--url", tc.url)
			if err == nil {
				t.Fatalf("no error; printed:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if out != "" {
				t.Errorf("printed %q on error", out)
			}
		})
	}
}

func TestClusterStatusHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 1499 * time.Millisecond: "1s", 59 * time.Second: "59s", 61 * time.Second: "1m1s",
		2*time.Hour + 5*time.Minute: "2h5m", 49*time.Hour + 59*time.Minute: "2d1h", -time.Second: "0s",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%s) = %q, want %q", d, got, want)
		}
	}
}
