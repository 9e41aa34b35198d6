package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/evaratech/evara/actors/device"
	"github.com/evaratech/evara/actors/limiter"
	"github.com/evaratech/evara/actors/writer"
	"github.com/evaratech/evara/internal/config"
	"github.com/evaratech/evara/internal/keyring"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/thingspeak"
)

// startActors starts the actor system with the writer and the device
// runtime (the limiter and one device per node with a channel), and pushes
// their ordered stop: the limiter first — its devices stop and their
// in-flight fetches are cancelled — then the writer, which flushes.
func startActors(ctx context.Context, cfg config.Config, st store, kr *keyring.Keyring, upstream string, log *slog.Logger, stack *shutdownStack) error {
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return log.With("component", "actor") }))
	writerPID := system.Root.Spawn(writer.Props(st, writer.Options{Logger: log.With("component", "writer")}))
	var rt *deviceRuntime
	stack.push("actors", func() error {
		var errs []error
		if rt != nil {
			errs = append(errs, rt.stop())
		}
		// Flush first and wait as long as the shutdown allows (StopFuture's
		// own wait is a fixed 10 s), then stop the writer, now empty.
		_, ferr := system.Root.RequestFuture(writerPID, &writer.Flush{}, cfg.ShutdownTimeout).Result()
		errs = append(errs, ferr, system.Root.StopFuture(writerPID).Wait())
		system.Shutdown()
		return errors.Join(errs...)
	})
	var err error
	rt, err = startRuntime(ctx, runtimeDeps{cfg: cfg, system: system, store: st, keys: kr, upstream: upstream, writer: writerPID, log: log})
	return err
}

// deviceRuntime is the running device runtime.
type deviceRuntime struct {
	system  *actor.ActorSystem
	limiter *actor.PID
	client  *thingspeak.Client
}

// stop stops the limiter, which returns once every device has stopped.
func (r *deviceRuntime) stop() error {
	err := r.system.Root.StopFuture(r.limiter).Wait()
	r.client.CloseIdleConnections()
	return err
}

// runtimeDeps is what the device runtime is built from.
type runtimeDeps struct {
	cfg      config.Config
	system   *actor.ActorSystem
	store    store
	keys     *keyring.Keyring
	upstream string // ThingSpeak's base URL, or the demo simulator's
	writer   *actor.PID
	log      *slog.Logger
}

// startRuntime spawns this member's limiter and starts a device for every
// node with a channel. With one member the member's share of the upstream
// budget is all of it; cluster placement will divide it by the members.
func startRuntime(ctx context.Context, d runtimeDeps) (*deviceRuntime, error) {
	client, err := thingspeak.New(thingspeak.Options{BaseURL: d.upstream, Timeout: d.cfg.ThingSpeakTimeout})
	if err != nil {
		return nil, err
	}
	nodes, err := d.store.RuntimeNodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("devices: %w", err)
	}
	interval, deviceLog := pollInterval(d.cfg), d.log.With("component", "device")
	pid, err := d.system.Root.SpawnNamed(limiter.Props(limiter.Config{
		Rate:   d.cfg.UpstreamRate,
		Burst:  d.cfg.UpstreamBurst,
		Logger: d.log.With("component", "limiter"),
		Devices: func(n telemetry.Node) device.Config {
			return device.Config{Node: n, DefaultInterval: interval, Fetcher: client, Keys: d.keys, Store: d.store, Writer: d.writer, Logger: deviceLog}
		},
	}), limiter.Name)
	if err != nil {
		return nil, fmt.Errorf("limiter: %w", err)
	}
	d.system.Root.Send(pid, &limiter.Start{Nodes: nodes})
	d.log.Info("device runtime started", "devices", len(nodes), "poll_interval", interval.String(),
		"upstream_rate", d.cfg.UpstreamRate, "upstream_burst", d.cfg.UpstreamBurst)
	return &deviceRuntime{system: d.system, limiter: pid, client: client}, nil
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
