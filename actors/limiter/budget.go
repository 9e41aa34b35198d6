package limiter

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/time/rate"

	"github.com/evaratech/evara/actors/device"
)

// onPermitRequest grants a device one upstream call if the token bucket
// holds a token now. Otherwise the device gets a reservation — its place
// in line, one token's worth of time after the previous one — and is told
// to come back when it is due, at which point it is granted without taking
// another token. Since every waiting device holds exactly one place, they
// are served in turn and all effective intervals stretch by the same
// factor; the bucket's tokens are never spent twice, so at most
// Rate·t + Burst permits are granted in any t.
func (l *limiter) onPermitRequest(c actor.Context) {
	sender := c.Sender()
	if sender == nil {
		return // not a request: nobody to answer
	}
	now := l.cfg.Now()
	l.adapt(now)
	if r := l.reserved[sender.Id]; r != nil {
		if wait := r.DelayFrom(now); wait > 0 {
			l.deny(c, wait)
			return
		}
		delete(l.reserved, sender.Id)
		l.grant(c)
		return
	}
	r := l.bucket.ReserveN(now, 1)
	switch wait := r.DelayFrom(now); {
	case !r.OK(): // cannot happen with Burst ≥ 1
		l.deny(c, time.Second)
	case wait > 0:
		l.reserved[sender.Id] = r
		l.deny(c, wait)
	default:
		l.grant(c)
	}
}

func (l *limiter) grant(c actor.Context) {
	l.stats.PermitsGranted++
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
	if extra := m.Requests - 1; extra > 0 {
		// Taken from the bucket after the fact (possibly into debt), so
		// later permits wait for it: the budget counts requests, not fetches.
		l.bucket.ReserveN(now, min(extra, l.cfg.Burst))
		l.stats.ExtraRequests += int64(extra)
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
	floor := l.cfg.Rate * floorFraction
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
	if l.rate >= l.cfg.Rate {
		return
	}
	window := l.cfg.AdaptWindow
	steps := now.Sub(l.quietSince) / window
	if steps <= 0 {
		return
	}
	l.quietSince = l.quietSince.Add(steps * window)
	l.setRate(now, min(l.cfg.Rate, l.rate+float64(steps)*increaseStep*l.cfg.Rate))
	if l.rate == l.cfg.Rate {
		l.log.Info("upstream request rate fully restored", "rate", l.rate)
	}
}

func (l *limiter) setRate(now time.Time, r float64) {
	l.rate = r
	l.bucket.SetLimitAt(now, rate.Limit(r))
}
