package thingspeak_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/thingspeak"
	"github.com/evaratech/evara/internal/thingspeak/sim"
)

// The client against the simulator: every error class the simulator can
// produce, and data that must equal the simulator's own ground truth.

var t0 = time.Date(2026, 2, 26, 21, 27, 0, 0, time.UTC)

type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

type upstream struct {
	sim    *sim.Simulator
	client *thingspeak.Client
	clock  *clock
	ch     sim.ChannelSpec // the first channel, a tank
	url    string
}

func startSim(t *testing.T, opts sim.Options, timeout time.Duration) *upstream {
	t.Helper()
	u := &upstream{clock: &clock{}}
	u.clock.ns.Store(t0.UnixNano())
	opts.Now, opts.Start, opts.Seed = u.clock.Now, t0, 42
	s, err := sim.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sim.Start("127.0.0.1:0", s)
	if err != nil {
		t.Fatal(err)
	}
	transport := &http.Transport{}
	t.Cleanup(func() {
		transport.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	c, err := thingspeak.New(thingspeak.Options{BaseURL: srv.URL, HTTPClient: &http.Client{Transport: transport}, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	u.sim, u.client, u.ch, u.url = s, c, s.Channels()[0], srv.URL
	return u
}

func (u *upstream) requests(t *testing.T) int64 {
	t.Helper()
	return u.sim.Stats().Channels[u.ch.ID].Requests
}

func TestFeedEqualsSimulatorData(t *testing.T) {
	u := startSim(t, sim.Options{Channels: 2, Period: 15 * time.Second, History: 9000}, 10*time.Second)
	ctx := context.Background()

	feed, err := u.client.Feed(ctx, u.ch.ID, u.ch.ReadKey, thingspeak.Query{Results: 9000})
	if err != nil {
		t.Fatal(err)
	}
	if len(feed.Entries) != thingspeak.MaxResults {
		t.Fatalf("got %d entries, want the 8000 cap", len(feed.Entries))
	}
	last := u.sim.LastEntryID(u.ch.ID)
	want := u.sim.Entries(u.ch.ID, last-thingspeak.MaxResults+1, last)
	if diff := cmp.Diff(want, feed.Entries); diff != "" {
		t.Fatalf("feed differs from the simulator's data (-want +got):\n%s", diff)
	}
	if feed.Channel.ID != u.ch.ID || feed.Channel.LastEntryID != last || feed.Channel.Name != u.ch.Name {
		t.Errorf("channel header = %+v", feed.Channel)
	}
	missing := 0
	for _, e := range feed.Entries {
		if _, ok := e.Field(3); !ok {
			missing++
		}
	}
	if missing == 0 {
		t.Error("a tank's 8000 entries should include null or empty TDS values")
	}

	entry, err := u.client.Last(ctx, u.ch.ID, u.ch.ReadKey)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[len(want)-1], entry); diff != "" {
		t.Errorf("last entry differs (-want +got):\n%s", diff)
	}

	window, err := u.client.Feed(ctx, u.ch.ID, u.ch.ReadKey, thingspeak.Query{Minutes: 10})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(window.Entries); n < 39 || n > 41 { // one entry per 15 s
		t.Errorf("minutes=10 returned %d entries, want about 40", n)
	}
}

func TestAfter(t *testing.T) {
	u := startSim(t, sim.Options{Channels: 1, Period: 15 * time.Second, History: 10_000}, 10*time.Second)
	ctx := context.Background()
	last := u.sim.LastEntryID(u.ch.ID)

	t.Run("steady state costs one request", func(t *testing.T) {
		before := u.requests(t)
		page, err := u.client.After(ctx, u.ch.ID, u.ch.ReadKey, last-3, 5)
		if err != nil {
			t.Fatal(err)
		}
		if got := u.requests(t) - before; got != 1 || page.Requests != 1 {
			t.Errorf("%d requests (page says %d), want 1", got, page.Requests)
		}
		assertContiguous(t, page.Entries, last-2, last)
		if page.Missed != 0 {
			t.Errorf("Missed = %d", page.Missed)
		}
	})
	t.Run("nothing new", func(t *testing.T) {
		page, err := u.client.After(ctx, u.ch.ID, u.ch.ReadKey, last, 5)
		if err != nil || len(page.Entries) != 0 {
			t.Fatalf("page %d entries, err %v", len(page.Entries), err)
		}
	})
	t.Run("backfill after an outage asks once more", func(t *testing.T) {
		u.clock.Advance(time.Hour) // 240 new entries while we expected 5
		now := u.sim.LastEntryID(u.ch.ID)
		before := u.requests(t)
		page, err := u.client.After(ctx, u.ch.ID, u.ch.ReadKey, last, 5)
		if err != nil {
			t.Fatal(err)
		}
		if got := u.requests(t) - before; got != 2 || page.Requests != 2 {
			t.Errorf("%d requests (page says %d), want 2", got, page.Requests)
		}
		assertContiguous(t, page.Entries, last+1, now)
		last = now
	})
	t.Run("more than 8000 behind reports what it missed", func(t *testing.T) {
		page, err := u.client.After(ctx, u.ch.ID, u.ch.ReadKey, 100, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Entries) != thingspeak.MaxResults {
			t.Fatalf("%d entries", len(page.Entries))
		}
		assertContiguous(t, page.Entries, last-thingspeak.MaxResults+1, last)
		if want := last - thingspeak.MaxResults - 100; page.Missed != want {
			t.Errorf("Missed = %d, want %d", page.Missed, want)
		}
	})
}

func assertContiguous(t *testing.T, entries []telemetry.Entry, from, to int64) {
	t.Helper()
	if int64(len(entries)) != to-from+1 {
		t.Fatalf("got %d entries, want ids %d..%d", len(entries), from, to)
	}
	for i, e := range entries {
		if e.EntryID != from+int64(i) {
			t.Fatalf("entry %d has id %d, want %d", i, e.EntryID, from+int64(i))
		}
	}
}

func TestErrorClassesFromSimulator(t *testing.T) {
	ctx := context.Background()
	u := startSim(t, sim.Options{Channels: 3, Period: 15 * time.Second}, 300*time.Millisecond)
	chans := u.sim.Channels()
	faulty := func(f sim.Faults) map[telemetry.ChannelID]sim.Faults {
		return map[telemetry.ChannelID]sim.Faults{chans[1].ID: f}
	}

	tests := []struct {
		name   string
		faults sim.FaultConfig
		ch     telemetry.ChannelID
		key    string
		kind   error
	}{
		{"wrong key", sim.FaultConfig{}, chans[0].ID, "WRONGKEY", thingspeak.ErrUnauthorized},
		{"no key", sim.FaultConfig{}, chans[0].ID, "", thingspeak.ErrUnauthorized},
		{"unknown channel", sim.FaultConfig{}, 99, chans[0].ReadKey, thingspeak.ErrNotFound},
		{"server errors", sim.FaultConfig{Channels: faulty(sim.Faults{ErrorRate: 1})}, chans[1].ID, chans[1].ReadKey, thingspeak.ErrUpstream},
		{"outage", sim.FaultConfig{Global: sim.Faults{Outages: []sim.Window{{Start: t0.Add(-time.Minute), End: t0.Add(time.Minute)}}}}, chans[2].ID, chans[2].ReadKey, thingspeak.ErrUpstream},
		{"slower than the timeout", sim.FaultConfig{Channels: faulty(sim.Faults{Latency: 5 * time.Second})}, chans[1].ID, chans[1].ReadKey, thingspeak.ErrTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := u.sim.SetFaults(tt.faults); err != nil {
				t.Fatal(err)
			}
			_, err := u.client.Feed(ctx, tt.ch, tt.key, thingspeak.Query{Results: 1})
			assertSimKind(t, err, tt.kind, tt.ch, tt.key)
		})
	}

	t.Run("rate limited with Retry-After", func(t *testing.T) {
		if err := u.sim.SetFaults(sim.FaultConfig{Global: sim.Faults{RateLimit: 2}}); err != nil {
			t.Fatal(err)
		}
		var limited error
		for i := 0; i < 10 && limited == nil; i++ { // the fake clock stands still: the bucket never refills
			if _, err := u.client.Last(ctx, chans[0].ID, chans[0].ReadKey); err != nil {
				limited = err
			}
		}
		assertSimKind(t, limited, thingspeak.ErrRateLimited, chans[0].ID, chans[0].ReadKey)
		if d, ok := thingspeak.RetryAfter(limited); !ok || d <= 0 {
			t.Errorf("no Retry-After in %v", limited)
		}
	})
}

func assertSimKind(t *testing.T, err, kind error, ch telemetry.ChannelID, key string) {
	t.Helper()
	var e *thingspeak.Error
	if !errors.As(err, &e) || !errors.Is(err, kind) || e.Channel != ch {
		t.Fatalf("want %v for channel %d, got %v", kind, ch, err)
	}
	if key != "" && strings.Contains(err.Error(), key) {
		t.Fatalf("error leaks the key: %v", err)
	}
}

// advancingTransport moves the simulator's clock after each request, as if
// entries arrived while the client was between two requests.
type advancingTransport struct {
	clock *clock
	by    time.Duration
}

func (a advancingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	a.clock.Advance(a.by)
	return resp, err
}

func TestAfterKeepsTheOldestEntryWhenEntriesArriveBetweenRequests(t *testing.T) {
	u := startSim(t, sim.Options{Channels: 1, Period: time.Second, History: 6000}, 10*time.Second)
	c, err := thingspeak.New(thingspeak.Options{BaseURL: u.url, HTTPClient: &http.Client{Transport: advancingTransport{u.clock, 3 * time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	page, err := c.After(context.Background(), u.ch.ID, u.ch.ReadKey, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) == 0 || page.Entries[0].EntryID != 1 || page.Missed != 0 {
		t.Fatalf("backfill from the start begins at entry %d (missed %d): entries that arrived between requests pushed it out", page.Entries[0].EntryID, page.Missed)
	}
	assertContiguous(t, page.Entries, 1, page.Entries[len(page.Entries)-1].EntryID)
}
