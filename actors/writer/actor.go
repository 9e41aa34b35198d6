package writer

import (
	"context"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/evaratech/evara/internal/telemetry"
)

type writer struct {
	store Store
	opts  Options
	log   interface {
		Warn(msg string, args ...any)
		Info(msg string, args ...any)
		Error(msg string, args ...any)
	}

	queue    []group // waiting, oldest first
	queued   int     // rows in queue
	inFlight []group // being written
	flushing int     // rows in inFlight
	waiters  []waiter

	timer    *time.Timer
	timerGen int
	backoff  time.Duration
	retrying bool

	writes  sync.WaitGroup // the write goroutine
	cancel  context.CancelFunc
	ctx     context.Context
	stats   Stats
	metrics *metrics // nil without a Registerer
}

// waiter is a Flush request that is answered once the rows queued before it are stored.
type waiter struct {
	pid   *actor.PID
	ahead int // rows that must still be written before it is answered
}

func (w *writer) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		w.ctx, w.cancel = context.WithCancel(context.Background())
	case *Write:
		w.onWrite(c, m)
	case *Flush:
		w.waiters = append(w.waiters, waiter{pid: c.Sender(), ahead: w.queued + w.flushing})
		w.answerWaiters(c)
		w.startWrite(c)
	case *flushDue:
		if m.gen == w.timerGen {
			w.retrying = false
			w.startWrite(c)
		}
	case *batchDone:
		w.onBatchDone(c, m.err)
	case *GetStats:
		s := w.stats
		s.Queued, s.WriteInFlight = w.queued+w.flushing, w.inFlight != nil
		c.Respond(&s)
	case *actor.Stopping:
		w.drainOnStop()
	case *actor.Stopped:
		w.stopTimer()
		w.cancel()
		// Nothing is held once stopped: it was flushed, or is left for the
		// devices to re-fetch.
		w.metrics.holding(0)
		return
	}
	w.metrics.holding(w.queued + w.flushing)
}

func (w *writer) onWrite(c actor.Context, m *Write) {
	n := len(m.Readings)
	if n == 0 {
		c.Respond(&Accepted{})
		return
	}
	// An oversized Write is still taken when nothing else is held, so a
	// device backfilling 8000 entries is never refused for ever.
	if held := w.queued + w.flushing; held > 0 && held+n > w.opts.MaxQueued {
		w.stats.BusyReplies++
		c.Respond(&Busy{RetryAfter: w.retryHint()})
		return
	}
	w.queue = append(w.queue, group{reportTo: m.ReportTo, rows: m.Readings})
	w.queued += n
	c.Respond(&Accepted{})
	if w.queued >= w.opts.BatchSize {
		w.startWrite(c)
	} else if w.timer == nil {
		w.armTimer(c, w.opts.FlushInterval)
	}
}

// retryHint is how long a refused sender should wait: about one write.
func (w *writer) retryHint() time.Duration {
	if w.retrying {
		return w.backoff
	}
	return max(w.opts.FlushInterval, 100*time.Millisecond)
}

// startWrite hands the oldest queued rows (up to MaxBatch) to the write
// goroutine, unless a write is in flight or a retry is waiting out its backoff.
func (w *writer) startWrite(c actor.Context) {
	if w.inFlight != nil || w.retrying || w.queued == 0 {
		return
	}
	w.stopTimer()
	batch, rows := w.takeBatch()
	w.inFlight, w.flushing = batch, len(rows)
	store, timeout, self, system, ctx := w.store, w.opts.WriteTimeout, c.Self(), c.ActorSystem(), w.ctx
	w.writes.Add(1)
	go func() {
		defer w.writes.Done()
		wctx, cancel := context.WithTimeout(ctx, timeout)
		err := store.WriteReadings(wctx, rows)
		cancel()
		system.Root.Send(self, &batchDone{err: err})
	}()
}

// takeBatch removes up to MaxBatch rows from the front of the queue,
// splitting a group when it straddles the limit.
func (w *writer) takeBatch() ([]group, []telemetry.Reading) {
	var batch []group
	rows := make([]telemetry.Reading, 0, min(w.queued, w.opts.MaxBatch))
	for len(w.queue) > 0 && len(rows) < w.opts.MaxBatch {
		g := w.queue[0]
		room := w.opts.MaxBatch - len(rows)
		if len(g.rows) > room {
			batch = append(batch, group{reportTo: g.reportTo, rows: g.rows[:room]})
			w.queue[0].rows = g.rows[room:]
			rows = append(rows, g.rows[:room]...)
			break
		}
		batch = append(batch, g)
		rows = append(rows, g.rows...)
		w.queue[0] = group{}
		w.queue = w.queue[1:]
	}
	w.queued -= len(rows)
	return batch, rows
}

func (w *writer) onBatchDone(c actor.Context, err error) {
	if err != nil {
		w.stats.FailedWrites++
		w.stats.LastError = err.Error()
		w.backoff = min(max(w.backoff*2, w.opts.RetryMin), w.opts.RetryMax)
		w.log.Warn("storing readings failed; will retry", "rows", w.flushing, "retry_in", w.backoff.String(), "err", err)
		// Put the batch back in front so order per node is kept.
		w.queue = append(w.inFlight, w.queue...)
		w.queued += w.flushing
		w.inFlight, w.flushing = nil, 0
		w.retrying = true
		w.armTimer(c, w.backoff)
		return
	}
	if w.stats.LastError != "" {
		w.log.Info("storing readings works again", "rows", w.flushing)
	}
	w.stats.Written += int64(w.flushing)
	w.metrics.wrote(w.flushing)
	w.stats.Batches++
	w.stats.LastError, w.backoff = "", 0
	w.report(c, w.inFlight)
	done := w.flushing
	w.inFlight, w.flushing = nil, 0
	for i := range w.waiters {
		w.waiters[i].ahead -= done
	}
	w.answerWaiters(c)
	if w.queued >= w.opts.BatchSize || (w.queued > 0 && len(w.waiters) > 0) {
		w.startWrite(c)
	} else if w.queued > 0 && w.timer == nil {
		w.armTimer(c, w.opts.FlushInterval)
	}
}

// report tells each ReportTo the newest stored entry of each of its nodes.
func (w *writer) report(c actor.Context, batch []group) {
	type key struct {
		to   string
		node telemetry.NodeID
	}
	newest := map[key]*Stored{}
	var order []key
	targets := map[string]*actor.PID{}
	for _, g := range batch {
		if g.reportTo == nil {
			continue
		}
		targets[g.reportTo.String()] = g.reportTo
		for _, r := range g.rows {
			k := key{g.reportTo.String(), r.Node}
			s, ok := newest[k]
			if !ok {
				s = &Stored{Node: r.Node}
				newest[k] = s
				order = append(order, k)
			}
			s.LastEntryID = max(s.LastEntryID, r.EntryID)
		}
	}
	for _, k := range order {
		c.Send(targets[k.to], newest[k])
	}
}

func (w *writer) answerWaiters(c actor.Context) {
	kept := w.waiters[:0]
	for _, wt := range w.waiters {
		if wt.ahead <= 0 {
			c.Send(wt.pid, &Flushed{})
			continue
		}
		kept = append(kept, wt)
	}
	w.waiters = kept
}

func (w *writer) armTimer(c actor.Context, d time.Duration) {
	w.stopTimer()
	w.timerGen++
	gen, self, system := w.timerGen, c.Self(), c.ActorSystem()
	w.timer = time.AfterFunc(d, func() { system.Root.Send(self, &flushDue{gen: gen}) })
}

func (w *writer) stopTimer() {
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
}

// drainOnStop stores what is still held before the actor goes away. It is
// the one place that waits on the store inside Receive: the actor is
// stopping, no new message will be handled, and the process is shutting
// down in order (SPEC §10: flush the writer).
func (w *writer) drainOnStop() {
	w.stopTimer()
	w.writes.Wait() // a write in flight finishes (bounded by WriteTimeout)
	rows := make([]telemetry.Reading, 0, w.queued+w.flushing)
	for _, g := range append(w.inFlight, w.queue...) {
		rows = append(rows, g.rows...)
	}
	if len(rows) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.opts.StopTimeout)
	defer cancel()
	if err := w.store.WriteReadings(ctx, rows); err != nil {
		// Not lost for good: devices re-fetch from their last stored entry_id.
		w.log.Error("readings not stored at shutdown; devices will re-fetch them", "rows", len(rows), "err", err)
		return
	}
	w.metrics.wrote(len(rows))
	w.log.Info("flushed readings at shutdown", "rows", len(rows))
}
