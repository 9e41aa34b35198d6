package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/evaratech/evara/actors/limiter"
	"github.com/evaratech/evara/internal/telemetry"
)

// fakeNodes is the store as placement sees it: nodes and a change log.
type fakeNodes struct {
	mu      sync.Mutex
	nodes   map[telemetry.NodeID]telemetry.Node
	changes []telemetry.NodeChange
}

func (f *fakeNodes) RuntimeNodes(context.Context) ([]telemetry.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []telemetry.Node
	for _, n := range f.nodes {
		out = append(out, n)
	}
	return out, nil
}

func (f *fakeNodes) GetNode(_ context.Context, _ telemetry.Scope, id string) (telemetry.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.nodes[telemetry.NodeID(id)]
	if !ok {
		return telemetry.Node{}, telemetry.ErrNotFound
	}
	return n, nil
}

func (f *fakeNodes) NodeChangesSince(_ context.Context, since int64) ([]telemetry.NodeChange, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []telemetry.NodeChange
	for _, c := range f.changes {
		if c.AtUnixMs > since {
			out = append(out, c)
		}
	}
	return out, nil
}

// put changes a node the way the store's trigger logs it (nil deletes).
func (f *fakeNodes) put(id telemetry.NodeID, n *telemetry.Node) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n == nil {
		delete(f.nodes, id)
	} else {
		f.nodes[id] = *n
	}
	f.changes = append(f.changes, telemetry.NodeChange{Seq: int64(len(f.changes) + 1), Node: id, AtUnixMs: time.Now().UnixMilli()})
}

func node(i, version int) *telemetry.Node {
	return &telemetry.Node{ID: telemetry.NodeID(fmt.Sprintf("node-%03d", i)), ChannelID: telemetry.ChannelID(1000 + i), Version: version,
		ChannelKey: telemetry.SealedSecret{KeyID: "k", Ciphertext: []byte{1}}}
}

// fakeLimiter records what placement asks of the limiter.
type fakeLimiter struct {
	mu      sync.Mutex
	running map[telemetry.NodeID]int
	shares  []float64
}

func (l *fakeLimiter) Receive(c actor.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch m := c.Message().(type) {
	case *limiter.Start:
		for _, n := range m.Nodes {
			l.running[n.ID] = n.Version
		}
	case *limiter.Reconfigure:
		l.running[m.Node.ID] = m.Node.Version
	case *limiter.StopDevice:
		delete(l.running, m.Node)
	case *limiter.SetShare:
		l.shares = append(l.shares, m.Rate)
	}
	if c.Sender() != nil {
		c.Respond(&limiter.Ack{})
	}
}

func (l *fakeLimiter) snapshot() map[telemetry.NodeID]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[telemetry.NodeID]int{}
	for k, v := range l.running {
		out[k] = v
	}
	return out
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestPlacementFollowsTheStore: on one member, placement starts a device
// for every node at its first topology, and follows the change log —
// a new node starts, a new version reconfigures, a deleted node stops.
func TestPlacementFollowsTheStore(t *testing.T) {
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	defer system.Shutdown()
	member, err := Start(system, Options{Provider: Single})
	if err != nil {
		t.Fatal(err)
	}
	defer member.Stop() //nolint:errcheck // single member: nothing to leave
	store := &fakeNodes{nodes: map[telemetry.NodeID]telemetry.Node{}}
	for i := range 5 {
		store.put(node(i, 1).ID, node(i, 1))
	}
	lim := &fakeLimiter{running: map[telemetry.NodeID]int{}}
	limPID := system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return lim }))
	pl := system.Root.Spawn(PlacementProps(PlacementOptions{Member: member, Nodes: store, Limiter: limPID, Rate: 50, Burst: 10}))
	defer func() { _ = system.Root.StopFuture(pl).Wait() }()

	eventually(t, "five devices", func() bool { return len(lim.snapshot()) == 5 })
	store.put(node(5, 1).ID, node(5, 1)) // created
	store.put(node(2, 2).ID, node(2, 2)) // reconfigured
	store.put(node(4, 1).ID, nil)        // deleted
	want := map[telemetry.NodeID]int{node(0, 1).ID: 1, node(1, 1).ID: 1, node(2, 1).ID: 2, node(3, 1).ID: 1, node(5, 1).ID: 1}
	eventually(t, "the changes applied", func() bool {
		got := lim.snapshot()
		if len(got) != len(want) {
			return false
		}
		for id, v := range want {
			if got[id] != v {
				return false
			}
		}
		return true
	})
	lim.mu.Lock()
	defer lim.mu.Unlock()
	if !slices.Equal(lim.shares, []float64{50}) {
		t.Errorf("shares set: %v, want the whole budget once", lim.shares)
	}
}

// TestOwnershipMovesOnlyTheLeaversDevices: with rendezvous hashing, when
// a member leaves only its devices change owner, spread over the rest.
func TestOwnershipMovesOnlyTheLeaversDevices(t *testing.T) {
	three := []string{"10.0.0.1:7101", "10.0.0.2:7101", "10.0.0.3:7101"}
	two := three[:2]
	per := map[string]int{}
	for i := range 3000 {
		id := node(i, 1).ID
		before, after := OwnerAmong(three, id), OwnerAmong(two, id)
		per[before]++
		if before != three[2] && after != before {
			t.Fatalf("%s moved from %s to %s though its owner stayed", id, before, after)
		}
		if !slices.Contains(two, after) {
			t.Fatalf("%s owned by %q, not a live member", id, after)
		}
	}
	for _, m := range three {
		if per[m] < 800 || per[m] > 1200 {
			t.Errorf("member %s owns %d of 3000 devices: not spread evenly (%v)", m, per[m], per)
		}
	}
}
