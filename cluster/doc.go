// Package cluster owns membership, device placement and routing (SPEC §2).
//
// # Membership
//
// Start joins this process to the cluster through protoactor's own
// membership — nothing here gossips or health-checks by itself:
//
//   - Single (default): a cluster of one; no remoting port is opened.
//   - Static: protoactor's automanaged provider over a fixed member list
//     (EVARA_CLUSTER_MEMBERS, host:port of each member's remoting endpoint).
//     Each member also answers the others' health checks on its remoting
//     port + MembershipPortOffset; a member that stops answering is gone
//     within about a second.
//   - Kubernetes: protoactor's Kubernetes provider.
//
// The remoting port is cluster-internal: it binds the advertised address
// (EVARA_CLUSTER_ADVERTISE) only, since protoactor crashes on unknown
// message types and its ListProcesses panics; in Kubernetes the
// NetworkPolicy keeps it inside the release.
//
// # Placement
//
// Member.Owner hashes a node id over the live members with protoactor's
// rendezvous hashing, so a change of membership moves only the devices of
// the members that joined or left. Each member runs one placement actor
// (PlacementName) that compares the store's nodes with the devices its
// limiter runs — on every topology change, every node change (a trigger-
// written change log it reads every 250 ms, so whoever changes a node, the
// owner reacts within a second), and every 30 s — and sends the limiter
// Start, Reconfigure (a node's version changed) and StopDevice. Devices
// taken over from a member that left catch up at once (within
// device.CatchUpWindow); devices moving because a member joined keep their
// schedule. On every topology change the limiter's share of the upstream
// budget becomes 1/n of it; a member that has just joined grants nothing
// for a moment (limiter.Config.Hold), so that the shares never add up to
// more than the budget while the others notice it.
//
// # Routing
//
// A device's PID is {owner's address, "limiter/<node id>"}. Router.Latest
// asks it for the cached reading (msg.GetLatest, protobuf: it may cross
// members) and retries, with a doubling pause, while the device is between
// owners; Router.Stats asks every member's stats actor (StatsName) for
// msg.MemberStats. protoactor's cluster.RequestFuture is not used (it keeps
// the first cluster's context), nor grains (a grain's parent is the
// placement actor, so no limiter could supervise it, and grains only live
// while called).
//
// # Concurrency and lifetime
//
// Member, Router and the collector are safe for concurrent use. The
// composition root starts the Member before the actors and stops it last,
// after the devices have stopped and the writer has flushed: Member.Stop
// leaves the cluster and shuts the actor system down.
package cluster
