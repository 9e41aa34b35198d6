package ws

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/evaratech/evara/internal/telemetry"
)

// TestOutboxCoalesces: with few nodes (scanned) and with many (indexed),
// the outbox holds the newest telemetry and status per node, in the order
// each node's slot was first taken, and counts what it replaced.
func TestOutboxCoalesces(t *testing.T) {
	for _, nodes := range []int{3, slotIndexMin - 1, slotIndexMin, 5 * slotIndexMin} {
		t.Run(fmt.Sprint(nodes), func(t *testing.T) {
			var dropped atomic.Uint64
			o := newOutbox(8, &dropped, func() {})
			node := func(i int) telemetry.NodeID { return telemetry.NodeID(fmt.Sprintf("n%03d", i)) }
			for e := int64(1); e <= 5; e++ {
				for i := range nodes {
					o.Deliver(telemetryEvent(node(i), e))
				}
			}
			for i := range nodes {
				o.Deliver(telemetryEvent(node(i), 2)) // older than the one waiting: dropped
				o.Deliver(telemetry.LiveEvent{Kind: telemetry.LiveStatus, NodeID: node(i), Status: telemetry.StatusOffline})
			}
			o.Deliver(telemetry.LiveEvent{Kind: telemetry.LiveStatus, NodeID: node(0), Status: telemetry.StatusOnline})
			got := o.takeEvents()
			if len(got) != 2*nodes {
				t.Fatalf("%d events waiting, want %d", len(got), 2*nodes)
			}
			for i := range nodes {
				if ev := got[i]; ev.NodeID != node(i) || ev.Kind != telemetry.LiveTelemetry || ev.EntryID != 5 {
					t.Errorf("slot %d: %+v, want %s's entry 5", i, ev, node(i))
				}
				want := telemetry.StatusOffline
				if i == 0 {
					want = telemetry.StatusOnline
				}
				if ev := got[nodes+i]; ev.NodeID != node(i) || ev.Kind != telemetry.LiveStatus || ev.Status != want {
					t.Errorf("slot %d: %+v, want %s %s", nodes+i, ev, node(i), want)
				}
			}
			if want := uint64(4*nodes + nodes + 1); dropped.Load() != want {
				t.Errorf("dropped %d, want %d", dropped.Load(), want)
			}
			if o.size() != 0 || o.takeEvents() != nil {
				t.Error("events left after taking them")
			}
		})
	}
}
