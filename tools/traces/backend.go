// Package traces holds the trace tools the agent and the incident playbook
// use — traces_search (a window of traces summarised: where time went,
// which calls failed, what is new against the hour before) and trace_get
// (one trace as an indented tree) — and the Backend interface they read
// through. Backends live in subpackages (jaeger, tempo) and are built from
// the traces: section of the configuration, as the log backends are.
//
// Everything a trace carries — service and operation names, attributes,
// exception messages — was written by the observed systems, so the tools
// hand it to the model inside untrusted-data blocks.
package traces

import (
	"context"
	"errors"

	"github.com/watchkeeper/watchkeeper/internal/spans"
)

// Backend reads traces from a trace store. Implementations must be safe
// for concurrent use.
type Backend interface {
	// Name is the backend kind: jaeger or tempo.
	Name() string
	// Search returns the traces matching q (at most q.Limit of them,
	// complete with all their spans), in no particular order. A query the
	// store refused is a *QueryError.
	Search(ctx context.Context, q spans.Query) ([]spans.Trace, error)
	// Trace returns one trace by its ID; an unknown ID is ErrNotFound
	// (wrapped).
	Trace(ctx context.Context, id string) (spans.Trace, error)
	// Services lists the services the store has traces of.
	Services(ctx context.Context) ([]string, error)
	// Link opens the trace in a UI, or is "" when none is configured.
	Link(traceID string) string
}

// ErrNotFound is a trace ID the store does not hold (never stored, sampled
// away, or past retention).
var ErrNotFound = errors.New("trace not found")

// QueryError is a query the store refused and the caller can fix (a bad
// parameter, a service it does not know). Message is in the store's words.
type QueryError struct {
	Backend string
	Message string
}

func (e *QueryError) Error() string { return e.Backend + " rejected the query: " + e.Message }
