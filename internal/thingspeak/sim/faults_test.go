package sim

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/evaratech/evara/internal/telemetry"
)

// statusCounts requests sp's feed n times, moving the clock by step after
// each request, and counts the answers by status. It checks the shape of
// every 429 and 503 on the way.
func (h *harness) statusCounts(sp ChannelSpec, n int, step time.Duration) map[int]int {
	h.t.Helper()
	counts := make(map[int]int)
	for range n {
		r := h.get(feedPath(sp, "results=1"))
		counts[r.status]++
		switch r.status {
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			if secs, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || secs < 1 {
				h.t.Errorf("%d answer has Retry-After %q, want whole seconds ≥ 1", r.status, r.header.Get("Retry-After"))
			}
			fallthrough
		case http.StatusInternalServerError:
			if p := decodeProblem(h.t, r); p.Status != strconv.Itoa(r.status) {
				h.t.Errorf("%d answer has status %q in its body %s", r.status, p.Status, r.body)
			}
		}
		h.clock.Advance(step)
	}
	return counts
}

func TestRateLimit(t *testing.T) {
	cases := []struct {
		name     string
		faults   FaultConfig
		requests int           // to channel 0
		step     time.Duration // clock step after each request
		minOK    int
		maxOK    int
		// otherFree: channel 1 is not limited at all afterwards (a global
		// limit spent by channel 0 limits it too).
		otherFree bool
	}{
		{
			name:     "global limit, burst at one instant",
			faults:   FaultConfig{Global: Faults{RateLimit: 5}},
			requests: 12, minOK: 5, maxOK: 5,
		},
		{
			name:     "global limit, sustained 20/s against 10/s",
			faults:   FaultConfig{Global: Faults{RateLimit: 10}},
			requests: 100, step: 50 * time.Millisecond, minOK: 50, maxOK: 60,
		},
		{
			name:     "per-channel limit leaves other channels alone",
			faults:   FaultConfig{Channels: map[telemetry.ChannelID]Faults{2000001: {RateLimit: 3}}},
			requests: 10, minOK: 3, maxOK: 3,
			otherFree: true,
		},
		{
			name:     "a fraction of a request per second",
			faults:   FaultConfig{Channels: map[telemetry.ChannelID]Faults{2000001: {RateLimit: 0.5}}},
			requests: 20, step: 500 * time.Millisecond, minOK: 5, maxOK: 6,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := serve(t, Options{Channels: 2, Faults: tc.faults})
			limited, other := h.sim.Channels()[0], h.sim.Channels()[1]
			got := h.statusCounts(limited, tc.requests, tc.step)
			if ok := got[http.StatusOK]; ok < tc.minOK || ok > tc.maxOK || ok+got[http.StatusTooManyRequests] != tc.requests {
				t.Errorf("answers %v: want %d..%d × 200 and the rest 429", got, tc.minOK, tc.maxOK)
			}
			if tc.otherFree {
				if o := h.statusCounts(other, 10, 0); o[http.StatusOK] != 10 {
					t.Errorf("the unlimited channel got %v", o)
				}
			}
			h.clock.Advance(time.Minute)
			if r := h.get(feedPath(limited, "results=1")); r.status != http.StatusOK {
				t.Errorf("after a quiet minute: status %d, want 200", r.status)
			}
		})
	}
}

func TestErrorRate(t *testing.T) {
	h := serve(t, Options{Channels: 3, Faults: FaultConfig{
		Global:   Faults{ErrorRate: 0.5},
		Channels: map[telemetry.ChannelID]Faults{2000002: {ErrorRate: 1}},
	}})
	chans := h.sim.Channels()
	half := h.statusCounts(chans[0], 400, 0)
	if bad := half[http.StatusInternalServerError]; bad < 140 || bad > 260 || half[http.StatusOK] != 400-bad {
		t.Errorf("error rate 0.5 over 400 requests gave %v", half)
	}
	if all := h.statusCounts(chans[1], 50, 0); all[http.StatusInternalServerError] != 50 {
		t.Errorf("a channel with error rate 1 (on top of 0.5) gave %v", all)
	}
	if err := h.sim.SetFaults(FaultConfig{}); err != nil {
		t.Fatal(err)
	}
	if none := h.statusCounts(chans[2], 50, 0); none[http.StatusOK] != 50 {
		t.Errorf("after clearing the faults: %v", none)
	}
}

func TestOutage(t *testing.T) {
	period := 15 * time.Second
	t0 := testStart()
	window := Window{Start: t0.Add(10 * time.Second), End: t0.Add(40 * time.Second)}
	cases := []struct {
		name        string
		faults      FaultConfig
		otherIsDown bool
	}{
		{"global", FaultConfig{Global: Faults{Outages: []Window{window}}}, true},
		{"per channel", FaultConfig{Channels: map[telemetry.ChannelID]Faults{2000001: {Outages: []Window{window}}}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := serve(t, Options{Channels: 2, Period: period, History: 100, Faults: tc.faults})
			sp, other := h.sim.Channels()[0], h.sim.Channels()[1]
			steps := []struct {
				at   time.Duration
				want int
			}{
				{0, 200}, {9*time.Second + 999*time.Millisecond, 200},
				{10 * time.Second, 503}, {25 * time.Second, 503}, {39*time.Second + 999*time.Millisecond, 503},
				{40 * time.Second, 200}, {time.Hour, 200},
			}
			for _, st := range steps {
				h.clock.Set(t0.Add(st.at))
				r := h.get(feedPath(sp, "results=1"))
				if r.status != st.want {
					t.Errorf("at +%v: status %d, want %d", st.at, r.status, st.want)
				}
				if r.status == 503 && r.header.Get("Retry-After") != strconv.Itoa(int((40*time.Second-st.at+time.Second-1)/time.Second)) {
					t.Errorf("at +%v: Retry-After %q does not point at the window's end", st.at, r.header.Get("Retry-After"))
				}
				otherWant := 200
				if tc.otherIsDown {
					otherWant = st.want
				}
				if r := h.get(feedPath(other, "results=1")); r.status != otherWant {
					t.Errorf("at +%v: the other channel's status %d, want %d", st.at, r.status, otherWant)
				}
			}
			// Data kept flowing: after the outage the feed holds the entries created during it.
			h.clock.Set(t0.Add(45 * time.Second))
			_, entries := h.feed(sp, "start="+strings.ReplaceAll(window.Start.Format(dateLayout), " ", "%20")+"&end="+strings.ReplaceAll(window.End.Format(dateLayout), " ", "%20"))
			if len(entries) != 2 {
				t.Errorf("%d entries were created during the 30 s outage, want 2 at a 15 s period", len(entries))
			}
		})
	}
}

func TestLatencyHoldsNoLockAndEndsWithTheRequest(t *testing.T) {
	h := serve(t, Options{Channels: 2, Faults: FaultConfig{
		Channels: map[telemetry.ChannelID]Faults{2000001: {Latency: time.Hour}},
	}})
	slow, fast := h.sim.Channels()[0], h.sim.Channels()[1]

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.srv.URL+feedPath(slow, "results=1"), nil)
		if err == nil {
			var resp *http.Response
			if resp, err = h.client.Do(req); err == nil {
				resp.Body.Close()
			}
		}
		done <- err
	}()
	for h.sim.Stats().Channels[slow.ID].Requests == 0 { // wait until the slow request sleeps
		time.Sleep(time.Millisecond)
	}
	if r := h.get(feedPath(fast, "results=1")); r.status != http.StatusOK {
		t.Errorf("a request to another channel while one sleeps: status %d", r.status)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("the cancelled request ended with %v, want context.Canceled", err)
	}
}

func TestCloseCutsLatencyShort(t *testing.T) {
	sim, err := New(Options{Channels: 1, Faults: FaultConfig{Global: Faults{Latency: time.Hour}}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Start("127.0.0.1:0", sim)
	if err != nil {
		t.Fatal(err)
	}
	transport := &http.Transport{}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport}
	sp := sim.Channels()[0]
	status := make(chan int, 1)
	go func() {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+feedPath(sp, ""), nil)
		resp, err := client.Do(req)
		if err != nil {
			status <- 0
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	for sim.Stats().RequestsTotal == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
	if got := <-status; got != http.StatusServiceUnavailable {
		t.Errorf("the sleeping request got %d, want 503", got)
	}
}

func TestPostFaults(t *testing.T) {
	h := serve(t, Options{Channels: 2})
	sp := h.sim.Channels()[0]
	body := `{"global":{"latency":"1ms"},"channels":{"2000001":{"error_rate":0.25,"outages":[{"in":"5s","for":"30s"}]}}}`
	r := h.do(http.MethodPost, "/_sim/faults", []byte(body))
	if r.status != http.StatusOK {
		t.Fatalf("POST: status %d, body %s", r.status, r.body)
	}
	t0 := testStart()
	want := FaultConfig{
		Global: Faults{Latency: time.Millisecond},
		Channels: map[telemetry.ChannelID]Faults{2000001: {ErrorRate: 0.25,
			Outages: []Window{{Start: t0.Add(5 * time.Second), End: t0.Add(35 * time.Second)}}}},
	}
	if diff := cmp.Diff(want, h.sim.Faults()); diff != "" {
		t.Errorf("faults after POST (-want +got):\n%s", diff)
	}
	got, err := ParseFaults(h.get("/_sim/faults").body)
	if err != nil {
		t.Fatalf("GET /_sim/faults does not parse back: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GET /_sim/faults (-want +got):\n%s", diff)
	}
	h.clock.Advance(5 * time.Second)
	if r := h.get(feedPath(sp, "")); r.status != http.StatusServiceUnavailable {
		t.Errorf("inside the posted outage: status %d, want 503", r.status)
	}
	h.clock.Advance(30 * time.Second)
	if c := h.statusCounts(sp, 40, 0); c[http.StatusOK]+c[http.StatusInternalServerError] != 40 || c[http.StatusInternalServerError] == 0 {
		t.Errorf("after the posted outage, with error rate 0.25: %v", c)
	}
}

func TestPostFaultsRejectsBadInput(t *testing.T) {
	h := serve(t, Options{Channels: 2})
	want := FaultConfig{Global: Faults{RateLimit: 7}}
	if r := h.do(http.MethodPost, "/_sim/faults", []byte(`{"global":{"rate_limit":7}}`)); r.status != http.StatusOK {
		t.Fatalf("POST: status %d, body %s", r.status, r.body)
	}
	for _, bad := range []string{
		``, `{`, `[]`, `{"global":{"latncy":"1s"}}`, `{"global":{"latency":"abc"}}`, `{"global":{"latency":5}}`,
		`{"global":{"latency":"-1s"}}`, `{"global":{"error_rate":2}}`, `{"global":{"rate_limit":-1}}`,
		`{"channels":{"9999999":{}}}`, `{"channels":{"abc":{}}}`, `{"global":{"outages":[{"in":"5s"}]}}`,
		`{"global":{"outages":[{"start":"2026-01-01T00:00:00Z"}]}}`,
		`{"global":{"outages":[{"start":"2026-01-02T00:00:00Z","end":"2026-01-01T00:00:00Z"}]}}`,
		`{"global":{"outages":[{"start":"2026-01-01T00:00:00Z","end":"2026-01-02T00:00:00Z","for":"1s"}]}}`,
		`{} {}`,
	} {
		t.Run("rejects "+bad, func(t *testing.T) {
			r := h.do(http.MethodPost, "/_sim/faults", []byte(bad))
			if r.status != http.StatusBadRequest {
				t.Errorf("status %d, want 400; body %s", r.status, r.body)
			}
			if p := decodeProblem(t, r); p.Status != "400" || p.Error.Details == "" {
				t.Errorf("error body %s", r.body)
			}
			if diff := cmp.Diff(want, h.sim.Faults()); diff != "" {
				t.Errorf("a rejected POST changed the faults (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("rejects a huge body", func(t *testing.T) {
		huge := append([]byte(`{"global":{"latency":"`), bytes.Repeat([]byte("1"), maxAdminBody)...)
		if r := h.do(http.MethodPost, "/_sim/faults", huge); r.status != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 413", r.status)
		}
	})
}

func TestParseFaults(t *testing.T) {
	now := testStart()
	abs := Window{Start: now.Add(time.Hour), End: now.Add(2 * time.Hour)}
	cases := []struct {
		name string
		json string
		want FaultConfig
	}{
		{"empty", `{}`, FaultConfig{}},
		{"everything", `{"global":{"latency":"200ms","latency_jitter":"50ms","error_rate":0.1,"rate_limit":20,
			"outages":[{"start":"` + abs.Start.Format(time.RFC3339) + `","end":"` + abs.End.Format(time.RFC3339) + `"},{"in":"-5s","for":"1m"}]}}`,
			FaultConfig{Global: Faults{Latency: 200 * time.Millisecond, LatencyJitter: 50 * time.Millisecond, ErrorRate: 0.1, RateLimit: 20,
				Outages: []Window{abs, {Start: now.Add(-5 * time.Second), End: now.Add(55 * time.Second)}}}}},
		{"channels", `{"channels":{"2000003":{"rate_limit":1.5}}}`,
			FaultConfig{Channels: map[telemetry.ChannelID]Faults{2000003: {RateLimit: 1.5}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseFaultsAt([]byte(tc.json), now)
			if err != nil {
				t.Fatalf("ParseFaultsAt: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			data, err := got.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseFaults(data)
			if err != nil {
				t.Fatalf("the marshalled form %s does not parse: %v", data, err)
			}
			if diff := cmp.Diff(tc.want, back); diff != "" {
				t.Errorf("round trip through %s (-want +got):\n%s", data, diff)
			}
		})
	}
	if _, err := ParseFaults([]byte(`{"global":{"error_rate":1.5}}`)); !errors.Is(err, telemetry.ErrInvalid) {
		t.Errorf("an invalid config gave %v, want ErrInvalid", err)
	}
}
