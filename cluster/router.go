package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/evaratech/evara/actors/msg"
	"github.com/evaratech/evara/internal/telemetry"
)

// Router sends requests to the member that owns a device, and broadcasts
// to every member's placement and stats actors. Safe for concurrent use.
type Router struct {
	member *Member
	system *actor.ActorSystem
}

// NewRouter returns a router over member's view of the cluster.
func NewRouter(system *actor.ActorSystem, member *Member) *Router {
	return &Router{member: member, system: system}
}

// Retry figures for requests that land in a handover window, when the
// owner by the current topology has not started the device yet (or has
// just lost it): bounded attempts with a doubling pause, never an error
// while ctx allows another try.
const (
	tryTimeout   = time.Second
	retryInitial = 25 * time.Millisecond
	retryMax     = 400 * time.Millisecond
)

// Latest asks node's device, on whichever member owns it, for its cached
// reading. It retries through handovers until ctx ends, and then returns
// an error wrapping telemetry.ErrUnavailable.
func (r *Router) Latest(ctx context.Context, node telemetry.NodeID) (*msg.Latest, error) {
	pause := retryInitial
	for attempt := 1; ; attempt++ {
		pid := r.member.DevicePID(node)
		wait := tryTimeout
		if d, ok := ctx.Deadline(); ok {
			wait = min(wait, time.Until(d))
		}
		res, err := r.system.Root.RequestFuture(pid, &msg.GetLatest{}, max(wait, time.Millisecond)).Result()
		if l, ok := res.(*msg.Latest); ok && err == nil {
			return l, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("device %s: no answer after %d attempts: %w", node, attempt, errors.Join(telemetry.ErrUnavailable, err))
		case <-time.After(pause):
		}
		pause = min(2*pause, retryMax)
	}
}

// Stats asks every live member for its figures, in parallel, waiting at
// most until ctx ends; members that do not answer are listed as
// unreachable.
func (r *Router) Stats(ctx context.Context) Stats {
	members := r.member.Members()
	answers := make([]*msg.MemberStats, len(members))
	var wg sync.WaitGroup
	for i, member := range members {
		wg.Go(func() {
			wait := 5 * time.Second
			if d, ok := ctx.Deadline(); ok {
				wait = max(time.Until(d), time.Millisecond)
			}
			res, err := r.system.Root.RequestFuture(actor.NewPID(member, StatsName), &msg.GetMemberStats{}, wait).Result()
			if s, ok := res.(*msg.MemberStats); ok && err == nil {
				answers[i] = s
			}
		})
	}
	wg.Wait()
	now := time.Now()
	s := Stats{At: now.UTC(), Members: []MemberStats{}, Unreachable: []string{}}
	for i, a := range answers {
		if a == nil {
			s.Unreachable = append(s.Unreachable, members[i])
			continue
		}
		s.Members = append(s.Members, memberStats(a, now))
	}
	s.total()
	return s
}
