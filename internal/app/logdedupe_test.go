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
	emit := func(at time.Time, msg string) {
		r := slog.NewRecord(at, slog.LevelError, msg, 0)
		if err := log.Handler().Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 30 { // a member down: its health check fails every second
		emit(t0.Add(time.Duration(i)*time.Second), "Bad connection to the node health status")
	}
	emit(t0.Add(5*time.Second), "something else")
	emit(t0.Add(61*time.Second), "Bad connection to the node health status")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines passed, want 3:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[2], `"repeated":29`) || !strings.Contains(lines[2], `"component":"actor"`) {
		t.Errorf("the line after the window: %s, want repeated 29 with the logger's attributes", lines[2])
	}
}
