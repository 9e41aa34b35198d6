package telemetry

import (
	"encoding/json"
	"time"
)

// LiveKind names an event for WebSocket clients (SPEC §8).
type LiveKind string

// The live events.
const (
	LiveTelemetry       LiveKind = "TELEMETRY_UPDATE"
	LiveStatus          LiveKind = "STATUS_UPDATE"
	LiveNodeProvisioned LiveKind = "NODE_PROVISIONED"
	LiveAlertTriggered  LiveKind = "ALERT_TRIGGERED"
	LiveAlertResolved   LiveKind = "ALERT_RESOLVED"
)

// LiveEvent is one event for a WebSocket client. ProducedUnixMs is when
// the device actor (or whoever raised it) produced it: SPEC §8's `ts`, so
// a client can measure delivery delay. A telemetry event carries EntryID,
// At (the reading's created_at), Metrics and Status; a status event
// Status; the other kinds carry their JSON object in Data.
type LiveEvent struct {
	Kind           LiveKind
	NodeID         NodeID
	ProducedUnixMs int64
	EntryID        int64
	At             time.Time
	Metrics        map[string]float64
	Status         Status
	Data           json.RawMessage
}
