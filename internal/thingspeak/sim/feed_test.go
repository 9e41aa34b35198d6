package sim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/evaratech/evara/internal/telemetry"
)

func TestFeedShape(t *testing.T) {
	h := serve(t, Options{Seed: 7})
	for _, sp := range h.sim.Channels() {
		t.Run(sp.Name, func(t *testing.T) {
			doc, entries := h.feed(sp, "results=50")
			if doc.Channel.ID != int64(sp.ID) || doc.Channel.Name != sp.Name {
				t.Errorf("channel = %d %q, want %d %q", doc.Channel.ID, doc.Channel.Name, sp.ID, sp.Name)
			}
			if doc.Channel.Field1 == "" || doc.Channel.CreatedAt == "" || doc.Channel.UpdatedAt == "" {
				t.Errorf("channel object lacks field1, created_at or updated_at: %+v", doc.Channel)
			}
			if doc.Channel.LastEntryID != defaultHistory {
				t.Errorf("last_entry_id at Start = %d, want History %d", doc.Channel.LastEntryID, defaultHistory)
			}
			if len(entries) != 50 {
				t.Fatalf("got %d entries, want 50", len(entries))
			}
			for i, e := range entries {
				if want := doc.Channel.LastEntryID - 49 + int64(i); e.EntryID != want {
					t.Errorf("entry %d has entry_id %d, want %d (contiguous, ascending, ending at last_entry_id)", i, e.EntryID, want)
				}
				if i > 0 && !e.CreatedAt.After(entries[i-1].CreatedAt) {
					t.Errorf("created_at %v does not follow %v", e.CreatedAt, entries[i-1].CreatedAt)
				}
				if e.CreatedAt.After(h.clock.Now()) {
					t.Errorf("entry %d created at %v, after now %v", e.EntryID, e.CreatedAt, h.clock.Now())
				}
			}
			want := len(sp.Kind.fieldNames())
			for _, raw := range doc.Feeds {
				for n := 1; n <= telemetry.FieldCount; n++ {
					_, present := raw["field"+string(rune('0'+n))]
					if present != (n <= want) {
						t.Fatalf("entry %s: field%d present = %v, want %v", raw["entry_id"], n, present, n <= want)
					}
				}
			}
			if diff := cmp.Diff(h.sim.Entries(sp.ID, entries[0].EntryID, entries[49].EntryID), entries); diff != "" {
				t.Errorf("Entries() differs from the HTTP feed (-Entries +HTTP):\n%s", diff)
			}
		})
	}
}

func TestFeedParameters(t *testing.T) {
	h := serve(t, Options{Channels: 1, Period: time.Minute, History: 3000})
	sp := h.sim.Channels()[0]
	h.clock.Advance(5*time.Minute + 500*time.Millisecond) // a few new entries, and a fractional now
	now := h.clock.Now()

	doc, all := h.feed(sp, "results=8000")
	last := doc.Channel.LastEntryID
	if int64(len(all)) != last || all[0].EntryID != 1 {
		t.Fatalf("the full feed has %d entries from %d, want all %d from 1", len(all), all[0].EntryID, last)
	}
	if last != 3005 {
		t.Fatalf("last_entry_id = %d after five periods past Start, want 3005", last)
	}
	between := func(from, to time.Time) []int64 {
		var ids []int64
		for _, e := range all {
			if !e.CreatedAt.Before(from) && !e.CreatedAt.After(to) {
				ids = append(ids, e.EntryID)
			}
		}
		return ids
	}
	newest := func(ids []int64, n int) []int64 { return ids[max(0, len(ids)-n):] }
	a, b := all[100].CreatedAt, all[200].CreatedAt // exact entry times test inclusiveness
	text := func(t time.Time) string { return url.QueryEscape(t.Format("2006-01-02 15:04:05")) }
	far := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

	cases := []struct {
		name, params string
		want         []int64
	}{
		{"no parameters: newest 100", "", newest(between(far, now), 100)},
		{"results", "results=5", newest(between(far, now), 5)},
		{"results=0 means the cap", "results=0", between(far, now)},
		{"minutes", "minutes=90", between(now.Add(-90*time.Minute), now)},
		{"minutes with results", "minutes=90&results=7", newest(between(now.Add(-90*time.Minute), now), 7)},
		{"days", "days=1", between(now.Add(-24*time.Hour), now)},
		{"days with results", "days=1&results=1000", newest(between(now.Add(-24*time.Hour), now), 1000)},
		{"start and end inclusive", "start=" + text(a) + "&end=" + text(b), between(a, b)},
		{"start and end as RFC 3339", "start=" + url.QueryEscape(a.Format(time.RFC3339)) + "&end=" + url.QueryEscape(b.Format(time.RFC3339)), between(a, b)},
		{"plus for the space", "start=" + strings.ReplaceAll(text(a), "%20", "+") + "&end=" + text(b), between(a, b)},
		{"start and end with results", "start=" + text(a) + "&end=" + text(b) + "&results=10", newest(between(a, b), 10)},
		{"start only", "start=" + text(all[2900].CreatedAt), between(all[2900].CreatedAt, now)},
		{"end only", "end=" + text(b), between(far, b)},
		{"the narrowest lower bound wins", "days=1&start=" + text(all[2990].CreatedAt), between(all[2990].CreatedAt, now)},
		{"end before start", "start=" + text(b) + "&end=" + text(a), nil},
		{"unknown parameters are ignored", "timezone=Asia%2FKolkata&round=2&results=3", newest(between(far, now), 3)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, got := h.feed(sp, tc.params)
			if len(tc.want) == 0 && len(got) == 0 {
				return
			}
			if diff := cmp.Diff(tc.want, entryIDs(got)); diff != "" {
				t.Errorf("entry ids (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResultsCappedAt8000(t *testing.T) {
	h := serve(t, Options{Channels: 1, History: 9000})
	sp := h.sim.Channels()[0]
	for _, params := range []string{"results=9000", "results=0", "days=30", "start=2000-01-01%2000:00:00", "minutes=100000"} {
		t.Run(params, func(t *testing.T) {
			doc, got := h.feed(sp, params)
			if len(got) != maxResults {
				t.Fatalf("got %d entries, want the cap %d", len(got), maxResults)
			}
			if first, last := got[0].EntryID, got[len(got)-1].EntryID; first != 9000-7999 || last != doc.Channel.LastEntryID {
				t.Errorf("entries %d..%d, want the newest 8000: 1001..%d", first, last, doc.Channel.LastEntryID)
			}
		})
	}
}

func TestBadParameters(t *testing.T) {
	h := serve(t, Options{Channels: 1})
	sp := h.sim.Channels()[0]
	for _, params := range []string{
		"results=abc", "results=-1", "results=1.5", "minutes=x", "days=-2", "days=1e3",
		"start=2026-13-01%2000:00:00", "start=yesterday", "end=2026-02-30", "start=%ZZ",
	} {
		t.Run(params, func(t *testing.T) {
			r := h.get(feedPath(sp, params))
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400; body %s", r.status, r.body)
			}
			p := decodeProblem(t, r)
			if p.Status != "400" || p.Error.Code != "error_bad_request" || p.Error.Details == "" {
				t.Errorf("error body %s is not ThingSpeak's shape", r.body)
			}
		})
	}
}

func TestAccessNeedsTheReadKey(t *testing.T) {
	h := serve(t, Options{Channels: 2})
	sp, other := h.sim.Channels()[0], h.sim.Channels()[1]
	base := "/channels/" + sp.ID.String()
	cases := []struct {
		name, path string
		header     string
		want       int
	}{
		{"feed without key", base + "/feeds.json?results=1", "", http.StatusBadRequest},
		{"feed with a wrong key", base + "/feeds.json?api_key=XXXXXXXXXXXXXXXX", "", http.StatusBadRequest},
		{"feed with another channel's key", base + "/feeds.json?api_key=" + other.ReadKey, "", http.StatusBadRequest},
		{"feed with the key in lower case", base + "/feeds.json?api_key=" + strings.ToLower(sp.ReadKey), "", http.StatusBadRequest},
		{"last without key", base + "/feeds/last.json", "", http.StatusBadRequest},
		{"last with a wrong key", base + "/feeds/last.json?api_key=" + other.ReadKey, "", http.StatusBadRequest},
		{"feed with the key", feedPath(sp, "results=1"), "", http.StatusOK},
		{"feed with the key in the header", base + "/feeds.json?results=1", sp.ReadKey, http.StatusOK},
		{"last with the key", lastPath(sp), "", http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, h.srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.header != "" {
				req.Header.Set("THINGSPEAKAPIKEY", tc.header)
			}
			resp, err := h.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body := make([]byte, 16)
			n, _ := resp.Body.Read(body)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == http.StatusBadRequest && string(body[:n]) != "-1" {
				t.Errorf("body %q, want exactly -1", body[:n])
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	h := serve(t, Options{Channels: 1})
	sp := h.sim.Channels()[0]
	for _, path := range []string{
		"/channels/9999999/feeds.json?api_key=" + sp.ReadKey,
		"/channels/9999999/feeds/last.json?api_key=" + sp.ReadKey,
		"/channels/abc/feeds.json",
		"/channels/" + sp.ID.String() + "/fields/1.json?api_key=" + sp.ReadKey,
		"/channels/" + sp.ID.String(),
		"/update.json",
		"/",
	} {
		t.Run(path, func(t *testing.T) {
			r := h.get(path)
			if r.status != http.StatusNotFound {
				t.Fatalf("status %d, want 404", r.status)
			}
			if p := decodeProblem(t, r); p.Status != "404" || p.Error.Code != "error_resource_not_found" {
				t.Errorf("error body %s is not ThingSpeak's 404", r.body)
			}
		})
	}
}

func TestLastEntryFollowsTheClock(t *testing.T) {
	period := 20 * time.Second
	h := serve(t, Options{Channels: 5, Period: period, History: 50})
	for _, sp := range h.sim.Channels() {
		t.Run(sp.Name, func(t *testing.T) {
			h.clock.Set(testStart())
			if got := h.sim.LastEntryID(sp.ID); got != 50 {
				t.Fatalf("LastEntryID at Start = %d, want History 50", got)
			}
			h.clock.Advance(7 * period)
			if got := h.sim.LastEntryID(sp.ID); got != 57 {
				t.Fatalf("LastEntryID seven periods later = %d, want 57", got)
			}
			r := h.get(lastPath(sp))
			if r.status != http.StatusOK {
				t.Fatalf("last.json: status %d", r.status)
			}
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(r.body, &raw); err != nil {
				t.Fatalf("last.json %s: %v", r.body, err)
			}
			got := parseEntry(t, raw)
			if diff := cmp.Diff(h.sim.Entries(sp.ID, 57, 57), []telemetry.Entry{got}); diff != "" {
				t.Errorf("last.json differs from Entries (-Entries +HTTP):\n%s", diff)
			}
			_, feed := h.feed(sp, "results=8")
			if diff := cmp.Diff(feed[len(feed)-1], got); diff != "" {
				t.Errorf("last.json differs from the feed's newest entry (-feed +last):\n%s", diff)
			}
			if !slices.Equal(entryIDs(feed), []int64{50, 51, 52, 53, 54, 55, 56, 57}) {
				t.Errorf("feed ids %v, want 50..57", entryIDs(feed))
			}
		})
	}
}

func TestEntriesMatchTheFeed(t *testing.T) {
	h := serve(t, Options{Channels: 40, History: 1000, Seed: 99})
	h.clock.Advance(time.Hour)
	for _, sp := range h.sim.Channels() {
		doc, got := h.feed(sp, "results=1000")
		want := h.sim.Entries(sp.ID, got[0].EntryID, doc.Channel.LastEntryID)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: Entries() differs from the feed (-Entries +HTTP):\n%s", sp.Name, diff)
		}
	}
	if got := h.sim.Entries(1, 1, 10); got != nil {
		t.Errorf("Entries of an unknown channel = %v, want nil", got)
	}
	sp := h.sim.Channels()[0]
	last := h.sim.LastEntryID(sp.ID)
	if got := h.sim.Entries(sp.ID, last-1, last+5); len(got) != 2 {
		t.Errorf("Entries beyond the last entry returned %d entries, want the 2 that exist", len(got))
	}
}

func TestSameSeedSameData(t *testing.T) {
	bodies := func(seed uint64) (keys []string, feeds []string) {
		h := serve(t, Options{Channels: 15, Seed: seed})
		for _, sp := range h.sim.Channels() {
			keys = append(keys, sp.ReadKey)
			feeds = append(feeds, string(h.get(feedPath(sp, "results=300")).body))
		}
		return keys, feeds
	}
	keys1, feeds1 := bodies(42)
	keys2, feeds2 := bodies(42)
	keys3, feeds3 := bodies(43)
	if diff := cmp.Diff(keys1, keys2); diff != "" {
		t.Errorf("same seed, different keys:\n%s", diff)
	}
	if diff := cmp.Diff(feeds1, feeds2); diff != "" {
		t.Errorf("same seed, different feeds:\n%s", diff)
	}
	for i := range keys1 {
		if keys1[i] == keys3[i] {
			t.Errorf("channel %d has key %s with seeds 42 and 43", i, keys1[i])
		}
		if feeds1[i] == feeds3[i] {
			t.Errorf("channel %d serves the same feed with seeds 42 and 43", i)
		}
	}
}
