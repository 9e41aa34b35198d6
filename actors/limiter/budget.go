package limiter

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/time/rate"

	"github.com/evaratech/evara/actors/device"
)

// onPermitRequest grants a device one upstream call if the token bucket
// holds a token now and the trailing second has room. Otherwise the device
// gets (or keeps) a reservation — its place in line, one token's worth of
// time after the previous one — and is told to come back when it is due,
// at which point it is granted without taking another token. Since every
// waiting device holds exactly one place, they are served in turn and all
// effective intervals stretch by the same factor, except that devices with
// live subscribers go first (jumpQueue); the bucket's tokens are never
// spent twice, so at most Rate·t + Burst permits are granted in any t, and
// never more than the rate within one second (windowCap).
func (l *limiter) onPermitRequest(c actor.Context) {
	sender := c.Sender()
	if sender == nil {
		return // not a request: nobody to answer
	}
	now := l.cfg.Now()
	l.adapt(now)
	if now.Before(l.holdUntil) { // just joined: the others may not have lowered their shares yet
		l.deny(c, l.holdUntil.Sub(now))
		return
	}
	priority := c.Message().(*device.PermitRequest).Priority
	p := l.reserved[sender.Id]
	if p == nil {
		r := l.bucket.ReserveN(now, 1)
		if !r.OK() { // cannot happen with Burst ≥ 1
			l.deny(c, time.Second)
			return
		}
		p = &place{r: r, priority: priority}
		if r.DelayFrom(now) > 0 && priority {
			l.reserved[sender.Id] = p
			l.jumpQueue(sender.Id, p, now)
		}
	}
	p.priority = priority
	if wait := max(p.r.DelayFrom(now), l.window.wait(now, l.windowCap())); wait > 0 {
		l.reserved[sender.Id] = p
		l.deny(c, wait)
		return
	}
	delete(l.reserved, sender.Id)
	l.grant(c)
}

// place is a waiting device's reservation: its turn in the queue.
type place struct {
	r        *rate.Reservation
	priority bool // the device has live subscribers
}

// jumpQueue gives a device with live subscribers (SPEC: stretched last)
// the earliest turn held by a device without any, which takes the new
// device's turn instead. The tokens spent are the same, so the budget
// holds; only the order changes. Linear in the devices waiting, which is
// only paid while the budget is short.
func (l *limiter) jumpQueue(id string, p *place, now time.Time) {
	var earliest string
	var at time.Duration
	for other, q := range l.reserved {
		if q.priority || other == id {
			continue
		}
		if d := q.r.DelayFrom(now); earliest == "" || d < at {
			earliest, at = other, d
		}
	}
	if earliest == "" || at >= p.r.DelayFrom(now) {
		return
	}
	q := l.reserved[earliest]
	p.r, q.r = q.r, p.r
	l.stats.QueueJumps++
}

func (l *limiter) grant(c actor.Context) {
	l.stats.PermitsGranted++
	l.window.add(l.cfg.Now())
	c.Respond(&device.Permit{})
}

func (l *limiter) deny(c actor.Context, wait time.Duration) {
	l.stats.PermitsDenied++
	c.Respond(&device.PermitDenied{RetryAfter: wait})
}

// onOutcome charges a fetch's second request and adapts the rate (AIMD):
// stormOutcomes pushbacks (429 or 5xx) within a window halve it, at most
// once per window and never below floorFraction of the configured rate;
// adapt adds it back step by step.
func (l *limiter) onOutcome(m *device.FetchOutcome) {
	now := l.cfg.Now()
	l.adapt(now)
	l.stats.Outcomes++
	l.outcomes.add(now, m)
	if extra := m.Requests - 1; extra > 0 {
		// Taken from the bucket after the fact (possibly into debt), so
		// later permits wait for it: the budget counts requests, not fetches.
		l.bucket.ReserveN(now, min(extra, l.burst))
		l.stats.ExtraRequests += int64(extra)
		for range extra {
			l.window.add(now)
		}
	}
	if !m.RateLimited && !m.ServerError {
		return
	}
	l.stats.Pushbacks++
	l.quietSince = now
	window := l.cfg.AdaptWindow
	kept := l.pushbacks[:0]
	for _, t := range l.pushbacks {
		if now.Sub(t) < window {
			kept = append(kept, t)
		}
	}
	l.pushbacks = append(kept, now)
	floor := l.share * floorFraction
	if len(l.pushbacks) < stormOutcomes || l.rate <= floor || (!l.lastDecrease.IsZero() && now.Sub(l.lastDecrease) < window) {
		return
	}
	from := l.rate
	l.setRate(now, max(l.rate*decreaseFactor, floor))
	l.lastDecrease, l.pushbacks = now, l.pushbacks[:0]
	l.stats.Decreases++
	l.log.Warn("upstream pushback: lowering the request rate", "from", from, "to", l.rate, "pushbacks_within", window.String())
}

// adapt adds increaseStep of the configured rate for every whole window
// without a pushback, up to the configured rate.
func (l *limiter) adapt(now time.Time) {
	if l.rate >= l.share {
		return
	}
	window := l.cfg.AdaptWindow
	steps := now.Sub(l.quietSince) / window
	if steps <= 0 {
		return
	}
	l.quietSince = l.quietSince.Add(steps * window)
	l.setRate(now, min(l.share, l.rate+float64(steps)*increaseStep*l.share))
	if l.rate == l.share {
		l.log.Info("upstream request rate fully restored", "rate", l.rate)
	}
}

func (l *limiter) setRate(now time.Time, r float64) {
	l.rate = r
	l.bucket.SetLimitAt(now, rate.Limit(r))
}

// setShare applies this member's new share of the cluster's budget
// (SetShare): the AIMD state carries over in proportion.
func (l *limiter) setShare(now time.Time, share float64, burst int) {
	if !(share > 0) {
		return
	}
	l.adapt(now)
	factor := l.rate / l.share
	l.share, l.burst = share, max(burst, 1)
	l.bucket.SetBurstAt(now, l.burst)
	l.setRate(now, share*factor)
}

// windowCap is the most permits granted in any trailing second: the
// current rate, rounded down. With the token bucket alone a second could
// hold Rate + Burst; the cap keeps the sum over the members within the
// cluster's budget in every second (SPEC §3: never exceeded).
func (l *limiter) windowCap() int { return max(1, int(l.rate)) }

// window remembers the grants (and charged extra requests) of the
// trailing second, oldest first: times[head:] are live. Trimming moves
// head; the slice is compacted only when half of it is dead, so a permit
// costs O(1) amortised.
type window struct {
	times []time.Time
	head  int
}

func (w *window) trim(now time.Time) {
	for w.head < len(w.times) && now.Sub(w.times[w.head]) >= time.Second {
		w.head++
	}
	if w.head > 0 && w.head >= len(w.times)/2 {
		w.times = append(w.times[:0], w.times[w.head:]...)
		w.head = 0
	}
}

func (w *window) add(now time.Time) { w.times = append(w.times, now) }

// wait is how long until the window has room for one more, 0 if it has.
func (w *window) wait(now time.Time, limit int) time.Duration {
	w.trim(now)
	live := w.times[w.head:]
	if len(live) < limit {
		return 0
	}
	return live[len(live)-limit].Add(time.Second).Sub(now)
}

// outcomes counts fetch outcomes in total and per second over the last
// minute (a ring of 60 one-second slots).
type outcomes struct {
	ok, failed, limited int64
	slots               [60]outcomeSlot
}

type outcomeSlot struct {
	second                  int64
	ok, failed, rateLimited int64
}

func (o *outcomes) add(now time.Time, m *device.FetchOutcome) {
	sec := now.Unix()
	s := &o.slots[sec%60]
	if s.second != sec {
		*s = outcomeSlot{second: sec}
	}
	switch {
	case m.OK:
		o.ok++
		s.ok++
	case m.RateLimited:
		o.limited++
		s.rateLimited++
	default:
		o.failed++
		s.failed++
	}
}

// lastMinute sums the slots of the 60 seconds up to now.
func (o *outcomes) lastMinute(now time.Time) (ok, failed, limited int64) {
	sec := now.Unix()
	for _, s := range o.slots {
		if sec-s.second < 60 {
			ok, failed, limited = ok+s.ok, failed+s.failed, limited+s.rateLimited
		}
	}
	return ok, failed, limited
}
