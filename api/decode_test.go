package api

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// TestDecodeIsStrict checks the one JSON decoder of every route: a body is
// one object of the declared shape, and every refusal names its field.
func TestDecodeIsStrict(t *testing.T) {
	type body struct {
		Name  string   `json:"name"`
		Count int      `json:"count"`
		Tags  []string `json:"tags"`
	}
	tests := []struct {
		body, contentType string
		status            int    // 0: accepted
		field             string // the field a 422 names
	}{
		{`{"name":"a","count":2,"tags":["x"]}`, "application/json", 0, ""},
		{`{"name":"a"}`, "application/json; charset=utf-8", 0, ""},
		{`{"name":"a"}`, "", 0, ""},
		{``, "application/json", 422, "body"},
		{`null`, "application/json", 422, "body"},
		{`[]`, "application/json", 422, "body"},
		{`"x"`, "application/json", 422, "body"},
		{`{"name":"a"} {}`, "application/json", 422, "body"},
		{`{"name":`, "application/json", 422, "body"},
		{`{"name":"a","extra":1}`, "application/json", 422, "extra"},
		{`{"count":"two"}`, "application/json", 422, "count"},
		{`{"tags":"x"}`, "application/json", 422, "tags"},
		{`name=a`, "application/x-www-form-urlencoded", 415, ""},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			app := fiber.New()
			var got error
			app.Post("/", func(c *fiber.Ctx) error {
				var b body
				got = decode(c, &b)
				return nil
			})
			req := httptest.NewRequest(fiber.MethodPost, "/", strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set(fiber.HeaderContentType, tt.contentType)
			}
			resp, err := app.Test(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			var (
				ve *ValidationError
				fe *fiber.Error
			)
			switch {
			case tt.status == 0 && got != nil:
				t.Errorf("refused: %v", got)
			case tt.status == 422 && (!errors.As(got, &ve) || ve.Fields[0].Field != tt.field):
				t.Errorf("got %v, want a 422 naming %q", got, tt.field)
			case tt.status == 415 && (!errors.As(got, &fe) || fe.Code != 415):
				t.Errorf("got %v, want 415", got)
			}
		})
	}
}
