package session_test

import (
	"runtime"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/evaratech/evara/actors/devicetest"
	"github.com/evaratech/evara/actors/session"
	"github.com/evaratech/evara/internal/telemetry"
)

// discard is a sink that keeps nothing, so that only the sessions (and
// what the devices keep for them) are measured.
type discard struct{}

func (discard) Deliver(telemetry.LiveEvent) {}

// BenchmarkSessionMemory reports the live heap per idle session subscribed
// to 10 local devices, each node its own topic (as a connection that sent
// ten node subscriptions): the session actor, its process and mailbox, and
// what the devices hold for it (subscriber entries, watches). Each round
// has devices of its own: protoactor's watcher sets never shrink, so
// devices that served a round before would hide what watches cost.
//
//	go test ./actors/session -run '^$' -bench SessionMemory -count 6
func BenchmarkSessionMemory(b *testing.B) {
	const sessions = 5000
	var perSession float64
	for range b.N {
		perSession = sessionBytes(newEnv(b, 10), sessions)
	}
	b.ReportMetric(perSession, "bytes/session")
}

// batch is how many sessions sessionBytes starts at a time.
const batch = 100

// sessionBytes spawns n sessions following every node of e, measures the
// live heap once each device has them all as subscribers, and stops them.
func sessionBytes(e *env, n int) float64 {
	b := e.T
	pids := make([]*actor.PID, 0, n)
	defer func() {
		for _, pid := range pids {
			_ = e.System.Root.StopFuture(pid).Wait()
		}
		for _, node := range e.nodes {
			devicetest.Eventually(b, "the devices to drop the sessions", func() bool { return e.subscribers(e.device(node.ID)) == 0 })
		}
	}()
	before := liveHeap()
	for len(pids) < n {
		// In batches, so that the devices' mailboxes (whose queues keep
		// the size of their longest backlog) do not grow by however many
		// requests happened to wait at once: that is noise here.
		for range min(batch, n-len(pids)) {
			pid := e.System.Root.Spawn(session.Props(session.Options{Sink: discard{}, Locator: e.loc}))
			pids = append(pids, pid)
			for _, node := range e.nodes {
				e.System.Root.Send(pid, &session.Watch{Topic: nodeTopic(node.ID), Nodes: []telemetry.NodeID{node.ID}})
			}
		}
		for _, node := range e.nodes {
			devicetest.Eventually(b, "every session subscribed", func() bool { return e.subscribers(e.device(node.ID)) == len(pids) })
		}
	}
	for _, pid := range pids {
		e.waitSubscribed(pid, len(e.nodes))
	}
	return float64(liveHeap()-before) / float64(n)
}

// liveHeap is the heap's live bytes after a full collection.
func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
