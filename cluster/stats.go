package cluster

import (
	"time"

	"github.com/evaratech/evara/actors/msg"
)

// Stats is the cluster as operators see it (GET /api/v1/cluster/stats,
// `evara cluster status`): every member that answered, the members that
// did not, and totals over those that did.
type Stats struct {
	At          time.Time     `json:"at"`
	Members     []MemberStats `json:"members"`
	Unreachable []string      `json:"unreachable"` // addresses of members that did not answer in time
	Totals      Totals        `json:"totals"`
}

// MemberStats is one member's figures.
type MemberStats struct {
	ID            string    `json:"id"`
	Address       string    `json:"address"`
	Status        string    `json:"status"` // up | stopping
	StartedAt     time.Time `json:"started_at"`
	UptimeSeconds float64   `json:"uptime_seconds"`
	DeviceActors  int64     `json:"device_actors"`
	Sessions      int64     `json:"sessions"`
	Mailbox       Mailbox   `json:"mailbox"`
	Breakers      Breakers  `json:"breakers"`
	Limiter       Limiter   `json:"limiter"`
	Upstream      Upstream  `json:"upstream"`
	Restarts      int64     `json:"restarts"`     // device restarts after a crash
	Crashed       int64     `json:"crashed"`      // devices stopped for crashing repeatedly
	DeadLetters   int64     `json:"dead_letters"` // messages to actors that did not exist
	MembersSeen   int64     `json:"members_seen"` // members in this member's view of the topology
}

// Mailbox is the depth of a member's device mailboxes.
type Mailbox struct {
	Max int64 `json:"max"`
	P99 int64 `json:"p99"`
}

// Breakers counts device breakers by state.
type Breakers struct {
	Closed   int64 `json:"closed"`
	Open     int64 `json:"open"`
	HalfOpen int64 `json:"half_open"`
}

// Limiter is a member's upstream budget.
type Limiter struct {
	Share          float64 `json:"share"` // of EVARA_UPSTREAM_RATE, requests/s
	Rate           float64 `json:"rate"`  // now, after AIMD
	Burst          int64   `json:"burst"`
	Tokens         float64 `json:"tokens"`
	Waiting        int64   `json:"waiting"` // devices waiting for a permit
	Demand         float64 `json:"demand"`  // requests/s the devices would make at their intervals
	Stretch        float64 `json:"stretch"` // factor by which effective intervals grow
	PermitsGranted int64   `json:"permits_granted"`
	Decreases      int64   `json:"decreases"` // AIMD decreases
}

// Upstream counts fetch outcomes in total and over the last minute.
type Upstream struct {
	OK                   int64 `json:"ok"`
	Failed               int64 `json:"failed"`
	RateLimited          int64 `json:"rate_limited"`
	OKPerMinute          int64 `json:"ok_per_minute"`
	FailedPerMinute      int64 `json:"failed_per_minute"`
	RateLimitedPerMinute int64 `json:"rate_limited_per_minute"`
}

// Totals sums the members that answered.
type Totals struct {
	Members      int      `json:"members"`
	DeviceActors int64    `json:"device_actors"`
	Sessions     int64    `json:"sessions"`
	MailboxMax   int64    `json:"mailbox_max"`
	Breakers     Breakers `json:"breakers"`
	Share        float64  `json:"share"` // sum of the members' shares: never above EVARA_UPSTREAM_RATE
	Waiting      int64    `json:"waiting"`
	Upstream     Upstream `json:"upstream"`
	Restarts     int64    `json:"restarts"`
	Crashed      int64    `json:"crashed"`
	DeadLetters  int64    `json:"dead_letters"`
}

// memberStats converts a member's protobuf answer; now gives the uptime.
func memberStats(m *msg.MemberStats, now time.Time) MemberStats {
	started := time.UnixMilli(m.GetStartedUnixMs()).UTC()
	l, u, b, mb := m.GetLimiter(), m.GetUpstream(), m.GetBreakers(), m.GetMailbox()
	return MemberStats{
		ID: m.GetId(), Address: m.GetAddress(), Status: m.GetStatus(),
		StartedAt: started, UptimeSeconds: max(0, now.Sub(started).Seconds()),
		DeviceActors: m.GetDeviceActors(), Sessions: m.GetSessions(),
		Mailbox:  Mailbox{Max: mb.GetMax(), P99: mb.GetP99()},
		Breakers: Breakers{Closed: b.GetClosed(), Open: b.GetOpen(), HalfOpen: b.GetHalfOpen()},
		Limiter: Limiter{
			Share: l.GetShare(), Rate: l.GetRate(), Burst: l.GetBurst(), Tokens: l.GetTokens(), Waiting: l.GetWaiting(),
			Demand: l.GetDemand(), Stretch: l.GetStretch(), PermitsGranted: l.GetPermitsGranted(), Decreases: l.GetDecreases(),
		},
		Upstream: Upstream{
			OK: u.GetOk(), Failed: u.GetFailed(), RateLimited: u.GetRateLimited(),
			OKPerMinute: u.GetOkLastMinute(), FailedPerMinute: u.GetFailedLastMinute(), RateLimitedPerMinute: u.GetRateLimitedLastMinute(),
		},
		Restarts: m.GetRestarts(), Crashed: m.GetCrashed(), DeadLetters: m.GetDeadLetters(), MembersSeen: m.GetMembersSeen(),
	}
}

// total sums the members into s.Totals.
func (s *Stats) total() {
	t := Totals{Members: len(s.Members)}
	for _, m := range s.Members {
		t.DeviceActors += m.DeviceActors
		t.Sessions += m.Sessions
		t.MailboxMax = max(t.MailboxMax, m.Mailbox.Max)
		t.Breakers.Closed += m.Breakers.Closed
		t.Breakers.Open += m.Breakers.Open
		t.Breakers.HalfOpen += m.Breakers.HalfOpen
		t.Share += m.Limiter.Share
		t.Waiting += m.Limiter.Waiting
		t.Upstream.OK += m.Upstream.OK
		t.Upstream.Failed += m.Upstream.Failed
		t.Upstream.RateLimited += m.Upstream.RateLimited
		t.Upstream.OKPerMinute += m.Upstream.OKPerMinute
		t.Upstream.FailedPerMinute += m.Upstream.FailedPerMinute
		t.Upstream.RateLimitedPerMinute += m.Upstream.RateLimitedPerMinute
		t.Restarts += m.Restarts
		t.Crashed += m.Crashed
		t.DeadLetters += m.DeadLetters
	}
	s.Totals = t
}
