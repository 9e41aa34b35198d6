package app

import (
	"context"
	"time"

	"github.com/evaratech/evara/api"
)

// healthReporter answers GET /health from what the process knows without
// calling anything: until the persistence, cache and cluster components
// exist it reports how each is configured, never a check it did not make.
type healthReporter struct {
	demo     bool
	upstream string
	redis    bool
	database string // "postgres" or "embedded"
}

func (h *healthReporter) Health(context.Context) api.Health {
	services := map[string]string{
		"database":   h.database,
		"thingspeak": "external",
		"cache":      "local",
		"cluster":    "single",
	}
	if h.demo {
		services["thingspeak"] = "simulator"
	}
	if h.redis {
		services["cache"] = "redis"
	}
	return api.Health{Status: api.HealthOK, Database: services["database"], Timestamp: time.Now().UTC(), Services: services}
}
