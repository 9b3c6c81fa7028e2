package spans

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// The store keeps a batch of traces in a compact binary form before
// zstd: JSON would spend most of its bytes and CPU on field names and
// time formatting that compression then has to undo. The form is
// private to this package and never leaves the process, so it has no
// version; it is decoded with bounds checks all the same, so a bug
// surfaces as an error rather than a panic.
//
//	batch  = uvarint(#traces) trace*
//	trace  = string(id) uvarint(#spans) span*
//	span   = string(trace_id) string(span_id) string(parent) string(service)
//	         string(name) string(kind) varint(start ns) varint(duration ns)
//	         byte(flags: 1 error, 2 fault) string(status) attrs
//	         uvarint(#events) (varint(time ns) string(name) attrs)*
//	attrs  = uvarint(#pairs) (string(key) string(value))*, keys sorted
//	string = uvarint(len) bytes

const (
	flagError = 1 << iota
	flagFault
)

// zeroTimeNS stands for the zero time.Time, whose UnixNano is undefined.
const zeroTimeNS = -1 << 63

func appendTraces(b []byte, traces []Trace) []byte {
	b = binary.AppendUvarint(b, uint64(len(traces)))
	for _, t := range traces {
		b = appendString(b, t.ID)
		b = binary.AppendUvarint(b, uint64(len(t.Spans)))
		for i := range t.Spans {
			b = appendSpan(b, &t.Spans[i])
		}
	}
	return b
}

func appendSpan(b []byte, s *Span) []byte {
	for _, f := range [...]string{s.TraceID, s.SpanID, s.ParentID, s.Service, s.Name, s.Kind} {
		b = appendString(b, f)
	}
	b = binary.AppendVarint(b, timeNS(s.Start))
	b = binary.AppendVarint(b, int64(s.Duration))
	var flags byte
	if s.Error {
		flags |= flagError
	}
	if s.Fault {
		flags |= flagFault
	}
	b = append(b, flags)
	b = appendString(b, s.Status)
	b = appendAttrs(b, s.Attrs)
	b = binary.AppendUvarint(b, uint64(len(s.Events)))
	for _, e := range s.Events {
		b = binary.AppendVarint(b, timeNS(e.Time))
		b = appendString(b, e.Name)
		b = appendAttrs(b, e.Attrs)
	}
	return b
}

func timeNS(t time.Time) int64 {
	if t.IsZero() {
		return zeroTimeNS
	}
	return t.UnixNano()
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendAttrs(b []byte, m map[string]string) []byte {
	b = binary.AppendUvarint(b, uint64(len(m)))
	if len(m) == 0 {
		return b
	}
	// Sorted keys: equal attribute sets encode alike, which zstd rewards.
	for _, k := range slices.Sorted(maps.Keys(m)) {
		b = appendString(b, k)
		b = appendString(b, m[k])
	}
	return b
}

var errCorrupt = errors.New("corrupt trace batch")

// decoder reads the form above; the first error sticks and every later
// read returns zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = fmt.Errorf("%w at %d bytes from the end", errCorrupt, len(d.b))
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length that must fit in the bytes left, each element
// taking at least min bytes, so a corrupt count cannot make a huge
// allocation.
func (d *decoder) count(minBytes int) int {
	n := d.uvarint()
	if n > uint64(len(d.b)/max(minBytes, 1)) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) time() time.Time {
	ns := d.varint()
	if ns == zeroTimeNS {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func (d *decoder) attrs() map[string]string {
	n := d.count(2)
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := d.string()
		m[k] = d.string()
	}
	return m
}

// decodeTraces reads a batch; keep, when not nil, selects the traces
// decoded (the rest are skipped after their spans are read).
func decodeTraces(b []byte, keep func(id string) bool) ([]Trace, error) {
	d := &decoder{b: b}
	n := d.count(2)
	var out []Trace
	for range n {
		id := d.string()
		ns := d.count(10)
		t := Trace{ID: id, Spans: make([]Span, 0, ns)}
		for range ns {
			t.Spans = append(t.Spans, d.span())
		}
		if d.err != nil {
			return nil, d.err
		}
		if keep == nil || keep(id) {
			out = append(out, t)
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail()
	}
	return out, d.err
}

func (d *decoder) span() Span {
	var s Span
	s.TraceID = d.string()
	s.SpanID = d.string()
	s.ParentID = d.string()
	s.Service = d.string()
	s.Name = d.string()
	s.Kind = d.string()
	s.Start = d.time()
	s.Duration = time.Duration(d.varint())
	flags := d.byte()
	s.Error = flags&flagError != 0
	s.Fault = flags&flagFault != 0
	s.Status = d.string()
	s.Attrs = d.attrs()
	if ne := d.count(3); ne > 0 {
		s.Events = make([]Event, 0, ne)
		for range ne {
			e := Event{Time: d.time(), Name: d.string()}
			e.Attrs = d.attrs()
			s.Events = append(s.Events, e)
		}
	}
	return s
}
