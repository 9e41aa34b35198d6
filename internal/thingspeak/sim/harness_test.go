package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/evaratech/evara/internal/telemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testStart is the Start and initial clock of tests: a whole second, like a
// default Start.
func testStart() time.Time { return time.Date(2026, 2, 26, 21, 27, 0, 0, time.UTC) }

// fakeClock is the injected clock: it only moves when a test moves it.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.Set(t)
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// harness is a simulator served on a loopback port with a fake clock.
type harness struct {
	t      *testing.T
	sim    *Simulator
	srv    *Server
	client *http.Client
	clock  *fakeClock
}

// serve starts a simulator for opts; Now and Start default to a fake clock
// at testStart. The server is closed when the test ends.
func serve(t *testing.T, opts Options) *harness {
	t.Helper()
	h := &harness{t: t, clock: newFakeClock(testStart())}
	if opts.Now == nil {
		opts.Now = h.clock.Now
	}
	if opts.Start.IsZero() {
		opts.Start = testStart()
	}
	sim, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv, err := Start("127.0.0.1:0", sim)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	transport := &http.Transport{MaxIdleConnsPerHost: 8}
	h.sim, h.srv, h.client = sim, srv, &http.Client{Transport: transport, Timeout: time.Minute}
	t.Cleanup(func() {
		transport.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (h *harness) do(method, path string, body []byte) reply {
	h.t.Helper()
	req, err := http.NewRequestWithContext(h.t.Context(), method, h.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatalf("request %s: %v", path, err)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: data}
}

func (h *harness) get(path string) reply { h.t.Helper(); return h.do(http.MethodGet, path, nil) }

// feedPath is the feeds.json path of sp with the right key and params.
func feedPath(sp ChannelSpec, params string) string {
	p := "/channels/" + sp.ID.String() + "/feeds.json?api_key=" + sp.ReadKey
	if params != "" {
		p += "&" + params
	}
	return p
}

func lastPath(sp ChannelSpec) string {
	return "/channels/" + sp.ID.String() + "/feeds/last.json?api_key=" + sp.ReadKey
}

// feedDoc is a feed as a client sees it, fields still raw JSON.
type feedDoc struct {
	Channel struct {
		ID          int64  `json:"id"`
		Name        string `json:"name"`
		Latitude    string `json:"latitude"`
		Longitude   string `json:"longitude"`
		Field1      string `json:"field1"`
		CreatedAt   string `json:"created_at"`
		UpdatedAt   string `json:"updated_at"`
		LastEntryID int64  `json:"last_entry_id"`
	} `json:"channel"`
	Feeds []map[string]json.RawMessage `json:"feeds"`
}

// feed fetches a feed that must succeed and returns it with its entries
// parsed the way a client would.
func (h *harness) feed(sp ChannelSpec, params string) (feedDoc, []telemetry.Entry) {
	h.t.Helper()
	r := h.get(feedPath(sp, params))
	if r.status != http.StatusOK {
		h.t.Fatalf("feed %d?%s: status %d, body %s", sp.ID, params, r.status, r.body)
	}
	var doc feedDoc
	if err := json.Unmarshal(r.body, &doc); err != nil {
		h.t.Fatalf("feed %d: %v in %s", sp.ID, err, r.body)
	}
	entries := make([]telemetry.Entry, len(doc.Feeds))
	for i, raw := range doc.Feeds {
		entries[i] = parseEntry(h.t, raw)
	}
	return doc, entries
}

// parseEntry turns an entry object into a telemetry.Entry and fails the test
// unless every field is a JSON string or null and no unknown key appears.
func parseEntry(t *testing.T, raw map[string]json.RawMessage) telemetry.Entry {
	t.Helper()
	var e telemetry.Entry
	for key, val := range raw {
		switch {
		case key == "created_at":
			var s string
			if err := json.Unmarshal(val, &s); err != nil {
				t.Fatalf("created_at %s: %v", val, err)
			}
			ts, err := time.Parse("2006-01-02T15:04:05Z", s)
			if err != nil {
				t.Fatalf("created_at %q is not ThingSpeak's format: %v", s, err)
			}
			e.CreatedAt = ts
		case key == "entry_id":
			if err := json.Unmarshal(val, &e.EntryID); err != nil {
				t.Fatalf("entry_id %s: %v", val, err)
			}
		case strings.HasPrefix(key, "field"):
			n, err := strconv.Atoi(strings.TrimPrefix(key, "field"))
			if err != nil || n < 1 || n > telemetry.FieldCount {
				t.Fatalf("unexpected key %q", key)
			}
			e.Fields[n-1] = parseField(t, key, val)
		default:
			t.Fatalf("unexpected key %q in entry", key)
		}
	}
	return e
}

func parseField(t *testing.T, key string, val json.RawMessage) telemetry.Field {
	t.Helper()
	if string(val) == "null" {
		return telemetry.Field{}
	}
	var s string
	if err := json.Unmarshal(val, &s); err != nil {
		t.Fatalf("%s is %s, not a JSON string", key, val)
	}
	if s == "" {
		return telemetry.Field{}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("%s = %q: %v", key, s, err)
	}
	return telemetry.Field{Value: v, Valid: true}
}

func entryIDs(entries []telemetry.Entry) []int64 {
	ids := make([]int64, len(entries))
	for i, e := range entries {
		ids[i] = e.EntryID
	}
	return ids
}

// problemDoc is ThingSpeak's error shape.
type problemDoc struct {
	Status string `json:"status"`
	Error  struct {
		Code    string `json:"error_code"`
		Message string `json:"message"`
		Details string `json:"details"`
	} `json:"error"`
}

func decodeProblem(t *testing.T, r reply) problemDoc {
	t.Helper()
	var p problemDoc
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("error body %s: %v", r.body, err)
	}
	return p
}
