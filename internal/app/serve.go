package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/evaratech/evara/api"
	"github.com/evaratech/evara/internal/config"
	"github.com/evaratech/evara/internal/thingspeak/sim"
)

// serve runs the backend until ctx is cancelled, then shuts down in order:
// readiness off and HTTP drained first, then the components behind it.
func serve(ctx context.Context, cfg config.Config, build Build, log *slog.Logger) error {
	upstream := cfg.ThingSpeakURL
	var demo *sim.Server
	if cfg.Demo {
		s, err := newSimulator(cfg.Sim, log)
		if err != nil {
			return err
		}
		if demo, err = sim.Start("127.0.0.1:0", s); err != nil {
			return fmt.Errorf("demo simulator: %w", err)
		}
		upstream = demo.URL
		log.Info("demo simulator started", "url", demo.URL, "channels", len(s.Channels()), "period", cfg.Sim.Period.String())
	}

	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.HTTPAddr)
	if err != nil {
		return errors.Join(fmt.Errorf("http listen: %w", err), closeSim(demo, cfg.ShutdownTimeout))
	}
	srv := api.New(api.Options{
		Logger: log,
		Health: &healthReporter{demo: cfg.Demo, upstream: upstream, redis: cfg.RedisURL.IsSet(), database: cfg.DatabaseURL.IsSet()},
		Build:  api.BuildInfo{Version: build.Version, Commit: build.Commit, Go: runtime.Version()},
	})

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(ln) })
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		return errors.Join(srv.Shutdown(sctx), closeSim(demo, time.Until(deadline(sctx))))
	})
	log.Info("evara serving", "addr", ln.Addr().String(), "version", build.Version, "demo", cfg.Demo)
	err = g.Wait()
	if err == nil {
		log.Info("stopped cleanly")
	}
	return err
}

func deadline(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

func closeSim(s *sim.Server, timeout time.Duration) error {
	if s == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), max(timeout, time.Second))
	defer cancel()
	return s.Close(ctx)
}
