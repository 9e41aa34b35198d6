package device_test

import (
	"slices"
	"testing"
	"time"

	"github.com/evaratech/evara/actors/device"
	"github.com/evaratech/evara/actors/devicetest"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/thingspeak/sim"
)

// TestAnAlertThatFailsToStoreIsRaisedAgain: the store refuses the device's
// first OpenAlert. The device believes the store again (no alert open) and
// the next reading still across the threshold opens the alert: stored
// once, notified once, the node shown in Alert; when the level returns it
// resolves once.
func TestAnAlertThatFailsToStoreIsRaisedAgain(t *testing.T) {
	h := devicetest.NewHarness(t, sim.Options{Channels: 1, Period: time.Second, History: 30, Seed: 3}, fastWriter)
	ch := h.Sim.Channels()[0]
	level := func(v float64, from time.Time) {
		if err := h.Sim.AddOverride(sim.Override{Channel: ch.ID, Field: 1, Value: &v, From: from}); err != nil {
			t.Fatal(err)
		}
	}
	level(100, time.Time{})
	node := h.Node(ch, time.Second, map[string]string{"field1": "water_level"})
	alerts := devicetest.NewAlertStore(telemetry.AlertRule{ID: "r1", NodeID: node.ID, Name: "high", Metric: "water_level",
		Condition: telemetry.ConditionAbove, Threshold: 500, Severity: telemetry.SeverityCritical, Enabled: true})
	notices := &devicetest.Notices{}
	cfg := h.Config(node)
	cfg.Alerts, cfg.Notify = alerts, notices
	_, pid := h.SpawnParent(cfg)
	devicetest.Eventually(t, "the first readings", func() bool { return h.DeviceStats(pid).LastEntryStored >= 30 })

	alerts.FailNext(1)
	level(900, h.Clock.Now())
	for i := 0; len(ruleAlerts(alerts)) == 0 && i < 20; i++ {
		h.Clock.Advance(time.Second)
		devicetest.Eventually(t, "the next reading", func() bool { return h.DeviceStats(pid).LastEntryStored == h.Sim.LastEntryID(ch.ID) })
	}
	devicetest.Eventually(t, "the alert stored", func() bool { return len(ruleAlerts(alerts)) == 1 })
	if calls := alerts.OpenAlertCalls(); calls < 2 {
		t.Errorf("OpenAlert called %d times, want the refused call and another", calls)
	}
	devicetest.Eventually(t, "the node in Alert", func() bool { return h.DeviceStats(pid).Status == telemetry.StatusAlert })

	level(100, h.Clock.Now())
	for i := 0; ruleAlerts(alerts)[0].Status != telemetry.AlertResolved && i < 20; i++ {
		h.Clock.Advance(time.Second)
		devicetest.Eventually(t, "the next reading", func() bool { return h.DeviceStats(pid).LastEntryStored == h.Sim.LastEntryID(ch.ID) })
	}
	devicetest.Eventually(t, "the node Online", func() bool { return h.DeviceStats(pid).Status == telemetry.StatusOnline })
	if got := ruleAlerts(alerts); len(got) != 1 || got[0].Status != telemetry.AlertResolved {
		t.Errorf("rule alerts = %+v, want the one, resolved", got)
	}
	// The jump of the level raised an anomaly too (stored at the first
	// attempt, and still believed open after the store was read again).
	all := alerts.Alerts()
	want := []device.NoticeKind{device.NoticeAlertTriggered, device.NoticeAlertTriggered, device.NoticeAlertResolved}
	if len(all) == 2 && all[1].Status == telemetry.AlertResolved {
		want = append(want, device.NoticeAlertResolved)
	}
	if got := notices.Kinds(); !slices.Equal(got, want) {
		t.Errorf("notices = %v, want %v (alerts %+v)", got, want, all)
	}
	if st := h.DeviceStats(pid); st.OpenAlerts != len(all)-len(closed(all)) {
		t.Errorf("the device believes %d alerts open; the store has %d", st.OpenAlerts, len(all)-len(closed(all)))
	}
}

func ruleAlerts(s *devicetest.AlertStore) []telemetry.Alert {
	var out []telemetry.Alert
	for _, a := range s.Alerts() {
		if a.Kind == telemetry.AlertKindRule {
			out = append(out, a)
		}
	}
	return out
}

func closed(all []telemetry.Alert) []telemetry.Alert {
	var out []telemetry.Alert
	for _, a := range all {
		if a.Status == telemetry.AlertResolved {
			out = append(out, a)
		}
	}
	return out
}
