// Package devicetest holds the hand-written fakes and helpers that the
// device and limiter tests share (STYLE: fakes beside the consumer, never
// generated mocks): an in-memory Store that serves as the device's store
// and the writer's, a simulator-backed Upstream, a fake Clock, a Parent
// actor standing in for the limiter, and Eventually.
//
// Everything here is safe for concurrent use. Only tests import it.
package devicetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// StatusChange is one SetNodeStatus call.
type StatusChange struct {
	Status   telemetry.Status
	LastSeen *time.Time
}

// Store is an in-memory stand-in for persistence. It implements
// device.Store and writer.Store: WriteReadings keeps every row it is given
// (duplicates included, so that tests can see them) and its LatestReading
// answers from them.
type Store struct {
	mu       sync.Mutex
	written  map[telemetry.NodeID][]telemetry.Reading
	latest   map[telemetry.NodeID]telemetry.Reading
	statuses map[telemetry.NodeID][]StatusChange
	gate     chan struct{} // non-nil: WriteReadings waits for it to close
}

// NewStore returns an empty Store.
func NewStore() *Store {
	return &Store{
		written:  map[telemetry.NodeID][]telemetry.Reading{},
		latest:   map[telemetry.NodeID]telemetry.Reading{},
		statuses: map[telemetry.NodeID][]StatusChange{},
	}
}

// WriteReadings records rows (writer.Store).
func (s *Store) WriteReadings(ctx context.Context, rows []telemetry.Reading) error {
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
	for _, r := range rows {
		s.written[r.Node] = append(s.written[r.Node], r)
		if r.EntryID > s.latest[r.Node].EntryID {
			s.latest[r.Node] = r
		}
	}
	return nil
}

// LatestReading returns the newest reading written or seeded (device.Store).
func (s *Store) LatestReading(_ context.Context, node telemetry.NodeID) (telemetry.Reading, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.latest[node]
	if !ok {
		return telemetry.Reading{}, fmt.Errorf("reading of %s: %w", node, telemetry.ErrNotFound)
	}
	return r, nil
}

// SetNodeStatus records a status change (device.Store).
func (s *Store) SetNodeStatus(_ context.Context, id telemetry.NodeID, status telemetry.Status, lastSeen *time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.statuses[id] = append(s.statuses[id], StatusChange{Status: status, LastSeen: lastSeen})
	return nil
}

// Seed stores a reading as if it had been written before the test.
func (s *Store) Seed(r telemetry.Reading) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latest[r.Node] = r
}

// Written returns every row written for node, in the order written.
func (s *Store) Written(node telemetry.NodeID) []telemetry.Reading {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.written[node])
}

// Newest returns the newest entry id written for node (0: none).
func (s *Store) Newest(node telemetry.NodeID) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.written[node]
	if len(w) == 0 {
		return 0
	}
	return w[len(w)-1].EntryID
}

// Statuses returns the statuses stored for node, oldest first.
func (s *Store) Statuses(node telemetry.NodeID) []StatusChange {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.statuses[node])
}

// LastStatus returns the status stored last for node ("" when none).
func (s *Store) LastStatus(node telemetry.NodeID) telemetry.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.statuses[node]
	if len(st) == 0 {
		return ""
	}
	return st[len(st)-1].Status
}

// Block makes writes wait until Release.
func (s *Store) Block() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate == nil {
		s.gate = make(chan struct{})
	}
}

// Release lets blocked and later writes through.
func (s *Store) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
}
