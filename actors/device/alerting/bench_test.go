package alerting_test

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/evaratech/evara/actors/device/alerting"
	"github.com/evaratech/evara/internal/telemetry"
)

// BenchmarkObserve is issue 7's rule evaluation cost per reading: a device
// with 20 enabled rules over 8 metrics (all eight ThingSpeak fields), each
// metric also in its anomaly window of 100. "quiet" readings cross nothing
// (the common case: it must not allocate); "crossing" readings alternate
// between crossing every rule and returning, so each one opens or resolves
// 20 alerts.
//
//	go test -run '^$' -bench . -benchmem ./actors/device/alerting/
func BenchmarkObserve(b *testing.B) {
	var rules []telemetry.AlertRule
	for i := range 20 {
		rules = append(rules, rule("r"+strconv.Itoa(i), "field"+strconv.Itoa(i%8+1), ">", 1000, telemetry.SeverityWarning, 0))
	}
	rng := rand.New(rand.NewPCG(1, 1))
	readings := make([]map[string]float64, 256)
	for i := range readings {
		m := map[string]float64{}
		for f := 1; f <= 8; f++ {
			m["field"+strconv.Itoa(f)] = 50 + rng.Float64()
		}
		readings[i] = m
	}
	b.Run("quiet", func(b *testing.B) {
		e, _ := alerting.New(alerting.Options{Node: node, Rules: rules})
		for _, m := range readings {
			e.Observe(t0, m, false)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if e.Observe(t0, readings[i%len(readings)], false) != nil {
				b.Fatal("a quiet reading changed something")
			}
			i++
		}
	})
	b.Run("crossing", func(b *testing.B) {
		// Rules only: an anomaly window would learn the crossings.
		crossed := map[string]float64{}
		for f := 1; f <= 8; f++ {
			crossed["field"+strconv.Itoa(f)] = 2000
		}
		e, _ := alerting.New(alerting.Options{Node: node, Rules: rules, Now: func() time.Time { return t0 }})
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			m := readings[0]
			if i%2 == 0 {
				m = crossed
			}
			if len(e.Observe(t0, m, false)) < 20 {
				b.Fatal("a crossing reading opened or resolved fewer than 20 alerts")
			}
			i++
		}
	})
}
