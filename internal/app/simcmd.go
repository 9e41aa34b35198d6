package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/evaratech/evara/internal/config"
	"github.com/evaratech/evara/internal/thingspeak/sim"
)

// runSim runs the standalone ThingSpeak simulator until ctx is cancelled.
func runSim(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	s, err := newSimulator(cfg.Sim, time.Time{}, log)
	if err != nil {
		return err
	}
	srv, err := sim.Start(cfg.Sim.Addr, s)
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	log.Info("simulator serving", "url", srv.URL, "channels", len(s.Channels()), "period", cfg.Sim.Period.String(), "seed", cfg.Sim.Seed,
		"stats", srv.URL+"/_sim/stats")
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	return srv.Close(sctx)
}

// newSimulator builds a simulator from its settings: the demo channel mix,
// global faults from the flags, and any fault file or JSON on top.
func newSimulator(c config.Sim, start time.Time, log *slog.Logger) (*sim.Simulator, error) {
	faults := sim.FaultConfig{Global: sim.Faults{Latency: c.Latency, ErrorRate: c.ErrorRate, RateLimit: c.RateLimit}}
	if c.Faults != "" {
		raw := []byte(c.Faults)
		if name, ok := strings.CutPrefix(c.Faults, "@"); ok {
			var err error
			if raw, err = os.ReadFile(name); err != nil {
				return nil, fmt.Errorf("sim faults: %w", err)
			}
		}
		parsed, err := sim.ParseFaults(raw)
		if err != nil {
			return nil, fmt.Errorf("sim faults: %w", err)
		}
		faults = withFlagFaults(parsed, faults.Global)
	}
	s, err := sim.New(sim.Options{Channels: c.Channels, Period: c.Period, History: c.History, Seed: c.Seed, Start: start,
		Faults: faults, Logger: log.With("component", "sim")})
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	if faults.Active() {
		log.Warn("simulator faults enabled", "latency", c.Latency.String(), "error_rate", c.ErrorRate, "rate_limit", c.RateLimit,
			"channels_with_faults", len(faults.Channels))
	}
	return s, nil
}

// withFlagFaults lays the global faults given by flags over a fault
// configuration read from JSON: a flag that is set wins.
func withFlagFaults(fc sim.FaultConfig, flags sim.Faults) sim.FaultConfig {
	if flags.Latency > 0 {
		fc.Global.Latency = flags.Latency
	}
	if flags.ErrorRate > 0 {
		fc.Global.ErrorRate = flags.ErrorRate
	}
	if flags.RateLimit > 0 {
		fc.Global.RateLimit = flags.RateLimit
	}
	return fc
}
