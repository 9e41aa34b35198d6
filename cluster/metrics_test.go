package cluster

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/evaratech/evara/actors/msg"
)

func fixtureMemberStats() *msg.MemberStats {
	return &msg.MemberStats{
		Id: "m1", Address: "10.0.0.1:6000", Status: "up",
		DeviceActors: 40, Sessions: 3, MembersSeen: 2,
		Mailbox:  &msg.Mailboxes{Max: 9, P99: 4},
		Breakers: &msg.Breakers{Closed: 37, Open: 2, HalfOpen: 1},
		Limiter: &msg.Limiter{
			Share: 25, Rate: 20, Burst: 10, Tokens: 3.5, Waiting: 6,
			Demand: 30, Stretch: 1.5, PermitsGranted: 1200, Decreases: 4,
		},
		Upstream: &msg.Upstream{Ok: 1000, Failed: 12, RateLimited: 5},
		Restarts: 7, Crashed: 1, DeadLetters: 11,
	}
}

func TestMetricsCollectorExportsMemberStats(t *testing.T) {
	var gotDeadline bool
	c := NewCollector(func(ctx context.Context) (*msg.MemberStats, error) {
		_, gotDeadline = ctx.Deadline()
		return fixtureMemberStats(), nil
	}, time.Second)

	want := `
# HELP evara_breaker_state Devices on this member whose circuit breaker is in the state.
# TYPE evara_breaker_state gauge
evara_breaker_state{state="closed"} 37
evara_breaker_state{state="half_open"} 1
evara_breaker_state{state="open"} 2
# HELP evara_devices Device actors running on this member.
# TYPE evara_devices gauge
evara_devices 40
# HELP evara_limiter_share This member's share of the cluster's upstream budget, requests/s.
# TYPE evara_limiter_share gauge
evara_limiter_share 25
# HELP evara_limiter_stretch Factor by which devices' effective poll intervals grow to fit the budget (1 = none).
# TYPE evara_limiter_stretch gauge
evara_limiter_stretch 1.5
# HELP evara_limiter_tokens Upstream permits available now in this member's token bucket.
# TYPE evara_limiter_tokens gauge
evara_limiter_tokens 3.5
# HELP evara_mailbox_depth Depth of the device actors' mailboxes on this member (max or p99).
# TYPE evara_mailbox_depth gauge
evara_mailbox_depth{stat="max"} 9
evara_mailbox_depth{stat="p99"} 4
# HELP evara_stats_up 1 when this member's stats were read for this scrape, 0 when reading them failed.
# TYPE evara_stats_up gauge
evara_stats_up 1
# HELP evara_upstream_requests_total Upstream fetches by this member's devices, by outcome.
# TYPE evara_upstream_requests_total counter
evara_upstream_requests_total{outcome="failed"} 12
evara_upstream_requests_total{outcome="ok"} 1000
evara_upstream_requests_total{outcome="rate_limited"} 5
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"evara_breaker_state", "evara_devices", "evara_limiter_share", "evara_limiter_stretch",
		"evara_limiter_tokens", "evara_mailbox_depth", "evara_stats_up", "evara_upstream_requests_total",
	); err != nil {
		t.Error(err)
	}
	if !gotDeadline {
		t.Error("the stats call had no deadline: a stuck member would hang the scrape")
	}

	for name, want := range map[string]float64{
		"evara_ws_sessions": 3, "evara_cluster_members": 2, "evara_limiter_rate": 20,
		"evara_limiter_waiting_devices": 6, "evara_limiter_demand": 30, "evara_device_restarts_total": 7,
		"evara_devices_crashed": 1, "evara_dead_letters_total": 11, "evara_limiter_decreases_total": 4,
		"evara_limiter_permits_granted_total": 1200,
	} {
		if got := gatheredValue(t, c, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	// A pedantic registry checks the descriptions against what is collected.
	if err := prometheus.NewPedanticRegistry().Register(c); err != nil {
		t.Fatal(err)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}

func TestMetricsCollectorReportsAFailedStatsCall(t *testing.T) {
	c := NewCollector(func(context.Context) (*msg.MemberStats, error) {
		return nil, errors.New("the stats actor did not answer")
	}, 0)
	if n := testutil.CollectAndCount(c); n != 1 {
		t.Errorf("%d metrics after a failed call, want only evara_stats_up", n)
	}
	if got := gatheredValue(t, c, "evara_stats_up"); got != 0 {
		t.Errorf("evara_stats_up = %v, want 0", got)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if _, err := reg.Gather(); err != nil {
		t.Errorf("a failed stats call must not fail the whole scrape: %v", err)
	}
}

// gatheredValue collects c and returns the value of the one metric named name.
func gatheredValue(t *testing.T, c prometheus.Collector, name string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		if len(f.GetMetric()) != 1 {
			t.Fatalf("%s has %d series", name, len(f.GetMetric()))
		}
		m := f.GetMetric()[0]
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("%s was not collected", name)
	return 0
}
