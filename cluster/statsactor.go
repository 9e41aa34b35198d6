package cluster

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/evaratech/evara/actors/limiter"
	"github.com/evaratech/evara/actors/msg"
)

// StatsName is the name of each member's stats actor: GetMemberStats sent
// to PID{member, StatsName} is answered with that member's MemberStats.
const StatsName = "stats"

// StatsOptions configures the stats actor.
type StatsOptions struct {
	Member   *Member
	Limiter  *actor.PID
	Sessions func() int64 // WebSocket sessions on this member; nil: 0
	Stopping func() bool  // the member is shutting down; nil: never
}

// StatsProps returns the props of the stats actor, which answers
// *msg.GetMemberStats with *msg.MemberStats built from the limiter's
// figures and the member's own; it asks the limiter off its own turn
// (ReenterAfter), so it never blocks.
func StatsProps(opts StatsOptions) *actor.Props {
	return actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*msg.GetMemberStats); !ok {
			return
		}
		sender := c.Sender()
		if sender == nil {
			return
		}
		f := c.RequestFuture(opts.Limiter, &limiter.GetStats{}, 2*time.Second)
		c.ReenterAfter(f, func(res any, err error) {
			ls, ok := res.(*limiter.Stats)
			if !ok || err != nil {
				c.Logger().Warn("member stats without the limiter's figures: it did not answer", "err", err, "answer", fmt.Sprintf("%T", res))
				ls = &limiter.Stats{}
			}
			c.Send(sender, opts.memberStats(ls))
		})
	})
}

func (o StatsOptions) memberStats(ls *limiter.Stats) *msg.MemberStats {
	status := "up"
	if o.Stopping != nil && o.Stopping() {
		status = "stopping"
	}
	var sessions int64
	if o.Sessions != nil {
		sessions = o.Sessions()
	}
	return &msg.MemberStats{
		Id: o.Member.system.ID, Address: o.Member.Address(), Status: status,
		StartedUnixMs: o.Member.Started().UnixMilli(), DeviceActors: int64(ls.Devices), Sessions: sessions,
		Mailbox:  &msg.Mailboxes{Max: ls.MailboxMax, P99: ls.MailboxP99},
		Breakers: &msg.Breakers{Closed: int64(ls.BreakersClosed), Open: int64(ls.BreakersOpen), HalfOpen: int64(ls.BreakersHalfOpen)},
		Limiter: &msg.Limiter{
			Share: ls.ConfiguredRate, Rate: ls.Rate, Burst: int64(ls.Burst), Tokens: ls.Tokens, Waiting: int64(ls.Waiting),
			Demand: ls.Demand, Stretch: ls.Stretch, PermitsGranted: ls.PermitsGranted, Decreases: ls.Decreases,
		},
		Upstream: &msg.Upstream{
			Ok: ls.OK, Failed: ls.Failed, RateLimited: ls.RateLimited,
			OkLastMinute: ls.OKLastMinute, FailedLastMinute: ls.FailedLastMinute, RateLimitedLastMinute: ls.RateLimitedLastMinute,
		},
		Restarts: ls.Crashes, Crashed: int64(len(ls.Crashed)), DeadLetters: o.Member.DeadLetters(),
		MembersSeen: int64(len(o.Member.Members())),
	}
}
