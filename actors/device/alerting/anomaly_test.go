package alerting_test

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/evaratech/evara/actors/device/alerting"
	"github.com/evaratech/evara/internal/telemetry"
)

func nan() float64 { return math.NaN() }

// tank is a realistic water level: a daily cycle (96 readings of 15
// minutes) with sensor noise.
func tank(rng *rand.Rand, i int) float64 {
	return 50 + 10*math.Sin(2*math.Pi*float64(i)/96) + 2*(rng.Float64()-0.5)
}

// feed observes n readings of level (and of flow, a quiet metric on
// another scale) and returns the anomaly actions with their index.
func feed(e *alerting.Engine, n int, level func(i int) float64) []string {
	flow := rand.New(rand.NewPCG(2, 2))
	var out []string
	for i := range n {
		at := t0.Add(time.Duration(i) * 15 * time.Minute)
		got := e.Observe(at, map[string]float64{"level": level(i), "flow": 1000 + flow.Float64()}, false)
		if r := render(got); r != "" {
			out = append(out, strconv.Itoa(i)+": "+r)
		}
	}
	return out
}

func TestAnomaly(t *testing.T) {
	tests := []struct {
		name  string
		level func(rng *rand.Rand, i int) float64
		want  []string
	}{
		{"a noisy signal raises nothing", tank, nil},
		{"one spike raises one anomaly, resolved by the next value", func(rng *rand.Rand, i int) float64 {
			if i == 300 {
				return tank(rng, i) + 40
			}
			return tank(rng, i)
		}, []string{"300: open anomaly - level", "301: resolve anomaly - level"}},
		{"a dip raises one too", func(rng *rand.Rand, i int) float64 {
			if i == 250 {
				return 0
			}
			return tank(rng, i)
		}, []string{"250: open anomaly - level", "251: resolve anomaly - level"}},
		{"a spike before 20 samples is not judged", func(rng *rand.Rand, i int) float64 {
			if i == 10 {
				return 500
			}
			return tank(rng, i)
		}, nil},
		{"a big spike does not hide a small one after it", func(rng *rand.Rand, i int) float64 {
			switch i {
			case 200:
				return 10_000
			case 210:
				return 10.2
			}
			return 10 + 0.2*(rng.Float64()-0.5)
		}, []string{"200: open anomaly - level", "201: resolve anomaly - level",
			"210: open anomaly - level", "211: resolve anomaly - level"}},
		{"a constant signal that changes is one anomaly; the change is then its resolution, so the next value resolves it", func(_ *rand.Rand, i int) float64 {
			if i >= 100 {
				return 7
			}
			return 5
		}, []string{"100: open anomaly - level", "101: resolve anomaly - level"}},
		{"a flat signal in tenths raises nothing for a tenth's step", func(_ *rand.Rand, i int) float64 {
			if i%20 == 7 {
				return 28.3 // 4.4 standard deviations above 28.2, but one step of the sensor
			}
			return 28.2
		}, nil},
		{"a flat signal in tenths still raises a jump of several tenths", func(_ *rand.Rand, i int) float64 {
			switch {
			case i == 300:
				return 28.9
			case i%20 == 7:
				return 28.3
			}
			return 28.2
		}, []string{"300: open anomaly - level", "301: resolve anomaly - level"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, &clock{t0}, nil)
			rng := rand.New(rand.NewPCG(1, 1))
			got := feed(e, 500, func(i int) float64 { return tt.level(rng, i) })
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// A lasting change of level is one anomaly, which resolves once the window
// has learnt the new level; nothing opens again.
func TestAnomalyLevelShiftResolves(t *testing.T) {
	e := newEngine(t, &clock{t0}, nil)
	rng := rand.New(rand.NewPCG(3, 3))
	got := feed(e, 1000, func(i int) float64 {
		v := 10 + 0.2*(rng.Float64()-0.5)
		if i >= 200 {
			v += 2
		}
		return v
	})
	if len(got) != 2 || !strings.HasPrefix(got[0], "200: open anomaly - level") || !strings.Contains(got[1], "resolve anomaly - level") {
		t.Fatalf("got %q, want one open at 200 and one resolution", got)
	}
	t.Logf("the shift resolved at reading %s", got[1])
}

func TestAnomalyMessage(t *testing.T) {
	tests := []struct {
		name   string
		values []float64 // repeated to 40
		want   string
	}{
		{"the standard deviation", []float64{10, 10.5, 12, 11.5}, // mean 11, sd 0.790569, steps of 0.5 and 1.5
			"level 20 is 11.4 standard deviations from the mean 11 (standard deviation 0.790569, last 40 values)"},
		{"the resolution, when above the standard deviation", []float64{10, 12}, // mean 11, sd 1, steps of 2
			"level 20 is 4.5 steps of its resolution 2 from the mean 11 (standard deviation 1, last 40 values)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, &clock{t0}, nil)
			for i := range 40 {
				e.Observe(t0, map[string]float64{"level": tt.values[i%len(tt.values)]}, false)
			}
			got := e.Observe(t0, map[string]float64{"level": 20}, false)
			if len(got) != 1 || got[0].Open == nil {
				t.Fatalf("got %s, want one open", render(got))
			}
			al := got[0].Open
			if al.Message != tt.want || al.Severity != telemetry.SeverityWarning || *al.Value != 20 || al.Threshold != nil || al.RuleID != nil {
				t.Errorf("alert = %+v %q", *al, al.Message)
			}
			if e.CriticalOpen() {
				t.Error("an anomaly is a warning, yet CriticalOpen is true")
			}
		})
	}
}

func TestAnomalyInMaintenance(t *testing.T) {
	e := newEngine(t, &clock{t0}, nil)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range 100 {
		e.Observe(t0, map[string]float64{"level": tank(rng, i)}, false)
	}
	if got := e.Observe(t0, map[string]float64{"level": 500}, true); got != nil {
		t.Fatalf("a spike in maintenance: got %s, want nothing", render(got))
	}
	if got := e.Observe(t0, map[string]float64{"level": 500}, false); render(got) != "open anomaly - level" {
		t.Fatalf("a spike after maintenance: got %q", render(got))
	}
	if got := e.Observe(t0, map[string]float64{"level": tank(rng, 101)}, true); render(got) != "resolve anomaly - level" {
		t.Fatalf("back to normal in maintenance: got %q, want a resolution", render(got))
	}
}

func TestNoAnomalies(t *testing.T) {
	c := &clock{t0}
	e, _ := alerting.New(alerting.Options{Node: node, Now: c.now, NoAnomalies: true,
		Rules: []telemetry.AlertRule{rule("r1", "level", ">", 100, telemetry.SeverityCritical, 0)}})
	rng := rand.New(rand.NewPCG(1, 1))
	got := feed(e, 300, func(i int) float64 {
		if i == 250 {
			return 500 // a spike: the rule sees it, no anomaly does
		}
		return tank(rng, i)
	})
	if want := []string{"250: open rule r1 level", "251: resolve rule r1 level"}; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got %q, want %q", got, want)
	}
}
