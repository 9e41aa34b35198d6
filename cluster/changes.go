package cluster

import (
	"context"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// Following the node change log. Every member reads it (a trigger writes
// it in the store, SPEC §5), so a node created, reconfigured or deleted by
// anyone reaches its owner's placement within changePoll. Entries are read
// again for changeOverlap after they are first seen — an entry's time is
// its insert, and a transaction may commit a little after it — and told
// apart by sequence number; an entry whose transaction committed later
// still is caught by the periodic reconcile.
const (
	changePoll    = 250 * time.Millisecond
	changeOverlap = 5 * time.Second
)

type (
	changeTick    struct{}
	changesLoaded struct {
		changes []telemetry.NodeChange
		err     error
	}
)

// changeLog remembers what has been read of the log.
type changeLog struct {
	since int64           // unix ms: read entries after this (minus the overlap)
	seen  map[int64]int64 // seq → its time, for entries within the overlap
	busy  bool
}

func newChangeLog(now time.Time) *changeLog {
	return &changeLog{since: now.UnixMilli(), seen: map[int64]int64{}}
}

func (p *placement) armChangeTick() {
	system, self := p.system, p.self
	p.changeTimer = time.AfterFunc(changePoll, func() { system.Root.Send(self, &changeTick{}) })
}

// readChanges reads the log off the mailbox, one read at a time.
func (p *placement) readChanges() {
	p.armChangeTick()
	if p.changes.busy {
		return
	}
	p.changes.busy = true
	ctx, nodes, system, self := p.ctx, p.opts.Nodes, p.system, p.self
	since := p.changes.since - changeOverlap.Milliseconds()
	p.jobs.Add(1)
	go func() {
		defer p.jobs.Done()
		ctx, cancel := context.WithTimeout(ctx, loadTimeout)
		defer cancel()
		changes, err := nodes.NodeChangesSince(ctx, since)
		system.Root.Send(self, &changesLoaded{changes: changes, err: err})
	}()
}

// onChanges loads the nodes of the entries not seen before.
func (p *placement) onChanges(m *changesLoaded) {
	l := p.changes
	l.busy = false
	if m.err != nil {
		p.log.Debug("cannot read the node change log", "err", m.err)
		return
	}
	var ids []telemetry.NodeID
	for _, c := range m.changes {
		l.since = max(l.since, c.AtUnixMs)
		if _, ok := l.seen[c.Seq]; ok {
			continue
		}
		l.seen[c.Seq] = c.AtUnixMs
		ids = append(ids, c.Node)
	}
	for seq, at := range l.seen {
		if at < l.since-2*changeOverlap.Milliseconds() {
			delete(l.seen, seq)
		}
	}
	if len(ids) > 0 {
		p.loadSome(ids)
	}
}
