package api

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// The rows of the exports. CSV cells: numbers in Go's shortest exact form,
// times RFC 3339 (UTC), absent values empty. Channel keys and write keys
// are never part of any row.

// Nodes and alerts export as the API shows them (nodeJSON, alertJSON); in
// CSV, the columns below.

var nodeHeader = []string{"id", "node_key", "label", "category", "analytics_type", "location_name", "lat", "lng",
	"capacity", "status", "thingspeak_channel_id", "field_mapping", "poll_interval_seconds", "community_id",
	"customer_id", "distributor_id", "created_by", "created_at", "updated_at", "last_seen"}

// csvRecord is a node's row under nodeHeader: SPEC §7's fields.
func (r nodeJSON) csvRecord() []string {
	mapping, _ := json.Marshal(r.FieldMapping) // a map of strings always encodes
	channel, poll := "", ""
	if r.ThingSpeakChannelID != nil {
		channel = strconv.FormatInt(*r.ThingSpeakChannelID, 10)
	}
	if r.PollIntervalSeconds != nil {
		poll = strconv.FormatInt(*r.PollIntervalSeconds, 10)
	}
	return []string{r.ID, defused(r.NodeKey), defused(r.Label), r.Category, r.AnalyticsType, optText(r.LocationName),
		optNum(r.Lat), optNum(r.Lng), optNum(r.Capacity), r.Status, channel, string(mapping), poll,
		deref(r.CommunityID), deref(r.CustomerID), deref(r.DistributorID), deref(r.CreatedBy),
		stamp(r.CreatedAt), stamp(r.UpdatedAt), optStamp(r.LastSeen)}
}

// readingRecord is a reading as exported: its fields under the node's
// metric names (only those holding a number in JSON; every field, empty
// when absent, in CSV).
type readingRecord struct {
	EntryID   int64              `json:"entry_id"`
	CreatedAt time.Time          `json:"created_at"`
	Metrics   map[string]float64 `json:"metrics"`
	names     *[telemetry.FieldCount]string
	fields    [telemetry.FieldCount]telemetry.Field
}

// readingHeader is the CSV header of a node's readings.
func readingHeader(names *[telemetry.FieldCount]string) []string {
	return append([]string{"entry_id", "created_at"}, names[:]...)
}

func newReadingRecord(r telemetry.Reading, names *[telemetry.FieldCount]string) readingRecord {
	return readingRecord{EntryID: r.EntryID, CreatedAt: r.CreatedAt.UTC(), names: names, fields: r.Fields}
}

// MarshalJSON fills Metrics only when JSON asks for it.
func (r readingRecord) MarshalJSON() ([]byte, error) {
	r.Metrics = make(map[string]float64, telemetry.FieldCount)
	for i, f := range r.fields {
		if f.Valid {
			r.Metrics[r.names[i]] = f.Value
		}
	}
	type plain readingRecord // without this method
	return json.Marshal(plain(r))
}

func (r readingRecord) csvRecord() []string {
	out := make([]string, 0, 2+telemetry.FieldCount)
	out = append(out, strconv.FormatInt(r.EntryID, 10), stamp(r.CreatedAt))
	for _, f := range r.fields {
		if f.Valid {
			out = append(out, num(f.Value))
		} else {
			out = append(out, "")
		}
	}
	return out
}

var alertHeader = []string{"id", "node_id", "kind", "rule_id", "metric", "severity", "status", "message", "value",
	"threshold", "triggered_at", "acknowledged_at", "acknowledged_by", "resolved_at", "resolved_by",
	"resolution_comment", "rule_name", "rule_condition"}

// csvRecord is an alert's row under alertHeader.
func (r alertJSON) csvRecord() []string {
	ruleName, ruleCond := "", ""
	if r.Rule != nil {
		ruleName, ruleCond = defused(r.Rule.Name), r.Rule.Condition
	}
	return []string{r.ID, r.NodeID, r.Kind, deref(r.RuleID), optText(r.Metric), r.Severity, r.Status, defused(r.Message),
		optNum(r.Value), optNum(r.Threshold), stamp(r.TriggeredAt), optStamp(r.AcknowledgedAt), deref(r.AcknowledgedBy),
		optStamp(r.ResolvedAt), deref(r.ResolvedBy), optText(r.ResolutionComment), ruleName, ruleCond}
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func optNum(p *float64) string {
	if p == nil {
		return ""
	}
	return num(*p)
}

func optStamp(p *time.Time) string {
	if p == nil {
		return ""
	}
	return stamp(*p)
}

func optText(p *string) string { return defused(deref(p)) }

// defused is a free-text CSV cell, defused: a spreadsheet would run a cell
// that starts with = + - @ (or a tab or CR before one) as a formula, so
// such a cell gets a leading apostrophe, the spreadsheets' "this is text".
// encoding/csv does the quoting.
func defused(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
