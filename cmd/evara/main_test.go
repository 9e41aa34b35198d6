package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/evaratech/evara/api/auth"
	"github.com/evaratech/evara/persistence/sqlitestore"
)

// These tests build the real binary and run it as an operator would.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "evara-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "evara")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.version=v0.0.0-test -X main.commit=feedbee", "-o", binary, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		panic("build evara: " + err.Error() + "\n" + string(out))
	}
	opsToken, err = auth.Mint([]byte(testJWTSecret), auth.MintOptions{Subject: "ops", Email: opsEmail, TTL: 24 * time.Hour})
	if err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// evara runs the binary with a clean environment plus env, and returns its
// stdout, stderr and exit code.
func evara(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}, env...)
	cmd.Dir = t.TempDir()
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run evara: %v", err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

func TestVersion(t *testing.T) {
	out, _, code := evara(t, nil, "version")
	if code != 0 || !strings.Contains(out, "v0.0.0-test") || !strings.Contains(out, "feedbee") {
		t.Fatalf("exit %d, output %q", code, out)
	}
}

func TestUsage(t *testing.T) {
	if _, stderr, code := evara(t, nil); code != 2 || !strings.Contains(stderr, "usage: evara") {
		t.Errorf("no command: exit %d, stderr %q", code, stderr)
	}
	if out, _, code := evara(t, nil, "serve", "-h"); code != 0 || !strings.Contains(out, "--demo") {
		t.Errorf("serve -h: exit %d, stdout %q", code, out)
	}
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"  token ", "  users promote "}},
		{[]string{"token", "-h"}, []string{"--sub", "--email", "--role", "--ttl", "EVARA_JWT_SECRET"}},
		{[]string{"users", "promote", "-h"}, []string{"usage: evara users promote <email> [flags]", "--role", "--data-dir"}},
	}
	for _, tt := range tests {
		out, _, code := evara(t, nil, tt.args...)
		for _, want := range tt.want {
			if code != 0 || !strings.Contains(out, want) {
				t.Errorf("%s: exit %d, stdout lacks %q:\n%s", strings.Join(tt.args, " "), code, want, out)
			}
		}
	}
}

// TestMainToken: `evara token` prints one JWT and nothing else on stdout,
// and without a secret says which variable to set, exit 1.
func TestMainToken(t *testing.T) {
	const secret = "main-test-secret-0123456789abcdef"
	out, stderr, code := evara(t, []string{"EVARA_JWT_SECRET=" + secret}, "token", "--sub", "user-1", "--email", "ada@example.com")
	tok, ok := strings.CutSuffix(out, "\n")
	if code != 0 || !ok || strings.Count(tok, ".") != 2 || strings.ContainsAny(tok, " \n") {
		t.Fatalf("exit %d, stdout %q, stderr %q: want one JWT and a newline", code, out, stderr)
	}
	out, stderr, code = evara(t, nil, "token", "--sub", "user-1")
	if code != 1 || out != "" || !strings.Contains(stderr, "EVARA_JWT_SECRET") {
		t.Fatalf("without a secret: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}

// TestMainUsersPromote: the first superadmin, as an operator makes one on
// the embedded store, with the flag after the email.
func TestMainUsersPromote(t *testing.T) {
	ctx, dir := context.Background(), t.TempDir()
	st, err := sqlitestore.Open(ctx, dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = st.SyncProfile(ctx, "sub-ada", "ada@example.com", "Ada")
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"EVARA_DATA_DIR=" + dir}
	if out, stderr, code := evara(t, env, "users", "promote", "ada@example.com", "--role", "superadmin"); code != 0 || out != "promoted ada@example.com to superadmin\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	if _, stderr, code := evara(t, env, "users", "promote", "ghost@example.com"); code != 1 || !strings.Contains(stderr, "they must sign in once first") {
		t.Fatalf("unknown email: exit %d, stderr %q", code, stderr)
	}
}

func TestConfigCheck(t *testing.T) {
	t.Run("valid, secrets redacted", func(t *testing.T) {
		out, _, code := evara(t, []string{
			"DATABASE_URL=postgres://evara:hunter2@db:5432/evara",
			"SUPABASE_JWT_SECRET=super-secret-jwt-signing-key-0123456789",
			"EVARA_HTTP_ADDR=127.0.0.1:9090",
		}, "config", "check")
		if code != 0 || !strings.Contains(out, "configuration is valid") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		if strings.Contains(out, "hunter2") || strings.Contains(out, "super-secret") {
			t.Fatalf("secret printed:\n%s", out)
		}
		if !strings.Contains(out, "127.0.0.1:9090") || !strings.Contains(out, "env EVARA_HTTP_ADDR") || !strings.Contains(out, "db:5432") {
			t.Fatalf("effective values missing:\n%s", out)
		}
	})
	t.Run("invalid lists every problem", func(t *testing.T) {
		_, stderr, code := evara(t, []string{"REDIS_URL=http://nope", "EVARA_ENV=prod", "SUPABASE_JWT_SECRET=short-but-secret"}, "config", "check", "--addr", "x")
		if code == 0 {
			t.Fatal("invalid configuration accepted")
		}
		for _, want := range []string{"REDIS_URL", "EVARA_ENV", "SUPABASE_JWT_SECRET", "EVARA_HTTP_ADDR"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks %s:\n%s", want, stderr)
			}
		}
		if strings.Contains(stderr, "short-but-secret") {
			t.Errorf("secret printed:\n%s", stderr)
		}
	})
	t.Run("serve refuses an invalid configuration", func(t *testing.T) {
		_, stderr, code := evara(t, []string{"EVARA_ENV=production"}, "serve", "--demo", "--addr", "127.0.0.1:0")
		if code == 0 || !strings.Contains(stderr, "EVARA_DEMO") {
			t.Fatalf("exit %d, stderr %s", code, stderr)
		}
	})
}

// TestServeDemo is the newcomer's first command: serve with the built-in
// simulator, /health answers ok, SIGTERM stops it cleanly.
func TestServeDemo(t *testing.T) {
	p := startEvara(t, apiEnv(), "serve", "--demo", "--addr", "127.0.0.1:0")
	simURL, _ := p.waitFor(t, "demo simulator started", 10*time.Second)["url"].(string)
	addr, _ := p.waitFor(t, "evara serving", 10*time.Second)["addr"].(string)

	var health struct {
		Status   string            `json:"status"`
		Services map[string]string `json:"services"`
	}
	getJSON(t, "http://"+addr+"/health", &health)
	if health.Status != "ok" || health.Services["thingspeak"] != "simulator" || health.Services["database"] != "embedded" {
		t.Fatalf("health = %+v", health)
	}
	if stats := simStats(t, simURL); len(stats.Channels) != 12 {
		t.Fatalf("demo has %d channels, want a dozen", len(stats.Channels))
	}

	// The operators' views: cluster stats (one member, a device per demo
	// channel), `evara cluster status`, and Prometheus.
	var cs struct {
		Totals struct {
			Members      int   `json:"members"`
			DeviceActors int64 `json:"device_actors"`
		} `json:"totals"`
	}
	for deadline := time.Now().Add(10 * time.Second); cs.Totals.DeviceActors != 12 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		getJSON(t, "http://"+addr+"/api/v1/cluster/stats", &cs)
	}
	if cs.Totals.Members != 1 || cs.Totals.DeviceActors != 12 {
		t.Errorf("cluster stats totals = %+v, want 1 member with 12 devices", cs.Totals)
	}
	out, errOut, code := evara(t, []string{"EVARA_STATUS_TOKEN=" + opsToken}, "cluster", "status", "--url", "http://"+addr)
	if code != 0 || !strings.Contains(out, "TOTAL") {
		t.Errorf("cluster status: exit %d\n%s%s", code, out, errOut)
	}
	// Without a superadmin's token the command says what it needs.
	out, errOut, code = evara(t, nil, "cluster", "status", "--url", "http://"+addr)
	if code == 0 || !strings.Contains(errOut, "401") || !strings.Contains(errOut, "EVARA_STATUS_TOKEN") {
		t.Errorf("cluster status without a token: exit %d\n%s%s", code, out, errOut)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"evara_devices 12", "evara_upstream_requests_total{outcome=\"ok\"}", "evara_breaker_state{state=\"closed\"}", "evara_http_request_duration_seconds_count"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	p.stop(t)
}

func getJSON(t testing.TB, url string, v any) {
	t.Helper()
	if err := getJSONErr(url, v); err != nil {
		t.Fatal(err)
	}
}

func getJSONErr(url string, v any) error {
	resp, err := authGet(http.DefaultClient, url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w in %s", url, err, body)
	}
	return nil
}
