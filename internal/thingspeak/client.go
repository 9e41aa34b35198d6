package thingspeak

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// MaxResults is ThingSpeak's cap on the entries one feed request returns.
const MaxResults = 8000

// Options configures a Client. The zero value talks to api.thingspeak.com.
type Options struct {
	BaseURL      string        // default "https://api.thingspeak.com"
	HTTPClient   *http.Client  // default: a client with its own pooled transport
	Timeout      time.Duration // per request, including reading the body; default 10s
	MaxBodyBytes int64         // response cap; default 8 MiB (8000 full entries are ~2 MiB)
	UserAgent    string        // default "evara"
}

// Client reads channels from the ThingSpeak API. Build it with New.
type Client struct {
	base      *url.URL
	http      *http.Client
	timeout   time.Duration
	maxBody   int64
	userAgent string
}

// New returns a client for opts, or an error when the base URL is unusable.
func New(opts Options) (*Client, error) {
	if opts.BaseURL == "" {
		opts.BaseURL = "https://api.thingspeak.com"
	}
	base, err := url.Parse(strings.TrimRight(opts.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, errors.New("thingspeak: base URL must be an absolute http(s) URL")
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout: 5 * time.Second,
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
			ForceAttemptHTTP2:   true,
		}}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 8 << 20
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "evara"
	}
	return &Client{base: base, http: opts.HTTPClient, timeout: opts.Timeout, maxBody: opts.MaxBodyBytes, userAgent: opts.UserAgent}, nil
}

// CloseIdleConnections closes the keep-alive connections the client holds
// (and the transport goroutines serving them); call it when done with the
// client. Requests still work afterwards, on new connections.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// Query selects entries of a feed as ThingSpeak's read API does. Zero
// fields are not sent; with nothing set ThingSpeak returns the newest 100.
type Query struct {
	Results    int       // at most this many of the newest entries (capped at MaxResults)
	Minutes    int       // entries of the last N minutes
	Days       int       // entries of the last N days
	Start, End time.Time // entries in [Start, End]
}

func (q Query) encode(v url.Values) {
	if q.Results > 0 {
		v.Set("results", strconv.Itoa(min(q.Results, MaxResults)))
	}
	if q.Minutes > 0 {
		v.Set("minutes", strconv.Itoa(q.Minutes))
	}
	if q.Days > 0 {
		v.Set("days", strconv.Itoa(q.Days))
	}
	const layout = "2006-01-02 15:04:05"
	if !q.Start.IsZero() {
		v.Set("start", q.Start.UTC().Format(layout))
	}
	if !q.End.IsZero() {
		v.Set("end", q.End.UTC().Format(layout))
	}
}

// Feed fetches channel entries selected by q.
func (c *Client) Feed(ctx context.Context, channel telemetry.ChannelID, readKey string, q Query) (Feed, error) {
	params := url.Values{}
	q.encode(params)
	body, err := c.get(ctx, channel, "feed", "/channels/"+channel.String()+"/feeds.json", readKey, params)
	if err != nil {
		return Feed{}, err
	}
	feed, err := ParseFeed(body)
	if err != nil {
		return Feed{}, &Error{Channel: channel, Op: "feed", Kind: ErrMalformed, Err: err}
	}
	return feed, nil
}

// Last fetches the channel's newest entry.
func (c *Client) Last(ctx context.Context, channel telemetry.ChannelID, readKey string) (telemetry.Entry, error) {
	body, err := c.get(ctx, channel, "last", "/channels/"+channel.String()+"/feeds/last.json", readKey, url.Values{})
	if err != nil {
		return telemetry.Entry{}, err
	}
	entry, err := ParseEntry(body)
	if err != nil {
		return telemetry.Entry{}, &Error{Channel: channel, Op: "last", Kind: ErrMalformed, Err: err}
	}
	return entry, nil
}

// Page is the result of After: the entries newer than the given entry_id,
// oldest first.
type Page struct {
	Channel Channel
	Entries []telemetry.Entry
	// Missed counts entries newer than the given entry_id that ThingSpeak no
	// longer returns because more than MaxResults arrived since; a caller
	// that must not skip them walks back with Query.Start/End.
	Missed int64
	// Requests is the number of HTTP requests After made: 1 in the steady
	// state, 2 when more entries had arrived than expected. Callers that
	// spend an upstream budget charge the second one.
	Requests int
}

// After fetches the entries newer than afterEntryID. ThingSpeak has no
// "after entry_id" parameter, so After asks for the newest `expected`
// entries (the caller's estimate of how many arrived; 0 means 100) and, when
// the channel's last_entry_id shows that more arrived, asks again for that
// many plus a margin (entries keep arriving between the two requests), up
// to MaxResults; should the window still fall short it widens it once more.
// In the steady state it costs one request.
func (c *Client) After(ctx context.Context, channel telemetry.ChannelID, readKey string, afterEntryID int64, expected int) (Page, error) {
	if expected <= 0 {
		expected = 100
	}
	want := min(expected, MaxResults)
	requests := 1
	feed, err := c.Feed(ctx, channel, readKey, Query{Results: want})
	if err != nil {
		return Page{}, err
	}
	for attempt := 0; attempt < 2 && want < MaxResults; attempt++ {
		gap := feed.Channel.LastEntryID - afterEntryID
		if gap <= int64(want) && (len(feed.Entries) == 0 || feed.Entries[0].EntryID <= afterEntryID+1) {
			break // the window reaches back to afterEntryID
		}
		want = int(min(gap+afterMargin(gap), MaxResults))
		requests++
		if feed, err = c.Feed(ctx, channel, readKey, Query{Results: want}); err != nil {
			return Page{}, err
		}
	}
	page := Page{Channel: feed.Channel, Requests: requests}
	for i, e := range feed.Entries {
		if e.EntryID > afterEntryID {
			page.Entries = feed.Entries[i:]
			break
		}
	}
	if len(page.Entries) > 0 {
		page.Missed = max(0, page.Entries[0].EntryID-afterEntryID-1)
	}
	return page, nil
}

// afterMargin is how many more entries than the gap After asks for, so that
// entries arriving between its requests do not push the oldest wanted one
// out of the window.
func afterMargin(gap int64) int64 { return max(16, gap/50) }

// get performs one GET and returns the body of a 200 response, or an *Error.
func (c *Client) get(ctx context.Context, channel telemetry.ChannelID, op, path, readKey string, params url.Values) ([]byte, error) {
	fail := func(kind error, status int, cause error) *Error {
		return &Error{Channel: channel, Op: op, Kind: kind, Status: status, Err: cause}
	}
	params.Set("api_key", readKey)
	u := *c.base
	u.Path += path
	u.RawQuery = params.Encode()

	reqCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fail(ErrUpstream, 0, errors.New("cannot build request"))
	}
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("Accept", "application/json")

	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, fail, 0, err)
	}
	defer resp.Body.Close()
	body, err := c.readBody(resp.Body)
	if err != nil {
		if errors.Is(err, errBodyTooLarge) {
			return nil, fail(ErrMalformed, resp.StatusCode, err)
		}
		return nil, c.transportError(ctx, fail, resp.StatusCode, err)
	}
	if bytes.Equal(bytes.TrimSpace(body), []byte("-1")) {
		return nil, fail(ErrUnauthorized, resp.StatusCode, errors.New("read key refused"))
	}
	if resp.StatusCode != http.StatusOK {
		e := fail(kindForStatus(resp.StatusCode), resp.StatusCode, upstreamMessage(body))
		if resp.StatusCode == http.StatusTooManyRequests {
			e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		}
		return nil, e
	}
	return body, nil
}

var errBodyTooLarge = errors.New("response exceeds the size cap")

func (c *Client) readBody(r io.Reader) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, c.maxBody+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > c.maxBody {
		return nil, errBodyTooLarge
	}
	return body, nil
}

// transportError classifies a failure to get or read a response. The
// caller's own cancellation wins over everything; the url.Error wrapper is
// dropped because its message holds the full URL, read key included.
func (c *Client) transportError(ctx context.Context, fail func(error, int, error) *Error, status int, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fail(ctxErr, status, nil)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fail(ErrTimeout, status, errors.New("no complete response within "+c.timeout.String()))
	}
	return fail(ErrUpstream, status, err)
}
