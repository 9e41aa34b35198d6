package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is a real evara process started by a test, its JSON log lines
// collected as they come (so the process never blocks on a full pipe).
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs []map[string]any
	done chan error
}

// startSim starts `evara sim` on a free loopback port with args and
// returns its URL once it serves.
func startSim(t testing.TB, args ...string) string {
	t.Helper()
	p := startEvara(t, nil, append([]string{"sim", "--addr", "127.0.0.1:0"}, args...)...)
	url, _ := p.waitFor(t, "simulator serving", 10*time.Second)["url"].(string)
	return url
}

func startEvara(t testing.TB, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "EVARA_LOG_FORMAT=json"}, env...)
	cmd.Dir = t.TempDir()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan error, 1)}
	go p.collect(stderr)
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *proc) collect(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil {
			p.mu.Lock()
			p.logs = append(p.logs, line)
			p.mu.Unlock()
		}
	}
	p.done <- p.cmd.Wait()
}

// waitFor returns the first log line with this message, failing the test
// when none comes within the timeout or the process exits first.
func (p *proc) waitFor(t testing.TB, msg string, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		for _, l := range p.logs {
			if l["msg"] == msg {
				p.mu.Unlock()
				return l
			}
		}
		p.mu.Unlock()
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("%s exited (%v) before logging %q; logs: %v", p.cmd.Args, err, msg, p.lines())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("%s did not log %q within %s; logs: %v", p.cmd.Args, msg, timeout, p.lines())
	return nil
}

func (p *proc) lines() []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]map[string]any(nil), p.logs...)
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Fatalf("%s did not exit cleanly on SIGTERM: %v; logs: %v", p.cmd.Args, err, p.lines())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not stop within 30 s of SIGTERM", p.cmd.Args)
	}
}

// kill sends SIGKILL (if still running) and waits for the exit.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	err := <-p.done
	p.done <- err
}

// testJWTSecret signs the tokens of process tests (32 bytes or more).
const testJWTSecret = "process-test-secret-0123456789abcdef"

// opsEmail is the superadmin of process tests: a server started with
// apiEnv promotes it at its first request (EVARA_BOOTSTRAP_SUPERADMINS).
const opsEmail = "ops@example.com"

// opsToken is the superadmin's bearer token, minted by TestMain.
var opsToken string

// apiEnv is what a served member needs for the tests to call its API as
// the superadmin: the token secret, the bootstrap superadmin, and a user
// rate limit the load tests stay under.
func apiEnv(env ...string) []string {
	return append([]string{"SUPABASE_JWT_SECRET=" + testJWTSecret, "EVARA_BOOTSTRAP_SUPERADMINS=" + opsEmail,
		"EVARA_RATE_LIMIT_USER=100000000"}, env...)
}

// authGet sends GET url with the superadmin's token.
func authGet(client *http.Client, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+opsToken)
	return client.Do(req)
}
