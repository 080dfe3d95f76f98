package cli

import (
	"io"
	"log/slog"
)

// LogLevels and LogFormats are the values of --log-level and --log-format.
var (
	LogLevels  = []string{"debug", "info", "warn", "error"}
	LogFormats = []string{"auto", "json", "text"}
)

// Logging declares --log-level (default defLevel) and --log-format (default
// auto), bound to level and format; Logger then builds the logger from
// them. Every command that logs declares them this way.
func (c *Command) Logging(level, format *string, defLevel string) {
	c.Enum(level, "log-level", defLevel, LogLevels, "least important log lines written to stderr")
	c.Enum(format, "log-format", "auto", LogFormats, "log lines as JSON (for machines) or text (for people); auto: text on a terminal, JSON otherwise")
	c.level, c.format = level, format
}

// Logger returns the command's logger on w (its stderr), as --log-level and
// --log-format say.
func (c *Command) Logger(w io.Writer) *slog.Logger {
	if c.level == nil {
		panic("cli: Logger without Logging")
	}
	return NewLogger(w, *c.level, *c.format)
}

// NewLogger is the one logger set-up of rootwatch's commands: slog at
// level (debug, info, warn or error; anything else is info), as JSON
// lines, text lines, or (auto) text when w is a terminal and JSON
// otherwise, so that people read text and log pipelines get JSON.
func NewLogger(w io.Writer, level, format string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: l}
	if format == "text" || (format != "json" && IsTerminal(w)) {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
