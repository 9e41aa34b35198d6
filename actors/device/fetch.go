package device

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/evaratech/evara/actors/writer"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/thingspeak"
)

// errCredentials marks a read key that could not be opened.
var errCredentials = errors.New("read key cannot be opened")

// askPermit asks the limiter for one upstream call. Without a parent (a
// device spawned from the root) there is no budget to respect.
func (d *device) askPermit(c actor.Context) {
	if d.parent == nil {
		d.startFetch()
		return
	}
	d.awaitingPermit = true
	c.Request(d.parent, &PermitRequest{Priority: len(d.subs) > 0})
}

func (d *device) onPermit() {
	if !d.awaitingPermit { // an answer meant for a previous incarnation
		return
	}
	d.awaitingPermit = false
	d.startFetch()
}

func (d *device) onPermitDenied(m *PermitDenied) {
	if !d.awaitingPermit {
		return
	}
	d.awaitingPermit, d.permitDeferred = false, true
	d.stats.PermitsDenied++
	d.armRetry(max(m.RetryAfter, time.Millisecond))
}

// startFetch runs one fetch on a goroutine: the read key is opened right
// before the call and lives only there. It asks for the entries after the
// newest one handed to the writer, so nothing is fetched twice.
func (d *device) startFetch() {
	d.fetching = true
	d.stats.Fetches++
	node, fetcher, keys := d.cfg.Node, d.cfg.Fetcher, d.cfg.Keys
	after, expected := d.handed, d.expected()
	msg := &fetched{reportOf: reportOf{d}}
	d.goAndReport(msg, 0, func(ctx context.Context) { // the client times each request out
		defer func() {
			if r := recover(); r != nil {
				msg.panicked = r
			}
		}()
		msg.page, msg.err = fetch(ctx, fetcher, keys, node, after, expected)
	})
}

func fetch(ctx context.Context, f Fetcher, k Keys, node telemetry.Node, after int64, expected int) (thingspeak.Page, error) {
	key, err := k.Open(node.ChannelKey.KeyID, node.ChannelKey.Ciphertext, []byte(node.ID))
	if err != nil {
		return thingspeak.Page{}, fmt.Errorf("%w: %w", errCredentials, err)
	}
	readKey := string(key)
	clear(key)
	return f.After(ctx, node.ChannelID, readKey, after, expected)
}

// expected estimates how many entries arrived since the previous fetch:
// as many as between the two before, with a margin. 0 (unknown, the first
// fetch) lets the client pick; an underestimate costs one more request.
func (d *device) expected() int {
	if !d.perFetchKnown { // until two fetches have shown how fast entries arrive
		return 0
	}
	return int(min(d.perFetch+d.perFetch/4+1, thingspeak.MaxResults))
}

func (d *device) onFetched(c actor.Context, m *fetched) {
	if m.panicked != nil {
		d.crash(m.panicked)
	}
	d.fetching = false
	now := d.cfg.Now()
	d.stats.LastFetch = now
	outcome := &FetchOutcome{Node: d.cfg.Node.ID, Requests: max(m.page.Requests, 1)}
	if m.err != nil {
		d.onFetchFailed(m.err, now, outcome)
	} else {
		outcome.OK = true
		d.onFetchSucceeded(c, m.page, now)
	}
	if d.parent != nil {
		c.Send(d.parent, outcome)
	}
	d.reportBreaker(c)
}

func (d *device) onFetchFailed(err error, now time.Time, outcome *FetchOutcome) {
	d.stats.Failures++
	d.stats.LastError = err.Error() // client and keyring errors never hold the key
	outcome.RateLimited = errors.Is(err, thingspeak.ErrRateLimited)
	outcome.ServerError = serverError(err)
	if outcome.RateLimited {
		// Pushback, not a fault of this channel: the limiter lowers the
		// member's rate; the breaker and the status are left alone.
		d.stats.RateLimited++
		if wait, ok := thingspeak.RetryAfter(err); ok {
			d.notBefore = time.Now().Add(wait)
		}
		return
	}
	switch opened := d.breaker.failure(now); {
	case opened && d.breaker.failures == BreakerThreshold:
		d.logger().Warn("circuit breaker opened", "failures", d.breaker.failures, "cooldown", BreakerCooldown.String(), "err", err)
	case opened: // a failed half-open probe: already reported
		d.logger().Debug("circuit breaker opened again", "failures", d.breaker.failures, "err", err)
	case d.breaker.failures == 1:
		d.logger().Warn("fetch failed", "err", err)
	}
	if d.breaker.failures >= OfflineAfterFailures {
		d.setStatus(telemetry.StatusOffline)
	}
}

// serverError reports failures that suggest an overloaded upstream.
func serverError(err error) bool {
	var te *thingspeak.Error
	return errors.Is(err, thingspeak.ErrTimeout) || (errors.As(err, &te) && te.Status >= 500)
}

func (d *device) onFetchSucceeded(c actor.Context, page thingspeak.Page, now time.Time) {
	switch failed := d.breaker.failures; {
	case d.breaker.success():
		d.logger().Info("circuit breaker closed")
	case failed > 0:
		d.logger().Info("fetching works again", "failures", failed)
	}
	d.stats.LastError = ""
	if last := page.Channel.LastEntryID; last > 0 {
		if d.channelLast > 0 {
			d.perFetch, d.perFetchKnown = max(0, last-d.channelLast), true
		}
		d.channelLast = last
	}
	if page.Missed > 0 {
		d.stats.MissedEntries += page.Missed
		d.logger().Warn("entries beyond ThingSpeak's window were not fetched", "missed", page.Missed, "after_entry_id", d.handed)
	}
	if n := len(page.Entries); n > 0 {
		newest := page.Entries[n-1]
		d.setLatest(newest)
		d.pending = readings(d.cfg.Node.ID, page.Entries)
		d.sendWrite(c)
		if now.Sub(newest.CreatedAt) < d.staleAfter() {
			d.setStatus(telemetry.StatusOnline)
		}
		d.observe(page.Entries)
		d.publishReading()
	}
	d.checkStale(now)
}

// sendWrite hands the pending rows to the writer. They stay pending until
// it accepts them: on Busy (or no answer) they are sent again later, never
// dropped, and no new fetch starts meanwhile.
func (d *device) sendWrite(c actor.Context) {
	d.writing = true
	rows := d.pending
	f := c.RequestFuture(d.cfg.Writer, &writer.Write{Readings: rows, ReportTo: c.Self()}, writeTimeout)
	c.ReenterAfter(f, func(res any, err error) { d.onWriteAnswer(res, err) })
}

func (d *device) onWriteAnswer(res any, err error) {
	if d.done { // a continuation of a stopped incarnation
		return
	}
	d.writing = false
	switch r := res.(type) {
	case *writer.Accepted:
		d.handed = max(d.handed, d.pending[len(d.pending)-1].EntryID)
		d.pending = nil
	case *writer.Busy:
		d.stats.WriterBusy++
		d.armRetry(max(r.RetryAfter, 10*time.Millisecond))
	default:
		d.logger().Warn("the writer did not take the readings; resending", "rows", len(d.pending), "err", err, "answer", fmt.Sprintf("%T", res))
		d.armRetry(writeRetry)
	}
}
