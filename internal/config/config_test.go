package config

import (
	"errors"
	"flag"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
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
		{"token", []string{"token", "--sub", "u-1", "--email", "a@example.com", "--role", "superadmin", "--ttl", "2h", "--jwt-issuer", "https://idp.example"}, nil, func(c Config) bool {
			return c.Command == CmdToken && c.Token == TokenCmd{Sub: "u-1", Email: "a@example.com", Role: "superadmin", TTL: 2 * time.Hour} && c.API.Issuer == "https://idp.example"
		}},
		{"token defaults", []string{"token"}, map[string]string{"EVARA_TOKEN_SUB": "u-1"}, func(c Config) bool {
			return c.Token.Sub == "u-1" && c.Token.TTL == time.Hour && c.API.Audience == "authenticated"
		}},
		{"users promote, flags after the email", []string{"users", "promote", "a@example.com", "--role", "customer"}, nil, func(c Config) bool {
			return c.Command == CmdUsersPromote && slices.Equal(c.Args, []string{"a@example.com"}) && c.Promote.Role == telemetry.RoleCustomer
		}},
		{"users promote, flags before the email", []string{"users", "promote", "--data-dir", "/srv/evara", "a@example.com"}, nil, func(c Config) bool {
			return slices.Equal(c.Args, []string{"a@example.com"}) && c.DataDir == "/srv/evara" && c.Promote.Role == telemetry.RoleSuperadmin
		}},
		{"users promote, after -- nothing is a flag", []string{"users", "promote", "a@example.com", "--", "--role", "customer"}, nil, func(c Config) bool {
			return slices.Equal(c.Args, []string{"a@example.com", "--role", "customer"}) && c.Promote.Role == telemetry.RoleSuperadmin
		}},
		{"api defaults", []string{"serve"}, nil, func(c Config) bool {
			return c.API.UserRate == 100 && c.API.AnonRate == 60 && c.API.BodyLimit == 1<<20 && c.API.Audience == "authenticated" && !c.API.DevBypass && c.API.CORSOrigins == nil
		}},
		{"api from env", []string{"serve"}, map[string]string{
			"EVARA_CORS_ORIGINS": "https://app.example.com, http://localhost:5173", "EVARA_IP_ALLOW": "10.0.0.0/8,192.168.1.7",
			"EVARA_RATE_LIMIT_USER": "300", "EVARA_BODY_LIMIT": "4096", "EVARA_DEV_BYPASS": "true", "EVARA_BOOTSTRAP_SUPERADMINS": "ops@example.com",
		}, func(c Config) bool {
			return slices.Equal(c.API.CORSOrigins, []string{"https://app.example.com", "http://localhost:5173"}) &&
				slices.Equal(c.API.IPAllow, []string{"10.0.0.0/8", "192.168.1.7"}) && c.API.UserRate == 300 && c.API.BodyLimit == 4096 &&
				c.API.DevBypass && slices.Equal(c.API.BootstrapSuperadmins, []string{"ops@example.com"})
		}},
		{"api flags win", []string{"serve", "--rate-limit-anon", "5", "--jwks-url", "https://idp.example/.well-known/jwks.json", "--trusted-proxies", "10.1.0.0/16"}, map[string]string{"EVARA_RATE_LIMIT_ANON": "500"}, func(c Config) bool {
			return c.API.AnonRate == 5 && c.API.JWKSURL == "https://idp.example/.well-known/jwks.json" && slices.Equal(c.API.TrustedProxies, []string{"10.1.0.0/16"})
		}},
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
	for _, args := range [][]string{nil, {"bogus"}, {"config"}, {"cluster"}, {"cluster", "stats"}, {"serve", "--no-such-flag"}, {"serve", "--demo=maybe"}, {"sim", "--channels", "many"}, {"users"}, {"users", "demote", "a@example.com"}, {"token", "--sub"}, {"users", "promote", "a@example.com", "--no-such-flag"}, {"migrate", "--dev-bypass"}} {
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

// production is a valid production environment plus extra.
func production(extra map[string]string) map[string]string {
	env := map[string]string{
		"EVARA_ENV":            "production",
		"EVARA_ENCRYPTION_KEY": "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"EVARA_JWT_SECRET":     jwtSecret,
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

const jwtSecret = "0123456789abcdef0123456789abcdef" // 32 bytes, the shortest accepted

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
		{"production with a key", []string{"serve"}, production(nil), true},
		{"production migrate needs no token verification", []string{"migrate", "up"}, without(production(nil), "EVARA_JWT_SECRET"), true},
		{"short encryption key", []string{"serve"}, map[string]string{"EVARA_ENCRYPTION_KEY": "k1:AAECAwQ="}, false},
		{"unparsable env", []string{"serve"}, map[string]string{"EVARA_DEMO": "perhaps"}, false},
		{"upstream budget", []string{"serve", "--poll-interval", "1s", "--upstream-rate", "0.5", "--upstream-burst", "1"}, nil, true},
		{"sub-second poll interval", []string{"serve"}, map[string]string{"EVARA_POLL_INTERVAL": "500ms"}, false},
		{"zero upstream rate", []string{"serve"}, map[string]string{"EVARA_UPSTREAM_RATE": "0"}, false},
		{"anomaly alerts off", []string{"serve"}, map[string]string{"EVARA_ANOMALY_Z": "0"}, true},
		{"negative anomaly z", []string{"serve"}, map[string]string{"EVARA_ANOMALY_Z": "-1"}, false},
		{"anomaly z NaN", []string{"serve"}, map[string]string{"EVARA_ANOMALY_Z": "NaN"}, false},
		{"anomaly window of one", []string{"serve"}, map[string]string{"EVARA_ANOMALY_WINDOW": "1"}, false},
		{"more samples needed than the window holds", []string{"serve"}, map[string]string{"EVARA_ANOMALY_WINDOW": "50", "EVARA_ANOMALY_MIN_SAMPLES": "60"}, false},
		{"a smaller anomaly window", []string{"serve"}, map[string]string{"EVARA_ANOMALY_WINDOW": "50", "EVARA_ANOMALY_MIN_SAMPLES": "10"}, true},
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

// TestValidateAPIAndCommands covers the REST API's settings and the token
// and users promote commands. want is a part of the expected problem, ""
// for a valid configuration.
func TestValidateAPIAndCommands(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"api defaults", []string{"serve"}, nil, ""},
		{"production without a way to verify tokens", []string{"serve"}, without(production(nil), "EVARA_JWT_SECRET"), "EVARA_JWT_SECRET: production needs a way to verify tokens"},
		{"production with the legacy secret name", []string{"serve"}, without(production(map[string]string{"SUPABASE_JWT_SECRET": jwtSecret}), "EVARA_JWT_SECRET"), ""},
		{"production with a JWKS URL only", []string{"serve"}, without(production(map[string]string{"EVARA_JWKS_URL": "https://idp.example/auth/v1/.well-known/jwks.json"}), "EVARA_JWT_SECRET"), ""},
		{"config check applies the production rule", []string{"config", "check"}, without(production(nil), "EVARA_JWT_SECRET"), "production needs a way to verify tokens"},
		{"JWT secret of 31 bytes", []string{"serve"}, map[string]string{"EVARA_JWT_SECRET": jwtSecret[1:]}, "shorter than 32 bytes"},
		{"JWT secret of 32 bytes", []string{"serve"}, map[string]string{"EVARA_JWT_SECRET": jwtSecret}, ""},
		{"dev bypass in development", []string{"serve", "--dev-bypass"}, nil, ""},
		{"dev bypass in production", []string{"serve", "--dev-bypass"}, production(nil), "EVARA_DEV_BYPASS=true is refused when EVARA_ENV=production"},
		{"JWKS URL http", []string{"serve", "--jwks-url", "http://gotrue:9999/.well-known/jwks.json"}, nil, ""},
		{"JWKS URL relative", []string{"serve", "--jwks-url", "/.well-known/jwks.json"}, nil, "EVARA_JWKS_URL"},
		{"JWKS URL not http", []string{"serve"}, map[string]string{"EVARA_JWKS_URL": "ftp://idp.example/jwks"}, "EVARA_JWKS_URL"},
		{"user rate 1", []string{"serve", "--rate-limit-user", "1"}, nil, ""},
		{"user rate 0", []string{"serve", "--rate-limit-user", "0"}, nil, "EVARA_RATE_LIMIT_USER"},
		{"anonymous rate negative", []string{"serve"}, map[string]string{"EVARA_RATE_LIMIT_ANON": "-1"}, "EVARA_RATE_LIMIT_ANON"},
		{"anonymous rate not a number", []string{"serve"}, map[string]string{"EVARA_RATE_LIMIT_ANON": "fast"}, "EVARA_RATE_LIMIT_ANON"},
		{"body limit 1 KiB", []string{"serve", "--body-limit", "1024"}, nil, ""},
		{"body limit 64 MiB", []string{"serve", "--body-limit", "67108864"}, nil, ""},
		{"body limit under 1 KiB", []string{"serve", "--body-limit", "1023"}, nil, "EVARA_BODY_LIMIT"},
		{"body limit over 64 MiB", []string{"serve"}, map[string]string{"EVARA_BODY_LIMIT": "67108865"}, "EVARA_BODY_LIMIT"},
		{"CIDRs and bare addresses", []string{"serve", "--ip-allow", "10.0.0.0/8,192.168.1.7,2001:db8::/32,::1", "--ip-deny", "10.9.0.0/16", "--trusted-proxies", "172.16.0.0/12"}, nil, ""},
		{"allow list prefix too long", []string{"serve", "--ip-allow", "10.0.0.0/33"}, nil, "EVARA_IP_ALLOW"},
		{"deny list not an address", []string{"serve"}, map[string]string{"EVARA_IP_DENY": "10.0.0.0/8,banana"}, "EVARA_IP_DENY: \"banana\""},
		{"trusted proxy with a zone", []string{"serve", "--trusted-proxies", "fe80::1%eth0"}, nil, "EVARA_TRUSTED_PROXIES"},
		{"CORS origins", []string{"serve", "--cors-origins", "https://app.example.com,http://localhost:5173"}, nil, ""},
		{"CORS origin with a trailing slash", []string{"serve", "--cors-origins", "https://app.example.com/"}, nil, "EVARA_CORS_ORIGINS"},
		{"CORS wildcard", []string{"serve", "--cors-origins", "*"}, nil, "EVARA_CORS_ORIGINS"},
		{"bootstrap superadmins", []string{"serve", "--bootstrap-superadmins", "ops@example.com, cto@example.com"}, nil, ""},
		{"bootstrap superadmin not an email", []string{"serve", "--bootstrap-superadmins", "ops"}, nil, "EVARA_BOOTSTRAP_SUPERADMINS"},
		{"bootstrap superadmin with a name", []string{"serve"}, map[string]string{"EVARA_BOOTSTRAP_SUPERADMINS": "Ops <ops@example.com>"}, "EVARA_BOOTSTRAP_SUPERADMINS"},

		{"token", []string{"token", "--sub", "u-1"}, map[string]string{"EVARA_JWT_SECRET": jwtSecret}, ""},
		{"token without a secret", []string{"token", "--sub", "u-1"}, nil, "EVARA_JWT_SECRET: evara token signs with"},
		{"token with a short secret", []string{"token", "--sub", "u-1"}, map[string]string{"SUPABASE_JWT_SECRET": "short"}, "shorter than 32 bytes"},
		{"token without --sub", []string{"token", "--email", "a@example.com"}, map[string]string{"EVARA_JWT_SECRET": jwtSecret}, "--sub (the user id the token is for) is required"},
		{"token with a zero ttl", []string{"token", "--sub", "u-1", "--ttl", "0s"}, map[string]string{"EVARA_JWT_SECRET": jwtSecret}, "EVARA_TOKEN_TTL"},
		{"token in production", []string{"token", "--sub", "u-1"}, production(nil), ""},

		{"promote", []string{"users", "promote", "a@example.com"}, nil, ""},
		{"promote to customer", []string{"users", "promote", "a@example.com", "--role", "customer"}, nil, ""},
		{"promote to a scoped role", []string{"users", "promote", "a@example.com", "--role", "distributor"}, nil, "needs a scope"},
		{"promote to an unknown role", []string{"users", "promote", "a@example.com", "--role", "root"}, nil, "EVARA_PROMOTE_ROLE"},
		{"promote without a store", []string{"users", "promote", "--data-dir", "", "a@example.com"}, nil, "EVARA_DATA_DIR"},
		{"promote in production needs no encryption key", []string{"users", "promote", "a@example.com"}, map[string]string{"EVARA_ENV": "production", "DATABASE_URL": "postgres://db/evara"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.args, env(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			err = c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want no problem", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate() = %v, want a problem containing %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), jwtSecret) {
				t.Errorf("problem list leaks the JWT secret: %v", err)
			}
		})
	}
}

func TestParsePrefix(t *testing.T) {
	tests := []struct {
		in, want string // want "" for an error
	}{
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"10.1.2.3/8", "10.0.0.0/8"},
		{"192.168.1.7", "192.168.1.7/32"},
		{"2001:db8::1", "2001:db8::1/128"},
		{"2001:db8::/32", "2001:db8::/32"},
		{"10.0.0.0/33", ""},
		{"10.0.0", ""},
		{"fe80::1%eth0", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := ParsePrefix(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("ParsePrefix(%q) = %s, want an error", tt.in, p)
				}
				return
			}
			if err != nil || p != netip.MustParsePrefix(tt.want) {
				t.Fatalf("ParsePrefix(%q) = %s, %v; want %s", tt.in, p, err, tt.want)
			}
		})
	}
}
