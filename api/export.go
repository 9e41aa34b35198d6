package api

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/evaratech/evara/internal/telemetry"
)

// The export routes (SPEC §7): CSV (the default; a header row, then one
// record per row) or JSON (an array; for a report, an object), streamed
// with no row cap in constant memory (exportstream.go), as an attachment.
// Every id is checked against the caller's scope before the first byte.

func (s *Server) exportRoutes() {
	s.handle(fiber.MethodGet, "/export/nodes", PermNodeRead, "every node in scope, as CSV or JSON (streamed)", s.exportNodes)
	s.handle(fiber.MethodGet, "/export/readings/:id", PermNodeRead, "a node's readings, as CSV or JSON (streamed)", s.exportReadings)
	s.handle(fiber.MethodGet, "/export/alerts", PermNodeRead, "the alerts in scope, as CSV or JSON (streamed)", s.exportAlerts)
	s.handle(fiber.MethodGet, "/reports/node/:id/export", PermNodeRead, "a node's report: its details, then its readings (streamed)", s.exportReport)
}

func (s *Server) exportNodes(c *fiber.Ctx) error {
	format, err := exportFormat(c)
	if err != nil {
		return err
	}
	scope := scopeOf(c)
	return s.sendExport(c, exportSpec{kind: "nodes", resourceType: "node", filename: "nodes-" + s.stampDay(),
		format: format, csvHead: [][]string{nodeHeader},
		rows: func(ctx context.Context, emit func(exportRow) error) error {
			return s.store.StreamNodes(ctx, scope, func(n telemetry.Node) error { return emit(toNodeJSON(n)) })
		}})
}

// exportReadings streams a node's readings, oldest first: the last ?days=
// (1–365; today, UTC, is the last) or, without it, all that are stored.
func (s *Server) exportReadings(c *fiber.Ctx) error {
	format, err := exportFormat(c)
	if err != nil {
		return err
	}
	days, err := queryInt(c, "days", 0, 1, 365)
	if err != nil {
		return err
	}
	n, err := s.scopedNode(c)
	if err != nil {
		return err
	}
	q := telemetry.ReadingQuery{}
	if days > 0 {
		q.Since = s.firstDay(days)
	}
	names := metricNames(n.FieldMapping)
	return s.sendExport(c, exportSpec{kind: "readings", resourceType: "node", resourceID: string(n.ID),
		meta: map[string]any{"days": days}, filename: "readings-" + string(n.ID) + "-" + s.stampDay(), format: format,
		csvHead: [][]string{readingHeader(&names)}, rows: s.readingRows(n.ID, q, &names)})
}

func (s *Server) readingRows(node telemetry.NodeID, q telemetry.ReadingQuery, names *[telemetry.FieldCount]string) func(context.Context, func(exportRow) error) error {
	return func(ctx context.Context, emit func(exportRow) error) error {
		return s.store.StreamReadings(ctx, node, q, func(r telemetry.Reading) error { return emit(newReadingRecord(r, names)) })
	}
}

// exportAlerts streams the alerts in scope, newest first, narrowed by
// ?status=, ?severity= and ?node_id= as GET /alerts is.
func (s *Server) exportAlerts(c *fiber.Ctx) error {
	format, err := exportFormat(c)
	if err != nil {
		return err
	}
	f, err := s.exportAlertFilter(c)
	if err != nil {
		return err
	}
	scope := scopeOf(c)
	return s.sendExport(c, exportSpec{kind: "alerts", resourceType: "alert", filename: "alerts-" + s.stampDay(),
		format: format, csvHead: [][]string{alertHeader},
		meta: map[string]any{"status": string(f.Status), "severity": string(f.Severity), "node_id": string(f.NodeID)},
		rows: func(ctx context.Context, emit func(exportRow) error) error {
			return s.store.StreamAlerts(ctx, scope, f, func(a telemetry.Alert) error { return emit(alertOf(a)) })
		}})
}

func (s *Server) exportAlertFilter(c *fiber.Ctx) (telemetry.AlertFilter, error) {
	// Copied: the filter is used by the stream after the handler returns.
	f := telemetry.AlertFilter{Status: telemetry.AlertStatus(strings.Clone(c.Query("status"))),
		Severity: telemetry.Severity(strings.Clone(c.Query("severity")))}
	var v checks
	switch f.Status {
	case "", telemetry.AlertOpen, telemetry.AlertAcknowledged, telemetry.AlertResolved:
	default:
		v.check(false, "status", "must be open, acknowledged or resolved")
	}
	switch f.Severity {
	case "", telemetry.SeverityInfo, telemetry.SeverityWarning, telemetry.SeverityCritical:
	default:
		v.check(false, "severity", "must be info, warning or critical")
	}
	if err := v.err(); err != nil {
		return f, err
	}
	if id := c.Query("node_id"); id != "" {
		ctx, cancel := reqContext()
		defer cancel()
		n, err := s.store.GetNode(ctx, scopeOf(c), strings.Clone(id)) // a node outside scope is 404, not an empty export
		if err != nil {
			return f, err
		}
		f.NodeID = n.ID
	}
	return f, nil
}

// Report is the head of a node's report (JSON: the object around its
// readings; CSV: "field,value" lines before the readings' header).
type Report struct {
	GeneratedAt time.Time `json:"generated_at"`
	Days        int       `json:"days"`
	Since       string    `json:"since"` // first day (UTC) of the readings
	Node        nodeJSON  `json:"node"`
}

// exportReport streams a node's report over ?days= (1–365, default 7).
// CSV: the report's lines ("report,node", generated_at, days, since and
// the node's fields, one "name,value" record each), an empty line (which
// CSV readers skip), then
// the readings with their header row — records of different widths, so a
// reader must allow that (encoding/csv: FieldsPerRecord = -1). JSON:
// {"report": {generated_at, days, since, node}, "readings": [...]}.
func (s *Server) exportReport(c *fiber.Ctx) error {
	format, err := exportFormat(c)
	if err != nil {
		return err
	}
	days, err := queryInt(c, "days", 7, 1, 365)
	if err != nil {
		return err
	}
	n, err := s.scopedNode(c)
	if err != nil {
		return err
	}
	since := s.firstDay(days)
	head := Report{GeneratedAt: s.now().UTC(), Days: days, Since: since.Format(dayLayout), Node: toNodeJSON(n)}
	rawHead, err := json.Marshal(head)
	if err != nil {
		return err
	}
	names := metricNames(n.FieldMapping)
	csvHead := [][]string{{"report", "node"}, {"generated_at", stamp(head.GeneratedAt)},
		{"days", strconv.Itoa(days)}, {"since", head.Since}}
	for i, v := range head.Node.csvRecord() {
		csvHead = append(csvHead, []string{nodeHeader[i], v})
	}
	csvHead = append(csvHead, []string{""}, readingHeader(&names))
	return s.sendExport(c, exportSpec{kind: "report", resourceType: "node", resourceID: string(n.ID),
		meta: map[string]any{"days": days}, filename: "report-" + string(n.ID) + "-" + s.stampDay(), format: format,
		csvHead: csvHead, jsonOpen: `{"report":` + string(rawHead) + `,"readings":[`, jsonClose: "]}",
		rows: s.readingRows(n.ID, telemetry.ReadingQuery{Since: since}, &names)})
}

// scopedNode is the node of the :id path parameter, if in the caller's scope.
func (s *Server) scopedNode(c *fiber.Ctx) (telemetry.Node, error) {
	ctx, cancel := reqContext()
	defer cancel()
	return s.store.GetNode(ctx, scopeOf(c), param(c, "id"))
}

// firstDay is 00:00 UTC of the first of the last days days (today last).
func (s *Server) firstDay(days int) time.Time {
	return s.now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 1-days)
}

// stampDay dates an export's file name.
func (s *Server) stampDay() string { return s.now().UTC().Format("20060102") }
