// Package limiter is the per-member limiter actor (SPEC §2, §3): the parent
// and supervisor of the device actors placed on its member, and the keeper
// of the member's share of the upstream request budget.
//
// # Messages
//
// Accepted (each answered with *Ack when sent as a request):
//
//	*Start{Nodes, CatchUp} run a device for each node not running yet
//	*SetShare{Rate, Burst} this member's share of the cluster's budget
//	*StopDevice{Node}    stop a node's device (its in-flight fetch is cancelled)
//	*Reconfigure{Node}   stop a node's device and, once it is gone, start
//	                     it again with the new configuration
//
// Answered:
//
//	*GetStats              (request) → *Stats
//	*device.PermitRequest  (request, from a device) → *device.Permit or
//	                       *device.PermitDenied{RetryAfter}
//
// Received from devices: *device.FetchOutcome, *device.BreakerChanged.
//
// Devices are children named after their node ids; with the limiter
// spawned as Name, a device's process id is DeviceID(node) =
// "limiter/<node id>", addressable from other members. Which nodes a member
// runs is decided outside (single member: all; with cluster placement, the
// member that owns them sends Start and StopDevice on topology changes).
//
// # Budget
//
// Permits come from a token bucket (golang.org/x/time/rate) at Rate with
// Burst. A device that finds no token gets a reservation — its place in
// line — and is told to come back when it is due (*PermitDenied); its
// next request is then granted without another token. Every device waiting
// holds one place, so under overload all devices are served in turn and
// their effective intervals stretch by the same factor (Stats.Stretch =
// demand at their intervals / rate) — except that a device with live
// subscribers takes the earliest place of one without (Stats.QueueJumps).
// No more than Rate·t + Burst permits are granted in any time t, nor more
// than Rate within any one second, so the members' shares add up to the
// cluster's budget in every second. A fetch that needed a second request
// is charged one more token afterwards. A limiter started with Hold grants
// nothing until it has passed (a member joining a cluster).
//
// Phases: the k-th device of an interval polls at vdc(k)·interval (the van
// der Corput sequence), so the devices spread evenly over the interval.
//
// AIMD: three 429 or 5xx outcomes within AdaptWindow (10 s) halve the
// rate, at most once per window and not below 5 % of Rate; every window
// without such an outcome adds 5 % of Rate back, up to Rate.
//
// # Supervision
//
// The limiter is its devices' supervisor strategy (actor.SupervisorStrategy,
// implemented by the actor itself so that it runs on the limiter's mailbox):
// a crashed device is restarted after an exponential backoff (100 ms,
// doubling, at most 10 s); one that crashed three times within a minute is
// stopped, logged and listed in Stats.Crashed. Siblings are not touched.
//
// # Lifetime
//
// Whoever spawns the limiter stops it, before the writer: stopping it stops
// every device (in-flight fetches are cancelled) and returns once they are
// all gone. Receive never blocks.
package limiter
