package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/evaratech/evara/internal/config"
	"github.com/evaratech/evara/internal/thingspeak/sim"
)

// serve runs the backend until ctx is cancelled. Components start in
// dependency order and stop in reverse: HTTP drains first (readiness turns
// 503 at once), then the actors (the devices stop, then the writer
// flushes), then the store and the demo simulator.
func serve(ctx context.Context, cfg config.Config, build Build, log *slog.Logger) (err error) {
	var stack shutdownStack
	defer func() { err = errors.Join(err, stack.close(cfg.ShutdownTimeout, log)) }()

	upstream, channels, err := startDemo(cfg, log, &stack)
	if err != nil {
		return err
	}
	kr, err := openKeyring(cfg, log)
	if err != nil {
		return fmt.Errorf("encryption key: %w", err)
	}
	st, engine, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	stack.push("store", st.Close)
	if cfg.Demo {
		if err := seedDemoNodes(ctx, st, kr, channels, log); err != nil {
			return err
		}
	}

	reg := newRegistry()
	rt, err := startRuntime(runtimeDeps{cfg: cfg, store: st, keys: kr, upstream: upstream, metrics: reg, log: log})
	if err != nil {
		return err
	}
	stack.push("actors", rt.stop)

	if err := bootstrapSuperadmins(ctx, st, cfg.API.BootstrapSuperadmins, log); err != nil {
		return err
	}
	srv, err := buildAPI(ctx, apiDeps{
		cfg: cfg, store: st, keys: kr, runtime: rt, upstream: upstream, build: build, metrics: reg, log: log,
		health: &healthReporter{demo: cfg.Demo, upstream: upstream, redis: cfg.RedisURL.IsSet(), database: engine},
	})
	if err != nil {
		return err
	}
	stack.push("api", srv.close)
	webhooks, err := newWebhookDispatcher(st, kr, rt.member, rt.webhookWake, cfg.Production(), reg, log)
	if err != nil {
		return err
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http listen: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(ln) })
	if r, ok := st.(retention); ok {
		g.Go(func() error { return runRetention(gctx, r, log.With("component", "retention")) })
	}
	if webhooks != nil {
		// Stops with the errgroup, so before the store closes.
		g.Go(func() error { return webhooks.Run(gctx) })
	}
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	log.Info("evara serving", "addr", ln.Addr().String(), "version", build.Version, "store", engine, "demo", cfg.Demo)
	return g.Wait()
}

// startDemo starts the in-process simulator for --demo and returns the
// upstream URL to use and its channels.
func startDemo(cfg config.Config, log *slog.Logger, stack *shutdownStack) (string, []sim.ChannelSpec, error) {
	if !cfg.Demo {
		return cfg.ThingSpeakURL, nil, nil
	}
	start, err := demoStart(cfg.DataDir)
	if err != nil {
		return "", nil, err
	}
	s, err := newSimulator(cfg.Sim, start, log)
	if err != nil {
		return "", nil, err
	}
	srv, err := sim.Start("127.0.0.1:0", s)
	if err != nil {
		return "", nil, fmt.Errorf("demo simulator: %w", err)
	}
	stack.push("demo simulator", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Close(ctx)
	})
	log.Info("demo simulator started", "url", srv.URL, "channels", len(s.Channels()), "period", cfg.Sim.Period.String())
	return srv.URL, s.Channels(), nil
}

// shutdownStack closes components in the reverse order of their start.
type shutdownStack []struct {
	name  string
	close func() error
}

func (s *shutdownStack) push(name string, close func() error) {
	*s = append(*s, struct {
		name  string
		close func() error
	}{name, close})
}

func (s shutdownStack) close(timeout time.Duration, log *slog.Logger) error {
	var errs []error
	deadline := time.Now().Add(timeout)
	for i := len(s) - 1; i >= 0; i-- {
		done := make(chan error, 1)
		go func() { done <- s[i].close() }()
		select {
		case err := <-done:
			if err != nil {
				errs = append(errs, fmt.Errorf("stop %s: %w", s[i].name, err))
			}
		case <-time.After(time.Until(deadline)):
			return errors.Join(append(errs, fmt.Errorf("stop %s: still running at the shutdown deadline", s[i].name))...)
		}
	}
	if len(errs) == 0 && len(s) > 0 {
		log.Info("stopped cleanly")
	}
	return errors.Join(errs...)
}

const demoStartFile = "demo-start"

// demoStart is the demo simulator's start, kept in the data directory: the
// simulator numbers entries from its start, so a second `make run` must
// continue the first one's channels rather than begin them again below the
// entry ids the store already holds.
func demoStart(dataDir string) (time.Time, error) {
	path := filepath.Join(dataDir, demoStartFile)
	if raw, err := os.ReadFile(path); err == nil {
		if t, err := time.Parse(time.RFC3339, strings.TrimSpace(string(raw))); err == nil {
			return t, nil
		}
	}
	start := time.Now().UTC().Truncate(time.Second)
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return time.Time{}, fmt.Errorf("data directory: %w", err)
	}
	if err := os.WriteFile(path, []byte(start.Format(time.RFC3339)+"\n"), 0o600); err != nil {
		return time.Time{}, fmt.Errorf("demo start: %w", err)
	}
	return start, nil
}
