package api

import (
	"encoding/json"
	"flag"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/evaratech/evara/api/ws"
)

var updateOpenAPI = flag.Bool("update", false, "rewrite openapi.json from the route table")

// routeTableOnly stands in for the store when only the route table is
// wanted: no route runs, so none of its methods is called.
type routeTableOnly struct{ Store }

func routeTableServer() *Server {
	return New(Options{Logger: slog.New(slog.DiscardHandler), Health: fixedHealth{}, Store: routeTableOnly{}, Runtime: noRuntime{},
		Sessions: noSessions{}})
}

type noRuntime struct{ Runtime }

type noSessions struct{ ws.Sessions }

// TestOpenAPIDocument checks that the served document is the route table's:
// every route is documented with a summary and a permission, and nothing
// else is. `go test ./api -run OpenAPI -update` refreshes it.
func TestOpenAPIDocument(t *testing.T) {
	s := routeTableServer()
	generated, err := s.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	generated = append(generated, '\n')
	if *updateOpenAPI {
		if err := os.WriteFile("openapi.json", generated, 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	if string(generated) != string(openAPIDocument) {
		t.Fatal("openapi.json is not the route table's document: run go test ./api -run OpenAPI -update and commit it")
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	documented := 0
	for _, ops := range doc.Paths {
		documented += len(ops)
	}
	routes := s.Routes()
	if documented != len(routes) {
		t.Errorf("%d operations documented for %d routes", documented, len(routes))
	}
	for _, r := range routes {
		p, _ := openAPIPath(r.Path)
		raw, ok := doc.Paths[p][strings.ToLower(r.Method)]
		if !ok {
			t.Errorf("%s %s is not documented", r.Method, r.Path)
			continue
		}
		var op struct {
			Summary    string `json:"summary"`
			Permission string `json:"x-permission"`
		}
		if err := json.Unmarshal(raw, &op); err != nil {
			t.Fatal(err)
		}
		if op.Summary == "" || op.Permission != string(r.Perm) {
			t.Errorf("%s %s: summary %q, permission %q (route: %q)", r.Method, r.Path, op.Summary, op.Permission, r.Perm)
		}
	}
}
