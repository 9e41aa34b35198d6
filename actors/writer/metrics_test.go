package writer_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/evaratech/evara/actors/writer"
)

// metricValue reads the single metric of reg by name.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		m := f.GetMetric()[0]
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("%s is not registered", name)
	return 0
}

func TestWriterMetricsCountDurableRowsAndTheQueue(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	store := &fakeStore{gate: make(chan struct{})}
	h := start(t, store, writer.Options{BatchSize: 5, FlushInterval: time.Hour, Registerer: reg})

	h.write(readings("a", 1, 5)) // a full batch: in flight, held by the gate
	h.write(readings("a", 6, 2)) // queued behind it
	eventually(t, "7 rows held", func() bool { return metricValue(t, reg, "evara_writer_queue_rows") == 7 })
	if got := metricValue(t, reg, "evara_readings_written_total"); got != 0 {
		t.Fatalf("written %v before the store answered", got)
	}

	close(store.gate)
	h.request(&writer.Flush{})
	if got := metricValue(t, reg, "evara_readings_written_total"); got != 7 {
		t.Errorf("written %v after the flush, want 7", got)
	}
	eventually(t, "an empty queue", func() bool { return metricValue(t, reg, "evara_writer_queue_rows") == 0 })
}

func TestWriterMetricsShareOneRegistry(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	a := start(t, &fakeStore{}, writer.Options{BatchSize: 1, Registerer: reg})
	b := start(t, &fakeStore{}, writer.Options{BatchSize: 1, Registerer: reg}) // must not panic
	a.write(readings("a", 1, 2))
	b.write(readings("b", 1, 3))
	a.request(&writer.Flush{})
	b.request(&writer.Flush{})
	if n := testutil.CollectAndCount(reg, "evara_readings_written_total"); n != 1 {
		t.Fatalf("%d series, want one shared", n)
	}
	if got := metricValue(t, reg, "evara_readings_written_total"); got != 5 {
		t.Errorf("written %v, want 5", got)
	}
}
