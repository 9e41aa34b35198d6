package app

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// dedupeHandler passes a record on unless one with the same level,
// message and attributes passed within the window; the next one that passes after the
// window carries how many were held back ("repeated"). protoactor logs
// some conditions on every retry — an unreachable member's health check
// fails every second, at ERROR, for as long as it stays down — which would
// otherwise drown the rest of the log. Safe for concurrent use.
type dedupeHandler struct {
	next   slog.Handler
	window time.Duration
	state  *dedupeState // shared by the handlers WithAttrs/WithGroup derive
}

type dedupeState struct {
	mu   sync.Mutex
	seen map[dedupeKey]*dedupeEntry
}

type dedupeKey struct {
	level slog.Level
	msg   string
	attrs string
}

func keyOf(r slog.Record) dedupeKey {
	var b strings.Builder
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(a.String())
		b.WriteByte(0)
		return true
	})
	return dedupeKey{r.Level, r.Message, b.String()}
}

type dedupeEntry struct {
	last    time.Time // when one last passed
	dropped int
}

// maxDedupeKeys bounds the memory of distinct messages remembered.
const maxDedupeKeys = 1024

func newDedupeHandler(next slog.Handler, window time.Duration) *dedupeHandler {
	return &dedupeHandler{next: next, window: window, state: &dedupeState{seen: map[dedupeKey]*dedupeEntry{}}}
}

func (h *dedupeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *dedupeHandler) Handle(ctx context.Context, r slog.Record) error {
	if dropped, pass := h.state.admit(keyOf(r), r.Time, h.window); !pass {
		return nil
	} else if dropped > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("repeated", dropped))
	}
	return h.next.Handle(ctx, r)
}

// admit reports whether a record may pass at t, and how many like it were
// held back since the last one passed.
func (s *dedupeState) admit(k dedupeKey, t time.Time, window time.Duration) (dropped int, pass bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.seen[k]
	if e != nil && t.Sub(e.last) < window {
		e.dropped++
		return 0, false
	}
	if e == nil {
		if len(s.seen) >= maxDedupeKeys {
			clear(s.seen)
		}
		e = &dedupeEntry{}
		s.seen[k] = e
	}
	dropped, e.last, e.dropped = e.dropped, t, 0
	return dropped, true
}

func (h *dedupeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &dedupeHandler{next: h.next.WithAttrs(as), window: h.window, state: h.state}
}

func (h *dedupeHandler) WithGroup(name string) slog.Handler {
	return &dedupeHandler{next: h.next.WithGroup(name), window: h.window, state: h.state}
}
