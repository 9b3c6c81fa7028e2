package promapi

import (
	"context"
	"log/slog"
)

// quietHandler passes the TSDB's and the PromQL engine's records to the
// app's logger with info demoted to debug. Their info lines ("WAL not
// found", "Replaying on-disk memory mappable chunks if any", "Compactions
// disabled") describe internals of an embedded database that the person
// running the sandbox did not configure and cannot act on; warnings and
// errors still matter and keep their level.
type quietHandler struct{ next slog.Handler }

// quiet returns logger with its info records demoted to debug.
func quiet(logger *slog.Logger) *slog.Logger {
	return slog.New(quietHandler{logger.Handler()})
}

func (h quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, demote(l))
}

func (h quietHandler) Handle(ctx context.Context, r slog.Record) error {
	if l := demote(r.Level); l != r.Level {
		r = r.Clone()
		r.Level = l
	}
	return h.next.Handle(ctx, r)
}

func (h quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return quietHandler{h.next.WithAttrs(as)}
}

func (h quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{h.next.WithGroup(name)}
}

func demote(l slog.Level) slog.Level {
	if l < slog.LevelWarn && l > slog.LevelDebug {
		return slog.LevelDebug
	}
	return l
}
