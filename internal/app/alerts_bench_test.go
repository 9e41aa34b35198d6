package app

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/evaratech/evara/internal/config"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/thingspeak/sim"
	"github.com/evaratech/evara/internal/webhook"
)

// BenchmarkAlertToWebhook measures the end-to-end delay from a reading
// that crosses a rule to its signed webhook arriving at a receiver, on the
// whole stack (simulator, device actors polling every second, PostgreSQL,
// the dispatcher). EVARA_BENCH_ALERT_NODES devices (default 50) each have
// a critical rule on their level, which the simulator flips across the
// threshold every 1.5 s for EVARA_BENCH_ALERT_ROUNDS rounds (default 20):
// every flip opens or resolves one alert per device. Reported:
//
//   - detect-p50/p99/max-ms: from the device taking in the reading to the
//     receiver (our pipeline: evaluate, store, queue, dispatch, POST);
//
//   - reading-p50/p99-ms: from the reading's own timestamp (adds the poll
//     interval's phase, up to 1 s, and ThingSpeak's whole seconds);
//
//   - poll-ratio-p99: detect-p99 over the device's poll interval measured
//     in the same run, the ceiling a dashboard would notice.
//
//     EVARA_TEST_DATABASE_URL=… go test -run='^$' -bench=AlertToWebhook -benchtime=1x ./internal/app/
func BenchmarkAlertToWebhook(b *testing.B) {
	nodes, rounds := envInt("EVARA_BENCH_ALERT_NODES", 50), envInt("EVARA_BENCH_ALERT_ROUNDS", 20)
	e := newAPIEnv(b, func(c *config.Config) {
		c.Sim.Channels = 3 + nodes
		c.UpstreamRate, c.UpstreamBurst = float64(4*nodes), nodes
	})
	recv, hooks := newHookReceiver(b, 0)
	e.subscribeWebhook(b, hooks.URL, recv.secret, e.fx.CommA.ID)
	d, err := webhook.NewDispatcher(e.store.(webhook.Store), e.keys, webhook.Options{Wake: e.rt.webhookWake})
	if err != nil {
		b.Fatal(err)
	}
	d.Start()
	b.Cleanup(d.Stop)

	channels := e.sim.Channels()[3:]
	var steady []sim.Override
	for _, ch := range channels {
		steady = append(steady, sim.Override{Channel: ch.ID, Field: 1, Value: ptrTo(100.0)}, sim.Override{Channel: ch.ID, Field: 2, Value: ptrTo(24.0)})
	}
	if err := e.sim.SetOverrides(steady); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	ids := make([]telemetry.NodeID, len(channels))
	for i := range channels {
		n := e.node(ctx, "bench-"+strconv.Itoa(i), "OHT", "EvaraTank", &e.fx.CommA, nil, &channels[i])
		ids[i] = n.ID
		r := telemetry.AlertRule{NodeID: n.ID, Name: "level high", Metric: "water_level", Condition: ">", Threshold: 500,
			Severity: telemetry.SeverityCritical, Enabled: true}
		if err := e.store.CreateRule(ctx, telemetry.Scope{All: true}, &r); err != nil {
			b.Fatal(err)
		}
	}
	for _, id := range ids {
		waitUntil(b, "every device polls", func() bool { return e.lastEntry(id) > 0 })
	}

	b.ResetTimer()
	for range b.N {
		level := 100.0
		for range rounds {
			level = 1000 - level // 900, 100, 900…
			now := time.Now()
			for _, ch := range channels {
				if err := e.sim.AddOverride(sim.Override{Channel: ch.ID, Field: 1, Value: ptrTo(level), From: now}); err != nil {
					b.Fatal(err)
				}
			}
			time.Sleep(1500 * time.Millisecond)
		}
	}
	want := rounds * len(channels) * b.N
	waitUntil(b, "the last webhooks", func() bool { return len(recv.deliveries(isRuleHook)) >= want })
	b.StopTimer()

	detect, reading := hookDelays(recv.deliveries(isRuleHook))
	p := func(ds []time.Duration, q float64) float64 {
		if len(ds) == 0 {
			return 0
		}
		slices.Sort(ds)
		return float64(ds[min(len(ds)-1, int(q*float64(len(ds))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(len(detect)), "webhooks")
	b.ReportMetric(p(detect, 0.5), "detect-p50-ms")
	b.ReportMetric(p(detect, 0.99), "detect-p99-ms")
	b.ReportMetric(p(detect, 1), "detect-max-ms")
	b.ReportMetric(p(reading, 0.5), "reading-p50-ms")
	b.ReportMetric(p(reading, 0.99), "reading-p99-ms")
	b.ReportMetric(p(detect, 0.99)/float64(e.cfg.PollInterval.Milliseconds()), "poll-ratio-p99")
	if bad := recv.badSignatures(); len(bad) > 0 {
		b.Errorf("webhook requests with a bad signature: %v", bad)
	}
}

func isRuleHook(d hookDelivery) bool { return d.Data.Alert.Kind == "rule" }

// hookDelays are each delivery's delay from the device taking in the
// reading (detected_at) to receipt, and, for alert.triggered, from the
// reading's own timestamp (the alert's triggered_at). A delivery received
// twice counts once.
func hookDelays(ds []hookDelivery) (detect, reading []time.Duration) {
	seen := map[string]bool{}
	for _, d := range ds {
		if seen[d.ID] {
			continue
		}
		seen[d.ID] = true
		detect = append(detect, d.ReceivedAt.Sub(d.Data.DetectedAt))
		if d.Event == webhook.EventAlertTriggered {
			reading = append(reading, d.ReceivedAt.Sub(d.Data.Alert.TriggeredAt))
		}
	}
	return detect, reading
}
