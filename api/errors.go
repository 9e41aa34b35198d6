package api

import (
	"context"
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/evaratech/evara/internal/telemetry"
)

// Problem is the body of every error response.
type Problem struct {
	Detail        string `json:"detail"`
	Code          string `json:"code"`
	CorrelationID string `json:"correlation_id"`
	// Errors lists each field's problem of a 422.
	Errors []FieldError `json:"errors,omitempty"`
}

// handleError is the one place where errors become responses. Domain
// sentinels map to their status and stable code; a 5xx never echoes the
// error's text, only the correlation id under which it is logged.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	status, code, detail := fiber.StatusInternalServerError, "internal", "internal error"
	var (
		fe     *fiber.Error
		ve     *ValidationError
		fields []FieldError
	)
	switch {
	case errors.As(err, &ve):
		status, code, detail, fields = fiber.StatusUnprocessableEntity, "validation_failed", ve.Error(), ve.Fields
	case errors.As(err, &fe):
		status, code, detail = fe.Code, codeForStatus(fe.Code), fe.Message
	case errors.Is(err, telemetry.ErrNotFound):
		status, code, detail = fiber.StatusNotFound, "not_found", "not found"
	case errors.Is(err, telemetry.ErrConflict):
		status, code, detail = fiber.StatusConflict, "conflict", err.Error()
	case errors.Is(err, telemetry.ErrInvalid):
		status, code, detail = fiber.StatusUnprocessableEntity, "invalid", invalidDetail(err)
	case errors.Is(err, telemetry.ErrUnavailable):
		status, code, detail = fiber.StatusServiceUnavailable, "unavailable", "a dependency is unavailable; retry later"
	case errors.Is(err, context.DeadlineExceeded):
		// The handler's deadline passed (a store or device too slow to
		// answer): the request may well succeed when retried.
		status, code, detail = fiber.StatusServiceUnavailable, "timeout", "the request took too long; retry later"
	}
	id := requestID(c)
	if status >= fiber.StatusInternalServerError {
		s.log.Error("request failed", "request_id", id, "method", c.Method(), "path", c.Path(), "err", err)
		detail = http5xxDetail(status)
	}
	c.Set(fiber.HeaderXRequestID, id)
	return c.Status(status).JSON(Problem{Detail: detail, Code: code, CorrelationID: id, Errors: fields})
}

// invalidDetail is the message of a store's ErrInvalid: its own words
// without the sentinel's ("invalid input\n…" from errors.Join).
func invalidDetail(err error) string {
	msg := strings.TrimPrefix(err.Error(), telemetry.ErrInvalid.Error())
	msg = strings.TrimSpace(strings.ReplaceAll(msg, "\n", "; "))
	msg = strings.TrimPrefix(msg, "; ")
	if msg == "" {
		return "invalid input"
	}
	return msg
}

func http5xxDetail(status int) string {
	if status == fiber.StatusServiceUnavailable {
		return "service unavailable; retry later"
	}
	return "internal error"
}

func codeForStatus(status int) string {
	switch status {
	case fiber.StatusBadRequest:
		return "bad_request"
	case fiber.StatusUnauthorized:
		return "unauthorized"
	case fiber.StatusForbidden:
		return "forbidden"
	case fiber.StatusNotFound:
		return "not_found"
	case fiber.StatusMethodNotAllowed:
		return "method_not_allowed"
	case fiber.StatusConflict:
		return "conflict"
	case fiber.StatusRequestEntityTooLarge:
		return "body_too_large"
	case fiber.StatusUnsupportedMediaType:
		return "unsupported_media_type"
	case fiber.StatusUnprocessableEntity:
		return "invalid"
	case fiber.StatusTooManyRequests:
		return "rate_limited"
	case fiber.StatusServiceUnavailable:
		return "unavailable"
	default:
		if status >= fiber.StatusInternalServerError {
			return "internal"
		}
		return "error"
	}
}
