package app

import (
	"bufio"
	"context"
	"errors"
	"math"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/evaratech/evara/internal/config"
)

// TestBenchWS runs the load generator for a moment against the test stack:
// every session connects, is fed, and the report has its figures, the
// loopback floor and the CPU per event against it among them.
func TestBenchWS(t *testing.T) {
	e := newAPIEnv(t)
	cfg, err := config.Load([]string{"bench", "ws", "--url", e.URL, "--sessions", "20", "--topics", "2", "--duration", "2s"},
		func(name string) string {
			if name == "EVARA_BENCH_TOKEN" {
				return e.fx.Tokens["superadmin"]
			}
			return ""
		})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out strings.Builder
	if err := Run(ctx, cfg, Build{}, nil, &out); err != nil {
		t.Fatalf("bench ws: %v\n%s", err, out.String())
	}
	report := out.String()
	t.Log("\n" + report)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`sessions\s+20: 20 fed, 0 failed`),
		regexp.MustCompile(`topics per session\s+2 of 2 devices`),
		regexp.MustCompile(`events delivered\s+[1-9]\d* \(`),
		regexp.MustCompile(`delay ts → receipt\s+p50 \d+ ms, p99 \d+ ms, max \d+ ms`),
		regexp.MustCompile(`member memory per session\s+-?\d+\.\d KB`),
		regexp.MustCompile(`member live memory per session\s+-?\d+\.\d KB: heap live at the last GC -?\d+\.\d KB \(\d+ → \d+ MB\), stacks -?\d+\.\d KB`),
		regexp.MustCompile(`member CPU while measured\s+\d+ %`),
		regexp.MustCompile(`frames received\s+[1-9]\d* \(` + positive + `/s\), [1-9]\d* bytes on average, ` + positive + ` events per frame`),
		regexp.MustCompile(`loopback floor\s+` + positive + ` µs CPU per frame written and read, 20 connections \(at most 5000: the process's descriptors\), [1-9]\d*-byte frames, 200000 frames`),
		regexp.MustCompile(`CPU per delivered event\s+member ` + positive + ` µs \+ load generator ` + positive + ` µs = ` + positive + ` × the floor`),
		regexp.MustCompile(`the floor alone at this load\s+` + positive + ` events/s as one frame each need ` + positive + ` cores \(the ` +
			positive + ` frames/s received, ` + positive + `\); this machine has [1-9]\d*`),
	} {
		if !want.MatchString(report) {
			t.Errorf("the report lacks %s", want)
		}
	}
}

// positive matches a number greater than zero as the report writes it.
const positive = `(?:[1-9]\d*(?:\.\d+)?|0\.\d*[1-9]\d*)`

// TestBenchRecorderQuantiles: the histogram's p50, p99 and max, and reset.
func TestBenchRecorderQuantiles(t *testing.T) {
	var r benchRecorder
	r.observe(5000) // while connecting: dropped by reset
	r.received(999)
	r.reset()
	if got := r.snapshot().meanFrameBytes(); got != fallbackFrameBytes {
		t.Errorf("no frame: mean frame %d bytes, want the fallback %d", got, fallbackFrameBytes)
	}
	for ms := int64(1); ms <= 100; ms++ {
		r.observe(ms)
	}
	r.observe(-3)      // clock skew: counted as 0
	r.observe(1 << 40) // beyond a minute: the last bucket
	r.received(100)
	r.received(301)
	want := benchSnapshot{events: 102, frames: 2, frameBytes: 401, p50: 50, p99: 100, max: histBuckets - 1}
	if got := r.snapshot(); got != want {
		t.Errorf("snapshot %+v, want %+v", got, want)
	}
	if got := r.snapshot().meanFrameBytes(); got != 200 {
		t.Errorf("mean frame %d bytes, want 200", got)
	}
}

// TestLoopbackFloor measures the floor over a few connections: it counts
// every frame, spends some CPU on them, and leaves no connection open
// (goleak in TestMain checks the goroutines).
func TestLoopbackFloor(t *testing.T) {
	const conns = 8
	fds := openFiles(t)
	// 20,001 frames: they do not divide evenly between the connections.
	f, err := measureLoopbackFloor(context.Background(), conns, 300, 20_001)
	if err != nil {
		t.Fatal(err)
	}
	if f.conns != conns || f.frameBytes != 300 || f.frames != 20_001 {
		t.Errorf("floor %+v, want %d connections, 300-byte frames, 20001 frames", f, conns)
	}
	t.Logf("%.2f µs CPU per frame written and read", f.microsPerFrame())
	if f.cpu <= 0 || f.microsPerFrame() <= 0 {
		t.Errorf("floor %+v: no CPU measured", f)
	}
	// Other tests' leftovers may close descriptors meanwhile, not open a
	// connection's worth.
	if left := openFiles(t) - fds; left >= conns {
		t.Errorf("%d more descriptors open after the floor than before", left)
	}
}

// TestLoopbackFloorCancelled: the end of the context stops a floor that
// would write for hours, with its error, and closes everything.
func TestLoopbackFloorCancelled(t *testing.T) {
	const conns = 8
	fds := openFiles(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := measureLoopbackFloor(ctx, conns, 300, math.MaxInt32); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want the context's deadline", err)
	}
	if left := openFiles(t) - fds; left >= conns {
		t.Errorf("%d more descriptors open after the floor than before", left)
	}
}

// openFiles counts this process's open descriptors.
func openFiles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(fds)
}

// TestFigures: two significant figures, no exponent.
func TestFigures(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", 15.04: "15", 1.5: "1.5", 0.000612: "0.00061", 123456: "123456", 2.96: "3.0", 0.099: "0.099",
	} {
		if got := figures(v); got != want {
			t.Errorf("figures(%v) = %q, want %q", v, got, want)
		}
	}
}

// TestTelemetryStamps: the load generator finds the ts of every telemetry
// event in a frame as the member encodes them, and nothing else's.
func TestTelemetryStamps(t *testing.T) {
	for _, c := range []struct {
		frame string
		want  []int64
	}{
		{`{"event":"TELEMETRY_UPDATE","node_id":"n1","ts":1700000000123,"entry_id":4,"metrics":{"ts":9}}`, []int64{1700000000123}},
		{`{"event":"BATCH_STATUS_UPDATE","updates":[{"event":"TELEMETRY_UPDATE","node_id":"a","ts":11,"metrics":{}},` +
			`{"event":"STATUS_UPDATE","node_id":"b","ts":12,"status":"Online"},{"event":"TELEMETRY_UPDATE","node_id":"c","ts":13}],"ts":13}`, []int64{11, 13}},
		{`{"event":"STATUS_UPDATE","node_id":"b","ts":12,"status":"Online"}`, nil},
		{`{"type":"subscribed","topic":"node:x"}`, nil},
		{`{"event":"TELEMETRY_UPDATE","node_id":"n1"}`, nil},
	} {
		if got := telemetryStamps([]byte(c.frame)); !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.frame, got, c.want)
		}
	}
}

// The generator's client joins a fragmented message, skips control
// frames, refuses a message over its limit, and ends at a close frame.
func TestBenchConnReadsMessages(t *testing.T) {
	server, client := net.Pipe()
	defer func() { _ = server.Close() }()
	b := &benchConn{conn: client, br: bufio.NewReaderSize(client, benchReadBuffer)}
	long := strings.Repeat("y", 300)
	go func() {
		frame := func(b0 byte, p string) []byte {
			f := []byte{b0}
			if len(p) < 126 {
				f = append(f, byte(len(p)))
			} else {
				f = append(f, 126, byte(len(p)>>8), byte(len(p)))
			}
			return append(f, p...)
		}
		for _, f := range [][]byte{
			frame(0x81, `{"event":"A"}`),
			frame(0x01, `{"event":`), frame(0x89, "ping"), frame(0x80, `"B","x":"`+long+`"}`),
			frame(0x88, "\x03\xe8"),
		} {
			if _, err := server.Write(f); err != nil {
				return
			}
		}
	}()
	for _, want := range []string{`{"event":"A"}`, `{"event":"B","x":"` + long + `"}`} {
		got, err := b.readMessage(1 << 20)
		if err != nil || string(got) != want {
			t.Fatalf("got %q, %v; want %q", got, err, want)
		}
	}
	if _, err := b.readMessage(1 << 20); closeReason(err) != "1000" {
		t.Fatalf("after the close frame: %v", err)
	}
	go func() { _, _ = server.Write(append([]byte{0x81, 126, 0, 200}, strings.Repeat("z", 200)...)) }()
	if _, err := b.readMessage(100); err == nil || !strings.Contains(err.Error(), "over 100 bytes") {
		t.Fatalf("a 200-byte message with a limit of 100: %v", err)
	}
}
