package sim

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// The hot path (a feed request) takes no lock, uses no encoding/json and no
// fmt, and allocates little: the query is scanned in place, the JSON is
// appended by hand into a pooled buffer, and shared header values are reused.

const (
	maxResults      = 8000 // ThingSpeak's cap on results
	defaultResults  = 100  // entries in a feed asked for without parameters
	smallBody       = 2000 // net/http sets Content-Length itself below about 2 KiB
	maxPooledBuffer = 1 << 21
	dateLayout      = "2006-01-02 15:04:05"
)

// ThingSpeak-shaped answers. None echoes request data, so they are constants.
const (
	bodyNoAccess        = "-1"
	bodyChannelNotFound = `{"status":"404","error":{"error_code":"error_resource_not_found","message":"Resource not found","details":"Channel not found."}}`
	bodyPathNotFound    = `{"status":"404","error":{"error_code":"error_resource_not_found","message":"Resource not found","details":"No such path."}}`
	bodyMethod          = `{"status":"405","error":{"error_code":"error_method_not_allowed","message":"Method Not Allowed","details":"Use GET."}}`
	bodyTooMany         = `{"status":"429","error":{"error_code":"error_too_many_requests","message":"Too Many Requests","details":"Request rate limit exceeded; retry after the time in Retry-After."}}`
	bodyInternal        = `{"status":"500","error":{"error_code":"error_internal_server_error","message":"Internal Server Error","details":"Simulated server error."}}`
	bodyOutage          = `{"status":"503","error":{"error_code":"error_service_unavailable","message":"Service Unavailable","details":"Simulated outage."}}`
	bodyClosing         = `{"status":"503","error":{"error_code":"error_service_unavailable","message":"Service Unavailable","details":"Server is shutting down."}}`
	badRequestHead      = `{"status":"400","error":{"error_code":"error_bad_request","message":"Bad Request","details":"`
	badRequestTail      = `"}}`
)

// ServeHTTP serves the ThingSpeak read API and the /_sim endpoints.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rest, ok := strings.CutPrefix(r.URL.Path, "/channels/"); ok {
		s.serveChannel(w, r, rest)
		return
	}
	switch r.URL.Path {
	case "/_sim/stats":
		s.serveStats(w, r)
	case "/_sim/faults":
		s.serveFaults(w, r)
	case "/_sim/overrides":
		s.serveOverrides(w, r)
	default:
		s.respond(w, http.StatusNotFound, bodyPathNotFound)
	}
}

func (s *Simulator) serveChannel(w http.ResponseWriter, r *http.Request, rest string) {
	idText, endpoint, _ := strings.Cut(rest, "/")
	last := false
	switch endpoint {
	case "feeds.json", "feed.json":
	case "feeds/last.json", "feed/last.json":
		last = true
	default:
		s.respond(w, http.StatusNotFound, bodyPathNotFound)
		return
	}
	now := s.now()
	s.counters.request(now.Unix())
	c := s.lookup(idText)
	if c == nil {
		s.answer(w, http.StatusNotFound, bodyChannelNotFound)
		return
	}
	c.noteRequest(now)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.answer(w, http.StatusMethodNotAllowed, bodyMethod)
		return
	}
	if v := s.judge(c, now); v != (verdict{}) {
		if !s.applyVerdict(w, r, v) {
			return
		}
		now = s.now() // the answer reflects the data when it is sent
	}
	q := scanQuery(r.URL.RawQuery)
	if !c.authorized(q.apiKey, r) {
		s.answer(w, http.StatusBadRequest, bodyNoAccess)
		return
	}
	if last {
		s.writeLast(w, c, now)
		return
	}
	rng, problem := q.feedRange(now)
	if problem != "" {
		s.answer(w, http.StatusBadRequest, badRequestHead+problem+badRequestTail)
		return
	}
	s.writeFeed(w, c, now, rng)
}

func (s *Simulator) lookup(idText string) *channel {
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil {
		return nil
	}
	return s.channel(telemetry.ChannelID(id))
}

// applyVerdict carries out a fault verdict and reports whether the request should
// still be answered normally.
func (s *Simulator) applyVerdict(w http.ResponseWriter, r *http.Request, v verdict) bool {
	switch v.status {
	case http.StatusTooManyRequests:
		s.answerRetry(w, v.status, bodyTooMany, v.retry)
		return false
	case http.StatusServiceUnavailable:
		s.answerRetry(w, v.status, bodyOutage, v.retry)
		return false
	}
	if v.delay > 0 && !sleep(r.Context(), v.delay) {
		// The client went away (nobody reads this) or the Server is closing.
		s.answer(w, http.StatusServiceUnavailable, bodyClosing)
		return false
	}
	if v.status == http.StatusInternalServerError {
		s.answer(w, v.status, bodyInternal)
		return false
	}
	return true
}

// sleep waits for d unless ctx ends first; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// authorized checks the read key from the query or, as ThingSpeak also
// accepts, the THINGSPEAKAPIKEY header.
func (c *channel) authorized(queryKey string, r *http.Request) bool {
	if queryKey == "" {
		return r.Header.Get("THINGSPEAKAPIKEY") == c.spec.ReadKey
	}
	key, ok := unescape(queryKey)
	return ok && key == c.spec.ReadKey
}

// feedQuery holds the raw values of the parameters the simulator knows.
type feedQuery struct {
	apiKey, results, days, minutes, start, end string
}

// scanQuery reads the query in place (url.ParseQuery would build a map per
// request); the first occurrence of a parameter wins, as with url.Values.Get.
func scanQuery(raw string) feedQuery {
	var q feedQuery
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		key, val, _ := strings.Cut(pair, "=")
		var dst *string
		switch key {
		case "api_key":
			dst = &q.apiKey
		case "results":
			dst = &q.results
		case "days":
			dst = &q.days
		case "minutes":
			dst = &q.minutes
		case "start":
			dst = &q.start
		case "end":
			dst = &q.end
		default:
			continue
		}
		if *dst == "" {
			*dst = val
		}
	}
	return q
}

// unescape decodes a query value, allocating only when it is escaped.
func unescape(v string) (string, bool) {
	if !strings.ContainsAny(v, "%+") {
		return v, true
	}
	u, err := url.QueryUnescape(v)
	return u, err == nil
}

// feedRange selects the entries of a feed: created_at within [from, to]
// (each bound only when set), at most limit of them, the newest.
type feedRange struct {
	from, to       int64 // ns
	hasFrom, hasTo bool
	limit          int64
}

// feedRange interprets the parameters at now, or names the one at fault.
func (q *feedQuery) feedRange(now time.Time) (feedRange, string) {
	r := feedRange{limit: defaultResults}
	nowNs := unixNano(now)
	lower := func(ns int64) {
		if !r.hasFrom || ns > r.from {
			r.from = ns
		}
		r.hasFrom = true
	}
	if q.results != "" {
		n, err := strconv.ParseInt(q.results, 10, 64)
		if err != nil || n < 0 {
			return r, "results must be a whole number ≥ 0."
		}
		if n == 0 || n > maxResults {
			n = maxResults
		}
		r.limit = n
	}
	for _, p := range [2]struct {
		text string
		unit time.Duration
	}{{q.minutes, time.Minute}, {q.days, 24 * time.Hour}} {
		if p.text == "" {
			continue
		}
		n, err := strconv.ParseInt(p.text, 10, 64)
		if err != nil || n < 0 {
			return r, "minutes and days must be whole numbers ≥ 0."
		}
		lower(clampNs(nowNs - min(n, satNs/int64(p.unit))*int64(p.unit)))
	}
	if q.start != "" {
		t, ok := parseTime(q.start)
		if !ok {
			return r, "start must be YYYY-MM-DD HH:NN:SS (UTC) or RFC 3339."
		}
		lower(unixNano(t))
	}
	if q.end != "" {
		t, ok := parseTime(q.end)
		if !ok {
			return r, "end must be YYYY-MM-DD HH:NN:SS (UTC) or RFC 3339."
		}
		r.to, r.hasTo = unixNano(t), true
	}
	if q.results == "" && (r.hasFrom || r.hasTo) {
		r.limit = maxResults
	}
	return r, ""
}

func parseTime(v string) (time.Time, bool) {
	v, ok := unescape(v)
	if !ok {
		return time.Time{}, false
	}
	if t, err := time.ParseInLocation(dateLayout, v, time.UTC); err == nil {
		return t, true
	}
	t, err := time.Parse(time.RFC3339, v)
	return t, err == nil
}

// writeFeed answers feeds.json: the channel object and the selected entries
// in ascending entry_id order.
func (s *Simulator) writeFeed(w http.ResponseWriter, c *channel, now time.Time, rng feedRange) {
	last := s.lastEntry(c, unixNano(now))
	hi, lo := last, int64(1)
	if rng.hasTo {
		hi = min(hi, s.lastAtOrBefore(c, rng.to))
	}
	if rng.hasFrom {
		lo = max(lo, s.firstAtOrAfter(c, rng.from))
	}
	lo = max(lo, hi-rng.limit+1)
	p := s.buffer()
	b := append((*p)[:0], c.head...)
	b = strconv.AppendInt(b, last, 10)
	b = append(b, `},"feeds":[`...)
	rules := s.overrideRules(c.spec.ID)
	for k := lo; k <= hi; k++ {
		if k > lo {
			b = append(b, ',')
		}
		b = s.appendEntry(b, c, k, rules)
	}
	b = append(b, "]}"...)
	s.writeJSON(w, b)
	s.release(p, b)
}

// writeLast answers feeds/last.json with the newest entry.
func (s *Simulator) writeLast(w http.ResponseWriter, c *channel, now time.Time) {
	p := s.buffer()
	b := s.appendEntry((*p)[:0], c, s.lastEntry(c, unixNano(now)), s.overrideRules(c.spec.ID))
	s.writeJSON(w, b)
	s.release(p, b)
}

// appendEntry appends entry k with the channel's override rules applied.
func (s *Simulator) appendEntry(b []byte, c *channel, k int64, rules []overrideRule) []byte {
	sec := s.createdAt(c, k)
	b = append(b, `{"created_at":"`...)
	b = appendTimestamp(b, sec)
	b = append(b, `","entry_id":`...)
	b = strconv.AppendInt(b, k, 10)
	vals := c.sig.values(k, sec)
	if rules != nil {
		applyOverrides(&vals, rules, sec)
	}
	for i := range vals {
		switch v := &vals[i]; v.kind {
		case fieldNumber:
			b = appendFieldKey(b, i)
			b = append(b, '"')
			b = v.appendText(b)
			b = append(b, '"')
		case fieldNull:
			b = append(appendFieldKey(b, i), "null"...)
		case fieldEmpty:
			b = append(appendFieldKey(b, i), `""`...)
		}
	}
	return append(b, '}')
}

// appendFieldKey appends `,"fieldN":` for the 0-based field index i.
func appendFieldKey(b []byte, i int) []byte {
	b = append(b, `,"field`...)
	b = append(b, byte('1'+i))
	return append(b, `":`...)
}

// appendTimestamp appends unix second sec as ThingSpeak writes it,
// 2026-02-26T21:27:21Z, without time.Format's layout parsing.
func appendTimestamp(b []byte, sec int64) []byte {
	t := time.Unix(sec, 0).UTC()
	year, month, day := t.Date()
	hour, minute, second := t.Clock()
	b = appendDigits(b, year, 4)
	b = appendDigits(append(b, '-'), int(month), 2)
	b = appendDigits(append(b, '-'), day, 2)
	b = appendDigits(append(b, 'T'), hour, 2)
	b = appendDigits(append(b, ':'), minute, 2)
	b = appendDigits(append(b, ':'), second, 2)
	return append(b, 'Z')
}

// appendDigits appends v (≥ 0) zero-padded to width digits.
func appendDigits(b []byte, v, width int) []byte {
	var d [4]byte
	for i := width - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:width]...)
}

func (s *Simulator) buffer() *[]byte {
	if p, ok := s.bufs.Get().(*[]byte); ok {
		return p
	}
	b := make([]byte, 0, 4096)
	return &b
}

// release returns a buffer to the pool unless a huge feed grew it: pinning
// megabytes per pooled buffer is worse than the occasional allocation.
func (s *Simulator) release(p *[]byte, b []byte) {
	if cap(b) > maxPooledBuffer {
		return
	}
	*p = b[:0]
	s.bufs.Put(p)
}

func (s *Simulator) writeJSON(w http.ResponseWriter, b []byte) {
	h := w.Header()
	h["Content-Type"] = s.jsonType
	if len(b) > smallBody { // spare large feeds chunked encoding
		h["Content-Length"] = []string{strconv.Itoa(len(b))}
	}
	_, _ = w.Write(b) // a write error means the client left; nothing to do
	s.counters.answered(http.StatusOK)
}

// answer writes a feed request's non-200 answer and counts it.
func (s *Simulator) answer(w http.ResponseWriter, status int, body string) {
	s.respond(w, status, body)
	s.counters.answered(status)
}

func (s *Simulator) answerRetry(w http.ResponseWriter, status int, body string, retry time.Duration) {
	secs := max(1, int64((retry+time.Second-1)/time.Second))
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	s.answer(w, status, body)
}

func (s *Simulator) respond(w http.ResponseWriter, status int, body string) {
	w.Header()["Content-Type"] = s.jsonType
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}
