package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/evaratech/evara/internal/keyring"
	"github.com/evaratech/evara/internal/telemetry"
)

// Validate reports every problem of c at once (errors.Join), or nil.
func (c Config) Validate() error {
	problems := append([]error(nil), c.problems...)
	check := func(ok bool, format string, args ...any) {
		if !ok {
			problems = append(problems, fmt.Errorf(format, args...))
		}
	}
	check(oneOf(c.Env, "development", "production"), "EVARA_ENV: %q is not development or production", c.Env)
	check(oneOf(c.LogLevel, "debug", "info", "warn", "error"), "EVARA_LOG_LEVEL: %q is not debug, info, warn or error", c.LogLevel)
	check(oneOf(c.LogFormat, "auto", "json", "text"), "EVARA_LOG_FORMAT: %q is not auto, json or text", c.LogFormat)
	check(c.ShutdownTimeout > 0, "EVARA_SHUTDOWN_TIMEOUT: must be positive")

	switch c.Command {
	case CmdServe, CmdConfigCheck:
		problems = append(problems, c.validateServe()...)
		problems = append(problems, c.validateAPI()...)
	case CmdMigrate, CmdKeysRotate:
		problems = append(problems, c.validateServe()...)
	case CmdToken:
		problems = append(problems, c.validateToken()...)
	case CmdUsersPromote:
		problems = append(problems, c.validateStore()...)
		problems = append(problems, c.Promote.validate()...)
	case CmdBenchWS:
		problems = append(problems, c.BenchWS.validate()...)
	}
	if c.Command == CmdSim || c.Demo {
		problems = append(problems, c.Sim.validate(c.Command == CmdSim)...)
	}
	return errors.Join(problems...)
}

func (c Config) validateServe() []error {
	var problems []error
	if err := checkAddr(c.HTTPAddr); err != nil {
		problems = append(problems, fmt.Errorf("EVARA_HTTP_ADDR: %w", err))
	}
	problems = append(problems, c.validateStore()...)
	if c.RedisURL.IsSet() && !validURL(c.RedisURL.Reveal(), "redis", "rediss", "unix") {
		problems = append(problems, errors.New("REDIS_URL: not a redis://, rediss:// or unix:// URL"))
	}
	problems = append(problems, c.validateJWTSecret()...)
	if c.EncryptionKey.IsSet() {
		if _, err := keyring.Parse(c.EncryptionKey.Reveal()); err != nil {
			problems = append(problems, fmt.Errorf("EVARA_ENCRYPTION_KEY: %w", err))
		}
	} else if c.Production() {
		problems = append(problems, errors.New("EVARA_ENCRYPTION_KEY: required in production (generate one with: head -c 32 /dev/urandom | base64)"))
	}
	if !c.Demo && !validURL(c.ThingSpeakURL, "http", "https") {
		problems = append(problems, fmt.Errorf("EVARA_THINGSPEAK_URL: %q is not an absolute http(s) URL", c.ThingSpeakURL))
	}
	if c.ThingSpeakTimeout <= 0 {
		problems = append(problems, errors.New("EVARA_THINGSPEAK_TIMEOUT: must be positive"))
	}
	if c.PollInterval < time.Second {
		problems = append(problems, fmt.Errorf("EVARA_POLL_INTERVAL: %s is shorter than 1s", c.PollInterval))
	}
	if !(c.UpstreamRate > 0) || math.IsInf(c.UpstreamRate, 0) {
		problems = append(problems, fmt.Errorf("EVARA_UPSTREAM_RATE: %g is not a positive number", c.UpstreamRate))
	}
	if c.UpstreamBurst < 1 {
		problems = append(problems, fmt.Errorf("EVARA_UPSTREAM_BURST: %d is less than 1", c.UpstreamBurst))
	}
	if a := c.Anomaly; !(a.Z >= 0) || math.IsInf(a.Z, 0) {
		problems = append(problems, fmt.Errorf("EVARA_ANOMALY_Z: %g is not a number of at least 0", a.Z))
	}
	if a := c.Anomaly; a.Window < 2 || a.Window > 10_000 {
		problems = append(problems, fmt.Errorf("EVARA_ANOMALY_WINDOW: %d is outside 2..10000", a.Window))
	} else if a.MinSamples < 2 || a.MinSamples > a.Window {
		problems = append(problems, fmt.Errorf("EVARA_ANOMALY_MIN_SAMPLES: %d is outside 2..EVARA_ANOMALY_WINDOW (%d)", a.MinSamples, a.Window))
	}
	if c.Demo && c.Production() {
		problems = append(problems, errors.New("EVARA_DEMO: the demo simulator cannot run with EVARA_ENV=production"))
	}
	problems = append(problems, c.validateCluster()...)
	return problems
}

// validateStore checks the settings that select and reach the store.
func (c Config) validateStore() []error {
	var problems []error
	if c.DatabaseURL.IsSet() && !validDatabaseURL(c.DatabaseURL.Reveal()) {
		problems = append(problems, errors.New("DATABASE_URL: not a postgres:// URL or key=value connection string"))
	}
	if c.DataDir == "" && !c.DatabaseURL.IsSet() {
		problems = append(problems, errors.New("EVARA_DATA_DIR: empty, and no DATABASE_URL is set"))
	}
	return problems
}

// minJWTSecret is the shortest HS256 secret accepted: RFC 7518 §3.2 wants
// a key at least as long as the hash (256 bits).
const minJWTSecret = 32

func (c Config) validateJWTSecret() []error {
	if c.JWTSecret.IsSet() && len(c.JWTSecret.Reveal()) < minJWTSecret {
		return []error{fmt.Errorf("EVARA_JWT_SECRET/SUPABASE_JWT_SECRET: shorter than %d bytes", minJWTSecret)}
	}
	return nil
}

func (c Config) validateToken() []error {
	problems := c.validateJWTSecret()
	if !c.JWTSecret.IsSet() {
		problems = append(problems, errors.New("EVARA_JWT_SECRET: evara token signs with the HS256 secret the server verifies with; set EVARA_JWT_SECRET (or SUPABASE_JWT_SECRET)"))
	}
	if c.Token.Sub == "" {
		problems = append(problems, errors.New("EVARA_TOKEN_SUB: --sub (the user id the token is for) is required"))
	}
	if c.Token.TTL <= 0 {
		problems = append(problems, fmt.Errorf("EVARA_TOKEN_TTL: %s is not a positive duration", c.Token.TTL))
	}
	return problems
}

func (p PromoteCmd) validate() []error {
	switch p.Role {
	case telemetry.RoleSuperadmin, telemetry.RoleCustomer:
		return nil
	case telemetry.RoleDistributor, telemetry.RoleCommunityAdmin:
		// PromoteByEmail sets the role alone; a scoped role needs its
		// distributor or community too, which only the dashboard sets.
		return []error{fmt.Errorf("EVARA_PROMOTE_ROLE: %s needs a scope: give it in the dashboard (PUT /api/v1/users/{id}/role)", p.Role)}
	}
	return []error{fmt.Errorf("EVARA_PROMOTE_ROLE: %q is not superadmin or customer", p.Role)}
}

func (s Sim) validate(standalone bool) []error {
	var problems []error
	if standalone {
		if err := checkAddr(s.Addr); err != nil {
			problems = append(problems, fmt.Errorf("EVARA_SIM_ADDR: %w", err))
		}
	}
	if s.Channels < 1 || s.Channels > 100_000 {
		problems = append(problems, fmt.Errorf("EVARA_SIM_CHANNELS: %d is outside 1..100000", s.Channels))
	}
	if s.Period < time.Second { // ThingSpeak's own minimum; created_at has whole seconds
		problems = append(problems, fmt.Errorf("EVARA_SIM_PERIOD: %s is shorter than 1s", s.Period))
	}
	if s.History < 0 {
		problems = append(problems, errors.New("EVARA_SIM_HISTORY: must not be negative"))
	}
	if s.Latency < 0 {
		problems = append(problems, errors.New("EVARA_SIM_LATENCY: must not be negative"))
	}
	if s.ErrorRate < 0 || s.ErrorRate > 1 {
		problems = append(problems, fmt.Errorf("EVARA_SIM_ERROR_RATE: %g is outside 0..1", s.ErrorRate))
	}
	if s.RateLimit < 0 {
		problems = append(problems, errors.New("EVARA_SIM_RATE_LIMIT: must not be negative"))
	}
	return problems
}

func oneOf(v string, allowed ...string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}

func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has no valid port", addr)
	}
	return nil
}

func validURL(raw string, schemes ...string) bool {
	u, err := url.Parse(raw)
	if err != nil || !oneOf(u.Scheme, schemes...) {
		return false
	}
	return u.Host != "" || u.Scheme == "unix"
}

// validDatabaseURL accepts what pgx accepts: a postgres URL or a libpq
// key=value string.
func validDatabaseURL(raw string) bool {
	if strings.Contains(raw, "://") {
		return validURL(raw, "postgres", "postgresql")
	}
	return strings.Contains(raw, "=")
}

// clusterName is a valid Kubernetes label value.
var clusterName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$`)

// Mode is the provider in effect: static when members are listed and no
// provider was chosen.
func (c Cluster) Mode() string {
	if c.Provider == ProviderSingle && len(c.Members) > 0 {
		return ProviderStatic
	}
	return c.Provider
}

func (c Config) validateCluster() []error {
	var problems []error
	mode := c.Cluster.Mode()
	if !oneOf(mode, ProviderSingle, ProviderStatic, ProviderKubernetes) {
		return []error{fmt.Errorf("EVARA_CLUSTER_PROVIDER: %q is not single, static or kubernetes", c.Cluster.Provider)}
	}
	if mode == ProviderSingle {
		return nil
	}
	if !clusterName.MatchString(c.Cluster.Name) {
		problems = append(problems, fmt.Errorf("EVARA_CLUSTER_NAME: %q is not 1–63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit (it becomes a Kubernetes label value)", c.Cluster.Name))
	}
	if !c.DatabaseURL.IsSet() {
		problems = append(problems, fmt.Errorf("EVARA_CLUSTER_PROVIDER: %s needs DATABASE_URL: members share one PostgreSQL database", mode))
	}
	if err := checkHostPort(c.Cluster.Advertise); err != nil {
		problems = append(problems, fmt.Errorf("EVARA_CLUSTER_ADVERTISE: %w", err))
	}
	if mode != ProviderStatic {
		return problems
	}
	if len(c.Cluster.Members) == 0 {
		problems = append(problems, errors.New("EVARA_CLUSTER_MEMBERS: the static provider needs the member list"))
	}
	for _, m := range c.Cluster.Members {
		if err := checkHostPort(m); err != nil {
			problems = append(problems, fmt.Errorf("EVARA_CLUSTER_MEMBERS: %w", err))
		}
	}
	if c.Cluster.Advertise != "" && !oneOf(c.Cluster.Advertise, c.Cluster.Members...) {
		problems = append(problems, fmt.Errorf("EVARA_CLUSTER_MEMBERS: does not list this member (%s)", c.Cluster.Advertise))
	}
	return problems
}

// checkHostPort accepts host:port with an explicit host and a port in
// 1..64535 (the membership endpoint listens on port+1000).
func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	n, err := strconv.Atoi(port)
	if host == "" || err != nil || n < 1 || n > 64535 {
		return fmt.Errorf("%q needs a host and a port between 1 and 64535", addr)
	}
	return nil
}

func (b BenchWSCmd) validate() []error {
	var problems []error
	if !validURL(b.URL, "http", "https") {
		problems = append(problems, fmt.Errorf("EVARA_BENCH_URL: %q is not an http(s) URL of a member", b.URL))
	}
	if !b.Token.IsSet() {
		problems = append(problems, errors.New("EVARA_BENCH_TOKEN: a superadmin's bearer token is required (evara token --sub <id>, after evara users promote)"))
	}
	if b.Sessions < 1 || b.Sessions > 100_000 {
		problems = append(problems, fmt.Errorf("EVARA_BENCH_SESSIONS: %d is outside 1 to 100000", b.Sessions))
	}
	if b.Topics < 1 || b.Topics > 256 {
		problems = append(problems, fmt.Errorf("EVARA_BENCH_TOPICS: %d is outside 1 to 256 (a connection's topic limit)", b.Topics))
	}
	if b.Duration < time.Second {
		problems = append(problems, fmt.Errorf("EVARA_BENCH_DURATION: %s is shorter than 1s", b.Duration))
	}
	if b.ConnectRate < 1 {
		problems = append(problems, fmt.Errorf("EVARA_BENCH_CONNECT_RATE: %d is less than 1 connection per second", b.ConnectRate))
	}
	return problems
}
