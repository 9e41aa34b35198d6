package alerting

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// series is the rolling window of one metric. Its sum and sum of squares
// are kept relative to a pivot near the window's mean, so that the
// variance of a large level with little noise (1000 ± 0.01) does not
// vanish in rounding; they are recomputed from the values (and the pivot
// moved) every time the ring wraps, so rounding errors never accumulate.
type series struct {
	metric     string
	vals       []float64
	next, n    int
	pivot      float64
	sum, sumSq float64
	// step is the metric's resolution as seen so far: the smallest
	// non-zero difference between two consecutive values received (0
	// until two differ). last is the value received before.
	step, last float64
	seen       bool
}

// observe records v's step from the value before it (raw values: the
// window holds clamped ones).
func (s *series) observe(v float64) {
	if s.seen {
		if d := math.Abs(v - s.last); d > 0 && (s.step == 0 || d < s.step) {
			s.step = d
		}
	}
	s.last, s.seen = v, true
}

func (s *series) stats() (mean, sd float64) {
	m := s.sum / float64(s.n)
	v := s.sumSq/float64(s.n) - m*m
	return s.pivot + m, math.Sqrt(max(v, 0))
}

func (s *series) add(v float64) {
	if s.n == 0 {
		s.pivot = v
	}
	if s.n == len(s.vals) {
		d := s.vals[s.next] - s.pivot
		s.sum -= d
		s.sumSq -= d * d
	} else {
		s.n++
	}
	s.vals[s.next] = v
	d := v - s.pivot
	s.sum += d
	s.sumSq += d * d
	if s.next = (s.next + 1) % len(s.vals); s.next == 0 {
		s.recompute()
	}
}

func (s *series) recompute() {
	var total float64
	for _, v := range s.vals[:s.n] {
		total += v
	}
	s.pivot = total / float64(s.n)
	s.sum, s.sumSq = 0, 0
	for _, v := range s.vals[:s.n] {
		d := v - s.pivot
		s.sum += d
		s.sumSq += d * d
	}
}

// observeAnomalies judges every metric of the reading against its own
// window, in metric order, then adds the value (clamped, see the package
// doc) to it. Unless judge, it only adds: no alert opens or resolves.
func (e *Engine) observeAnomalies(at time.Time, metrics map[string]float64, inMaintenance, judge bool) {
	if e.noAnomalies {
		return
	}
	for name := range metrics {
		if _, ok := e.byMetric[name]; !ok {
			e.addSeries(name)
		}
	}
	for _, s := range e.series {
		v, ok := metrics[s.metric]
		if !ok || !finite(v) {
			continue
		}
		if s.n < e.minSamples {
			s.observe(v)
			s.add(v)
			continue
		}
		mean, sd := s.stats()
		// A deviation of the metric's own resolution is no anomaly: a
		// temperature reported in tenths on a flat day has a standard
		// deviation of a few hundredths, and its next tenth would be 3 sd.
		// The resolution is the one seen before v (v's own jump does not
		// excuse itself).
		spread := max(sd, s.step)
		s.observe(v)
		z := (v - mean) / spread // ±Inf when a constant window meets another value; NaN when it meets its own
		if v == mean || math.Abs(z) <= e.z {
			if judge {
				e.anomalyClear(s.metric)
			}
			s.add(v)
			continue
		}
		c := Cause{Kind: telemetry.AlertKindAnomaly, Metric: s.metric}
		if _, open := e.open[c]; !open && !inMaintenance && judge {
			e.actions = append(e.actions, e.openAlert(c, telemetry.SeverityWarning, at, v, nil, anomalyMessage(s, v, mean, sd, spread, z)))
		}
		if spread == 0 { // a constant window cannot clamp: the value enters as it is
			s.add(v)
		} else {
			s.add(mean + math.Copysign(e.z*spread, z))
		}
	}
}

func anomalyMessage(s *series, v, mean, sd, spread, z float64) string {
	switch {
	case spread == 0:
		return fmt.Sprintf("%s %s differs from the mean %s of the last %d values, which were all equal (standard deviation 0)",
			s.metric, num(v), num(mean), s.n)
	case spread > sd:
		return fmt.Sprintf("%s %s is %.1f steps of its resolution %s from the mean %s (standard deviation %s, last %d values)",
			s.metric, num(v), z, num(spread), num(mean), num(sd), s.n)
	}
	return fmt.Sprintf("%s %s is %.1f standard deviations from the mean %s (standard deviation %s, last %d values)",
		s.metric, num(v), z, num(mean), num(sd), s.n)
}

func (e *Engine) anomalyClear(metric string) {
	c := Cause{Kind: telemetry.AlertKindAnomaly, Metric: metric}
	if _, open := e.open[c]; open {
		e.actions = append(e.actions, e.resolve(c))
	}
}

func (e *Engine) addSeries(metric string) {
	s := &series{metric: metric, vals: make([]float64, e.window)}
	if e.byMetric == nil {
		e.byMetric = map[string]*series{}
	}
	e.byMetric[metric] = s
	i, _ := slices.BinarySearchFunc(e.series, metric, func(s *series, m string) int { return strings.Compare(s.metric, m) })
	e.series = slices.Insert(e.series, i, s)
}
