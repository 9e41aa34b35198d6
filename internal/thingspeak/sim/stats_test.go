package sim

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/evaratech/evara/internal/telemetry"
)

func TestStats(t *testing.T) {
	h := serve(t, Options{Channels: 3, History: 10, Period: 30 * time.Second})
	a, b, c := h.sim.Channels()[0], h.sim.Channels()[1], h.sim.Channels()[2]
	t1 := h.clock.Now().UnixMilli()
	t2 := t1 + time.Minute.Milliseconds()

	// Second 1: 4 good requests to a, 2 with a wrong key to b, 1 to an
	// unknown channel. Not counted: an unknown path and the /_sim endpoints.
	for range 4 {
		h.get(feedPath(a, "results=1"))
	}
	h.get("/channels/" + b.ID.String() + "/feeds.json?api_key=WRONG")
	h.get("/channels/" + b.ID.String() + "/feeds/last.json")
	h.get("/channels/9999999/feeds.json")
	h.get("/nothing/here")
	h.get("/_sim/faults")
	// Second 2: 2 concurrent requests to a, 1 to c.
	h.clock.Advance(time.Minute)
	var wg sync.WaitGroup
	for _, path := range []string{feedPath(a, ""), lastPath(a), lastPath(c)} {
		wg.Go(func() { h.get(path) })
	}
	wg.Wait()

	var got Stats
	if err := json.Unmarshal(h.get("/_sim/stats").body, &got); err != nil {
		t.Fatalf("GET /_sim/stats: %v", err)
	}
	want := Stats{
		RequestsTotal:   10,
		MaxRequestsIn1s: 7,
		Responses:       map[string]int64{"200": 7, "400": 2, "404": 1},
		Channels: map[telemetry.ChannelID]ChannelStats{
			a.ID: {ReadKey: a.ReadKey, Requests: 6, LastEntryID: 12, RecentRequestsMs: []int64{t1, t1, t1, t1, t2, t2}},
			b.ID: {ReadKey: b.ReadKey, Requests: 2, LastEntryID: 12, RecentRequestsMs: []int64{t1, t1}},
			c.ID: {ReadKey: c.ReadKey, Requests: 1, LastEntryID: 12, RecentRequestsMs: []int64{t2}},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GET /_sim/stats (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, h.sim.Stats()); diff != "" {
		t.Errorf("Stats() (-want +got):\n%s", diff)
	}
}

func TestStatsCountRejectedRequests(t *testing.T) {
	h := serve(t, Options{Channels: 1, Faults: FaultConfig{Global: Faults{RateLimit: 2}}})
	sp := h.sim.Channels()[0]
	for range 5 {
		h.get(feedPath(sp, ""))
	}
	st := h.sim.Stats()
	if st.Channels[sp.ID].Requests != 5 || st.Responses["200"] != 2 || st.Responses["429"] != 3 {
		t.Errorf("after 2 answered and 3 rate-limited requests: %+v", st)
	}
}

func TestCountersPerSecond(t *testing.T) {
	var c counters
	for _, burst := range []struct {
		sec int64
		n   int
	}{{100, 3}, {101, 9}, {99, 2}, {102, 1}} { // 99: stale clock readings, counted in the current second
		for range burst.n {
			c.request(burst.sec)
		}
	}
	if got := c.maxInOneSecond(); got != 11 {
		t.Errorf("max in one second = %d, want 11", got)
	}
	if c.total.Load() != 15 {
		t.Errorf("total = %d, want 15", c.total.Load())
	}
	var d counters
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				d.request(5)
			}
		})
	}
	wg.Wait()
	d.request(6)
	if got := d.maxInOneSecond(); got != 8000 {
		t.Errorf("8 goroutines × 1000 requests in one second: max = %d, want 8000", got)
	}
}
