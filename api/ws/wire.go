package ws

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"
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

// encodeBatch is a BATCH_STATUS_UPDATE of updates (encoded events) on the
// wire; ts is its newest update's. Written by hand: json.Marshal would
// re-validate every update, which the writer encoded (or took from the
// frame cache) already.
func encodeBatch(updates [][]byte, ts int64) []byte {
	n := len(`{"event":"","updates":[],"ts":}`) + len(batchEvent) + 20
	for _, u := range updates {
		n += len(u) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, `{"event":"`+batchEvent+`","updates":[`...)
	for i, u := range updates {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, u...)
	}
	b = append(b, `],"ts":`...)
	b = strconv.AppendInt(b, ts, 10)
	return append(b, '}')
}

// frameCache keeps the encoding of the newest telemetry event of each
// node, so that a reading that a device sends to many connections is
// encoded once rather than by each of their writers. An entry serves an
// event only if it is the same reading: same node, entry, ts, status and
// timestamp, and the very same Metrics map (which the entry holds, so its
// identity cannot be reused by another map while it is cached). Events
// handed over at a subscribe carry their own ts and miss, as they should.
// Safe for concurrent use; it holds one entry per node that had a
// subscriber.
type frameCache struct {
	shards [frameCacheShards]frameShard
}

const frameCacheShards = 64

type frameShard struct {
	mu sync.Mutex
	m  map[telemetry.NodeID]cachedFrame
}

type cachedFrame struct {
	entry, ts int64
	at        time.Time
	status    telemetry.Status
	metrics   map[string]float64
	raw       []byte
}

func (f *frameCache) shard(node telemetry.NodeID) *frameShard {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(node); i++ {
		h = (h ^ uint32(node[i])) * 16777619
	}
	return &f.shards[h%frameCacheShards]
}

// encode returns ev's encoding, from the cache when it holds this very
// reading. The bytes are shared: read only.
func (f *frameCache) encode(ev telemetry.LiveEvent) ([]byte, error) {
	if ev.Kind != telemetry.LiveTelemetry || ev.Metrics == nil {
		return encodeEvent(ev)
	}
	sh := f.shard(ev.NodeID)
	sh.mu.Lock()
	c, ok := sh.m[ev.NodeID]
	sh.mu.Unlock()
	if ok && c.entry == ev.EntryID && c.ts == ev.ProducedUnixMs && c.status == ev.Status && c.at.Equal(ev.At) &&
		sameMap(c.metrics, ev.Metrics) {
		return c.raw, nil
	}
	raw, err := encodeEvent(ev)
	if err != nil {
		return nil, err
	}
	sh.mu.Lock()
	if old, ok := sh.m[ev.NodeID]; !ok || old.entry <= ev.EntryID {
		if sh.m == nil {
			sh.m = map[telemetry.NodeID]cachedFrame{}
		}
		sh.m[ev.NodeID] = cachedFrame{entry: ev.EntryID, ts: ev.ProducedUnixMs, at: ev.At, status: ev.Status, metrics: ev.Metrics, raw: raw}
	}
	sh.mu.Unlock()
	return raw, nil
}

// sameMap reports whether a and b are the same map (not merely equal).
func sameMap(a, b map[string]float64) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
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
