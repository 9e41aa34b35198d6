package thingspeak

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// These tests serve exact upstream bytes that the simulator never produces
// (proxies' 401s, HTTP-date Retry-After, bodies cut off or oversized, odd
// field values) to pin down how the client classifies them.

const secretKey = "SECRETKEY1234567"

func rawUpstream(t *testing.T, h http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(Options{BaseURL: srv.URL, Timeout: 500 * time.Millisecond, MaxBodyBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func reply(status int, body string, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

func TestErrorClassesFromRawResponses(t *testing.T) {
	retryDate := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		kind       error
		status     int
		retryAfter time.Duration // 0: none expected; otherwise a lower bound
	}{
		{"401", reply(401, `{"status":"401","error":{"error_code":"error_auth_required","message":"Authorization Required"}}`), ErrUnauthorized, 401, 0},
		{"400 with -1", reply(400, "-1"), ErrUnauthorized, 400, 0},
		{"200 with -1", reply(200, "-1\n"), ErrUnauthorized, 200, 0},
		{"404", reply(404, `{"status":"404","error":{"error_code":"error_resource_not_found","message":"Resource not found"}}`), ErrNotFound, 404, 0},
		{"429 seconds", reply(429, `{"status":"429","error":{"error_code":"error_too_many_requests","message":"Too Many Requests"}}`, "Retry-After", "7"), ErrRateLimited, 429, 7 * time.Second},
		{"429 http date", reply(429, "", "Retry-After", retryDate), ErrRateLimited, 429, 80 * time.Second},
		{"429 without hint", reply(429, ""), ErrRateLimited, 429, 0},
		{"500", reply(500, "oops"), ErrUpstream, 500, 0},
		{"502 html", reply(502, "<html>bad gateway</html>"), ErrUpstream, 502, 0},
		{"not json", reply(200, "<html>maintenance</html>"), ErrMalformed, 0, 0},
		{"empty body", reply(200, ""), ErrMalformed, 0, 0},
		{"cut off mid-way", reply(200, `{"channel":{"id":1,"last_entry_id":5},"feeds":[{"created_at":"2026-02-26T21:27:21Z","entry_id":5,"fie`), ErrMalformed, 0, 0},
		{"wrong shape", reply(200, `{"channel":[1,2],"feeds":{}}`), ErrMalformed, 0, 0},
		{"over the size cap", reply(200, `{"channel":{"id":1},"feeds":[],"pad":"`+strings.Repeat("x", 70<<10)+`"}`), ErrMalformed, 200, 0},
		{"slower than the timeout", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, ErrTimeout, 0, 0},
		{"connection dropped mid-body", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "1000")
			_, _ = w.Write([]byte(`{"channel":{"id":1},"feeds":[`))
			w.(http.Flusher).Flush()
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
		}, ErrUpstream, 200, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := rawUpstream(t, tt.handler)
			_, err := c.Feed(context.Background(), 4242, secretKey, Query{Results: 10})
			assertKind(t, err, tt.kind, 4242)
			var e *Error
			errors.As(err, &e)
			if tt.status != 0 && e.Status != tt.status {
				t.Errorf("status = %d, want %d", e.Status, tt.status)
			}
			if tt.retryAfter > 0 && e.RetryAfter < tt.retryAfter {
				t.Errorf("RetryAfter = %v, want ≥ %v", e.RetryAfter, tt.retryAfter)
			}
			if tt.retryAfter == 0 && e.RetryAfter != 0 {
				t.Errorf("RetryAfter = %v, want none", e.RetryAfter)
			}
		})
	}
}

// assertKind checks that err is an *Error of the channel, of exactly one
// kind, and that nothing in it reveals the read key.
func assertKind(t *testing.T, err error, kind error, channel telemetry.ChannelID) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %v, got no error", kind)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want *Error, got %T: %v", err, err)
	}
	if !errors.Is(err, kind) {
		t.Fatalf("want kind %v, got %v", kind, err)
	}
	for _, other := range []error{ErrUnauthorized, ErrNotFound, ErrRateLimited, ErrUpstream, ErrTimeout, ErrMalformed} {
		if !errors.Is(kind, other) && errors.Is(err, other) {
			t.Errorf("error %v also matches %v", err, other)
		}
	}
	if e.Channel != channel {
		t.Errorf("channel = %d, want %d", e.Channel, channel)
	}
	if !strings.Contains(err.Error(), channel.String()) {
		t.Errorf("message %q does not name the channel", err)
	}
	if strings.Contains(err.Error(), secretKey) {
		t.Errorf("message leaks the read key: %q", err)
	}
}

func TestCallerCancellationIsNotAnUpstreamFailure(t *testing.T) {
	started := make(chan struct{})
	c := rawUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	_, err := c.Last(ctx, 7, secretKey)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	if errors.Is(err, ErrUpstream) || errors.Is(err, ErrTimeout) {
		t.Fatalf("cancellation must not count as an upstream failure: %v", err)
	}
	if strings.Contains(err.Error(), secretKey) {
		t.Fatalf("leaks the key: %v", err)
	}
}

func TestUnreachableUpstreamHidesTheKey(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	c, err := New(Options{BaseURL: url, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Feed(context.Background(), 9, secretKey, Query{})
	assertKind(t, err, ErrUpstream, 9)
}

func TestFieldValues(t *testing.T) {
	body := `{"channel":{"id":11,"name":"Tank","created_at":"2025-01-01T00:00:00Z","updated_at":"2026-02-26T21:27:21Z","last_entry_id":3,"field1":"Level","field3":"TDS"},
	"feeds":[
	 {"created_at":"2026-02-26T21:27:21Z","entry_id":1,"field1":"176","field2":"","field3":null},
	 {"created_at":"2026-02-26T21:27:36Z","entry_id":2,"field1":" 23.5 ","field2":"abc","field3":"NaN","field4":"1e400","field5":"-0.25","field6":12,"field7":true,"field8":"\u0031\u0032"},
	 {"created_at":"2026-02-26T23:27:51+02:00","entry_id":3}
	]}`
	c := rawUpstream(t, reply(200, body))
	feed, err := c.Feed(context.Background(), 11, secretKey, Query{})
	if err != nil {
		t.Fatal(err)
	}
	if feed.Channel.ID != 11 || feed.Channel.LastEntryID != 3 || feed.Channel.FieldNames[0] != "Level" || feed.Channel.FieldNames[2] != "TDS" {
		t.Errorf("channel = %+v", feed.Channel)
	}
	type want struct {
		n     int
		value float64
		valid bool
	}
	cases := []struct {
		entry int
		want  []want
	}{
		{0, []want{{1, 176, true}, {2, 0, false}, {3, 0, false}, {4, 0, false}}},
		{1, []want{{1, 23.5, true}, {2, 0, false}, {3, 0, false}, {4, 0, false}, {5, -0.25, true}, {6, 12, true}, {7, 0, false}, {8, 12, true}}},
		{2, []want{{1, 0, false}, {8, 0, false}}},
	}
	for _, cs := range cases {
		e := feed.Entries[cs.entry]
		for _, w := range cs.want {
			v, ok := e.Field(w.n)
			if ok != w.valid || v != w.value {
				t.Errorf("entry %d field%d = (%v, %v), want (%v, %v)", e.EntryID, w.n, v, ok, w.value, w.valid)
			}
		}
	}
	if got := feed.Entries[2].CreatedAt; !got.Equal(time.Date(2026, 2, 26, 21, 27, 51, 0, time.UTC)) || got.Location() != time.UTC {
		t.Errorf("created_at = %v, want UTC 21:27:51", got)
	}
}

func TestQueryEncoding(t *testing.T) {
	var got string
	c := rawUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.RawQuery
		_, _ = w.Write([]byte(`{"channel":{"id":1},"feeds":[]}`))
	})
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	_, err := c.Feed(context.Background(), 1, "K", Query{Results: 9000, Minutes: 5, Days: 2, Start: start, End: start.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	want := "api_key=K&days=2&end=2026-01-02+04%3A04%3A05&minutes=5&results=8000&start=2026-01-02+03%3A04%3A05"
	if got != want {
		t.Errorf("query = %s\nwant    %s", got, want)
	}
}

func TestNewRejectsBadBaseURL(t *testing.T) {
	for _, u := range []string{"ftp://x", "not a url", "http://"} {
		if _, err := New(Options{BaseURL: u}); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
}
