package writer

import (
	"context"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/evaratech/evara/internal/telemetry"
)

// Store is what the writer needs from persistence.
type Store interface {
	// WriteReadings durably stores rows, skipping any (node, entry_id)
	// already stored. Rows of one node arrive in ascending entry order.
	WriteReadings(ctx context.Context, rows []telemetry.Reading) error
}

// Options tunes the writer; the zero value gives the defaults.
type Options struct {
	BatchSize     int           // queued rows that trigger a write; default 500
	FlushInterval time.Duration // longest a row waits for its batch; default 200ms
	MaxBatch      int           // most rows in one write; default 10,000
	MaxQueued     int           // most rows held (queued + being written); default 50,000
	WriteTimeout  time.Duration // one write attempt; default 30s
	RetryMin      time.Duration // first retry delay; default 100ms
	RetryMax      time.Duration // longest retry delay; default 10s
	StopTimeout   time.Duration // flushing on stop; default 20s
	Logger        *slog.Logger  // default: discard
	// Registerer receives evara_readings_written_total and
	// evara_writer_queue_rows; nil records no metrics.
	Registerer prometheus.Registerer
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.BatchSize, 500)
	def(&o.MaxBatch, 10_000)
	def(&o.MaxQueued, 50_000)
	defd(&o.FlushInterval, 200*time.Millisecond)
	defd(&o.WriteTimeout, 30*time.Second)
	defd(&o.RetryMin, 100*time.Millisecond)
	defd(&o.RetryMax, 10*time.Second)
	defd(&o.StopTimeout, 20*time.Second)
	o.MaxBatch = max(o.MaxBatch, o.BatchSize)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Write asks the writer to store readings. When ReportTo is set (a device
// actor sets its own PID), the writer sends it a *Stored per node once the
// readings are durable. It is explicit rather than the request's sender
// because a sender may be a one-shot future.
type Write struct {
	Readings []telemetry.Reading
	ReportTo *actor.PID
}

// Accepted answers a Write whose readings are queued.
type Accepted struct{}

// Busy answers a Write that did not fit: nothing was queued.
type Busy struct{ RetryAfter time.Duration }

// Stored tells a Write's sender that a node's readings up to LastEntryID are durable.
type Stored struct {
	Node        telemetry.NodeID
	LastEntryID int64
}

// Flush asks for everything queued so far to be stored.
type Flush struct{}

// Flushed answers Flush.
type Flushed struct{}

// GetStats asks for the writer's counters.
type GetStats struct{}

// Stats answers GetStats.
type Stats struct {
	Queued        int    // rows waiting, including a write in flight
	Written       int64  // rows handed to the store successfully
	Batches       int64  // successful writes
	FailedWrites  int64  // write attempts that failed (each retried)
	BusyReplies   int64  // Writes refused because the queue was full
	LastError     string // of the latest failed write, "" after a success
	WriteInFlight bool
}

// Props returns the writer's props.
func Props(store Store, opts Options) *actor.Props {
	opts = opts.withDefaults()
	m := newMetrics(opts.Registerer)
	return actor.PropsFromProducer(func() actor.Actor {
		return &writer{store: store, opts: opts, log: opts.Logger, metrics: m}
	})
}

// batchDone reports the end of a write attempt to the actor.
type batchDone struct{ err error }

// flushDue fires FlushInterval after the first row of a batch was queued,
// or when a retry's backoff ends.
type flushDue struct{ gen int }

// group is the readings of one Write, remembered with whom to report to.
type group struct {
	reportTo *actor.PID
	rows     []telemetry.Reading
}
