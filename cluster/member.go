package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	protocluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/automanaged"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/asynkron/protoactor-go/remote"

	"github.com/evaratech/evara/actors/limiter"
	"github.com/evaratech/evara/internal/telemetry"
)

// Providers (Options.Provider).
const (
	Single     = "single"     // one member, no remoting
	Static     = "static"     // a fixed list of members (automanaged provider)
	Kubernetes = "kubernetes" // protoactor's Kubernetes provider
)

// MembershipPortOffset: with the static provider each member answers the
// others' health checks on its remoting port plus this offset.
const MembershipPortOffset = 1000

// deviceKind is the kind every member advertises. Placement hashes device
// ids over the members of this kind with protoactor's rendezvous hashing;
// no grain of this kind is ever activated (devices are children of the
// limiter, SPEC §2), so its props only answer that nothing lives there.
const deviceKind = "device"

// membershipRefresh is how often the static provider checks the members:
// a killed member is noticed within about this long.
const membershipRefresh = time.Second

// Options configures a member.
type Options struct {
	Provider  string   // Single, Static or Kubernetes
	Name      string   // cluster name
	Advertise string   // host:port of this member's remoting endpoint
	Members   []string // Static: every member's host:port
	Logger    *slog.Logger
}

// Member is this process's place in the cluster: its address, the live
// members as protoactor's membership reports them, and which member owns
// each device. Safe for concurrent use. Stop leaves the cluster.
type Member struct {
	system  *actor.ActorSystem
	cluster *protocluster.Cluster // nil with the single provider
	log     *slog.Logger
	started time.Time
	self    string

	mu       sync.Mutex
	members  []string // addresses, sorted
	hash     *protocluster.Rendezvous
	watchers []*actor.PID
	sub      *eventstream.Subscription
	dead     *eventstream.Subscription

	deadLetters atomic.Int64

	pidMu sync.Mutex
	pids  map[telemetry.NodeID]*actor.PID // DevicePID's, until the membership changes
}

// Topology is sent to watchers once when they start watching and on every
// change of membership.
type Topology struct {
	Members []string // addresses of the live members, sorted
}

// Start joins the cluster (or, with the single provider, makes a cluster
// of one without opening any port). It returns once this member sees the
// topology, about a second later with a real provider.
func Start(system *actor.ActorSystem, opts Options) (m *Member, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	m = &Member{system: system, log: opts.Logger, started: time.Now(), hash: protocluster.NewRendezvous()}
	m.dead = system.EventStream.Subscribe(func(ev any) {
		if _, ok := ev.(*actor.DeadLetterEvent); ok {
			m.deadLetters.Add(1)
		}
	})
	if opts.Provider == Single || opts.Provider == "" {
		m.self = system.Address()
		m.members = []string{m.self} // Owner answers self without hashing
		return m, nil
	}
	cfg, err := protoConfig(opts)
	if err != nil {
		return nil, err
	}
	// The first topology event fires inside StartMember: subscribe first.
	m.sub = system.EventStream.Subscribe(func(ev any) {
		if t, ok := ev.(*protocluster.ClusterTopology); ok {
			m.setMembers(t.Members)
		}
	})
	defer func() {
		if r := recover(); r != nil { // protoactor panics when it cannot start
			err = fmt.Errorf("cluster: cannot start member: %v", r)
		}
	}()
	m.cluster = protocluster.New(system, cfg)
	m.cluster.StartMember()
	m.self = system.Address()
	m.setMembers(m.cluster.MemberList.Members().Members())
	m.log.Info("cluster member started", "provider", opts.Provider, "address", m.self, "members", m.Members())
	return m, nil
}

// protoConfig builds protoactor's cluster configuration for a provider.
func protoConfig(opts Options) (*protocluster.Config, error) {
	host, portText, err := net.SplitHostPort(opts.Advertise)
	if err != nil {
		return nil, fmt.Errorf("cluster: advertise address: %w", err)
	}
	port, _ := strconv.Atoi(portText)
	var provider protocluster.ClusterProvider
	bind := host // the remoting port stays on the advertised, cluster-internal address
	var ropts []remote.ConfigOption
	switch opts.Provider {
	case Static:
		hosts := make([]string, 0, len(opts.Members))
		for _, a := range opts.Members {
			h, p, err := net.SplitHostPort(a)
			if err != nil {
				return nil, fmt.Errorf("cluster: member %q: %w", a, err)
			}
			n, _ := strconv.Atoi(p)
			hosts = append(hosts, net.JoinHostPort(h, strconv.Itoa(n+MembershipPortOffset)))
		}
		provider = automanaged.NewWithConfig(membershipRefresh, port+MembershipPortOffset, hosts...)
	case Kubernetes:
		p, err := kubernetesProvider()
		if err != nil {
			return nil, err
		}
		provider, bind = p, "0.0.0.0" // the pod's IP changes; NetworkPolicy keeps the port in the release
		ropts = append(ropts, remote.WithAdvertisedHost(opts.Advertise))
	default:
		return nil, fmt.Errorf("cluster: unknown provider %q", opts.Provider)
	}
	rc := remote.Configure(bind, port, ropts...)
	kind := protocluster.NewKind(deviceKind, actor.PropsFromFunc(refuseActivation))
	return protocluster.Configure(opts.Name, provider, disthash.New(), rc, protocluster.WithKinds(kind)), nil
}

// refuseActivation is the receive of the device kind's grains, which are
// never meant to exist: a cluster request to one is answered with nothing.
func refuseActivation(actor.Context) {}

// setMembers records the members protoactor reports and tells the watchers.
func (m *Member) setMembers(members []*protocluster.Member) {
	addrs := make([]string, 0, len(members))
	for _, mem := range members {
		addrs = append(addrs, mem.Address())
	}
	slices.Sort(addrs)
	m.mu.Lock()
	defer m.mu.Unlock()
	if slices.Equal(addrs, m.members) {
		return
	}
	m.members = addrs
	m.hash.UpdateMembers(members)
	m.pidMu.Lock()
	m.pids = nil // owners may have changed; DevicePID checks anyway, this lets the old ones go
	m.pidMu.Unlock()
	for _, w := range m.watchers {
		m.system.Root.Send(w, m.topologyLocked())
	}
}

func (m *Member) topologyLocked() *Topology {
	return &Topology{Members: slices.Clone(m.members)}
}

// Watch sends pid the current *Topology now and on every change.
func (m *Member) Watch(pid *actor.PID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.watchers = append(m.watchers, pid)
	m.system.Root.Send(pid, m.topologyLocked())
}

// Address is this member's address: the remoting endpoint, or the local
// actor system's address with the single provider.
func (m *Member) Address() string { return m.self }

// Members returns the live members' addresses, sorted.
func (m *Member) Members() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.members)
}

// Owner returns the address of the member that owns node's device now:
// rendezvous hashing over the live members, so a change of membership
// moves only the devices of the members that joined or left.
func (m *Member) Owner(node telemetry.NodeID) string {
	if m.cluster == nil {
		return m.self
	}
	return m.hash.GetByClusterIdentity(&protocluster.ClusterIdentity{Kind: deviceKind, Identity: string(node)})
}

// DevicePID is node's device actor on the member that owns it now. One PID
// per node is kept and shared until its owner changes, so that the
// thousands of sessions following the same devices do not each hold a PID
// (and its id string) per subscription. The PID is shared: read only.
func (m *Member) DevicePID(node telemetry.NodeID) *actor.PID {
	owner := m.Owner(node)
	m.pidMu.Lock()
	defer m.pidMu.Unlock()
	if pid, ok := m.pids[node]; ok && pid.Address == owner {
		return pid
	}
	pid := actor.NewPID(owner, limiter.DeviceID(node))
	if m.pids == nil {
		m.pids = map[telemetry.NodeID]*actor.PID{}
	}
	m.pids[node] = pid
	return pid
}

// OwnerAmong is Owner over a given member list (a previous topology).
func OwnerAmong(members []string, node telemetry.NodeID) string {
	return ownerFunc(members)(node)
}

// ownerFunc returns Owner over a given member list, hashing the list once.
func ownerFunc(members []string) func(telemetry.NodeID) string {
	h := protocluster.NewRendezvous()
	ms := make([]*protocluster.Member, 0, len(members))
	for _, a := range members {
		host, p, err := net.SplitHostPort(a)
		if err != nil { // the single provider's one local address
			return func(telemetry.NodeID) string { return a }
		}
		port, _ := strconv.Atoi(p)
		ms = append(ms, &protocluster.Member{Id: a, Host: host, Port: int32(port), Kinds: []string{deviceKind}})
	}
	if len(ms) == 0 {
		return func(telemetry.NodeID) string { return "" }
	}
	h.UpdateMembers(ms)
	return func(node telemetry.NodeID) string {
		return h.GetByClusterIdentity(&protocluster.ClusterIdentity{Kind: deviceKind, Identity: string(node)})
	}
}

// Started is when this member started.
func (m *Member) Started() time.Time { return m.started }

// DeadLetters counts messages sent to processes that did not exist.
func (m *Member) DeadLetters() int64 { return m.deadLetters.Load() }

// Stop leaves the cluster: the others stop counting on this member at
// once instead of after a failed health check. Call it after the devices
// have stopped and before the actor system shuts down.
func (m *Member) Stop() error {
	m.system.EventStream.Unsubscribe(m.dead)
	if m.cluster == nil {
		return nil
	}
	m.system.EventStream.Unsubscribe(m.sub)
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = errors.Join(err, fmt.Errorf("cluster: leaving: %v", r))
			}
		}()
		m.cluster.Shutdown(true)
	}()
	return err
}
