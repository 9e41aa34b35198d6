package cluster

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/evaratech/evara/actors/limiter"
	"github.com/evaratech/evara/internal/telemetry"
)

// PlacementName is the name of each member's placement actor.
const PlacementName = "placement"

// Nodes is what placement reads from the store.
type Nodes interface {
	// RuntimeNodes lists every node with a ThingSpeak channel.
	RuntimeNodes(ctx context.Context) ([]telemetry.Node, error)
	// GetNode returns one node (any tenant), or an error wrapping
	// telemetry.ErrNotFound.
	GetNode(ctx context.Context, scope telemetry.Scope, idOrKey string) (telemetry.Node, error)
	// NodeChangesSince reads the node change log after a time (unix ms).
	NodeChangesSince(ctx context.Context, sinceMs int64) ([]telemetry.NodeChange, error)
}

// PlacementOptions configures the placement actor.
type PlacementOptions struct {
	Member  *Member
	Nodes   Nodes
	Limiter *actor.PID // this member's limiter
	// Rate and Burst are the cluster-wide upstream budget; each member's
	// limiter gets 1/n of it for n live members.
	Rate      float64
	Burst     int
	Reconcile time.Duration // full comparison with the store; default 30 s
	Logger    *slog.Logger
}

const loadTimeout = 30 * time.Second

// placement decides which devices run on this member. On every topology
// change, every entry of the node change log and every Reconcile period it compares the
// nodes the store holds with those it runs, by rendezvous ownership and
// node version, and tells the limiter to start, reconfigure or stop
// devices. Loads run off the mailbox; results are applied on it.
type placement struct {
	opts        PlacementOptions
	log         *slog.Logger
	self        *actor.PID
	system      *actor.ActorSystem
	ctx         context.Context
	cancel      context.CancelFunc
	timer       *time.Timer
	changeTimer *time.Timer
	changes     *changeLog
	jobs        sync.WaitGroup // loads from the store; waited for on stop
	members     []string
	prev        []string                      // the members before the latest change
	prevOwner   func(telemetry.NodeID) string // Owner by prev

	running map[telemetry.NodeID]int // node → version its device runs with
	seq     uint64                   // bumped by every applied change-log batch
	touched map[telemetry.NodeID]uint64
	loading bool // a full load is under way
	again   bool // and another was asked for meanwhile
}

// Messages placement sends itself.
type (
	reconcileTick struct{}
	loadedAll     struct {
		nodes []telemetry.Node
		seq   uint64
		err   error
	}
	loadedSome struct {
		ids   []telemetry.NodeID
		nodes map[telemetry.NodeID]telemetry.Node // absent: deleted or without channel
		err   error
	}
)

// PlacementProps returns the props of the placement actor; spawn it as
// PlacementName after the limiter.
func PlacementProps(opts PlacementOptions) *actor.Props {
	if opts.Reconcile <= 0 {
		opts.Reconcile = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return actor.PropsFromProducer(func() actor.Actor {
		return &placement{opts: opts, log: opts.Logger, running: map[telemetry.NodeID]int{}, touched: map[telemetry.NodeID]uint64{}}
	})
}

// Receive handles one message; loads run on goroutines stopped with the actor.
func (p *placement) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		p.self, p.system = c.Self(), c.ActorSystem()
		p.ctx, p.cancel = context.WithCancel(context.Background())
		p.changes = newChangeLog(time.Now())
		p.opts.Member.Watch(c.Self())
		p.armTick()
		p.armChangeTick()
	case *changeTick:
		p.readChanges()
	case *changesLoaded:
		p.onChanges(m)
	case *Topology:
		p.prev, p.members = p.members, m.Members
		p.prevOwner = ownerFunc(p.prev)
		n := max(len(m.Members), 1)
		c.Request(p.opts.Limiter, &limiter.SetShare{Rate: p.opts.Rate / float64(n), Burst: max(1, p.opts.Burst/n)})
		p.log.Info("cluster topology", "members", m.Members, "share", p.opts.Rate/float64(n))
		p.loadAll()
	case *reconcileTick:
		p.armTick()
		p.loadAll()
	case *loadedAll:
		p.onLoadedAll(c, m)
	case *loadedSome:
		p.onLoadedSome(c, m)
	case *actor.Stopping:
		for _, t := range []*time.Timer{p.timer, p.changeTimer} {
			if t != nil {
				t.Stop()
			}
		}
		p.cancel()
		p.jobs.Wait() // cancelled: they return at once
	}
}

func (p *placement) armTick() {
	system, self := p.system, p.self
	p.timer = time.AfterFunc(p.opts.Reconcile, func() { system.Root.Send(self, &reconcileTick{}) })
}

func (p *placement) loadAll() {
	if p.loading {
		p.again = true
		return
	}
	p.loading = true
	ctx, nodes, system, self, seq := p.ctx, p.opts.Nodes, p.system, p.self, p.seq
	p.jobs.Add(1)
	go func() {
		defer p.jobs.Done()
		ctx, cancel := context.WithTimeout(ctx, loadTimeout)
		defer cancel()
		all, err := nodes.RuntimeNodes(ctx)
		system.Root.Send(self, &loadedAll{nodes: all, seq: seq, err: err})
	}()
}

func (p *placement) onLoadedAll(c actor.Context, m *loadedAll) {
	p.loading = false
	if p.again {
		p.again = false
		defer p.loadAll()
	}
	if m.err != nil {
		if !errors.Is(m.err, context.Canceled) {
			p.log.Warn("cannot read the nodes; placement retries at the next reconcile", "err", m.err)
		}
		return
	}
	wanted := map[telemetry.NodeID]bool{}
	var start, catchUp []telemetry.Node
	for _, n := range m.nodes {
		if p.touched[n.ID] > m.seq { // changed since the load began: the change log decided
			if _, ok := p.running[n.ID]; ok {
				wanted[n.ID] = true
			}
			continue
		}
		if p.opts.Member.Owner(n.ID) != p.opts.Member.Address() {
			continue
		}
		wanted[n.ID] = true
		version, running := p.running[n.ID]
		switch {
		case !running && p.tookOverFromLeaver(n.ID):
			catchUp = append(catchUp, n)
		case !running:
			start = append(start, n)
		case version != n.Version:
			c.Send(p.opts.Limiter, &limiter.Reconfigure{Node: n})
		}
		p.running[n.ID] = n.Version
	}
	for id := range p.running {
		if !wanted[id] && p.touched[id] <= m.seq {
			c.Send(p.opts.Limiter, &limiter.StopDevice{Node: id})
			delete(p.running, id)
		}
	}
	p.send(c, start, false)
	p.send(c, catchUp, true)
	for id, seq := range p.touched { // decided by this load from now on
		if seq <= m.seq {
			delete(p.touched, id)
		}
	}
}

// tookOverFromLeaver reports whether node's previous owner is a member
// that has left: its last poll may be an interval old, so the new device
// catches up at once. A device moving because a member joined keeps its
// phase: its previous owner polled it on schedule.
func (p *placement) tookOverFromLeaver(node telemetry.NodeID) bool {
	if len(p.prev) == 0 {
		return false
	}
	prevOwner := p.prevOwner(node)
	for _, m := range p.members {
		if m == prevOwner {
			return false
		}
	}
	return true
}

func (p *placement) send(c actor.Context, nodes []telemetry.Node, catchUp bool) {
	if len(nodes) > 0 {
		c.Send(p.opts.Limiter, &limiter.Start{Nodes: nodes, CatchUp: catchUp})
		p.log.Info("devices placed here", "devices", len(nodes), "catch_up", catchUp, "running", len(p.running))
	}
}

func (p *placement) loadSome(ids []telemetry.NodeID) {
	ctx, nodes, system, self := p.ctx, p.opts.Nodes, p.system, p.self
	p.jobs.Add(1)
	go func() {
		defer p.jobs.Done()
		ctx, cancel := context.WithTimeout(ctx, loadTimeout)
		defer cancel()
		m := &loadedSome{ids: ids, nodes: map[telemetry.NodeID]telemetry.Node{}}
		for _, id := range ids {
			n, err := nodes.GetNode(ctx, telemetry.Scope{All: true}, string(id))
			switch {
			case err == nil && n.ChannelID > 0 && n.ChannelKey.IsSet():
				m.nodes[id] = n
			case err != nil && !errors.Is(err, telemetry.ErrNotFound):
				m.err = err
			}
		}
		system.Root.Send(self, m)
	}()
}

func (p *placement) onLoadedSome(c actor.Context, m *loadedSome) {
	if m.err != nil {
		p.log.Warn("cannot read changed nodes; placement retries at the next reconcile", "err", m.err)
		return
	}
	p.seq++
	for _, id := range m.ids {
		p.touched[id] = p.seq
		n, exists := m.nodes[id]
		version, running := p.running[id]
		switch mine := exists && p.opts.Member.Owner(id) == p.opts.Member.Address(); {
		case mine && !running:
			c.Send(p.opts.Limiter, &limiter.Start{Nodes: []telemetry.Node{n}})
			p.running[id] = n.Version
		case mine && version != n.Version:
			c.Send(p.opts.Limiter, &limiter.Reconfigure{Node: n})
			p.running[id] = n.Version
		case !mine && running:
			c.Send(p.opts.Limiter, &limiter.StopDevice{Node: id})
			delete(p.running, id)
		}
	}
}
