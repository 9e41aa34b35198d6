package app

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// garbageBodies are malformed or wrongly shaped bodies that no route may
// accept: broken syntax, other JSON types, unknown fields, wrong types
// for common fields, huge and deep values.
var garbageBodies = []string{
	``, ` `, `{`, `}`, `{"a":`, `null`, `true`, `0`, `-1e999`, `"x"`, `[]`, `[{}]`, `{}{}`, `{} trailing`,
	`{"__unknown":1}`, `{"id":{"$gt":""}}`, `{"name":["x"],"__x":1}`, `{"label":1e309,"__x":1}`,
	`{"lat":"north","__x":1}`, `{"threshold":"NaN","__x":1}`, `{"positions":[[1]],"__x":1}`,
	`{"role":"root","__x":1}`, `{"community_id":"' OR 1=1 --","__x":1}`, "{\"name\":\"\x00\",\"__x\":1}",
	`{"a":` + strings.Repeat(`[`, 10000) + strings.Repeat(`]`, 10000) + `}`,
	`{"name":"` + strings.Repeat("x", 1<<20) + `"}`, // over the body limit
	"\xff\xfe{\"name\":1}",
}

// randomGarbage makes a body from r that strict decoding must refuse: a
// random JSON-ish text, or a random object carrying an unknown field.
func randomGarbage(r *rand.Rand) string {
	keys := []string{"id", "name", "label", "node_id", "community_id", "customer_id", "lat", "lng", "threshold",
		"condition", "severity", "role", "positions", "starts_at", "ends_at", "token", "rate", "message", "hardware_id",
		"thingspeak_mapping", "config_tank", "field_mapping"}
	var value func(depth int) string
	value = func(depth int) string {
		switch k := r.IntN(9); {
		case k == 0:
			return strconv.FormatFloat(r.NormFloat64()*1e6, 'g', -1, 64)
		case k == 1:
			return strconv.Quote(strings.Repeat(string(rune('a'+r.IntN(26))), r.IntN(40)))
		case k == 2:
			return []string{"true", "false", "null", "-0", "1e308", "\"\"", "\"\\u0000\""}[r.IntN(7)]
		case k < 5 && depth < 4:
			parts := make([]string, r.IntN(4))
			for i := range parts {
				parts[i] = value(depth + 1)
			}
			return "[" + strings.Join(parts, ",") + "]"
		case depth < 4:
			n := r.IntN(5)
			parts := make([]string, 0, n)
			for range n {
				parts = append(parts, strconv.Quote(keys[r.IntN(len(keys))])+":"+value(depth+1))
			}
			return "{" + strings.Join(parts, ",") + "}"
		}
		return "0"
	}
	body := value(0)
	switch r.IntN(4) {
	case 0: // cut off somewhere
		if len(body) > 1 {
			return body[:r.IntN(len(body)-1)+1]
		}
	case 1, 2: // an object with a field no route knows
		return `{"__fuzz_` + strconv.Itoa(r.IntN(1000)) + `":` + value(1) + `,` + strconv.Quote(keys[r.IntN(len(keys))]) + `:` + value(1) + `}`
	}
	return body
}

// fuzzTargets are the mutating routes that take a body, with a concrete
// path each (from the authorization matrix's setup, as a superadmin).
func fuzzTargets(e *apiEnv) []fuzzTarget {
	var out []fuzzTarget
	for _, c := range matrixCases() {
		if c.Method == http.MethodGet || c.Body == nil {
			continue // nothing to decode: a body is ignored, as it should be
		}
		in, _ := c.Setup(e, "superadmin")
		out = append(out, fuzzTarget{method: c.Method, route: c.Route, path: "/api/v1" + in})
	}
	return out
}

type fuzzTarget struct{ method, route, path string }

// TestMutatingRoutesRefuseGarbage posts malformed and random bodies to every
// mutating route that takes one: none answers 5xx or 2xx, none crashes the
// server, and nothing is written.
func TestMutatingRoutesRefuseGarbage(t *testing.T) {
	e := newAPIEnv(t)
	targets := fuzzTargets(e)
	if len(targets) == 0 {
		t.Fatal("no mutating route takes a body")
	}
	before := e.fingerprint(t)
	r := rand.New(rand.NewPCG(1, 2))
	token := e.fx.Tokens["superadmin"]
	for _, tg := range targets {
		bodies := append([]string(nil), garbageBodies...)
		for range 60 {
			bodies = append(bodies, randomGarbage(r))
		}
		for _, b := range bodies {
			resp, raw, err := e.try(tg.method, tg.path, token, []byte(b))
			if err != nil && len(b) > e.cfg.API.BodyLimit {
				continue // refused while the client was still sending it: the server closed the connection after its 413
			}
			if err != nil {
				t.Fatalf("%s %s with %.80q: %v", tg.method, tg.route, b, err)
			}
			if resp.StatusCode >= 500 || resp.StatusCode < 400 {
				t.Errorf("%s %s with %.80q: %d %s", tg.method, tg.route, b, resp.StatusCode, truncate(raw))
			}
		}
	}
	e.expect(http.StatusOK, http.MethodGet, "/api/v1/health", "", nil) // still serving
	if after := e.fingerprint(t); after != before {
		t.Errorf("garbage changed the store:\nbefore %s\nafter  %s", before, after)
	}
}

// FuzzMutatingRoutes is the coverage-guided form of the same check:
// go test -fuzz=FuzzMutatingRoutes -run='^$' ./internal/app/
func FuzzMutatingRoutes(f *testing.F) {
	for i, b := range garbageBodies {
		f.Add(uint8(i), []byte(b))
	}
	e := newAPIEnv(f)
	targets := fuzzTargets(e)
	if len(targets) == 0 {
		f.Fatal("no mutating route takes a body")
	}
	token := e.fx.Tokens["superadmin"]
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		tg := targets[int(which)%len(targets)]
		resp, raw, err := e.try(tg.method, tg.path, token, body)
		if err != nil && len(body) > e.cfg.API.BodyLimit {
			return // refused while still being sent (after the 413)
		}
		if err != nil {
			t.Fatalf("%s %s: %v", tg.method, tg.route, err)
		}
		if resp.StatusCode >= 500 {
			t.Errorf("%s %s with %.80q: %d %s", tg.method, tg.route, body, resp.StatusCode, truncate(raw))
		}
	})
}

// fingerprint summarises what the API can write: the row count of every
// table (readings excepted: the devices keep polling; so are webhook
// deliveries, which only the devices queue), of the alerts users acted on
// (the devices open and resolve alerts of their own as the signal moves),
// and the nodes' versions (their status and last_seen move with the
// polling).
func (e *apiEnv) fingerprint(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	db, err := pgx.Connect(ctx, e.cfg.DatabaseURL.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	rows, err := db.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name NOT LIKE 'readings%'
		AND table_name NOT IN ('node_changes', 'goose_db_version', 'webhook_deliveries') ORDER BY table_name`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	var sb strings.Builder
	for _, table := range tables {
		var n int64
		query := `SELECT count(*) FROM "` + table + `"`
		if table == "alerts" {
			query += ` WHERE acknowledged_by IS NOT NULL OR resolved_by IS NOT NULL OR resolution_comment IS NOT NULL`
		}
		if err := db.QueryRow(ctx, query).Scan(&n); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&sb, "%s=%d ", table, n)
	}
	var versions int64
	if err := db.QueryRow(ctx, `SELECT COALESCE(sum(version), 0) FROM nodes`).Scan(&versions); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&sb, "node_versions=%d", versions)
	return sb.String()
}
