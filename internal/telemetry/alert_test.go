package telemetry

import "testing"

func TestConditionHolds(t *testing.T) {
	cases := []struct {
		c                Condition
		below, at, above bool // value 19, 20, 21 against threshold 20
	}{
		{ConditionAbove, false, false, true},
		{ConditionBelow, true, false, false},
		{ConditionAtLeast, false, true, true},
		{ConditionAtMost, true, true, false},
		{ConditionEqual, false, true, false},
		{ConditionNotEqual, true, false, true},
		{"=>", false, false, false},
	}
	for _, c := range cases {
		t.Run(string(c.c), func(t *testing.T) {
			if got := [3]bool{c.c.Holds(19, 20), c.c.Holds(20, 20), c.c.Holds(21, 20)}; got != [3]bool{c.below, c.at, c.above} {
				t.Errorf("holds for 19, 20, 21 against 20: %v, want %v", got, [3]bool{c.below, c.at, c.above})
			}
			if valid := c.c != "=>"; c.c.Valid() != valid {
				t.Errorf("Valid() = %v, want %v", c.c.Valid(), valid)
			}
		})
	}
}

func TestWebhookSubscriptionWants(t *testing.T) {
	w := WebhookSubscription{Events: []string{"ALERT_TRIGGERED", "ALERT_RESOLVED"}}
	for event, want := range map[string]bool{"ALERT_TRIGGERED": true, "ALERT_RESOLVED": true, "alert_triggered": false, "": false} {
		if got := w.Wants(event); got != want {
			t.Errorf("Wants(%q) = %v, want %v", event, got, want)
		}
	}
}
