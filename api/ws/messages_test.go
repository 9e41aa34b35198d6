package ws

import (
	"slices"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/evaratech/evara/internal/telemetry"
)

func TestReplies(t *testing.T) {
	h := newHarness(t, Options{}, 0)
	cl := h.connect(t, "ann")
	tests := []struct {
		name string
		send string
		want map[string]any
	}{
		{"subscribe a node", `{"type":"subscribe","topic":"node:n1"}`, map[string]any{"type": "subscribed", "topic": "node:n1"}},
		{"subscribe a community", `{"type":"subscribe","topic":"community:c1","extra":1}`, map[string]any{"type": "subscribed", "topic": "community:c1"}},
		{"subscribe alerts", `{"type":"subscribe","topic":"alerts"}`, map[string]any{"type": "subscribed", "topic": "alerts"}},
		{"subscribe again", `{"type":"subscribe","topic":"node:n1"}`, map[string]any{"type": "subscribed", "topic": "node:n1"}},
		{"out of scope", `{"type":"subscribe","topic":"node:missing"}`,
			map[string]any{"type": "error", "code": "not_found", "message": "no such topic or not yours", "topic": "node:missing"}},
		{"invalid id", `{"type":"subscribe","topic":"node:bad-id"}`,
			map[string]any{"type": "error", "code": "bad_topic", "message": "invalid topic", "topic": "node:bad-id"}},
		{"store down", `{"type":"subscribe","topic":"node:down"}`,
			map[string]any{"type": "error", "code": "unavailable", "message": "try again later", "topic": "node:down"}},
		{"malformed topic", `{"type":"subscribe","topic":"tank:7"}`,
			map[string]any{"type": "error", "code": "bad_topic", "message": "topic must be node:<id>, community:<id> or alerts", "topic": "tank:7"}},
		{"empty id", `{"type":"subscribe","topic":"node:"}`,
			map[string]any{"type": "error", "code": "bad_topic", "message": "topic must be node:<id>, community:<id> or alerts", "topic": "node:"}},
		{"unsubscribe", `{"type":"unsubscribe","topic":"alerts"}`, map[string]any{"type": "unsubscribed", "topic": "alerts"}},
		{"unsubscribe what is not subscribed", `{"type":"unsubscribe","topic":"node:n9"}`, map[string]any{"type": "unsubscribed", "topic": "node:n9"}},
		{"auth again", `{"type":"auth","token":"good-ann"}`,
			map[string]any{"type": "error", "code": "already_authenticated", "message": "this connection is authenticated already"}},
		{"unknown type", `{"type":"dance"}`, map[string]any{"type": "error", "code": "unknown_type", "message": "unknown message type"}},
		{"not JSON", `subscribe me`, map[string]any{"type": "error", "code": "bad_message", "message": "expected a JSON object with a type"}},
		{"no type", `{"topic":"node:n1"}`, map[string]any{"type": "error", "code": "bad_message", "message": "expected a JSON object with a type"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl.sendRaw(tt.send)
			got := cl.read()
			if !mapsEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}

	// A pong has no answer: the next reply is the next request's.
	cl.send(map[string]any{"type": "pong"})
	cl.subscribe("node:n7")

	s := h.sessions.all()[0]
	s.mu.Lock()
	topics := map[string][]telemetry.NodeID{}
	for k, v := range s.topics {
		topics[k] = slices.Clone(v)
	}
	unwatched := slices.Clone(s.unwatch)
	s.mu.Unlock()
	want := map[string][]telemetry.NodeID{"node:n1": {"n1"}, "community:c1": {"n1", "n2", "n3"}, "node:n7": {"n7"}}
	if len(topics) != len(want) {
		t.Errorf("watched %v, want %v", topics, want)
	}
	for k, v := range want {
		if !slices.Equal(topics[k], v) {
			t.Errorf("topic %s watches %v, want %v", k, topics[k], v)
		}
	}
	if !slices.Equal(unwatched, []string{"alerts"}) {
		t.Errorf("unwatched %v, want only alerts (n9 was never subscribed)", unwatched)
	}
	if got := h.srv.Stats().Subscriptions; got != (SubscriptionStats{Node: 2, Community: 1}) {
		t.Errorf("subscription stats %+v", got)
	}
}

func mapsEqual(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestRepeatedGarbageCloses(t *testing.T) {
	h := newHarness(t, Options{BadMessageLimit: 3}, 0)
	cl := h.connect(t, "ann")
	// A good message in between starts the count again.
	for _, m := range []string{"x", "y", `{"type":"pong"}`, "z", `{"type":"?"}`, "w"} {
		cl.sendRaw(m)
	}
	for range 5 {
		if m := cl.read(); m["type"] != "error" {
			t.Fatalf("got %v, want an error reply", m)
		}
	}
	cl.expectClose(CloseBadMessages)
}

func TestTooManyMessagesCloses(t *testing.T) {
	h := newHarness(t, Options{MessageRate: 0.001, MessageBurst: 3}, 0)
	cl := h.connect(t, "ann")
	for range 4 {
		cl.send(map[string]any{"type": "pong"})
	}
	cl.expectClose(CloseTooMany)
}

func TestMessageTooBigCloses(t *testing.T) {
	h := newHarness(t, Options{MaxMessageSize: 256}, 0)
	cl := h.connect(t, "ann")
	cl.send(map[string]any{"type": "subscribe", "topic": "node:" + strings.Repeat("x", 300)})
	cl.expectClose(websocket.StatusMessageTooBig)
}

func TestTooManyTopics(t *testing.T) {
	h := newHarness(t, Options{MaxTopics: 2}, 0)
	cl := h.connect(t, "ann")
	cl.subscribe("node:a")
	cl.subscribe("node:b")
	cl.subscribe("node:a") // again: not a new topic
	cl.send(map[string]any{"type": "subscribe", "topic": "node:c"})
	if m := cl.read(); m["code"] != "too_many_topics" {
		t.Fatalf("third topic: %v", m)
	}
	cl.send(map[string]any{"type": "unsubscribe", "topic": "node:a"})
	cl.read()
	cl.subscribe("node:c")
}
