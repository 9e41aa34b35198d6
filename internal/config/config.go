package config

import (
	"time"
)

// Commands the evara binary runs.
const (
	CmdServe       = "serve"
	CmdSim         = "sim"
	CmdMigrate     = "migrate"
	CmdVersion     = "version"
	CmdConfigCheck = "config check"
	CmdKeysRotate  = "keys rotate"
	CmdClusterStat = "cluster status"
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

	// StatusURL and JSON are the `evara cluster status` flags.
	StatusURL string
	JSON      bool

	Sim Sim // the `evara sim` command, and the simulator behind --demo

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
		StatusURL:         "http://127.0.0.1:8080",
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
