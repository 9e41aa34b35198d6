package device

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/evaratech/evara/internal/telemetry"
)

func TestBreaker(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	b := breaker{state: BreakerClosed}
	for i := 1; i < BreakerThreshold; i++ {
		if b.failure(t0) || !b.allow(t0) {
			t.Fatalf("open after %d failures", i)
		}
	}
	if !b.failure(t0) || b.state != BreakerOpen {
		t.Fatalf("not open after %d failures", BreakerThreshold)
	}
	if b.allow(t0.Add(BreakerCooldown - time.Nanosecond)) {
		t.Fatal("allowed a call during the cooldown")
	}
	if !b.allow(t0.Add(BreakerCooldown)) || b.state != BreakerHalfOpen {
		t.Fatal("no half-open probe after the cooldown")
	}
	probe := t0.Add(BreakerCooldown)
	if !b.failure(probe) || b.allow(probe.Add(BreakerCooldown-time.Nanosecond)) {
		t.Fatal("a failed probe must open the breaker for another cooldown")
	}
	if !b.allow(probe.Add(BreakerCooldown)) || !b.success() || b.state != BreakerClosed || b.failures != 0 {
		t.Fatalf("a successful probe must close the breaker: %+v", b)
	}
	if b.opened != 2 {
		t.Errorf("opened %d times, want 2", b.opened)
	}
}

func TestMetricsApplyTheFieldMapping(t *testing.T) {
	e := telemetry.Entry{EntryID: 1}
	e.Fields[0] = telemetry.Field{Value: 176, Valid: true}
	e.Fields[1] = telemetry.Field{Value: 25.5, Valid: true}
	e.Fields[2] = telemetry.Field{} // null: left out
	e.Fields[3] = telemetry.Field{Value: 7, Valid: true}
	tests := []struct {
		name    string
		mapping map[string]string
		want    map[string]float64
	}{
		{"no mapping", nil, map[string]float64{"field1": 176, "field2": 25.5, "field4": 7}},
		{"mapped", map[string]string{"field1": "water_level", "field2": "temperature", "field3": "tds"},
			map[string]float64{"water_level": 176, "temperature": 25.5, "field4": 7}},
		{"empty alias", map[string]string{"field1": ""}, map[string]float64{"field1": 176, "field2": 25.5, "field4": 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, metrics(tt.mapping, e)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestPhasesSpreadEvenly(t *testing.T) {
	const n, buckets = 6000, 10
	interval := time.Minute
	var counts [buckets]int
	now := time.Date(2026, 3, 1, 12, 0, 7, 123, time.UTC)
	for i := range n {
		id := telemetry.NodeID(fmt.Sprintf("0195%04x-7c1e-7000-8000-%012x", i, i*7919))
		p := phase(id, interval)
		counts[int(p*buckets/interval)]++
		d := firstDelay(now, p, interval)
		if d < 0 || d >= interval {
			t.Fatalf("first delay %v outside [0, %v)", d, interval)
		}
		if at := now.Add(d); time.Duration(at.UnixNano()%int64(interval)) != p {
			t.Fatalf("first poll at %v is not at the phase %v", at, p)
		}
	}
	for i, c := range counts {
		if c < n/buckets*8/10 || c > n/buckets*12/10 {
			t.Errorf("bucket %d holds %d of %d phases: not spread evenly (%v)", i, c, n, counts)
		}
	}
}
