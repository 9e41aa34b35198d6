package writer

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the writer's Prometheus figures (SPEC §10). A nil *metrics
// (no Options.Registerer) records nothing. They are made once per Props,
// not per actor instance, so a restarted writer keeps counting in the same
// series instead of registering them again.
type metrics struct {
	written prometheus.Counter
	queued  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	return &metrics{
		written: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "evara_readings_written_total",
			Help: "Readings the writer handed to the store successfully (made durable).",
		})),
		queued: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "evara_writer_queue_rows",
			Help: "Readings the writer holds: queued, plus a write in flight.",
		})),
	}
}

// register registers c, or returns the collector reg already holds under
// the same name (a second writer on one registry shares the series). Any
// other error is a programming error and panics, as MustRegister would.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(fmt.Sprintf("writer: registering metrics: %v", err))
}

func (m *metrics) wrote(rows int) {
	if m != nil {
		m.written.Add(float64(rows))
	}
}

func (m *metrics) holding(rows int) {
	if m != nil {
		m.queued.Set(float64(rows))
	}
}
