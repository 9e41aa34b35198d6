package sim

import (
	"strconv"
	"sync/atomic"

	"github.com/evaratech/evara/internal/telemetry"
)

// Stats is a snapshot of the request counters, the body of GET /_sim/stats.
// It counts feed and last-entry requests only, including rejected ones;
// the /_sim endpoints are not counted.
type Stats struct {
	// RequestsTotal counts every feed and last request, unknown channels too.
	RequestsTotal int64 `json:"requests_total"`
	// MaxRequestsIn1s is the most feed and last requests that arrived within
	// one second of the simulator's clock.
	MaxRequestsIn1s int64 `json:"max_requests_in_1s"`
	// Responses counts the answers by HTTP status ("200", "429", …); statuses
	// never sent are left out.
	Responses map[string]int64 `json:"responses"`
	// Channels holds every channel, requested or not.
	Channels map[telemetry.ChannelID]ChannelStats `json:"channels"`
}

// ChannelStats is one channel's part of Stats.
type ChannelStats struct {
	ReadKey     string `json:"read_key"`
	Requests    int64  `json:"requests"`
	LastEntryID int64  `json:"last_entry_id"`
	// RecentRequestsMs are the times (unix ms) of the channel's latest
	// requests, at most 16, oldest first.
	RecentRequestsMs []int64 `json:"recent_requests_ms,omitempty"`
}

// Stats returns the counters and every channel's last entry id at Now().
func (s *Simulator) Stats() Stats {
	now := s.now().UnixNano()
	st := Stats{
		RequestsTotal:   s.counters.total.Load(),
		MaxRequestsIn1s: s.counters.maxInOneSecond(),
		Responses:       make(map[string]int64),
		Channels:        make(map[telemetry.ChannelID]ChannelStats, len(s.chans)),
	}
	for i, status := range answeredStatuses() {
		if n := s.counters.statuses[i].Load(); n > 0 {
			st.Responses[strconv.Itoa(status)] = n
		}
	}
	for i := range s.chans {
		c := &s.chans[i]
		st.Channels[c.spec.ID] = ChannelStats{
			ReadKey:          c.spec.ReadKey,
			Requests:         c.requests.Load(),
			LastEntryID:      s.lastEntry(c, now),
			RecentRequestsMs: c.recentTimes(),
		}
	}
	return st
}

// answeredStatuses are the statuses a feed request can get, in the order of
// counters.statuses.
func answeredStatuses() [numStatuses]int { return [...]int{200, 400, 404, 405, 429, 500, 503} }

const numStatuses = 7

func statusIndex(status int) int {
	for i, s := range answeredStatuses() {
		if s == status {
			return i
		}
	}
	return -1
}

// Per-second request counts live in one word, so that a request updates them
// with one CAS and no lock: the second in the high bits, the count of
// requests within it in the low countBits.
const (
	countBits = 24
	countMask = 1<<countBits - 1
)

// counters are updated by every feed request, with atomics only.
type counters struct {
	total    atomic.Int64
	second   atomic.Uint64 // current second << countBits | requests in it
	maxDone  atomic.Int64  // largest count of a second that has passed
	statuses [numStatuses]atomic.Int64
}

// request counts one request arriving at unix second sec. A request whose
// clock reading is older than the current bucket (a goroutine that read the
// clock just before another rolled the bucket over) counts in the current
// second; the bucket never moves backwards.
func (c *counters) request(sec int64) {
	c.total.Add(1)
	sec = max(0, sec)
	for {
		old := c.second.Load()
		oldSec, n := int64(old>>countBits), old&countMask
		next := uint64(sec)<<countBits | 1
		if sec <= oldSec {
			if n == countMask {
				return // saturated: 16M requests in one second is beyond any test
			}
			next = old + 1
		}
		if c.second.CompareAndSwap(old, next) {
			if sec > oldSec {
				c.raiseMax(int64(n))
			}
			return
		}
	}
}

func (c *counters) raiseMax(n int64) {
	for {
		m := c.maxDone.Load()
		if n <= m || c.maxDone.CompareAndSwap(m, n) {
			return
		}
	}
}

func (c *counters) maxInOneSecond() int64 {
	return max(c.maxDone.Load(), int64(c.second.Load()&countMask))
}

func (c *counters) answered(status int) {
	if i := statusIndex(status); i >= 0 {
		c.statuses[i].Add(1)
	}
}
