package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/evaratech/evara/actors/device"
	"github.com/evaratech/evara/actors/device/alerting"
	"github.com/evaratech/evara/actors/limiter"
	"github.com/evaratech/evara/actors/msg"
	"github.com/evaratech/evara/actors/writer"
	"github.com/evaratech/evara/api"
	"github.com/evaratech/evara/cluster"
	"github.com/evaratech/evara/internal/config"
	"github.com/evaratech/evara/internal/keyring"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/thingspeak"
)

// joinHold is how long a member that has just joined grants no upstream
// permit: long enough for the others to see it (their membership check
// runs every second) and lower their shares first.
const joinHold = 2500 * time.Millisecond

// runtimeDeps is what the device runtime is built from.
type runtimeDeps struct {
	cfg      config.Config
	store    store
	keys     *keyring.Keyring
	upstream string // ThingSpeak's base URL, or the demo simulator's
	metrics  prometheus.Registerer
	log      *slog.Logger
}

// deviceRuntime is the running actor side of a member: the actor system,
// its place in the cluster, the writer, the limiter with its devices, and
// the placement and stats actors. It answers the API's live-data and
// cluster-stats calls.
type deviceRuntime struct {
	system    *actor.ActorSystem
	member    *cluster.Member
	router    *cluster.Router
	writer    *actor.PID
	limiter   *actor.PID
	placement *actor.PID
	client    *thingspeak.Client
	live      *liveSessions // the WebSocket connections' session actors
	// webhookWake is signalled when a device queued webhook deliveries, so
	// that this member's dispatcher (when it is the one sending) sends
	// them at once.
	webhookWake chan struct{}
	store       store
	log         *slog.Logger
	timeout     time.Duration // of the writer's flush at stop
}

// startRuntime starts the actor system, joins the cluster and spawns this
// member's writer, limiter, placement and stats actors. Placement starts
// the devices this member owns once it sees the topology.
func startRuntime(d runtimeDeps) (rt *deviceRuntime, err error) {
	client, err := thingspeak.New(thingspeak.Options{BaseURL: d.upstream, Timeout: d.cfg.ThingSpeakTimeout})
	if err != nil {
		return nil, err
	}
	actorLog := slog.New(newDedupeHandler(d.log.Handler(), time.Minute)).With("component", "actor")
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return actorLog }))
	rt = &deviceRuntime{system: system, client: client, store: d.store, log: d.log, timeout: d.cfg.ShutdownTimeout}
	rt.writer = system.Root.Spawn(writer.Props(d.store, writer.Options{Logger: d.log.With("component", "writer"), Registerer: d.metrics}))
	cl := d.cfg.Cluster
	rt.member, err = cluster.Start(system, cluster.Options{
		Provider: cl.Mode(), Name: cl.Name, Advertise: cl.Advertise, Members: cl.Members, Logger: d.log.With("component", "cluster"),
	})
	if err != nil {
		system.Shutdown()
		return nil, err
	}
	rt.router = cluster.NewRouter(system, rt.member)
	rt.live = newLiveSessions(system, rt.member)
	rt.webhookWake = make(chan struct{}, 1)
	notices := &alertNotices{store: d.store, live: rt.live, log: d.log.With("component", "alerts"), queued: func() {
		select {
		case rt.webhookWake <- struct{}{}:
		default: // a wake-up is pending already
		}
	}}
	hold := time.Duration(0)
	if cl.Mode() != config.ProviderSingle {
		hold = joinHold
	}
	interval, deviceLog := pollInterval(d.cfg), d.log.With("component", "device")
	anomaly := alerting.Options{AnomalyZ: d.cfg.Anomaly.Z, AnomalyWindow: d.cfg.Anomaly.Window,
		AnomalyMinSamples: d.cfg.Anomaly.MinSamples, NoAnomalies: d.cfg.Anomaly.Z == 0}
	n := float64(max(1, len(rt.member.Members())))
	rt.limiter, err = system.Root.SpawnNamed(limiter.Props(limiter.Config{
		Rate:   d.cfg.UpstreamRate / n,
		Burst:  max(1, d.cfg.UpstreamBurst/int(n)),
		Hold:   hold,
		Logger: d.log.With("component", "limiter"),
		Devices: func(n telemetry.Node) device.Config {
			return device.Config{Node: n, DefaultInterval: interval, Fetcher: client, Keys: d.keys, Store: d.store, Writer: rt.writer,
				Alerts: d.store, Notify: notices, Anomaly: anomaly, Logger: deviceLog}
		},
	}), limiter.Name)
	if err == nil {
		_, err = system.Root.SpawnNamed(rt.live.relayProps(), relayName)
	}
	if err == nil {
		_, err = system.Root.SpawnNamed(cluster.StatsProps(cluster.StatsOptions{Member: rt.member, Limiter: rt.limiter, Sessions: rt.live.Count}), cluster.StatsName)
	}
	if err == nil {
		rt.placement, err = system.Root.SpawnNamed(cluster.PlacementProps(cluster.PlacementOptions{
			Member: rt.member, Nodes: d.store, Limiter: rt.limiter, Rate: d.cfg.UpstreamRate, Burst: d.cfg.UpstreamBurst,
			Logger: d.log.With("component", "placement"),
		}), cluster.PlacementName)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("actors: %w", err), rt.stop())
	}
	if d.metrics != nil {
		d.metrics.MustRegister(cluster.NewCollector(rt.localStats, 2*time.Second))
	}
	d.log.Info("device runtime started", "poll_interval", interval.String(), "upstream_rate", d.cfg.UpstreamRate,
		"upstream_burst", d.cfg.UpstreamBurst, "cluster", cl.Mode(), "address", rt.member.Address())
	return rt, nil
}

// stop stops the actors in order: placement (nothing new starts), the
// limiter (every device stops; in-flight fetches are cancelled), the
// writer once it has flushed, and last the cluster membership, so that the
// others take the devices over only when nothing here polls any more.
func (r *deviceRuntime) stop() error {
	var errs []error
	root := r.system.Root
	if r.placement != nil {
		errs = append(errs, root.StopFuture(r.placement).Wait())
	}
	if r.limiter != nil {
		errs = append(errs, root.StopFuture(r.limiter).Wait())
	}
	// Flush first and wait as long as the shutdown allows (StopFuture's
	// own wait is a fixed 10 s), then stop the writer, now empty.
	_, ferr := root.RequestFuture(r.writer, &writer.Flush{}, r.timeout).Result()
	errs = append(errs, ferr, root.StopFuture(r.writer).Wait())
	r.client.CloseIdleConnections()
	if r.member != nil {
		errs = append(errs, r.member.Stop())
	}
	if !r.system.IsStopped() {
		r.system.Shutdown()
	}
	return errors.Join(errs...)
}

// LiveData answers GET /devices/{id}/live-data from the device actor,
// wherever it runs: never an upstream call.
func (r *deviceRuntime) LiveData(ctx context.Context, n telemetry.Node) (api.LiveData, error) {
	l, err := r.router.Latest(ctx, n.ID)
	if err != nil {
		return api.LiveData{}, err
	}
	out := api.LiveData{DeviceID: string(n.ID), Status: l.GetStatus(), EntryID: l.GetEntryId(), Metrics: l.GetMetrics()}
	if ms := l.GetTimestampUnixMs(); ms > 0 {
		t := time.UnixMilli(ms).UTC()
		out.Timestamp = &t
	}
	if out.Metrics == nil {
		out.Metrics = map[string]float64{}
	}
	return out, nil
}

// localStats asks this member's stats actor for its figures (/metrics).
func (r *deviceRuntime) localStats(ctx context.Context) (*msg.MemberStats, error) {
	wait := 2 * time.Second
	if d, ok := ctx.Deadline(); ok {
		wait = max(time.Until(d), time.Millisecond)
	}
	res, err := r.system.Root.RequestFuture(actor.NewPID(r.system.Address(), cluster.StatsName), &msg.GetMemberStats{}, wait).Result()
	if err != nil {
		return nil, err
	}
	s, ok := res.(*msg.MemberStats)
	if !ok {
		return nil, fmt.Errorf("stats actor answered %T", res)
	}
	return s, nil
}

// ClusterStats answers GET /api/v1/cluster/stats.
func (r *deviceRuntime) ClusterStats(ctx context.Context) (any, error) {
	return r.router.Stats(ctx), nil
}

// pollInterval is the interval of nodes without their own. With --demo it
// is at most the simulator's period, so that a newcomer sees data arrive
// within seconds.
func pollInterval(cfg config.Config) time.Duration {
	if cfg.Demo {
		return min(cfg.PollInterval, cfg.Sim.Period)
	}
	return cfg.PollInterval
}
