package app

import (
	"io"
	"log/slog"
	"os"

	"github.com/evaratech/evara/internal/config"
)

// NewLogger builds the process logger: JSON, or human-readable text when
// the format is "text", or "auto" and w is a terminal.
func NewLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo // Validate reports the bad value; logging must still work to say so
	}
	opts := &slog.HandlerOptions{Level: level}
	text := cfg.LogFormat == "text" || (cfg.LogFormat == "auto" && isTerminal(w))
	if text {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
