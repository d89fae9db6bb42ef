// Package logging makes the binaries' loggers from their --log-level and
// --log-format flags: one line of text or one JSON object per record.
package logging

import (
	"fmt"
	"io"
	"log/slog"
)

// Formats are the values of --log-format.
const (
	Text = "text"
	JSON = "json"
)

// CheckFormat refuses a --log-format other than text or json.
func CheckFormat(format string) error {
	if format != Text && format != JSON {
		return fmt.Errorf("--log-format must be text or json, got %q", format)
	}
	return nil
}

// New is a logger writing records of level and above to w in format.
func New(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == JSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
