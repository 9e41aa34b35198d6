package cluster

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/evaratech/evara/actors/msg"
)

// defaultStatsTimeout bounds one scrape's stats call when NewCollector is
// given none: the member answers from memory, so this only matters when its
// actors are stuck, and a scrape must not hang on them.
const defaultStatsTimeout = 2 * time.Second

// StatsCollector exports this member's figures (SPEC §10) to Prometheus. On
// each scrape it asks for the member's *msg.MemberStats — the same figures
// GET /api/v1/cluster/stats shows — so no number is kept twice and the
// actors stay the only owners of their state. Safe for concurrent use (each
// scrape makes its own call).
type StatsCollector struct {
	local   func(ctx context.Context) (*msg.MemberStats, error)
	timeout time.Duration
	d       statsDescs
}

// statsDescs are the collector's metric descriptions.
type statsDescs struct {
	up, devices, sessions, breakers, mailbox, members            *prometheus.Desc
	tokens, rate, share, stretch, waiting, demand                *prometheus.Desc
	upstream, permits, decreases, restarts, crashed, deadLetters *prometheus.Desc
}

// NewCollector returns a collector that calls local (with timeout, default
// 2 s) on every scrape. Register it with the member's Registerer.
//
// When local fails, the scrape carries evara_stats_up 0 and none of the
// member's figures, rather than an invalid metric: an invalid metric fails
// the whole gathering (promhttp then logs an error, or answers 500), and the
// process's other metrics — HTTP latency, Go runtime — are most wanted
// precisely when the actors are stuck. evara_stats_up is 1 otherwise, so an
// alert on it (like Prometheus's own `up`) sees the failure.
func NewCollector(local func(ctx context.Context) (*msg.MemberStats, error), timeout time.Duration) *StatsCollector {
	if timeout <= 0 {
		timeout = defaultStatsTimeout
	}
	g := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &StatsCollector{local: local, timeout: timeout, d: statsDescs{
		up:          g("evara_stats_up", "1 when this member's stats were read for this scrape, 0 when reading them failed."),
		devices:     g("evara_devices", "Device actors running on this member."),
		sessions:    g("evara_ws_sessions", "WebSocket sessions connected to this member."),
		breakers:    g("evara_breaker_state", "Devices on this member whose circuit breaker is in the state.", "state"),
		mailbox:     g("evara_mailbox_depth", "Depth of the device actors' mailboxes on this member (max or p99).", "stat"),
		members:     g("evara_cluster_members", "Members in this member's view of the cluster topology."),
		tokens:      g("evara_limiter_tokens", "Upstream permits available now in this member's token bucket."),
		rate:        g("evara_limiter_rate", "Upstream requests/s this member grants now, after AIMD."),
		share:       g("evara_limiter_share", "This member's share of the cluster's upstream budget, requests/s."),
		stretch:     g("evara_limiter_stretch", "Factor by which devices' effective poll intervals grow to fit the budget (1 = none)."),
		waiting:     g("evara_limiter_waiting_devices", "Devices on this member waiting for an upstream permit."),
		demand:      g("evara_limiter_demand", "Upstream requests/s this member's devices would make at their intervals."),
		upstream:    g("evara_upstream_requests_total", "Upstream fetches by this member's devices, by outcome.", "outcome"),
		permits:     g("evara_limiter_permits_granted_total", "Upstream permits this member's limiter granted."),
		decreases:   g("evara_limiter_decreases_total", "AIMD rate decreases by this member's limiter (upstream pushed back)."),
		restarts:    g("evara_device_restarts_total", "Device actor restarts after a crash on this member."),
		crashed:     g("evara_devices_crashed", "Devices on this member stopped for crashing repeatedly."),
		deadLetters: g("evara_dead_letters_total", "Messages to actors that did not exist on this member."),
	}}
}

// Describe sends every description; a scrape after a failed stats call
// sends only evara_stats_up, which a checked collector may do.
func (c *StatsCollector) Describe(ch chan<- *prometheus.Desc) {
	d := c.d
	for _, desc := range []*prometheus.Desc{
		d.up, d.devices, d.sessions, d.breakers, d.mailbox, d.members,
		d.tokens, d.rate, d.share, d.stretch, d.waiting, d.demand,
		d.upstream, d.permits, d.decreases, d.restarts, d.crashed, d.deadLetters,
	} {
		ch <- desc
	}
}

// Collect reads the member's stats once and sends them.
func (c *StatsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	s, err := c.local(ctx)
	if err != nil || s == nil {
		ch <- prometheus.MustNewConstMetric(c.d.up, prometheus.GaugeValue, 0)
		return
	}
	d, l, u, b, mb := c.d, s.GetLimiter(), s.GetUpstream(), s.GetBreakers(), s.GetMailbox()
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	counter := func(desc *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(d.up, 1)
	gauge(d.devices, float64(s.GetDeviceActors()))
	gauge(d.sessions, float64(s.GetSessions()))
	gauge(d.members, float64(s.GetMembersSeen()))
	gauge(d.breakers, float64(b.GetClosed()), "closed")
	gauge(d.breakers, float64(b.GetOpen()), "open")
	gauge(d.breakers, float64(b.GetHalfOpen()), "half_open")
	gauge(d.mailbox, float64(mb.GetMax()), "max")
	gauge(d.mailbox, float64(mb.GetP99()), "p99")
	gauge(d.tokens, l.GetTokens())
	gauge(d.rate, l.GetRate())
	gauge(d.share, l.GetShare())
	gauge(d.stretch, l.GetStretch())
	gauge(d.waiting, float64(l.GetWaiting()))
	gauge(d.demand, l.GetDemand())
	gauge(d.crashed, float64(s.GetCrashed()))
	counter(d.upstream, u.GetOk(), "ok")
	counter(d.upstream, u.GetFailed(), "failed")
	counter(d.upstream, u.GetRateLimited(), "rate_limited")
	counter(d.permits, l.GetPermitsGranted())
	counter(d.decreases, l.GetDecreases())
	counter(d.restarts, s.GetRestarts())
	counter(d.deadLetters, s.GetDeadLetters())
}
