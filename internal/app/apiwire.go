package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/evaratech/evara/api"
	"github.com/evaratech/evara/api/auth"
	"github.com/evaratech/evara/internal/config"
	"github.com/evaratech/evara/internal/keyring"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/thingspeak"
	"github.com/evaratech/evara/persistence/redisstore"
)

// apiDeps is what the HTTP server is built from.
type apiDeps struct {
	cfg      config.Config
	store    store
	keys     *keyring.Keyring
	runtime  *deviceRuntime // nil: no live data, cluster stats or WebSocket
	upstream string         // ThingSpeak's base URL (or the demo simulator's), for the channel check of new nodes
	health   api.HealthReporter
	build    Build
	metrics  *prometheus.Registry
	log      *slog.Logger
}

// apiServer is the HTTP server with what it owns: the token verifier (its
// JWKS refresh) and the shared cache's connection.
type apiServer struct {
	*api.Server
	closers []func() error
}

// close releases what the server owns, after Shutdown.
func (s *apiServer) close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	return errors.Join(errs...)
}

// buildAPI wires the dashboard's API: the store, the token verifier with
// revocation from the shared cache, the shared rate limits, the sealer and
// the channel check of new nodes.
func buildAPI(ctx context.Context, d apiDeps) (*apiServer, error) {
	if err := auth.CheckDevBypassAllowed(d.cfg.Env, d.cfg.API.DevBypass); err != nil {
		return nil, err
	}
	out := &apiServer{}
	c, closeCache := openCache(ctx, d.cfg, d.log.With("component", "cache"))
	out.closers = append(out.closers, closeCache)
	verifier, err := auth.NewVerifier(auth.Options{
		HS256Secret: []byte(d.cfg.JWTSecret.Reveal()),
		JWKSURL:     d.cfg.API.JWKSURL,
		Audience:    d.cfg.API.Audience,
		Issuer:      d.cfg.API.Issuer,
		Logger:      d.log.With("component", "auth"),
		Revoked:     c,
		DevBypass:   d.cfg.API.DevBypass,
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("auth: %w", err), out.close())
	}
	out.closers = append(out.closers, verifier.Close)
	sec, err := security(d.cfg.API)
	if err != nil {
		return nil, errors.Join(err, out.close())
	}
	proxies, err := config.ParsePrefixes(d.cfg.API.TrustedProxies)
	if err != nil {
		return nil, errors.Join(err, out.close())
	}
	checker, err := newChannelChecker(d.upstream, d.cfg.ThingSpeakTimeout)
	if err != nil {
		return nil, errors.Join(err, out.close())
	}
	out.closers = append(out.closers, func() error { checker.client.CloseIdleConnections(); return nil })
	opts := api.Options{
		Logger:               d.log,
		Health:               d.health,
		Build:                api.BuildInfo{Version: d.build.Version, Commit: d.build.Commit, Go: runtime.Version()},
		BodyLimit:            d.cfg.API.BodyLimit,
		Store:                d.store,
		Auth:                 verifier,
		Revoker:              c,
		Limiter:              rateLimiter{c},
		Sealer:               d.keys,
		Channels:             checker,
		Security:             sec,
		WebhooksHTTPSOnly:    d.cfg.Production(),
		TrustedProxies:       proxies,
		BootstrapSuperadmins: d.cfg.API.BootstrapSuperadmins,
	}
	if d.runtime != nil {
		opts.Runtime, opts.Sessions, opts.Events, opts.AlertSettings = d.runtime, d.runtime.live, d.runtime.live, d.runtime
	}
	if d.metrics != nil {
		opts.Registerer, opts.Gatherer = d.metrics, d.metrics
	}
	out.Server = api.New(opts)
	return out, nil
}

// cache is the shared state of replicas: revocations, rate limits.
type cache interface {
	Revoke(ctx context.Context, jti string, until time.Time) error
	IsRevoked(ctx context.Context, jti string) (bool, error)
	Allow(ctx context.Context, key string, limit redisstore.Limit) (redisstore.Decision, error)
}

// openCache opens Redis behind a fallback to this process's own state
// while Redis is down (SPEC §6: degrade to local, never to errors), or the
// local state alone when no Redis is configured. A Redis that cannot be
// reached at start is logged and left out until the next start. Keys are
// prefixed with the cluster's name, so clusters may share one Redis.
func openCache(ctx context.Context, cfg config.Config, log *slog.Logger) (cache, func() error) {
	local := redisstore.NewLocal(redisstore.Options{})
	if !cfg.RedisURL.IsSet() {
		return local, func() error { return nil }
	}
	prefix := "evara:" + cfg.Cluster.Name + ":"
	rs, err := redisstore.Open(ctx, cfg.RedisURL.Reveal(), redisstore.Options{Prefix: prefix, Logger: log})
	if err != nil {
		log.Error("redis unavailable at start: rate limits and revocations are this replica's own until a restart", "err", err)
		return local, func() error { return nil }
	}
	return redisstore.NewDegrading(rs, local, log), rs.Close
}

// rateLimiter adapts the cache's GCRA limits to the API's per-minute ones.
type rateLimiter struct{ c cache }

func (r rateLimiter) Allow(ctx context.Context, key string, perMinute int) (bool, time.Duration, error) {
	d, err := r.c.Allow(ctx, key, redisstore.Limit{Rate: perMinute, Period: time.Minute, Burst: perMinute})
	return d.Allowed, d.RetryAfter, err
}

func security(a config.API) (api.Security, error) {
	allow, err := config.ParsePrefixes(a.IPAllow)
	if err != nil {
		return api.Security{}, err
	}
	deny, err := config.ParsePrefixes(a.IPDeny)
	if err != nil {
		return api.Security{}, err
	}
	return api.Security{CORSOrigins: a.CORSOrigins, Allow: allow, Deny: deny, UserRate: a.UserRate, AnonRate: a.AnonRate}, nil
}

// channelChecker checks a new node's channel with one upstream call.
type channelChecker struct{ client *thingspeak.Client }

func newChannelChecker(baseURL string, timeout time.Duration) (channelChecker, error) {
	c, err := thingspeak.New(thingspeak.Options{BaseURL: baseURL, Timeout: timeout})
	return channelChecker{client: c}, err
}

func (c channelChecker) CheckChannel(ctx context.Context, channel telemetry.ChannelID, readKey string) error {
	_, err := c.client.Last(ctx, channel, readKey)
	switch {
	case err == nil, errors.Is(err, thingspeak.ErrMalformed): // a channel without entries yet answers "-1"-like bodies
		return nil
	case errors.Is(err, thingspeak.ErrUnauthorized):
		return errors.Join(telemetry.ErrInvalid, fmt.Errorf("ThingSpeak refuses this read key for channel %d", channel))
	case errors.Is(err, thingspeak.ErrNotFound):
		return errors.Join(telemetry.ErrInvalid, fmt.Errorf("ThingSpeak has no channel %d", channel))
	}
	return fmt.Errorf("check channel %d: %w", channel, errors.Join(telemetry.ErrUnavailable, err))
}
