package alerting_test

import (
	"fmt"
	"time"

	"github.com/evaratech/evara/actors/device/alerting"
	"github.com/evaratech/evara/internal/telemetry"
)

// A device actor feeds its engine every reading and status change, and
// persists and publishes the actions it gets back.
func Example() {
	low := telemetry.AlertRule{ID: "0195a000-0000-7000-8000-0000000000aa", Name: "Low level", Metric: "water_level",
		Condition: telemetry.ConditionBelow, Threshold: 1.5, Severity: telemetry.SeverityCritical, Enabled: true,
		CooldownMinutes: 10}
	e, _ := alerting.New(alerting.Options{Node: "0195a000-0000-7000-8000-000000000001",
		Rules: []telemetry.AlertRule{low}})

	show := func(actions []alerting.Action) {
		for _, a := range actions {
			if a.Open != nil {
				fmt.Printf("open %s %s: %s\n", a.Open.Kind, a.Open.Severity, a.Open.Message)
			} else {
				fmt.Printf("resolve %s %s\n", a.Resolve.Kind, a.Resolve.Metric)
			}
		}
	}
	at := time.Now()
	show(e.Observe(at, map[string]float64{"water_level": 2.1}, false))
	show(e.Observe(at, map[string]float64{"water_level": 1.2}, false)) // crosses
	show(e.Observe(at, map[string]float64{"water_level": 1.1}, false)) // stays across: nothing
	fmt.Println("critical open:", e.CriticalOpen())
	show(e.Observe(at, map[string]float64{"water_level": 1.8}, false)) // returns
	show(e.Observe(at, map[string]float64{"water_level": 1.0}, false)) // within the cooldown: nothing
	show(e.StatusChanged(true, at, false))
	show(e.StatusChanged(false, at, false))
	// Output:
	// open rule critical: water_level 1.2 < 1.5 (rule "Low level")
	// critical open: true
	// resolve rule water_level
	// open device_offline critical: the device sends no data
	// resolve device_offline
}
