package writer_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/evaratech/evara/actors/writer"
	"github.com/evaratech/evara/internal/telemetry"
)

// fakeStore is the writer's store in these tests: it records what it was
// given, can fail a number of writes, and can hold writes until released.
type fakeStore struct {
	mu      sync.Mutex
	rows    []telemetry.Reading
	calls   []int
	failing int
	gate    chan struct{} // when non-nil, writes wait for it to close
}

func (s *fakeStore) WriteReadings(ctx context.Context, rows []telemetry.Reading) error {
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing > 0 {
		s.failing--
		return errors.New("database is down")
	}
	s.rows = append(s.rows, rows...)
	s.calls = append(s.calls, len(rows))
	return nil
}

func (s *fakeStore) snapshot() ([]telemetry.Reading, []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]telemetry.Reading(nil), s.rows...), append([]int(nil), s.calls...)
}

func readings(node string, from, n int) []telemetry.Reading {
	out := make([]telemetry.Reading, n)
	for i := range out {
		out[i] = telemetry.Reading{Node: telemetry.NodeID(node), Entry: telemetry.Entry{EntryID: int64(from + i)}}
	}
	return out
}

func newSystem() *actor.ActorSystem {
	return actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
}

type harness struct {
	t      *testing.T
	system *actor.ActorSystem
	writer *actor.PID
	store  *fakeStore
}

func start(t *testing.T, store *fakeStore, opts writer.Options) *harness {
	t.Helper()
	system := newSystem()
	pid := system.Root.Spawn(writer.Props(store, opts))
	t.Cleanup(func() {
		_ = system.Root.StopFuture(pid).Wait()
		system.Shutdown()
	})
	return &harness{t: t, system: system, writer: pid, store: store}
}

func (h *harness) request(msg any) any {
	h.t.Helper()
	res, err := h.system.Root.RequestFuture(h.writer, msg, 10*time.Second).Result()
	if err != nil {
		h.t.Fatalf("request %T: %v", msg, err)
	}
	return res
}

func (h *harness) write(rows []telemetry.Reading) any {
	return h.request(&writer.Write{Readings: rows})
}

func (h *harness) stats() writer.Stats { return *h.request(&writer.GetStats{}).(*writer.Stats) }

// eventually polls cond for up to 10 s: waiting for an outcome, never timing it.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestBatchesBySizeAndKeepsOrder(t *testing.T) {
	h := start(t, &fakeStore{}, writer.Options{BatchSize: 10, MaxBatch: 10, FlushInterval: time.Hour})
	for i := 0; i < 5; i++ {
		if _, ok := h.write(readings("a", 1+i*5, 5)).(*writer.Accepted); !ok {
			t.Fatal("write refused")
		}
	}
	eventually(t, "two full batches", func() bool { _, calls := h.store.snapshot(); return len(calls) == 2 })
	if _, ok := h.request(&writer.Flush{}).(*writer.Flushed); !ok {
		t.Fatal("no Flushed")
	}
	rows, calls := h.store.snapshot()
	if fmt.Sprint(calls) != "[10 10 5]" {
		t.Errorf("batches %v, want [10 10 5]", calls)
	}
	for i, r := range rows {
		if r.EntryID != int64(i+1) {
			t.Fatalf("row %d has entry %d: order lost", i, r.EntryID)
		}
	}
}

func TestFlushesAfterTheIntervalWithoutAFullBatch(t *testing.T) {
	h := start(t, &fakeStore{}, writer.Options{BatchSize: 1000, FlushInterval: 20 * time.Millisecond})
	h.write(readings("a", 1, 3))
	eventually(t, "the interval flush", func() bool { rows, _ := h.store.snapshot(); return len(rows) == 3 })
}

// probe collects what the writer sends back to a device.
type probe struct {
	mu     sync.Mutex
	stored map[telemetry.NodeID]int64
}

func (p *probe) Receive(c actor.Context) {
	if s, ok := c.Message().(*writer.Stored); ok {
		p.mu.Lock()
		p.stored[s.Node] = max(p.stored[s.Node], s.LastEntryID)
		p.mu.Unlock()
	}
}

func (p *probe) last(node telemetry.NodeID) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stored[node]
}

func TestReportsTheLastStoredEntryToTheSender(t *testing.T) {
	h := start(t, &fakeStore{}, writer.Options{BatchSize: 4, FlushInterval: time.Hour})
	p := &probe{stored: map[telemetry.NodeID]int64{}}
	device := h.system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return p }))
	rows := append(readings("a", 7, 3), readings("b", 40, 2)...)
	if _, err := h.system.Root.RequestFuture(h.writer, &writer.Write{Readings: rows}, 5*time.Second).Result(); err != nil {
		t.Fatal(err)
	}
	h.write(readings("c", 1, 1)) // no ReportTo: nobody is told
	h.request(&writer.Write{Readings: readings("a", 10, 2), ReportTo: device})
	h.request(&writer.Flush{})
	eventually(t, "Stored for node a", func() bool { return p.last("a") == 11 })
	if got := p.last("b"); got != 0 {
		t.Errorf("node b came from another sender, yet the device was told %d", got)
	}
}

func TestPushesBackWhenFullAndLosesNothing(t *testing.T) {
	store := &fakeStore{gate: make(chan struct{})}
	h := start(t, store, writer.Options{BatchSize: 5, MaxQueued: 10, FlushInterval: time.Hour})
	if _, ok := h.write(readings("a", 1, 5)).(*writer.Accepted); !ok { // now in flight, held by the gate
		t.Fatal("first write refused")
	}
	if _, ok := h.write(readings("a", 6, 5)).(*writer.Accepted); !ok {
		t.Fatal("second write refused while there was room")
	}
	busy, ok := h.write(readings("a", 11, 1)).(*writer.Busy)
	if !ok || busy.RetryAfter <= 0 {
		t.Fatalf("want Busy with a retry hint, got %#v", busy)
	}
	if s := h.stats(); s.Queued != 10 || s.BusyReplies != 1 {
		t.Errorf("stats %+v: the queue must stay at its bound", s)
	}
	close(store.gate)
	h.request(&writer.Flush{})
	if _, ok := h.write(readings("a", 11, 1)).(*writer.Accepted); !ok {
		t.Fatal("write refused after the queue drained")
	}
	h.request(&writer.Flush{})
	if rows, _ := store.snapshot(); len(rows) != 11 {
		t.Fatalf("stored %d rows, want 11", len(rows))
	}
}

func TestRetriesUntilTheStoreIsBack(t *testing.T) {
	store := &fakeStore{failing: 3}
	h := start(t, store, writer.Options{BatchSize: 2, RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond})
	h.write(readings("a", 1, 4))
	h.request(&writer.Flush{})
	rows, _ := store.snapshot()
	if len(rows) != 4 {
		t.Fatalf("stored %d rows, want 4", len(rows))
	}
	if s := h.stats(); s.FailedWrites != 3 || s.LastError != "" || s.Written != 4 {
		t.Errorf("stats %+v", s)
	}
}

func TestStopFlushesWhatIsQueued(t *testing.T) {
	store := &fakeStore{}
	system := newSystem()
	defer system.Shutdown()
	pid := system.Root.Spawn(writer.Props(store, writer.Options{BatchSize: 1000, FlushInterval: time.Hour}))
	if _, err := system.Root.RequestFuture(pid, &writer.Write{Readings: readings("a", 1, 7)}, 5*time.Second).Result(); err != nil {
		t.Fatal(err)
	}
	if err := system.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
	if rows, _ := store.snapshot(); len(rows) != 7 {
		t.Fatalf("stored %d rows at stop, want 7", len(rows))
	}
}
