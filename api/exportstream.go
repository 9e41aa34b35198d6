package api

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Exports stream: the store hands over one row at a time, each row is
// encoded into a small buffer that fasthttp drains into the connection as
// the client reads, and nothing holds the whole result. Memory stays
// constant whatever the number of rows; there is no row cap.
//
// Ordering matters: the handler checks everything (permission, scope of
// every id, query parameters) and audits before the first byte, so that a
// refusal is an ordinary error answer. From SetBodyStreamWriter on, the
// status is 200 and a failure can only end the body early: the CSV or
// JSON is then truncated (a JSON array without its "]"), which a client
// notices, and the failure is logged with the request id.

// exportStall bounds how long a client may read nothing before its export
// is abandoned (the write deadline is pushed forward after each flush, up
// to the export's own deadline, exportTimeout).
const exportStall = 2 * time.Minute

// exportFlushEvery is how many rows are encoded between explicit flushes
// (buffers also flush whenever they fill).
const exportFlushEvery = 512

// stallDeadline is the write deadline of the next stretch of an export
// that must end by end.
func stallDeadline(end time.Time) time.Time {
	if d := time.Now().Add(exportStall); d.Before(end) {
		return d
	}
	return end
}

// exportRow is one row of an export: JSON-encodable, and a CSV record in
// the order of its export's header.
type exportRow interface {
	csvRecord() []string
}

// exportSpec describes one export.
type exportSpec struct {
	kind         string // "nodes", "readings", "alerts", "report": audited as export.<kind>
	resourceType string
	resourceID   string
	meta         map[string]any // audit metadata beside the format
	filename     string         // attachment name without extension: [A-Za-z0-9._-] only
	format       string         // "csv" or "json"
	// csvHead are the records before the rows (the header row, and for a
	// report its header lines first).
	csvHead [][]string
	// jsonOpen and jsonClose enclose the rows' elements ("[" and "]" when empty).
	jsonOpen, jsonClose string
	// rows streams the rows through emit; emit's error (the client went
	// away) must stop it and be returned.
	rows func(ctx context.Context, emit func(exportRow) error) error
}

// exportFormat reads ?format= (csv, the default, or json).
func exportFormat(c *fiber.Ctx) (string, error) {
	// Constants, not the query's string: fiber reuses its bytes, and the
	// format is read by the stream after the handler has returned.
	switch strings.ToLower(c.Query("format", "csv")) {
	case "csv":
		return "csv", nil
	case "json":
		return "json", nil
	}
	return "", invalid("format", "must be csv or json")
}

// sendExport audits the export and answers with its streamed body.
func (s *Server) sendExport(c *fiber.Ctx, x exportSpec) error {
	meta := map[string]any{"format": x.format}
	for k, v := range x.meta {
		meta[k] = v
	}
	s.record(c, "export."+x.kind, x.resourceType, x.resourceID, meta)
	if x.format == "csv" {
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	} else {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	}
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+x.filename+"."+x.format+`"`)
	c.Set(fiber.HeaderCacheControl, "no-store")
	fctx := c.Context()
	end := time.Now().Add(exportTimeout)
	// The server's WriteTimeout would cut a long export: the export's own
	// deadline replaces it (and exportStall is enforced per flush).
	if err := fctx.SetWriteDeadline(stallDeadline(end)); err != nil {
		s.log.Warn("export write deadline not set", "request_id", requestID(c), "err", err)
	}
	reqID := strings.Clone(requestID(c))
	// fctx outlives the handler until the response is written, which is
	// after this writer returns; c (fiber's) does not and is not used.
	fctx.SetBodyStreamWriter(func(w *bufio.Writer) { s.writeExport(w, fctx.SetWriteDeadline, end, reqID, x) })
	return nil
}

// writeExport runs in fasthttp's stream goroutine: it ends when the rows
// do, when a write fails (the client went away or stalled), or at end.
func (s *Server) writeExport(w *bufio.Writer, setDeadline func(time.Time) error, end time.Time, reqID string, x exportSpec) {
	ctx, cancel := context.WithDeadline(s.streams, end)
	defer cancel()
	enc := &exportEncoder{w: w, json: x.format == "json", flushed: func() {
		_ = setDeadline(stallDeadline(end)) // fails only once the connection is gone: the next write says so
	}}
	if !enc.json {
		enc.csv = csv.NewWriter(w)
	}
	// A failed write cancels the query at once: closing a result set that
	// is still being read would otherwise first drain it.
	emit := func(r exportRow) error {
		err := enc.write(r)
		if err != nil {
			cancel()
		}
		return err
	}
	err := enc.begin(x)
	if err == nil {
		err = x.rows(ctx, emit)
	}
	if err == nil {
		err = enc.finish(x)
	}
	if err != nil {
		s.log.Warn("export ended before its last row", "request_id", reqID, "export", x.kind, "rows", enc.rows, "err", err)
	}
}

// exportEncoder writes rows as CSV records or JSON array elements.
type exportEncoder struct {
	w       *bufio.Writer
	csv     *csv.Writer // nil for JSON
	json    bool
	rows    int
	flushed func() // after each explicit flush
}

func (e *exportEncoder) begin(x exportSpec) error {
	if e.json {
		_, err := e.w.WriteString(orDefault(x.jsonOpen, "["))
		return err
	}
	return e.csv.WriteAll(x.csvHead) // WriteAll flushes
}

func (e *exportEncoder) write(r exportRow) error {
	if e.json {
		raw, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if e.rows > 0 {
			if err := e.w.WriteByte(','); err != nil {
				return err
			}
		}
		if _, err := e.w.Write(raw); err != nil {
			return err
		}
	} else if err := e.csv.Write(r.csvRecord()); err != nil {
		return err
	}
	e.rows++
	if e.rows%exportFlushEvery == 0 {
		return e.flush()
	}
	return nil
}

func (e *exportEncoder) flush() error {
	if e.csv != nil {
		e.csv.Flush()
		if err := e.csv.Error(); err != nil {
			return err
		}
	}
	if err := e.w.Flush(); err != nil {
		return err
	}
	e.flushed()
	return nil
}

func (e *exportEncoder) finish(x exportSpec) error {
	if e.json {
		if _, err := e.w.WriteString(orDefault(x.jsonClose, "]")); err != nil {
			return err
		}
	}
	return e.flush()
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
