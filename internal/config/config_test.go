package config

import (
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestLoadPrecedence(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want func(Config) bool
	}{
		{"defaults", []string{"serve"}, nil, func(c Config) bool {
			return c.HTTPAddr == ":8080" && c.LogLevel == "info" && c.DataDir == "./data" && !c.Demo
		}},
		{"evara env", []string{"serve"}, map[string]string{"EVARA_HTTP_ADDR": "127.0.0.1:9000"}, func(c Config) bool {
			return c.HTTPAddr == "127.0.0.1:9000"
		}},
		{"legacy names", []string{"serve"}, map[string]string{"DATABASE_URL": "postgres://u:p@db/evara", "LOG_LEVEL": "debug", "SUPABASE_JWT_SECRET": "s"}, func(c Config) bool {
			return c.DatabaseURL.Reveal() == "postgres://u:p@db/evara" && c.LogLevel == "debug" && c.JWTSecret.Reveal() == "s"
		}},
		{"EVARA_ name wins over legacy", []string{"serve"}, map[string]string{"LOG_LEVEL": "debug", "EVARA_LOG_LEVEL": "warn"}, func(c Config) bool {
			return c.LogLevel == "warn"
		}},
		{"flag wins over env", []string{"serve", "--log-level", "error", "--demo"}, map[string]string{"LOG_LEVEL": "debug"}, func(c Config) bool {
			return c.LogLevel == "error" && c.Demo
		}},
		{"sim flags", []string{"sim", "--addr", "127.0.0.1:4000", "--channels", "50", "--period", "2s", "--seed", "7"}, nil, func(c Config) bool {
			return c.Command == CmdSim && c.Sim.Addr == "127.0.0.1:4000" && c.Sim.Channels == 50 && c.Sim.Period == 2*time.Second && c.Sim.Seed == 7 && c.HTTPAddr == ":8080"
		}},
		{"config check", []string{"config", "check", "--demo"}, nil, func(c Config) bool { return c.Command == CmdConfigCheck && c.Demo }},
		{"positional args", []string{"migrate", "up"}, nil, func(c Config) bool { return c.Command == CmdMigrate && len(c.Args) == 1 && c.Args[0] == "up" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.args, env(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !tt.want(c) {
				t.Errorf("unexpected config: %+v", c)
			}
		})
	}
}

func TestLoadUsageErrors(t *testing.T) {
	for _, args := range [][]string{nil, {"bogus"}, {"config"}, {"cluster"}, {"cluster", "stats"}, {"serve", "--no-such-flag"}, {"serve", "--demo=maybe"}, {"sim", "--channels", "many"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			_, err := Load(args, env(nil))
			var ue *UsageError
			if !errors.As(err, &ue) || ue.Text == "" {
				t.Fatalf("want a UsageError with usage text, got %v", err)
			}
		})
	}
	_, err := Load([]string{"serve", "-h"}, env(nil))
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: want flag.ErrHelp, got %v", err)
	}
}

func TestSecretsHaveNoFlags(t *testing.T) {
	// A flag value is visible to every user of the machine in the process list.
	for _, d := range Docs() {
		if d.Secret && d.Flag != "" {
			t.Errorf("%s is secret but has flag --%s", d.Env[0], d.Flag)
		}
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	c, err := Load([]string{"serve", "--addr", "nonsense", "--log-level", "loud"}, env(map[string]string{
		"EVARA_SHUTDOWN_TIMEOUT": "soon",
		"DATABASE_URL":           "mysql://x",
		"REDIS_URL":              "http://x",
		"SUPABASE_JWT_SECRET":    "tiny-secret",
		"EVARA_ENV":              "staging",
		"EVARA_THINGSPEAK_URL":   "ftp://x",
	}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	verr := c.Validate()
	if verr == nil {
		t.Fatal("Validate accepted an invalid configuration")
	}
	for _, want := range []string{"EVARA_SHUTDOWN_TIMEOUT", "EVARA_HTTP_ADDR", "EVARA_LOG_LEVEL", "DATABASE_URL", "REDIS_URL", "SUPABASE_JWT_SECRET", "EVARA_ENV", "EVARA_THINGSPEAK_URL"} {
		if !strings.Contains(verr.Error(), want) {
			t.Errorf("problem list lacks %s:\n%v", want, verr)
		}
	}
	for _, secret := range []string{"mysql://x", "tiny-secret"} {
		if strings.Contains(verr.Error(), secret) {
			t.Errorf("problem list leaks secret value %q", secret)
		}
	}
}

// cluster is the environment of a static cluster member on PostgreSQL.
func cluster(advertise, members string) map[string]string {
	return map[string]string{"DATABASE_URL": "postgres://db/evara", "EVARA_CLUSTER_ADVERTISE": advertise, "EVARA_CLUSTER_MEMBERS": members}
}

func without(env map[string]string, key string) map[string]string {
	delete(env, key)
	return env
}

func TestValidateRules(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		ok   bool
	}{
		{"defaults", []string{"serve"}, nil, true},
		{"demo", []string{"serve", "--demo"}, nil, true},
		{"demo in production", []string{"serve", "--demo"}, map[string]string{"EVARA_ENV": "production"}, false},
		{"libpq dsn", []string{"serve"}, map[string]string{"DATABASE_URL": "host=db user=evara"}, true},
		{"sim bad error rate", []string{"sim", "--error-rate", "1.5"}, nil, false},
		{"sim zero channels", []string{"sim", "--channels", "0"}, nil, false},
		{"sim sub-second period", []string{"sim", "--period", "500ms"}, nil, false},
		{"sim ok", []string{"sim", "--channels", "1000", "--period", "1s", "--rate-limit", "50"}, nil, true},
		{"production needs an encryption key", []string{"serve"}, map[string]string{"EVARA_ENV": "production"}, false},
		{"production with a key", []string{"serve"}, map[string]string{"EVARA_ENV": "production", "EVARA_ENCRYPTION_KEY": "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}, true},
		{"short encryption key", []string{"serve"}, map[string]string{"EVARA_ENCRYPTION_KEY": "k1:AAECAwQ="}, false},
		{"unparsable env", []string{"serve"}, map[string]string{"EVARA_DEMO": "perhaps"}, false},
		{"upstream budget", []string{"serve", "--poll-interval", "1s", "--upstream-rate", "0.5", "--upstream-burst", "1"}, nil, true},
		{"sub-second poll interval", []string{"serve"}, map[string]string{"EVARA_POLL_INTERVAL": "500ms"}, false},
		{"zero upstream rate", []string{"serve"}, map[string]string{"EVARA_UPSTREAM_RATE": "0"}, false},
		{"NaN upstream rate", []string{"serve", "--upstream-rate", "NaN"}, nil, false},
		{"zero upstream burst", []string{"serve", "--upstream-burst", "0"}, nil, false},
		{"static cluster", []string{"serve"}, cluster("127.0.0.1:7101", "127.0.0.1:7101,127.0.0.1:7102"), true},
		{"static cluster without a database", []string{"serve"}, without(cluster("127.0.0.1:7101", "127.0.0.1:7101"), "DATABASE_URL"), false},
		{"member not in the list", []string{"serve"}, cluster("127.0.0.1:7103", "127.0.0.1:7101,127.0.0.1:7102"), false},
		{"member without a port", []string{"serve"}, cluster("127.0.0.1:7101", "127.0.0.1:7101,127.0.0.1"), false},
		{"no advertise address", []string{"serve"}, cluster("", "127.0.0.1:7101"), false},
		{"port too high for the membership port", []string{"serve"}, cluster("127.0.0.1:65000", "127.0.0.1:65000"), false},
		{"unknown provider", []string{"serve", "--cluster-provider", "consul"}, nil, false},
		{"cluster name not a label value", []string{"serve", "--cluster-name", "evara prod!"}, cluster("127.0.0.1:7101", "127.0.0.1:7101"), false},
		{"kubernetes", []string{"serve", "--cluster-provider", "kubernetes"}, without(cluster("10.0.0.7:7101", ""), "EVARA_CLUSTER_MEMBERS"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.args, env(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if err := c.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestDescribeRedactsSecrets(t *testing.T) {
	c, err := Load([]string{"config", "check"}, env(map[string]string{
		"DATABASE_URL":        "postgres://evara:hunter2@db.internal:5432/evara?sslmode=require",
		"REDIS_URL":           "redis://:redispass@cache:6379/0",
		"SUPABASE_JWT_SECRET": "0123456789abcdef0123456789abcdef-jwt",
	}))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Item{}
	for _, it := range c.Describe() {
		got[it.Name] = it
		for _, secret := range []string{"hunter2", "redispass", "0123456789abcdef"} {
			if strings.Contains(it.Value, secret) {
				t.Errorf("%s shows a secret: %q", it.Name, it.Value)
			}
		}
	}
	if v := got["EVARA_DATABASE_URL"].Value; !strings.Contains(v, "db.internal:5432") {
		t.Errorf("database URL should still show its host, got %q", v)
	}
	if s := got["EVARA_DATABASE_URL"].Source; s != "env DATABASE_URL" {
		t.Errorf("source = %q", s)
	}
	if v := got["EVARA_JWT_SECRET"].Value; v != redacted {
		t.Errorf("JWT secret shown as %q", v)
	}
	if s := got["EVARA_HTTP_ADDR"].Source; s != "default" {
		t.Errorf("source of an unset setting = %q", s)
	}
}

func TestRedactedURL(t *testing.T) {
	tests := map[string]string{
		"postgres://u:pw@h/db":                     "postgres://u:xxxxx@h/db",
		"postgres://u@h/db?password=pw&sslmode=on": "postgres://u@h/db?password=xxxxx&sslmode=on",
		"host=h password=pw":                       redacted,
		"":                                         "",
	}
	for in, want := range tests {
		if got := Secret(in).RedactedURL(); got != want {
			t.Errorf("RedactedURL(%q) = %q, want %q", in, got, want)
		}
	}
}
