package api

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// openAPIDocument is the committed OpenAPI 3.1 document of the route table.
// TestOpenAPIDocument fails when it differs from what OpenAPI generates, so
// a route added to the table without the document being refreshed
// (`go test ./api -run OpenAPI -update`) fails the build, and so does a
// documented route that no longer exists.
//
//go:embed openapi.json
var openAPIDocument []byte

func (s *Server) getOpenAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(openAPIDocument)
}

// OpenAPI generates the OpenAPI 3.1 document of the route table: every
// operation with its summary, path parameters, the permission it requires
// (x-permission), its security and its error answers.
func (s *Server) OpenAPI() ([]byte, error) {
	paths := map[string]map[string]any{}
	for _, r := range s.Routes() {
		p, params := openAPIPath(r.Path)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		paths[p][strings.ToLower(r.Method)] = operation(r, params)
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "Evara API",
			"version":     "1",
			"description": "The dashboard's REST API (SPEC §7). Errors are Problem objects; every answer carries X-Request-ID.",
		},
		"servers": []any{map[string]any{"url": apiPrefix}},
		"paths":   paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"bearerAuth": map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
			},
			"schemas": map[string]any{
				"Problem": map[string]any{
					"type":     "object",
					"required": []string{"detail", "code", "correlation_id"},
					"properties": map[string]any{
						"detail":         map[string]any{"type": "string"},
						"code":           map[string]any{"type": "string"},
						"correlation_id": map[string]any{"type": "string"},
						"errors": map[string]any{"type": "array", "items": map[string]any{
							"type": "object", "properties": map[string]any{
								"field": map[string]any{"type": "string"}, "message": map[string]any{"type": "string"},
							},
						}},
					},
				},
			},
			"responses": map[string]any{},
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

// openAPIPath turns fiber's "/nodes/:id" into "/nodes/{id}" and lists the
// parameters.
func openAPIPath(path string) (string, []string) {
	var params []string
	parts := strings.Split(path, "/")
	for i, part := range parts {
		if strings.HasPrefix(part, ":") {
			name := strings.TrimSuffix(strings.TrimPrefix(part, ":"), "?")
			params = append(params, name)
			parts[i] = "{" + name + "}"
		}
	}
	return strings.Join(parts, "/"), params
}

func operation(r Route, params []string) map[string]any {
	success := "200"
	switch {
	case r.Method == http.MethodPost && r.Mutates:
		success = "2XX"
	case r.Method == http.MethodDelete:
		success = "204"
	}
	responses := map[string]any{success: map[string]any{"description": "success"}}
	problem := map[string]any{"content": map[string]any{"application/json": map[string]any{
		"schema": map[string]any{"$ref": "#/components/schemas/Problem"}}}}
	errs := []string{"429"}
	if r.Perm != PermPublic {
		errs = append(errs, "401", "403", "404")
	}
	if r.Mutates {
		errs = append(errs, "409", "413", "422")
	}
	for _, code := range errs {
		n, _ := strconv.Atoi(code)
		resp := map[string]any{"description": http.StatusText(n)}
		for k, v := range problem {
			resp[k] = v
		}
		responses[code] = resp
	}
	op := map[string]any{
		"summary":      r.Summary,
		"operationId":  strings.ToLower(r.Method) + strings.NewReplacer("/", "_", ":", "", "-", "_", ".", "_").Replace(r.Path),
		"x-permission": string(r.Perm),
		"responses":    responses,
	}
	if r.Perm == PermPublic {
		op["security"] = []any{}
	} else {
		op["security"] = []any{map[string]any{"bearerAuth": []string{}}}
	}
	if r.Mutates && r.Method != http.MethodDelete {
		op["requestBody"] = map[string]any{"content": map[string]any{"application/json": map[string]any{
			"schema": map[string]any{"type": "object"}}}}
	}
	if len(params) > 0 {
		var ps []any
		for _, p := range params {
			ps = append(ps, map[string]any{"name": p, "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		op["parameters"] = ps
	}
	return op
}
