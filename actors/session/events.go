package session

import (
	"time"

	"github.com/evaratech/evara/actors/msg"
	"github.com/evaratech/evara/internal/telemetry"
)

// handOver passes on the device's current state, from its answer to
// Subscribe, so that a new subscriber has it at once: the reading as a
// TELEMETRY_UPDATE unless it is the one passed on last (after a
// resubscribe), else the status as a STATUS_UPDATE if it changed. Its ts
// is now: the moment the state was handed over.
func (s *session) handOver(node telemetry.NodeID, l *link, latest *msg.Latest) {
	now := s.opts.Now().UnixMilli()
	if id := latest.GetEntryId(); id > 0 && id != l.lastEntry {
		// Not compared with >: a device that moved may start from an older
		// stored reading, or a reconfigured node from a new channel; what
		// the device has now is the truth, and later readings follow it.
		s.deliverReading(node, l, latest, now)
		return
	}
	if st := telemetry.Status(latest.GetStatus()); st != "" && st != l.lastStatus {
		s.deliverStatus(node, l, st, now)
	}
}

// onTelemetry passes on a new reading of a wanted node. Readings go out in
// increasing entry order: one not newer than the last passed on (a late
// event of a device left) is dropped.
func (s *session) onTelemetry(m *msg.TelemetryUpdate) {
	latest := m.GetLatest()
	node := telemetry.NodeID(latest.GetNodeId())
	l := s.links[node]
	if l == nil || latest.GetEntryId() <= l.lastEntry {
		return
	}
	s.deliverReading(node, l, latest, m.GetProducedUnixMs())
}

// onStatus passes on a status change of a wanted node.
func (s *session) onStatus(m *msg.StatusUpdate) {
	node := telemetry.NodeID(m.GetNodeId())
	if l := s.links[node]; l != nil && m.GetStatus() != "" {
		s.deliverStatus(node, l, telemetry.Status(m.GetStatus()), m.GetProducedUnixMs())
	}
}

func (s *session) deliverReading(node telemetry.NodeID, l *link, latest *msg.Latest, produced int64) {
	e := telemetry.LiveEvent{
		Kind: telemetry.LiveTelemetry, NodeID: node, ProducedUnixMs: produced,
		EntryID: latest.GetEntryId(), Metrics: latest.GetMetrics(), Status: telemetry.Status(latest.GetStatus()),
	}
	if ms := latest.GetTimestampUnixMs(); ms != 0 {
		e.At = time.UnixMilli(ms).UTC()
	}
	l.lastEntry = e.EntryID
	if e.Status != "" {
		l.lastStatus = e.Status
	}
	s.opts.Sink.Deliver(e)
}

func (s *session) deliverStatus(node telemetry.NodeID, l *link, status telemetry.Status, produced int64) {
	l.lastStatus = status
	s.opts.Sink.Deliver(telemetry.LiveEvent{Kind: telemetry.LiveStatus, NodeID: node, ProducedUnixMs: produced, Status: status})
}
