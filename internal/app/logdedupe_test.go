package app

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestDedupeHandlerHoldsBackRepeats(t *testing.T) {
	var buf bytes.Buffer
	h := newDedupeHandler(slog.NewJSONHandler(&buf, nil), time.Minute)
	log := slog.New(h).With("component", "actor")
	t0 := time.Unix(1000, 0)
	emit := func(at time.Time, msg string, attrs ...any) {
		r := slog.NewRecord(at, slog.LevelError, msg, 0)
		r.Add(attrs...)
		if err := log.Handler().Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 30 { // a member down: its health check fails every second
		emit(t0.Add(time.Duration(i)*time.Second), "Bad connection to the node health status", "url", "http://m3/_health")
	}
	emit(t0.Add(5*time.Second), "something else")
	emit(t0.Add(6*time.Second), "Bad connection to the node health status", "url", "http://m2/_health") // another member: shown
	emit(t0.Add(61*time.Second), "Bad connection to the node health status", "url", "http://m3/_health")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines passed, want 4:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[3], `"repeated":29`) || !strings.Contains(lines[3], `"component":"actor"`) {
		t.Errorf("the line after the window: %s, want repeated 29 with the logger's attributes", lines[3])
	}
}
