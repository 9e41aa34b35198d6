package ws

import (
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// batchEvent names a frame of several coalesced (or replayed) events.
const batchEvent = "BATCH_STATUS_UPDATE"

// maxBatch bounds the updates of one batch frame (replays are split).
const maxBatch = 100

// clientMessage is any message a client sends; Type says which fields apply.
type clientMessage struct {
	Type  string `json:"type"`
	Topic string `json:"topic"`
	Since *int64 `json:"since"`
	Token string `json:"token"`
}

// control is a server message that is not an event.
type control struct {
	Type    string `json:"type"`
	Topic   string `json:"topic,omitempty"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	TS      int64  `json:"ts,omitempty"`
}

func encodeControl(m control) []byte {
	b, err := json.Marshal(m)
	if err != nil { // strings and an int only: cannot fail
		panic(err)
	}
	return b
}

func errorMessage(code, message, topic string) []byte {
	return encodeControl(control{Type: "error", Code: code, Message: message, Topic: topic})
}

// eventJSON is a TELEMETRY_UPDATE or STATUS_UPDATE on the wire.
type eventJSON struct {
	Event     telemetry.LiveKind `json:"event"`
	NodeID    telemetry.NodeID   `json:"node_id"`
	TS        int64              `json:"ts"`
	EntryID   int64              `json:"entry_id,omitempty"`
	Timestamp *time.Time         `json:"timestamp,omitempty"`
	Metrics   map[string]float64 `json:"metrics,omitempty"`
	Status    telemetry.Status   `json:"status,omitempty"`
}

// encodeEvent is ev's JSON object. Telemetry and status have their own
// fields; other kinds are Data's object with event, node_id and ts added.
func encodeEvent(ev telemetry.LiveEvent) ([]byte, error) {
	switch ev.Kind {
	case telemetry.LiveTelemetry:
		at := ev.At.UTC()
		metrics := ev.Metrics
		if metrics == nil {
			metrics = map[string]float64{}
		}
		return json.Marshal(eventJSON{Event: ev.Kind, NodeID: ev.NodeID, TS: ev.ProducedUnixMs, EntryID: ev.EntryID,
			Timestamp: &at, Metrics: metrics, Status: ev.Status})
	case telemetry.LiveStatus:
		return json.Marshal(eventJSON{Event: ev.Kind, NodeID: ev.NodeID, TS: ev.ProducedUnixMs, Status: ev.Status})
	}
	fields := map[string]json.RawMessage{}
	if len(ev.Data) > 0 {
		if err := json.Unmarshal(ev.Data, &fields); err != nil || fields == nil {
			return nil, errors.New("event data is not a JSON object")
		}
	}
	set := func(k string, v any) {
		b, _ := json.Marshal(v) // a string or an int64
		fields[k] = b
	}
	set("event", ev.Kind)
	set("ts", ev.ProducedUnixMs)
	if ev.NodeID != "" {
		set("node_id", ev.NodeID)
	}
	return json.Marshal(fields)
}

// batchJSON is a BATCH_STATUS_UPDATE on the wire; TS is its newest update's.
type batchJSON struct {
	Event   string            `json:"event"`
	Updates []json.RawMessage `json:"updates"`
	TS      int64             `json:"ts"`
}

func encodeBatch(updates []json.RawMessage, ts int64) []byte {
	b, err := json.Marshal(batchJSON{Event: batchEvent, Updates: updates, TS: ts})
	if err != nil { // the updates are valid JSON already
		panic(err)
	}
	return b
}

// Topic kinds, for the subscription stats.
type topicKind int

const (
	topicNode topicKind = iota
	topicCommunity
	topicAlerts
	topicKinds
)

// maxTopicLen bounds a topic's length (ids are UUIDs; this leaves room).
const maxTopicLen = 200

// kindOf checks a topic's form (not whether it exists: Resolve does).
func kindOf(topic string) (topicKind, bool) {
	if len(topic) > maxTopicLen {
		return 0, false
	}
	if topic == "alerts" {
		return topicAlerts, true
	}
	prefix, id, ok := strings.Cut(topic, ":")
	if !ok || id == "" || strings.TrimSpace(id) != id {
		return 0, false
	}
	switch prefix {
	case "node":
		return topicNode, true
	case "community":
		return topicCommunity, true
	}
	return 0, false
}
