package config

import (
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// Commands the evara binary runs.
const (
	CmdServe        = "serve"
	CmdSim          = "sim"
	CmdMigrate      = "migrate"
	CmdVersion      = "version"
	CmdConfigCheck  = "config check"
	CmdKeysRotate   = "keys rotate"
	CmdClusterStat  = "cluster status"
	CmdToken        = "token"
	CmdUsersPromote = "users promote"
	CmdBenchWS      = "bench ws"
)

// Cluster providers (EVARA_CLUSTER_PROVIDER).
const (
	ProviderSingle     = "single"     // one member, no remoting port beyond loopback
	ProviderStatic     = "static"     // a fixed member list (one machine, tests and demos)
	ProviderKubernetes = "kubernetes" // protoactor's Kubernetes provider
)

// Config is the whole configuration of one evara process.
type Config struct {
	Command string   // one of the Cmd* constants
	Args    []string // positional arguments after the command's flags

	Env             string        // development | production
	HTTPAddr        string        // HTTP listen address
	LogLevel        string        // debug | info | warn | error
	LogFormat       string        // auto | json | text
	ShutdownTimeout time.Duration // how long a graceful stop may take

	DataDir     string // directory of the embedded store
	DatabaseURL Secret // PostgreSQL; empty selects the embedded store
	RedisURL    Secret // Redis; empty selects in-process caches and limits
	JWTSecret   Secret // HS256 secret of Supabase-issued tokens
	// EncryptionKey seals credentials at rest: "id:base64key[,id:oldkey…]", active first.
	EncryptionKey Secret

	ThingSpeakURL     string        // upstream read API base URL
	ThingSpeakTimeout time.Duration // per upstream request
	Demo              bool          // serve with the in-process simulator and demo channels

	PollInterval  time.Duration // poll interval of nodes without their own
	UpstreamRate  float64       // upstream requests/s across the cluster
	UpstreamBurst int           // upstream requests that may go at once

	Cluster Cluster // membership and placement of device actors

	Anomaly Anomaly // the device actors' anomaly detection

	// StatusURL, StatusToken and JSON are the `evara cluster status`
	// settings. The stats are a superadmin's: StatusToken is one's bearer
	// token (`evara token`).
	StatusURL   string
	StatusToken Secret
	JSON        bool

	Sim Sim // the `evara sim` command, and the simulator behind --demo

	API API // the dashboard's REST API (serve)

	Token   TokenCmd   // the `evara token` flags
	Promote PromoteCmd // the `evara users promote` flags; the email is Args[0]
	BenchWS BenchWSCmd // the `evara bench ws` load generator

	sources  map[string]string // setting (its first env name) → where its value came from
	problems []error           // environment values Load could not parse
}

// Cluster configures membership. With the single provider (the default)
// no remoting port is opened beyond loopback.
type Cluster struct {
	Provider  string   // single | static | kubernetes
	Name      string   // members with the same name form one cluster
	Advertise string   // host:port of this member's remoting endpoint
	Members   []string // static: every member's host:port, this one included
}

// Anomaly tunes the anomaly alerts of every device (issue 7): a value
// more than Z deviations from the mean of its metric's last Window values,
// once MinSamples are there, opens a warning. Z 0 turns them off.
type Anomaly struct {
	Z          float64
	Window     int
	MinSamples int
}

// Sim configures the ThingSpeak simulator.
type Sim struct {
	Addr      string
	Channels  int
	Period    time.Duration
	History   int
	Seed      uint64
	Latency   time.Duration // added to every request
	ErrorRate float64       // fraction of requests answered 500
	RateLimit float64       // requests/s above which requests get 429; 0 = unlimited
	Faults    string        // fault configuration as JSON, or @file holding it
}

// API configures the dashboard's REST API: tokens, CORS, limits, IP lists.
// The CIDR lists accept a bare address as a one-address prefix (/32 or
// /128); ParsePrefix reads them the way Validate checks them.
type API struct {
	JWKSURL              string   // EVARA_JWKS_URL: ES256/RS256 keys of the identity provider
	Audience             string   // EVARA_JWT_AUDIENCE, default "authenticated"
	Issuer               string   // EVARA_JWT_ISSUER, optional
	DevBypass            bool     // EVARA_DEV_BYPASS: accept the old dashboard's dev-bypass-… tokens (refused in production)
	BootstrapSuperadmins []string // EVARA_BOOTSTRAP_SUPERADMINS: emails promoted to superadmin at login and at start
	CORSOrigins          []string // EVARA_CORS_ORIGINS: allowed origins, comma-separated; empty: no cross-origin access
	UserRate             int      // EVARA_RATE_LIMIT_USER: requests per minute per user, default 100
	AnonRate             int      // EVARA_RATE_LIMIT_ANON: requests per minute per IP for calls without a valid token, default 60
	IPAllow              []string // EVARA_IP_ALLOW: CIDRs; when set, only these may call (health/metrics excepted)
	IPDeny               []string // EVARA_IP_DENY: CIDRs refused
	TrustedProxies       []string // EVARA_TRUSTED_PROXIES: CIDRs whose X-Forwarded-For is believed
	BodyLimit            int      // EVARA_BODY_LIMIT: largest request body in bytes, default 1048576
}

// Bounds of API.BodyLimit.
const (
	MinBodyLimit = 1 << 10
	MaxBodyLimit = 64 << 20
)

// TokenCmd is what `evara token` mints: a development token signed with
// the JWT secret. Role is written to the token's role claim for display
// only: the server takes roles from users_profiles.
type TokenCmd struct {
	Sub, Email, Role string
	TTL              time.Duration // default 1h
}

// PromoteCmd is the role `evara users promote <email>` gives.
type PromoteCmd struct {
	Role telemetry.Role // default superadmin
}

// BenchWSCmd is what `evara bench ws` runs against a member: Sessions
// WebSocket clients, each following Topics devices, measured for Duration
// once all are connected.
type BenchWSCmd struct {
	URL         string // the member's HTTP base URL
	Token       Secret // a superadmin's bearer token (it lists the devices and subscribes)
	Sessions    int
	Topics      int // devices each session follows
	Duration    time.Duration
	ConnectRate int // new connections per second while ramping up
}

// Default returns the configuration used when nothing is set: a single
// development process on :8080 with the embedded store.
func Default() Config {
	return Config{
		Command:           CmdServe,
		Env:               "development",
		HTTPAddr:          ":8080",
		LogLevel:          "info",
		LogFormat:         "auto",
		ShutdownTimeout:   25 * time.Second,
		DataDir:           "./data",
		ThingSpeakURL:     "https://api.thingspeak.com",
		ThingSpeakTimeout: 10 * time.Second,
		PollInterval:      60 * time.Second,
		UpstreamRate:      50,
		UpstreamBurst:     10,
		Cluster:           Cluster{Provider: ProviderSingle, Name: "evara"},
		Anomaly:           Anomaly{Z: 3, Window: 100, MinSamples: 20},
		StatusURL:         "http://127.0.0.1:8080",
		API: API{
			Audience:  "authenticated",
			UserRate:  100,
			AnonRate:  60,
			BodyLimit: 1 << 20,
		},
		Token:   TokenCmd{TTL: time.Hour},
		Promote: PromoteCmd{Role: telemetry.RoleSuperadmin},
		BenchWS: BenchWSCmd{URL: "http://127.0.0.1:8080", Sessions: 1000, Topics: 10, Duration: 30 * time.Second, ConnectRate: 1000},
		Sim: Sim{
			Addr:     "127.0.0.1:3002",
			Channels: 12,
			Period:   15 * time.Second,
			History:  200,
			Seed:     1,
		},
	}
}

// Production reports whether the process runs in a production environment.
func (c Config) Production() bool { return c.Env == "production" }
