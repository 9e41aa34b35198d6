package app

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/evaratech/evara/internal/config"
)

// TestBenchWS runs the load generator for a moment against the test stack:
// every session connects, is fed, and the report has its figures.
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
	} {
		if !want.MatchString(report) {
			t.Errorf("the report lacks %s", want)
		}
	}
}

// TestBenchRecorderQuantiles: the histogram's p50, p99 and max, and reset.
func TestBenchRecorderQuantiles(t *testing.T) {
	var r benchRecorder
	r.observe(5000) // while connecting: dropped by reset
	r.reset()
	for ms := int64(1); ms <= 100; ms++ {
		r.observe(ms)
	}
	r.observe(-3)      // clock skew: counted as 0
	r.observe(1 << 40) // beyond a minute: the last bucket
	if got := r.snapshot(); got != (benchSnapshot{events: 102, p50: 50, p99: 100, max: histBuckets - 1}) {
		t.Errorf("snapshot %+v", got)
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
