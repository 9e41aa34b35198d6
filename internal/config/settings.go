package config

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// setting is one configuration value: where it is read from and how it is
// shown. Secrets have no flag, so they never appear in a process listing.
type setting struct {
	env    []string // environment names, preferred first
	flag   string   // flag name; "" for environment only
	usage  string
	value  flag.Value
	secret bool
	url    bool // shown as a redacted URL rather than fully hidden
	cmds   []string
}

// settings declares every setting of c, bound to its fields.
func settings(c *Config) []setting {
	serving := []string{CmdServe, CmdMigrate, CmdConfigCheck, CmdKeysRotate}
	storing := []string{CmdServe, CmdMigrate, CmdConfigCheck, CmdKeysRotate, CmdUsersPromote}
	everywhere := []string{CmdServe, CmdSim, CmdMigrate, CmdConfigCheck, CmdKeysRotate}
	logging := []string{CmdServe, CmdSim, CmdMigrate, CmdConfigCheck, CmdKeysRotate, CmdUsersPromote}
	simulating := []string{CmdServe, CmdSim, CmdConfigCheck}
	polling := []string{CmdServe, CmdConfigCheck}
	api := []string{CmdServe, CmdConfigCheck}
	signing := []string{CmdServe, CmdMigrate, CmdConfigCheck, CmdKeysRotate, CmdToken}
	verifying := []string{CmdServe, CmdConfigCheck, CmdToken}
	return []setting{
		{env: []string{"EVARA_ENV"}, flag: "env", usage: "environment: development or production", value: (*stringValue)(&c.Env), cmds: logging},
		{env: []string{"EVARA_LOG_LEVEL", "LOG_LEVEL"}, flag: "log-level", usage: "log level: debug, info, warn or error", value: (*stringValue)(&c.LogLevel), cmds: logging},
		{env: []string{"EVARA_LOG_FORMAT"}, flag: "log-format", usage: "log format: auto (text on a terminal, else JSON), json or text", value: (*stringValue)(&c.LogFormat), cmds: logging},
		{env: []string{"EVARA_HTTP_ADDR"}, flag: "addr", usage: "HTTP listen address", value: (*stringValue)(&c.HTTPAddr), cmds: []string{CmdServe, CmdConfigCheck}},
		{env: []string{"EVARA_SHUTDOWN_TIMEOUT"}, flag: "shutdown-timeout", usage: "longest graceful shutdown", value: (*durationValue)(&c.ShutdownTimeout), cmds: everywhere},
		{env: []string{"EVARA_DATA_DIR"}, flag: "data-dir", usage: "directory of the embedded store (used when DATABASE_URL is empty)", value: (*stringValue)(&c.DataDir), cmds: storing},
		{env: []string{"EVARA_DATABASE_URL", "DATABASE_URL"}, usage: "PostgreSQL URL; empty selects the embedded store", value: (*secretValue)(&c.DatabaseURL), secret: true, url: true, cmds: storing},
		{env: []string{"EVARA_REDIS_URL", "REDIS_URL"}, usage: "Redis URL; empty selects in-process caches and rate limits", value: (*secretValue)(&c.RedisURL), secret: true, url: true, cmds: serving},
		{env: []string{"EVARA_JWT_SECRET", "SUPABASE_JWT_SECRET"}, usage: "HS256 secret of Supabase-issued JWTs (at least 32 bytes), also the key of `evara token`; production needs it or EVARA_JWKS_URL", value: (*secretValue)(&c.JWTSecret), secret: true, cmds: signing},
		{env: []string{"EVARA_JWKS_URL"}, flag: "jwks-url", usage: "JWKS URL of the identity provider: the keys of its ES256/RS256 tokens", value: (*stringValue)(&c.API.JWKSURL), cmds: api},
		{env: []string{"EVARA_JWT_AUDIENCE"}, flag: "jwt-audience", usage: "audience (aud) every token must carry", value: (*stringValue)(&c.API.Audience), cmds: verifying},
		{env: []string{"EVARA_JWT_ISSUER"}, flag: "jwt-issuer", usage: "issuer (iss) every token must carry; empty: not checked", value: (*stringValue)(&c.API.Issuer), cmds: verifying},
		{env: []string{"EVARA_DEV_BYPASS"}, flag: "dev-bypass", usage: "accept the old dashboard's unsigned dev-bypass-… tokens (refused with EVARA_ENV=production)", value: (*boolValue)(&c.API.DevBypass), cmds: api},
		{env: []string{"EVARA_BOOTSTRAP_SUPERADMINS"}, flag: "bootstrap-superadmins", usage: "emails, comma-separated, made superadmin at start and at login (the user must have signed in once)", value: (*listValue)(&c.API.BootstrapSuperadmins), cmds: api},
		{env: []string{"EVARA_CORS_ORIGINS"}, flag: "cors-origins", usage: "origins (scheme://host[:port]) the browser may call the API from, comma-separated; empty: no cross-origin access", value: (*listValue)(&c.API.CORSOrigins), cmds: api},
		{env: []string{"EVARA_RATE_LIMIT_USER"}, flag: "rate-limit-user", usage: "API requests per minute per user, shared by all replicas", value: (*intValue)(&c.API.UserRate), cmds: api},
		{env: []string{"EVARA_RATE_LIMIT_ANON"}, flag: "rate-limit-anon", usage: "API requests per minute per client IP for calls without a valid token", value: (*intValue)(&c.API.AnonRate), cmds: api},
		{env: []string{"EVARA_IP_ALLOW"}, flag: "ip-allow", usage: "CIDRs (or single addresses), comma-separated; when set, only these may call (health and metrics excepted)", value: (*listValue)(&c.API.IPAllow), cmds: api},
		{env: []string{"EVARA_IP_DENY"}, flag: "ip-deny", usage: "CIDRs (or single addresses), comma-separated, that are refused", value: (*listValue)(&c.API.IPDeny), cmds: api},
		{env: []string{"EVARA_TRUSTED_PROXIES"}, flag: "trusted-proxies", usage: "CIDRs (or single addresses) of the proxies whose X-Forwarded-For is believed; empty: the peer address counts", value: (*listValue)(&c.API.TrustedProxies), cmds: api},
		{env: []string{"EVARA_BODY_LIMIT"}, flag: "body-limit", usage: "largest request body in bytes (1 KiB to 64 MiB)", value: (*intValue)(&c.API.BodyLimit), cmds: api},
		{env: []string{"EVARA_ENCRYPTION_KEY"}, usage: "AES-256 keys sealing channel keys at rest: id:base64[,oldid:base64…], active first; required in production", value: (*secretValue)(&c.EncryptionKey), secret: true, cmds: serving},
		{env: []string{"EVARA_THINGSPEAK_URL"}, flag: "thingspeak-url", usage: "ThingSpeak read API base URL (ignored with --demo)", value: (*stringValue)(&c.ThingSpeakURL), cmds: serving},
		{env: []string{"EVARA_THINGSPEAK_TIMEOUT"}, flag: "thingspeak-timeout", usage: "timeout of one upstream request", value: (*durationValue)(&c.ThingSpeakTimeout), cmds: serving},
		{env: []string{"EVARA_POLL_INTERVAL"}, flag: "poll-interval", usage: "how often a node without its own interval is polled (with --demo, at most the simulator's period)", value: (*durationValue)(&c.PollInterval), cmds: polling},
		{env: []string{"EVARA_UPSTREAM_RATE"}, flag: "upstream-rate", usage: "upstream (ThingSpeak) requests per second across the whole cluster; never exceeded, lowered while the upstream pushes back", value: (*floatValue)(&c.UpstreamRate), cmds: polling},
		{env: []string{"EVARA_ANOMALY_Z"}, usage: "deviations from a metric's recent mean (or steps of its resolution) that make a value an anomaly alert; 0 turns anomaly alerts off", value: (*floatValue)(&c.Anomaly.Z), cmds: polling},
		{env: []string{"EVARA_ANOMALY_WINDOW"}, usage: "recent values of each metric an anomaly is judged against", value: (*intValue)(&c.Anomaly.Window), cmds: polling},
		{env: []string{"EVARA_ANOMALY_MIN_SAMPLES"}, usage: "values a metric needs before any of its values is judged", value: (*intValue)(&c.Anomaly.MinSamples), cmds: polling},
		{env: []string{"EVARA_UPSTREAM_BURST"}, flag: "upstream-burst", usage: "upstream requests that may go at once within the rate", value: (*intValue)(&c.UpstreamBurst), cmds: polling},
		{env: []string{"EVARA_CLUSTER_PROVIDER"}, flag: "cluster-provider", usage: "membership: single (one member), static (EVARA_CLUSTER_MEMBERS) or kubernetes; static is implied when members are listed", value: (*stringValue)(&c.Cluster.Provider), cmds: polling},
		{env: []string{"EVARA_CLUSTER_NAME"}, flag: "cluster-name", usage: "cluster name: members with the same name form one cluster", value: (*stringValue)(&c.Cluster.Name), cmds: polling},
		{env: []string{"EVARA_CLUSTER_ADVERTISE"}, flag: "cluster-advertise", usage: "host:port of this member's remoting endpoint (cluster-internal; its membership endpoint listens on port+1000)", value: (*stringValue)(&c.Cluster.Advertise), cmds: polling},
		{env: []string{"EVARA_CLUSTER_MEMBERS"}, flag: "cluster-members", usage: "static provider: every member's host:port, comma-separated, this one included", value: (*listValue)(&c.Cluster.Members), cmds: polling},
		{env: []string{"EVARA_DEMO"}, flag: "demo", usage: "run the built-in ThingSpeak simulator with demo channels", value: (*boolValue)(&c.Demo), cmds: []string{CmdServe, CmdConfigCheck}},
		{env: []string{"EVARA_STATUS_URL"}, flag: "url", usage: "base URL of the member to ask (its HTTP address)", value: (*stringValue)(&c.StatusURL), cmds: []string{CmdClusterStat}},
		{env: []string{"EVARA_STATUS_TOKEN"}, usage: "bearer token of a superadmin for `evara cluster status` (evara token mints one)", value: (*secretValue)(&c.StatusToken), secret: true, cmds: []string{CmdClusterStat}},
		{env: []string{"EVARA_STATUS_JSON"}, flag: "json", usage: "print JSON instead of a table", value: (*boolValue)(&c.JSON), cmds: []string{CmdClusterStat}},
		{env: []string{"EVARA_TOKEN_SUB"}, flag: "sub", usage: "user id (sub) of the token; required", value: (*stringValue)(&c.Token.Sub), cmds: []string{CmdToken}},
		{env: []string{"EVARA_TOKEN_EMAIL"}, flag: "email", usage: "email claim of the token", value: (*stringValue)(&c.Token.Email), cmds: []string{CmdToken}},
		{env: []string{"EVARA_TOKEN_ROLE"}, flag: "role", usage: "role claim of the token, for display only: the server takes roles from users_profiles (evara users promote)", value: (*stringValue)(&c.Token.Role), cmds: []string{CmdToken}},
		{env: []string{"EVARA_TOKEN_TTL"}, flag: "ttl", usage: "lifetime of the token", value: (*durationValue)(&c.Token.TTL), cmds: []string{CmdToken}},
		{env: []string{"EVARA_PROMOTE_ROLE"}, flag: "role", usage: "role to give: superadmin or customer (scoped roles are given in the dashboard)", value: (*stringValue)(&c.Promote.Role), cmds: []string{CmdUsersPromote}},
		{env: []string{"EVARA_BENCH_URL"}, flag: "url", usage: "base URL of the member `evara bench ws` loads", value: (*stringValue)(&c.BenchWS.URL), cmds: []string{CmdBenchWS}},
		{env: []string{"EVARA_BENCH_TOKEN"}, usage: "bearer token of a superadmin for `evara bench ws` (evara token mints one)", value: (*secretValue)(&c.BenchWS.Token), secret: true, cmds: []string{CmdBenchWS}},
		{env: []string{"EVARA_BENCH_SESSIONS"}, flag: "sessions", usage: "WebSocket sessions `evara bench ws` opens", value: (*intValue)(&c.BenchWS.Sessions), cmds: []string{CmdBenchWS}},
		{env: []string{"EVARA_BENCH_TOPICS"}, flag: "topics", usage: "devices each session follows", value: (*intValue)(&c.BenchWS.Topics), cmds: []string{CmdBenchWS}},
		{env: []string{"EVARA_BENCH_DURATION"}, flag: "duration", usage: "how long the load is measured once every session is connected", value: (*durationValue)(&c.BenchWS.Duration), cmds: []string{CmdBenchWS}},
		{env: []string{"EVARA_BENCH_CONNECT_RATE"}, flag: "connect-rate", usage: "new connections per second while ramping up", value: (*intValue)(&c.BenchWS.ConnectRate), cmds: []string{CmdBenchWS}},
		{env: []string{"EVARA_SIM_ADDR"}, flag: "addr", usage: "listen address of the simulator", value: (*stringValue)(&c.Sim.Addr), cmds: []string{CmdSim}},
		{env: []string{"EVARA_SIM_CHANNELS"}, flag: "channels", usage: "number of simulated channels", value: (*intValue)(&c.Sim.Channels), cmds: simulating},
		{env: []string{"EVARA_SIM_PERIOD"}, flag: "period", usage: "interval between new entries of a simulated channel", value: (*durationValue)(&c.Sim.Period), cmds: simulating},
		{env: []string{"EVARA_SIM_HISTORY"}, flag: "history", usage: "entries each simulated channel already has at start", value: (*intValue)(&c.Sim.History), cmds: simulating},
		{env: []string{"EVARA_SIM_SEED"}, flag: "seed", usage: "simulator seed: the same seed gives the same channels, keys and data", value: (*uint64Value)(&c.Sim.Seed), cmds: simulating},
		{env: []string{"EVARA_SIM_LATENCY"}, flag: "latency", usage: "simulated latency added to every request", value: (*durationValue)(&c.Sim.Latency), cmds: simulating},
		{env: []string{"EVARA_SIM_ERROR_RATE"}, flag: "error-rate", usage: "fraction of simulated requests answered 500 (0..1)", value: (*floatValue)(&c.Sim.ErrorRate), cmds: simulating},
		{env: []string{"EVARA_SIM_RATE_LIMIT"}, flag: "rate-limit", usage: "simulated requests/s above which the simulator answers 429 (0: none)", value: (*floatValue)(&c.Sim.RateLimit), cmds: simulating},
		{env: []string{"EVARA_SIM_FAULTS"}, flag: "faults", usage: "simulator faults as JSON (the body of POST /_sim/faults) or @file", value: (*stringValue)(&c.Sim.Faults), cmds: simulating},
	}
}

func (s setting) appliesTo(cmd string) bool {
	for _, c := range s.cmds {
		if c == cmd {
			return true
		}
	}
	return false
}

// display is the value as `config check` prints it.
func (s setting) display() string {
	v := s.value.String()
	if !s.secret || v == "" {
		return v
	}
	if s.url {
		return Secret(v).RedactedURL()
	}
	return redacted
}

// The flag.Value adapters bind settings to Config fields; one parser per
// type serves both the environment and the command line.
type (
	stringValue   string
	secretValue   Secret
	boolValue     bool
	intValue      int
	uint64Value   uint64
	floatValue    float64
	durationValue time.Duration
	listValue     []string
)

func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }
func (v *stringValue) String() string     { return string(*v) }
func (v *secretValue) Set(s string) error { *v = secretValue(s); return nil }
func (v *secretValue) String() string     { return string(*v) }
func (v *boolValue) IsBoolFlag() bool     { return true }
func (v *boolValue) String() string       { return strconv.FormatBool(bool(*v)) }
func (v *intValue) String() string        { return strconv.Itoa(int(*v)) }
func (v *uint64Value) String() string     { return strconv.FormatUint(uint64(*v), 10) }
func (v *floatValue) String() string      { return strconv.FormatFloat(float64(*v), 'g', -1, 64) }
func (v *durationValue) String() string   { return time.Duration(*v).String() }
func (v *listValue) String() string       { return strings.Join(*v, ",") }

// Set splits a comma-separated list, dropping empty items and spaces.
func (v *listValue) Set(s string) error {
	*v = nil
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			*v = append(*v, item)
		}
	}
	return nil
}

func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("%q is not a boolean", s)
	}
	*v = boolValue(b)
	return nil
}

func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("%q is not an integer", s)
	}
	*v = intValue(n)
	return nil
}

func (v *uint64Value) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not a non-negative integer", s)
	}
	*v = uint64Value(n)
	return nil
}

func (v *floatValue) Set(s string) error {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("%q is not a number", s)
	}
	*v = floatValue(f)
	return nil
}

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 30s or 5m", s)
	}
	*v = durationValue(d)
	return nil
}
