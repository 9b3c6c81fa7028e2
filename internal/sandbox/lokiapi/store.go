package lokiapi

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// logEntry is one line of one stream.
type logEntry struct {
	ts   time.Time
	line string
}

// logStream is the lines of one container.
type logStream struct {
	labels  map[string]string
	key     string
	entries []logEntry // in time order
}

// Store keeps every stream's lines, bounded per stream: the sandbox's
// Loki. It is safe for concurrent use.
type Store struct {
	mu        sync.RWMutex
	streams   map[string]*logStream
	perStream int
}

// NewStore returns an empty store that keeps at most perStream lines of
// each stream, dropping the oldest.
func NewStore(perStream int) *Store {
	return &Store{streams: map[string]*logStream{}, perStream: perStream}
}

func (l *Store) append(labels map[string]string, ts time.Time, line string) {
	key := labelKey(labels)
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.streams[key]
	if !ok {
		s = &logStream{labels: labels, key: key}
		l.streams[key] = s
	}
	s.entries = append(s.entries, logEntry{ts, line})
	if len(s.entries) > l.perStream {
		// Drop the oldest tenth at once rather than one line at a time.
		drop := len(s.entries) - l.perStream + l.perStream/10
		s.entries = append(s.entries[:0], s.entries[drop:]...)
	}
}

func labelKey(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%q", k, m[k])
	}
	b.WriteByte('}')
	return b.String()
}

// run evaluates a log query: matching streams, lines in [start, end) that
// pass every stage, newest first (or oldest with forward), at most limit
// lines, grouped by their final label sets.
func (l *Store) run(q *logQuery, start, end time.Time, limit int, forward bool) []map[string]any {
	type hit struct {
		labels map[string]string
		e      logEntry
	}
	var hits []hit
	l.mu.RLock()
	for _, s := range l.streams {
		if !matchAll(q.selector, s.labels) {
			continue
		}
		lo := sort.Search(len(s.entries), func(i int) bool { return !s.entries[i].ts.Before(start) })
		for _, e := range s.entries[lo:] {
			if !e.ts.Before(end) {
				break
			}
			if ls, ok := q.apply(e.line, s.labels); ok {
				hits = append(hits, hit{ls, e})
			}
		}
	}
	l.mu.RUnlock()
	sort.SliceStable(hits, func(i, j int) bool {
		if forward {
			return hits[i].e.ts.Before(hits[j].e.ts)
		}
		return hits[i].e.ts.After(hits[j].e.ts)
	})
	if len(hits) > limit {
		hits = hits[:limit]
	}
	byKey := map[string]int{}
	out := []map[string]any{}
	for _, h := range hits {
		key := labelKey(h.labels)
		i, ok := byKey[key]
		if !ok {
			i = len(out)
			byKey[key] = i
			out = append(out, map[string]any{"stream": h.labels, "values": [][2]string{}})
		}
		out[i]["values"] = append(out[i]["values"].([][2]string), [2]string{strconv.FormatInt(h.e.ts.UnixNano(), 10), h.e.line})
	}
	return out
}
