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
	everywhere := []string{CmdServe, CmdSim, CmdMigrate, CmdConfigCheck, CmdKeysRotate}
	simulating := []string{CmdServe, CmdSim, CmdConfigCheck}
	polling := []string{CmdServe, CmdConfigCheck}
	return []setting{
		{env: []string{"EVARA_ENV"}, flag: "env", usage: "environment: development or production", value: (*stringValue)(&c.Env), cmds: everywhere},
		{env: []string{"EVARA_LOG_LEVEL", "LOG_LEVEL"}, flag: "log-level", usage: "log level: debug, info, warn or error", value: (*stringValue)(&c.LogLevel), cmds: everywhere},
		{env: []string{"EVARA_LOG_FORMAT"}, flag: "log-format", usage: "log format: auto (text on a terminal, else JSON), json or text", value: (*stringValue)(&c.LogFormat), cmds: everywhere},
		{env: []string{"EVARA_HTTP_ADDR"}, flag: "addr", usage: "HTTP listen address", value: (*stringValue)(&c.HTTPAddr), cmds: []string{CmdServe, CmdConfigCheck}},
		{env: []string{"EVARA_SHUTDOWN_TIMEOUT"}, flag: "shutdown-timeout", usage: "longest graceful shutdown", value: (*durationValue)(&c.ShutdownTimeout), cmds: everywhere},
		{env: []string{"EVARA_DATA_DIR"}, flag: "data-dir", usage: "directory of the embedded store (used when DATABASE_URL is empty)", value: (*stringValue)(&c.DataDir), cmds: serving},
		{env: []string{"EVARA_DATABASE_URL", "DATABASE_URL"}, usage: "PostgreSQL URL; empty selects the embedded store", value: (*secretValue)(&c.DatabaseURL), secret: true, url: true, cmds: serving},
		{env: []string{"EVARA_REDIS_URL", "REDIS_URL"}, usage: "Redis URL; empty selects in-process caches and rate limits", value: (*secretValue)(&c.RedisURL), secret: true, url: true, cmds: serving},
		{env: []string{"EVARA_JWT_SECRET", "SUPABASE_JWT_SECRET"}, usage: "HS256 secret of Supabase-issued JWTs (at least 32 bytes)", value: (*secretValue)(&c.JWTSecret), secret: true, cmds: serving},
		{env: []string{"EVARA_ENCRYPTION_KEY"}, usage: "AES-256 keys sealing channel keys at rest: id:base64[,oldid:base64…], active first; required in production", value: (*secretValue)(&c.EncryptionKey), secret: true, cmds: serving},
		{env: []string{"EVARA_THINGSPEAK_URL"}, flag: "thingspeak-url", usage: "ThingSpeak read API base URL (ignored with --demo)", value: (*stringValue)(&c.ThingSpeakURL), cmds: serving},
		{env: []string{"EVARA_THINGSPEAK_TIMEOUT"}, flag: "thingspeak-timeout", usage: "timeout of one upstream request", value: (*durationValue)(&c.ThingSpeakTimeout), cmds: serving},
		{env: []string{"EVARA_POLL_INTERVAL"}, flag: "poll-interval", usage: "how often a node without its own interval is polled (with --demo, at most the simulator's period)", value: (*durationValue)(&c.PollInterval), cmds: polling},
		{env: []string{"EVARA_UPSTREAM_RATE"}, flag: "upstream-rate", usage: "upstream (ThingSpeak) requests per second across the whole cluster; never exceeded, lowered while the upstream pushes back", value: (*floatValue)(&c.UpstreamRate), cmds: polling},
		{env: []string{"EVARA_UPSTREAM_BURST"}, flag: "upstream-burst", usage: "upstream requests that may go at once within the rate", value: (*intValue)(&c.UpstreamBurst), cmds: polling},
		{env: []string{"EVARA_CLUSTER_PROVIDER"}, flag: "cluster-provider", usage: "membership: single (one member), static (EVARA_CLUSTER_MEMBERS) or kubernetes; static is implied when members are listed", value: (*stringValue)(&c.Cluster.Provider), cmds: polling},
		{env: []string{"EVARA_CLUSTER_NAME"}, flag: "cluster-name", usage: "cluster name: members with the same name form one cluster", value: (*stringValue)(&c.Cluster.Name), cmds: polling},
		{env: []string{"EVARA_CLUSTER_ADVERTISE"}, flag: "cluster-advertise", usage: "host:port of this member's remoting endpoint (cluster-internal; its membership endpoint listens on port+1000)", value: (*stringValue)(&c.Cluster.Advertise), cmds: polling},
		{env: []string{"EVARA_CLUSTER_MEMBERS"}, flag: "cluster-members", usage: "static provider: every member's host:port, comma-separated, this one included", value: (*listValue)(&c.Cluster.Members), cmds: polling},
		{env: []string{"EVARA_DEMO"}, flag: "demo", usage: "run the built-in ThingSpeak simulator with demo channels", value: (*boolValue)(&c.Demo), cmds: []string{CmdServe, CmdConfigCheck}},
		{env: []string{"EVARA_STATUS_URL"}, flag: "url", usage: "base URL of the member to ask (its HTTP address)", value: (*stringValue)(&c.StatusURL), cmds: []string{CmdClusterStat}},
		{env: []string{"EVARA_STATUS_JSON"}, flag: "json", usage: "print JSON instead of a table", value: (*boolValue)(&c.JSON), cmds: []string{CmdClusterStat}},
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
