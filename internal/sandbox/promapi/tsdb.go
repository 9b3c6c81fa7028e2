package promapi

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
)

// Store is the sandbox's Prometheus: the real TSDB (head only, no WAL) and
// the real PromQL engine. The Exporter writes it; the API and the alerting
// rules read it. Queries may run while the exporter writes; the
// series handles belong to the one Exporter.
type Store struct {
	dir    string
	db     *tsdb.DB
	engine *promql.Engine
	// byKey finds a series when its handle is first made; all lists every
	// series for staleness marking.
	byKey map[string]*series
	all   []*series
}

// series is one time series and its writer's state.
type series struct {
	lset labels.Labels
	ref  storage.SeriesRef
	// acc accumulates a counter's fractional increments.
	acc float64
	// last is the step that last wrote it.
	last int64
}

// OpenStore opens an empty TSDB in a temporary directory, first removing
// the directories of sandboxes that died without closing theirs. Blocks
// are a day long so that hours of history stay in the in-memory head.
// Close removes the directory. The TSDB's and the engine's informational
// logs go to logger at debug level.
func OpenStore(logger *slog.Logger) (*Store, error) {
	logger = quiet(logger)
	dir, err := makeTSDBDir(os.TempDir(), logger)
	if err != nil {
		return nil, err
	}
	opts := tsdb.DefaultOptions()
	opts.WALSegmentSize = -1 // no WAL: the sandbox regenerates from its seed
	opts.MinBlockDuration = int64(24 * time.Hour / time.Millisecond)
	opts.MaxBlockDuration = opts.MinBlockDuration
	opts.RetentionDuration = int64(14 * 24 * time.Hour / time.Millisecond)
	db, err := tsdb.Open(dir, logger, nil, opts, nil)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("open TSDB: %w", err)
	}
	db.DisableCompactions()
	engine := promql.NewEngine(promql.EngineOpts{
		Logger:               logger,
		MaxSamples:           50_000_000,
		Timeout:              2 * time.Minute,
		LookbackDelta:        5 * time.Minute,
		EnableAtModifier:     true,
		EnableNegativeOffset: true,
	})
	return &Store{dir: dir, db: db, engine: engine, byKey: map[string]*series{}}, nil
}

// Close closes the TSDB and removes its directory.
func (m *Store) Close() error {
	err := m.db.Close()
	os.RemoveAll(m.dir)
	return err
}

// Engine is the PromQL engine the API queries with; the alerting rules
// evaluate with it too.
func (m *Store) Engine() *promql.Engine { return m.engine }

// Queryable is the TSDB, for queries outside the API (the alerting rules).
func (m *Store) Queryable() storage.Queryable { return m.db }

// SeriesCount is how many series the exporter has made so far.
func (m *Store) SeriesCount() int { return len(m.all) }

// handle returns the series for a metric name and label pairs, making it
// the first time. Callers keep handles; this is not for every sample.
func (m *Store) handle(name string, kv ...string) *series {
	key := seriesKey(name, kv)
	if s, ok := m.byKey[key]; ok {
		return s
	}
	s := &series{lset: labels.FromStrings(append([]string{"__name__", name}, kv...)...), last: -1}
	m.byKey[key] = s
	m.all = append(m.all, s)
	return s
}

// commitEvery bounds how many steps one transaction holds.
const commitEvery = 40

// writer appends steps, committing every commitEvery steps.
type writer struct {
	m     *Store
	app   storage.Appender
	ts    int64
	step  int64
	steps int
}

func (m *Store) writer() *writer { return &writer{m: m, step: -1} }

// begin starts the samples of one step.
func (w *writer) begin(step int64, t time.Time) {
	if w.app == nil {
		w.app = w.m.db.Appender(context.Background())
	}
	w.step, w.ts = step, t.UnixMilli()
}

// end marks series written by the previous step and not by this one as
// stale, as Prometheus does when a target goes away, and commits when the
// transaction is big enough.
func (w *writer) end() error {
	stale := math.Float64frombits(value.StaleNaN)
	for _, s := range w.m.all {
		if s.last == w.step-1 {
			w.append(s, stale)
			s.last = -1
		}
	}
	w.steps++
	if w.steps >= commitEvery {
		return w.commit()
	}
	return nil
}

func (w *writer) commit() error {
	if w.app == nil {
		return nil
	}
	err := w.app.Commit()
	w.app, w.steps = nil, 0
	if err != nil {
		return fmt.Errorf("commit samples: %w", err)
	}
	return nil
}

func (w *writer) append(s *series, v float64) {
	ref, err := w.app.Append(s.ref, s.lset, w.ts, v)
	if err == nil {
		s.ref = ref
	}
}

// set writes a gauge value.
func (w *writer) set(s *series, v float64) {
	w.append(s, v)
	s.last = w.step
}

// add increases a counter and writes its integer part, as request
// counters are integers.
func (w *writer) add(s *series, inc float64) {
	s.acc += inc
	w.set(s, math.Floor(s.acc))
}

// addExact increases a counter and writes it as is (CPU seconds, sums).
func (w *writer) addExact(s *series, inc float64) {
	s.acc += inc
	w.set(s, s.acc)
}

func seriesKey(name string, kv []string) string {
	n := len(name)
	for _, s := range kv {
		n += len(s) + 1
	}
	buf := make([]byte, 0, n)
	buf = append(buf, name...)
	for _, s := range kv {
		buf = append(buf, 0)
		buf = append(buf, s...)
	}
	return string(buf)
}

// query runs an instant PromQL query.
func (m *Store) query(ctx context.Context, q string, t time.Time) (promql.Vector, error) {
	qry, err := m.engine.NewInstantQuery(ctx, m.db, nil, q, t)
	if err != nil {
		return nil, err
	}
	defer qry.Close()
	res := qry.Exec(ctx)
	if res.Err != nil {
		return nil, res.Err
	}
	return res.Vector()
}
