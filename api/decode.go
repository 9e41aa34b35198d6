package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/evaratech/evara/internal/telemetry"
)

// FieldError is one field's problem in a 422 answer.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError is a request that cannot be accepted as sent: the one
// error handler answers 422 with every field's problem.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid request: " + strings.Join(parts, "; ")
}

// Unwrap makes a ValidationError a telemetry.ErrInvalid.
func (e *ValidationError) Unwrap() error { return telemetry.ErrInvalid }

// invalid is a ValidationError of one field.
func invalid(field, message string) error {
	return &ValidationError{Fields: []FieldError{{Field: field, Message: message}}}
}

// checks gathers field problems; err is nil when there are none.
type checks []FieldError

func (v *checks) check(ok bool, field, message string) {
	if !ok {
		*v = append(*v, FieldError{Field: field, Message: message})
	}
}

func (v checks) err() error {
	if len(v) == 0 {
		return nil
	}
	return &ValidationError{Fields: v}
}

// decode reads the request body into dst strictly: one JSON object, no
// unknown fields, no trailing data, types as declared. Every problem is a
// 422 naming the field; an empty body is a 422 too.
func decode(c *fiber.Ctx, dst any) error {
	body := c.Body()
	if ct := c.Get(fiber.HeaderContentType); ct != "" && !strings.HasPrefix(strings.ToLower(ct), fiber.MIMEApplicationJSON) {
		return fiber.NewError(fiber.StatusUnsupportedMediaType, "the body must be application/json")
	}
	if trimmed := bytes.TrimSpace(body); len(trimmed) == 0 || trimmed[0] != '{' {
		// null would decode into nothing at all, and other JSON types are
		// never a request: every body is an object.
		return invalid("body", "a JSON object is required")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalid("body", "unexpected data after the JSON object")
	}
	return nil
}

func decodeError(err error) error {
	var (
		typeErr   *json.UnmarshalTypeError
		syntaxErr *json.SyntaxError
	)
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return invalid("body", "must be a JSON object")
		}
		return invalid(field, "must be "+jsonKind(typeErr.Type.Kind().String())+", not "+typeErr.Value)
	case errors.As(err, &syntaxErr):
		return invalid("body", fmt.Sprintf("malformed JSON at byte %d", syntaxErr.Offset))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("body", "truncated JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return invalid(name, "unknown field")
	}
	return invalid("body", "not a valid JSON object")
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "map", "struct", "ptr":
		return "an object"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	}
	return "of another type"
}

// queryInt reads an integer query parameter within [lo, hi]; def when absent.
func queryInt(c *fiber.Ctx, name string, def, lo, hi int) (int, error) {
	raw := c.Query(name)
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < lo || n > hi {
		return 0, invalid(name, fmt.Sprintf("must be an integer from %d to %d", lo, hi))
	}
	return n, nil
}

// page reads ?limit=&offset= (limit 1–1000, default 50).
func page(c *fiber.Ctx) (telemetry.Page, error) {
	limit, err := queryInt(c, "limit", 50, 1, 1000)
	if err != nil {
		return telemetry.Page{}, err
	}
	offset, err := queryInt(c, "offset", 0, 0, 1<<31-1)
	if err != nil {
		return telemetry.Page{}, err
	}
	return telemetry.Page{Limit: limit, Offset: offset}, nil
}

// param is a path parameter copied out of fiber's reused buffer.
func param(c *fiber.Ctx, name string) string { return strings.Clone(c.Params(name)) }

// setTotal reports the size of the whole list beside one page of it.
func setTotal(c *fiber.Ctx, total int) { c.Set("X-Total-Count", strconv.Itoa(total)) }
