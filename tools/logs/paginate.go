package logs

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"
)

// PageFunc fetches up to limit lines of [start, end) in reading order:
// oldest first, or newest first when backward.
type PageFunc func(ctx context.Context, start, end time.Time, limit int, backward bool) ([]Entry, error)

// ErrPageTooLarge, returned (wrapped) by a PageFunc, halves the page size.
var ErrPageTooLarge = errors.New("page too large")

// PageLimitError, returned by a PageFunc, says the server allows at most Max
// lines per request; pages shrink to it.
type PageLimitError struct {
	Max int
	Err error
}

func (e *PageLimitError) Error() string { return e.Err.Error() }
func (e *PageLimitError) Unwrap() error { return e.Err }

// Paginate reads q's range with fetch, pageSize lines at a time, and calls
// each for up to q.Limit lines oldest first; with q.Tail it reads the last
// q.Limit lines of the range. It returns whether the read stopped before
// the range's end or had to skip lines.
//
// Log APIs page by time: the next page starts at the last timestamp read
// (start inclusive, end exclusive), so lines sharing that timestamp are
// read again and dropped here. When more lines share one instant than a
// page holds, the rest cannot be reached by time; Paginate steps past the
// instant and reports the read as incomplete rather than loop.
func Paginate(ctx context.Context, q Query, pageSize int, fetch PageFunc, each func(Entry) error) (truncated bool, err error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 1000
	}
	if pageSize <= 0 {
		pageSize = 1000
	}
	p := pager{fetch: fetch, start: q.Start, end: q.End, backward: q.Tail, pageSize: pageSize}
	var tail []Entry
	n := 0
	for {
		page, more, err := p.next(ctx, limit-n)
		if err != nil {
			return false, err
		}
		if len(page) > limit-n {
			page, more = page[:limit-n], true
		}
		for _, e := range page {
			if q.Tail {
				tail = append(tail, e)
			} else if err := each(e); err != nil {
				return false, err
			}
		}
		n += len(page)
		if !more {
			break
		}
		if n >= limit {
			truncated = true
			break
		}
	}
	for i := len(tail) - 1; i >= 0; i-- {
		if err := each(tail[i]); err != nil {
			return false, err
		}
	}
	return truncated || p.skipped, nil
}

type pager struct {
	fetch      PageFunc
	start, end time.Time
	backward   bool
	pageSize   int
	// boundary is the last timestamp read; seen counts the lines at it
	// already returned (a multiset: identical lines may repeat).
	boundary time.Time
	seen     map[string]int
	skipped  bool
}

// next returns the next page in reading order, and whether more may follow.
func (p *pager) next(ctx context.Context, want int) ([]Entry, bool, error) {
	for {
		seen := 0
		for _, c := range p.seen {
			seen += c
		}
		size := min(p.pageSize, want+seen)
		entries, err := p.fetch(ctx, p.start, p.end, size, p.backward)
		var limErr *PageLimitError
		switch {
		case errors.Is(err, ErrPageTooLarge) && p.pageSize > 1:
			p.pageSize = max(1, p.pageSize/2)
			continue
		case errors.As(err, &limErr) && limErr.Max > 0 && limErr.Max < size:
			p.pageSize = limErr.Max
			continue
		case err != nil:
			return nil, false, err
		}
		full := len(entries) >= size
		dup := make(map[string]int, len(p.seen))
		for k, n := range p.seen {
			dup[k] = n
		}
		out := make([]Entry, 0, len(entries))
		for _, e := range entries {
			if e.Time.Equal(p.boundary) {
				if k := entryKey(e); dup[k] > 0 {
					dup[k]--
					continue
				}
			}
			out = append(out, e)
		}
		if len(entries) > 0 {
			last := entries[len(entries)-1].Time
			inPage := map[string]int{}
			for _, e := range entries {
				if e.Time.Equal(last) {
					inPage[entryKey(e)]++
				}
			}
			if last.Equal(p.boundary) {
				for k, n := range p.seen {
					inPage[k] = max(inPage[k], n)
				}
			}
			p.boundary, p.seen = last, inPage
			if p.backward {
				p.end = last.Add(time.Nanosecond) // end is exclusive
			} else {
				p.start = last
			}
		}
		if full && len(out) == 0 {
			p.skipped = true
			if p.backward {
				p.end = p.boundary
			} else {
				p.start = p.boundary.Add(time.Nanosecond)
			}
			continue
		}
		return out, full, nil
	}
}

// entryKey identifies a line among those sharing a timestamp.
func entryKey(e Entry) string {
	keys := make([]string, 0, len(e.Labels))
	for k := range e.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(e.Labels[k])
		b.WriteByte(',')
	}
	b.WriteByte(0)
	b.WriteString(e.Line)
	return b.String()
}
